/**
 * Lua: the job queue steps that read and tidy a queue rather than run its jobs (JobQueues in
 * core/engine.ts; redis-jobs.ts calls them): listing, retrying and dropping dead jobs, and
 * retention. One script per atomic step. The keys are those of redis-lua-jobs.ts: every script gets
 * one key, KEYS[1] = `<prefix>jobs:{<queue>}:`, the queue's key base (all in the `{<queue>}` slot).
 */
import { OPTS_FN } from './redis-lua-jobs.ts';

/**
 * LIST: up to `limit` jobs of one state, each with its whole hash.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  state (waiting | delayed | active | failed | completed | dead);  ARGV[2]  limit
 *
 * Order: completed and dead newest finished first, equal times by the higher id (the zset's
 * score is finishedAt; members with equal scores sort as text, so the page is re-sorted here by
 * number); the other states in their zset's order (waiting: claim order; delayed, failed: runAt;
 * active: lease expiry).
 *
 * Returns a flat array, per job: id, then its HGETALL as an array of field, value, ….
 */
export const JOBS_LIST_LUA = `
local base, state = KEYS[1], ARGV[1]
local limit = tonumber(ARGV[2])
local ids = {}
if state == 'completed' or state == 'dead' then
  local flat = redis.call('ZREVRANGE', base .. state, 0, limit - 1, 'WITHSCORES')
  local rows = {}
  for i = 1, #flat, 2 do rows[#rows + 1] = {flat[i], tonumber(flat[i + 1])} end
  table.sort(rows, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return tonumber(a[1]) > tonumber(b[1])
  end)
  for _, row in ipairs(rows) do ids[#ids + 1] = row[1] end
else
  ids = redis.call('ZRANGE', base .. state, 0, limit - 1)
end
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', base .. 'job:' .. id)
end
return out
`;

/**
 * RETRY_DEAD: a dead job waits again, now, with one more attempt allowed (maxAttempts becomes at
 * least attempt + 1); its attempts and last error stay on record.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  id;  ARGV[2]  now, ms
 *
 * Returns 1, or 0 when the job is not dead (nothing changed).
 */
export const JOBS_RETRY_DEAD_LUA = OPTS_FN + `
local base, id = KEYS[1], ARGV[1]
if not redis.call('ZSCORE', base .. 'dead', id) then return 0 end
local job = base .. 'job:' .. id
local f = redis.call('HMGET', job, 'attempt', 'maxAttempts')
local priority = opts(job, 'priority')
local maxAttempts = math.max(tonumber(f[2]), tonumber(f[1]) + 1)
redis.call('HSET', job, 'state', 'waiting', 'runAt', ARGV[2], 'finishedAt', 0, 'maxAttempts', maxAttempts)
redis.call('ZREM', base .. 'dead', id)
redis.call('ZADD', base .. 'waiting', string.format('%.0f', (1000 - priority) * 4398046511104 + tonumber(id)), id)
return 1
`;

/**
 * DROP_DEAD: deletes a dead job.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  id
 *
 * Returns 1, or 0 when the job is not dead (nothing changed).
 */
export const JOBS_DROP_DEAD_LUA = `
local base, id = KEYS[1], ARGV[1]
if not redis.call('ZSCORE', base .. 'dead', id) then return 0 end
redis.call('DEL', base .. 'job:' .. id)
redis.call('ZREM', base .. 'dead', id)
return 1
`;

/**
 * PRUNE: retention of finished jobs. Per state (completed, then dead), at most `limit` jobs are
 * deleted: first the oldest beyond maxCount, then those that finished at or before now − maxAgeMs.
 * A 0 turns that limit off. Idempotency keys (`<base>key:<key>`) are left to their own PX.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  now, ms;  ARGV[2]  completed maxAgeMs;  ARGV[3]  completed maxCount;
 * ARGV[4]  dead maxAgeMs;  ARGV[5]  dead maxCount;  ARGV[6]  limit (per state)
 *
 * Returns how many jobs were deleted.
 */
export const JOBS_PRUNE_LUA = `
local base = KEYS[1]
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[6])
local function delete(zset, ids)
  for _, id in ipairs(ids) do
    redis.call('DEL', base .. 'job:' .. id)
    redis.call('ZREM', base .. zset, id)
  end
  return #ids
end
local function prune(zset, maxAge, maxCount)
  local removed = 0
  if maxCount > 0 then
    local excess = redis.call('ZCARD', base .. zset) - maxCount
    if excess > 0 then removed = delete(zset, redis.call('ZRANGE', base .. zset, 0, math.min(excess, limit) - 1)) end
  end
  if maxAge > 0 and removed < limit then
    local before = string.format('%.0f', now - maxAge)
    removed = removed + delete(zset, redis.call('ZRANGEBYSCORE', base .. zset, '-inf', before, 'LIMIT', 0, limit - removed))
  end
  return removed
end
return prune('completed', tonumber(ARGV[2]), tonumber(ARGV[3])) + prune('dead', tonumber(ARGV[4]), tonumber(ARGV[5]))
`;
