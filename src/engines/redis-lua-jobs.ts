/**
 * Lua: the job queue steps of the Redis engine (JobQueues in core/engine.ts; redis-jobs.ts calls
 * them). One script per atomic step. Every script gets one key, KEYS[1] = `<prefix>jobs:{<queue>}:`,
 * the queue's key base, and builds the queue's keys from it (all in the `{<queue>}` slot):
 *
 *   <base>seq          string  the last job id given (INCR)
 *   <base>job:<id>     hash    state, payload, maxAttempts, timeoutMs, o, attempt, lease,
 *                              leaseExpiresAt, finishedAt, result, error, runAt (attempt, lease,
 *                              leaseExpiresAt, finishedAt absent until first set: read as 0 / '';
 *                              lease and leaseExpiresAt mean something only while state is
 *                              'active': a completion leaves them as they were; result absent on a
 *                              completed job: 'null'). o: the options no hot step reads, packed
 *                              in one field, "<priority>,<backoffMs>,<backoffMaxMs>,<runAt>,<createdAt>"
 *                              (runAt: the first; a retry writes its own runAt field). A field of
 *                              its own wins over o: a job written before 2026-12-07 has priority,
 *                              backoffMs, backoffMaxMs, runAt and createdAt as fields and no o, and
 *                              reads the same (OPTS_FN; recordOf in redis-jobs.ts).
 *   <base>waiting      zset    ready jobs; score (1000 - priority) × 2^42 + id: highest priority, then oldest
 *   <base>delayed      zset    jobs whose first run is ahead; score runAt
 *   <base>failed       zset    jobs waiting for a retry after a failed attempt; score runAt
 *   <base>active       zset    claimed jobs; score leaseExpiresAt
 *   <base>completed    zset    score finishedAt
 *   <base>dead         zset    score finishedAt
 *   <base>key:<key>    string  idempotency key → job id, PX = the key's window
 *
 * Numbers written into Redis go through string.format('%.0f'), as Lua's default number format
 * keeps only 14 digits. A lease is current when the job is active, holds that lease, and its
 * leaseExpiresAt is after the caller's now.
 */

/**
 * A job's packed options (the hash's o), each from its own field when the job has one (written
 * before o was, or since: a retry's runAt). opts(job, a[, b]) returns them as numbers.
 */
export const OPTS_FN = `
local OPT_AT = {priority = 1, backoffMs = 2, backoffMaxMs = 3, runAt = 4, createdAt = 5}
local function opts(job, a, b)
  local f
  if b then f = redis.call('HMGET', job, 'o', a, b) else f = redis.call('HMGET', job, 'o', a) end
  local packed = {}
  if f[1] then for v in string.gmatch(f[1], '[^,]+') do packed[#packed + 1] = v end end
  local x = tonumber(f[2] or packed[OPT_AT[a]])
  if not b then return x end
  return x, tonumber(f[3] or packed[OPT_AT[b]])
end
`;

/** Shared by CLAIM and PROMOTE: moves up to `limit` due jobs of delayed and failed to waiting. */
const PROMOTE_FN = OPTS_FN + `
local function score_of(base, id)
  local prio = opts(base .. 'job:' .. id, 'priority')
  return string.format('%.0f', (1000 - prio) * 4398046511104 + tonumber(id))
end
local function promote(base, now, limit)
  local moved = 0
  for _, zset in ipairs({'delayed', 'failed'}) do
    local ids = redis.call('ZRANGEBYSCORE', base .. zset, '-inf', now, 'LIMIT', 0, limit)
    for _, id in ipairs(ids) do
      redis.call('ZREM', base .. zset, id)
      redis.call('ZADD', base .. 'waiting', score_of(base, id), id)
      redis.call('HSET', base .. 'job:' .. id, 'state', 'waiting')
      moved = moved + 1
    end
  end
  return moved
end
`;

/** Shared by FAIL and REAP: one failed attempt of an active job (the caller checked its lease). */
const FAIL_FN = `
local function fail_job(base, id, err, jitter, now)
  local job = base .. 'job:' .. id
  local f = redis.call('HMGET', job, 'attempt', 'maxAttempts')
  local attempt, maxAttempts = tonumber(f[1]), tonumber(f[2])
  redis.call('ZREM', base .. 'active', id)
  if attempt >= maxAttempts then
    redis.call('HSET', job, 'state', 'dead', 'error', err, 'lease', '', 'leaseExpiresAt', 0,
      'finishedAt', string.format('%.0f', now))
    redis.call('ZADD', base .. 'dead', string.format('%.0f', now), id)
    return {'dead', 0}
  end
  local backoffMs, backoffMaxMs = opts(job, 'backoffMs', 'backoffMaxMs')
  local full = math.min(backoffMaxMs, backoffMs * 2 ^ (attempt - 1))
  local runAt = string.format('%.0f', now + math.floor(full / 2 + (jitter * full) / 2))
  redis.call('HSET', job, 'state', 'failed', 'error', err, 'lease', '', 'leaseExpiresAt', 0, 'runAt', runAt)
  redis.call('ZADD', base .. 'failed', runAt, id)
  return {'failed', tonumber(runAt)}
end
`;

/** Shared by HEARTBEAT, COMPLETE and FAIL: whether `lease` is the job's current one. */
const CURRENT_FN = `
local function current_at(job, lease, now)
  local f = redis.call('HMGET', job, 'state', 'lease', 'leaseExpiresAt')
  return f[1] == 'active' and f[2] == lease and tonumber(f[3]) > now
end
local function current(base, id, lease, now)
  local f = redis.call('HMGET', base .. 'job:' .. id, 'state', 'lease', 'leaseExpiresAt')
  return f[1] == 'active' and f[2] == lease and tonumber(f[3]) > now
end
`;

/**
 * Shared by ENQUEUE, CLAIM and COMPLETE: one command over many values (ZADD's score-member pairs,
 * ZREM's members), in calls of at most 4000 values (Lua's unpack is bounded by its C stack, 8000).
 */
const MANY_FN = `
local function call_many(cmd, key, values)
  for i = 1, #values, 4000 do
    redis.call(cmd, key, unpack(values, i, math.min(i + 3999, #values)))
  end
end
`;

/**
 * ENQUEUE: adds jobs in order.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  now, ms;  ARGV[2]  n, the number of jobs;  ARGV[3]  the form: 'each', 'shared' or 'payloads'
 * 'each': then per job, 9 values: payload, runAt, priority, maxAttempts, backoffMs, backoffMaxMs,
 *          timeoutMs, key ('' for none), keyTtlMs
 * 'shared' (every job of the batch has the same options, a bulk enqueue's usual case): then the 7
 *          options once (runAt, priority, maxAttempts, backoffMs, backoffMaxMs, timeoutMs, keyTtlMs),
 *          then per job 2 values: payload, key ('' for none)
 * 'payloads' (as 'shared', and no job has a key): the 7 options once, then per job 1 value: payload
 *
 * Returns the last id given before this batch, then, for each job its key named an earlier job by (a
 * job of the window, not created), its index in the batch (from 1) and that job's id. Every other job
 * was created, its id the next of the sequence, in order. A batch without such keys is answered with
 * one value, not one a job (2026-12-07).
 */
export const JOBS_ENQUEUE_LUA = MANY_FN + `
local base = KEYS[1]
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local shared = ARGV[3] == 'shared'
local bare = ARGV[3] == 'payloads'
local first = tonumber(redis.call('GET', base .. 'seq') or '0')
local out = {string.format('%.0f', first)}
local seq = first
local waiting = {}
local payload, runAt, priority, maxAttempts, backoffMs, backoffMaxMs, timeoutMs, key, keyTtl
local o, shared_o = nil, false
if shared or bare then
  key = ''
  runAt, priority, maxAttempts, backoffMs, backoffMaxMs, timeoutMs, keyTtl = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
  o = priority .. ',' .. backoffMs .. ',' .. backoffMaxMs .. ',' .. runAt .. ',' .. ARGV[1]
  shared_o = true
end
for i = 0, n - 1 do
  if bare then
    payload = ARGV[11 + i]
  elseif shared then
    local a = 11 + i * 2
    payload, key = ARGV[a], ARGV[a + 1]
  else
    local a = 4 + i * 9
    payload, runAt, priority, maxAttempts, backoffMs, backoffMaxMs, timeoutMs, key, keyTtl =
      ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8]
  end
  local existing = false
  if key ~= '' then existing = redis.call('GET', base .. 'key:' .. key) end
  if existing then
    out[#out + 1] = i + 1
    out[#out + 1] = existing
  else
    seq = seq + 1
    local id = string.format('%.0f', seq)
    local state = 'waiting'
    if tonumber(runAt) > now then state = 'delayed' end
    -- attempt, lease, leaseExpiresAt and finishedAt start absent (read as 0 / ''); the options no
    -- hot step reads go packed in one field, built once for a batch that shares them: 5 fields, not 9.
    if not shared_o then o = priority .. ',' .. backoffMs .. ',' .. backoffMaxMs .. ',' .. runAt .. ',' .. ARGV[1] end
    redis.call('HSET', base .. 'job:' .. id, 'state', state, 'payload', payload, 'maxAttempts', maxAttempts,
      'timeoutMs', timeoutMs, 'o', o)
    if state == 'waiting' then
      waiting[#waiting + 1] = string.format('%.0f', (1000 - tonumber(priority)) * 4398046511104 + seq)
      waiting[#waiting + 1] = id
    else
      redis.call('ZADD', base .. 'delayed', runAt, id)
    end
    if key ~= '' then redis.call('SET', base .. 'key:' .. key, id, 'PX', keyTtl) end
  end
end
-- The batch's new ids and waiting jobs in one call each, not one per job.
if seq ~= first then redis.call('SET', base .. 'seq', string.format('%.0f', seq)) end
call_many('ZADD', base .. 'waiting', waiting)
return out
`;

/**
 * CLAIM: promotes due jobs, then takes up to `max` ready ones, each with a lease of its own.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  now, ms;  ARGV[2]  max;  ARGV[3]  lease prefix (random; job i's lease is "<prefix>.<i>");
 * ARGV[4]  most jobs promoted per zset first
 *
 * Returns {} when no job is ready, else {meta, payload 1, …, payload n}: meta is the jobs' numbers in
 * one string, per job id, attempt, maxAttempts, timeoutMs, all comma-separated ("7,1,3,30000,8,1,…"),
 * then each job's payload (any text) as a value of its own: n + 1 values, not 5 a job (2026-12-07).
 * The i-th job's (from 1) lease is "<prefix>.<i>" and its leaseExpiresAt now + timeoutMs: the
 * caller derives both rather than have them sent back.
 */
export const JOBS_CLAIM_LUA = PROMOTE_FN + MANY_FN + `
local base = KEYS[1]
local now = tonumber(ARGV[1])
promote(base, now, tonumber(ARGV[4]))
-- ZPOPMIN takes the lowest scores (priority, then id) and removes them in one call: {id, score, ...}.
local popped = redis.call('ZPOPMIN', base .. 'waiting', tonumber(ARGV[2]))
if #popped == 0 then return {} end
local meta = {}
local out = {''}
local active = {}
local jobs = base .. 'job:'
local timeout, expires = nil, nil
for k = 1, #popped, 2 do
  local id, i = popped[k], (k + 1) / 2
  local job = jobs .. id
  local f = redis.call('HMGET', job, 'attempt', 'timeoutMs', 'maxAttempts', 'payload')
  local attempt = (tonumber(f[1]) or 0) + 1
  -- A claim's jobs mostly share their timeout: their expiry written once.
  if f[2] ~= timeout then
    timeout = f[2]
    expires = string.format('%.0f', now + tonumber(timeout))
  end
  local lease = ARGV[3] .. '.' .. i
  redis.call('HSET', job, 'state', 'active', 'attempt', attempt, 'lease', lease, 'leaseExpiresAt', expires)
  active[#active + 1] = expires
  active[#active + 1] = id
  local m = #meta
  meta[m + 1] = id
  meta[m + 2] = attempt
  meta[m + 3] = f[3]
  meta[m + 4] = f[2]
  out[#out + 1] = f[4]
end
-- The claimed jobs' leases in one call, not one per job.
call_many('ZADD', base .. 'active', active)
out[1] = table.concat(meta, ',')
return out
`;

/**
 * HEARTBEAT: extends a current lease to now + the job's timeoutMs.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  id;  ARGV[2]  lease;  ARGV[3]  now, ms
 *
 * Returns the new leaseExpiresAt, or -1 when the lease is not current (nothing changed).
 */
export const JOBS_HEARTBEAT_LUA = CURRENT_FN + `
local base, id = KEYS[1], ARGV[1]
local now = tonumber(ARGV[3])
if not current(base, id, ARGV[2], now) then return -1 end
local job = base .. 'job:' .. id
local expires = string.format('%.0f', now + tonumber(redis.call('HGET', job, 'timeoutMs')))
redis.call('HSET', job, 'leaseExpiresAt', expires)
redis.call('ZADD', base .. 'active', expires, id)
return tonumber(expires)
`;

/**
 * COMPLETE: completes active jobs with their results, each alone: a job whose lease is not current
 * is left as it is, the others complete (one script for a worker's batch of completions).
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  now, ms;  ARGV[2]  n, the number of jobs;  ARGV[3]  the jobs' ids and leases in one string,
 *          "<id> <lease> <id> <lease> …", single spaces (ids are decimal, leases hold no white space:
 *          the caller sends none that does; such a lease is never current anyway)
 * ARGV[4..3+n]  each job's result, in order; absent when every result is 'null'
 *
 * A completed job's hash gets state and finishedAt, and result unless it is 'null' (absent reads as
 * 'null'); lease and leaseExpiresAt are left as they were (no longer current: the state is not
 * 'active'). Two fields a job, not five: most jobs complete, most results are null.
 *
 * Returns the indexes (from 1) of the jobs whose lease was not current (nothing recorded for them);
 * the others completed. Usually empty: one small reply, not one value a job (2026-12-07).
 */
export const JOBS_COMPLETE_LUA = CURRENT_FN + MANY_FN + `
local base = KEYS[1]
local now = tonumber(ARGV[1])
local results = #ARGV > 3
local jobs = base .. 'job:'
local out = {}
local done, finished = {}, {}
local i = 0
for id, lease in string.gmatch(ARGV[3], '(%S+) (%S+)') do
  i = i + 1
  local job = jobs .. id
  if current_at(job, lease, now) then
    local result = results and ARGV[3 + i] or 'null'
    if result == 'null' then
      redis.call('HSET', job, 'state', 'completed', 'finishedAt', ARGV[1])
    else
      redis.call('HSET', job, 'state', 'completed', 'finishedAt', ARGV[1], 'result', result)
    end
    done[#done + 1] = id
    finished[#finished + 1] = ARGV[1]
    finished[#finished + 1] = id
  else
    out[#out + 1] = i
  end
end
-- The batch's moves from active to completed in one call each, not one per job.
call_many('ZREM', base .. 'active', done)
call_many('ZADD', base .. 'completed', finished)
return out
`;

/**
 * FAIL: fails the attempt: a retry after min(backoffMaxMs, backoffMs × 2^(attempt-1)), jittered to
 * [½, 1] of it, while attempt < maxAttempts; else the job goes dead (jobBackoffMs in core/engine.ts).
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  id;  ARGV[2]  lease;  ARGV[3]  error;  ARGV[4]  jitter in [0, 1);  ARGV[5]  now, ms
 *
 * Returns {'failed', runAt} or {'dead', 0}, or {} when the lease is not current (nothing recorded).
 */
export const JOBS_FAIL_LUA = CURRENT_FN + OPTS_FN + FAIL_FN + `
local base, id = KEYS[1], ARGV[1]
local now = tonumber(ARGV[5])
if not current(base, id, ARGV[2], now) then return {} end
return fail_job(base, id, ARGV[3], tonumber(ARGV[4]), now)
`;

/**
 * PROMOTE: makes due delayed and failed jobs waiting.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  now, ms;  ARGV[2]  most jobs moved per zset
 *
 * Returns how many moved.
 */
export const JOBS_PROMOTE_LUA = PROMOTE_FN + `
return promote(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
`;

/**
 * REAP: fails, as FAIL with the error 'lease expired', active jobs whose lease expired at or before now.
 *
 * KEYS[1]  the queue's key base
 * ARGV[1]  now, ms;  ARGV[2]  jitter in [0, 1);  ARGV[3]  most jobs reaped
 *
 * Returns how many were reaped.
 */
export const JOBS_REAP_LUA = OPTS_FN + FAIL_FN + `
local base = KEYS[1]
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', base .. 'active', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do fail_job(base, id, 'lease expired', tonumber(ARGV[2]), now) end
return #ids
`;
