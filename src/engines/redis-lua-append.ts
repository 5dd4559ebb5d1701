/**
 * Lua: append one tick — every request of one append() call, over any number of channels — as one
 * atomic step. Redis runs a script to its end and never interleaves another command, and this one
 * checks every key before it writes any, so the call commits all of its requests or none of them.
 * Commands per call do not grow with events: each publish's events travel packed in one argument,
 * and a request's new events become ONE stream entry.
 *
 * Idempotent publishing (engine.ts PublishStamp): each stamped publish names its producer's key,
 * <prefix>{channel}:p:<producer>, a hash of seq → "<first version>:<epoch>" for the producer's
 * newest window.seqs sequence numbers on the channel, expiring window.ms after its last publish. A
 * publish whose seq is there in the log's epoch is a repeat: it is not appended, and its original
 * version is returned. One recorded in another lineage belonged to a log that is gone: appended
 * anew. The lineage is the epoch the log was created in; a roll-back (redis-lua-roll-back.ts)
 * changes the epoch but keeps the lineage, so a publish retried across it is still found.
 *
 * Roll-back: each request says the epoch and the end of what the appending engine has seen of the
 * channel. A log found at that epoch with its head below that end went back (a failover to a
 * replica that lacked the last batches): it moves to a new epoch before the append, and the
 * request's result carries the new epoch.
 *
 * KEYS     per request, in request order: <prefix>{channel}:meta, :log, :snaps, :snap, then one key
 *          per publish (its producer's; an unstamped publish names the meta key, unused)
 * ARGV[1]  number of requests, n
 * ARGV[2]  window.seqs   ARGV[3]  window.ms
 * ARGV[4]  '1': also SPUBLISH each new entry to the shard channel <prefix>{channel}:live (the
 *          cluster shape's live delivery, redis-shard-reader.ts) as "<firstVersion>:<count>:<epoch>:"
 *          followed by the packed events; '0': do not (one server, read with XREAD)
 * then per request: epoch candidate (a random non-zero u32, kept only when the channel is new, was
 *          lost or rolled back), the epoch and end the engine has seen ('0', '0' when none), the
 *          number of publishes p, then per publish: seq ('0' = unstamped), count, the packed
 *          events (redis-event-codec.ts)
 *
 * Returns, per request: head before, epoch, p, then each publish's first version. An entry's
 * stream id is "<firstVersion>-1"; its fields are n (count), d (events) and e (epoch).
 * Refuses the whole call, writing nothing, when a key of any request holds the wrong type.
 *
 * A channel whose meta hash is missing starts a new epoch at version 0 (CREATE_META_LUA), and
 * whatever is left of an earlier incarnation (its log, its snapshots) is deleted with it: a
 * version only means something in its epoch.
 */
import { CREATE_META_LUA } from './redis-lua-meta.ts';
import { ROLL_BACK_FN_LUA } from './redis-lua-roll-back.ts';

export const APPEND_LUA = `${CREATE_META_LUA}${ROLL_BACK_FN_LUA}
local n = tonumber(ARGV[1])
local windowSeqs, windowMs, live = tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'
local expected = { 'hash', 'stream', 'zset', 'hash' }
local function check(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. t .. '; nothing was appended')
  end
end
local ki, ai = 1, 5
for i = 1, n do
  for k = 0, 3 do
    local err = check(KEYS[ki + k], expected[k + 1])
    if err then return err end
  end
  local p = tonumber(ARGV[ai + 3])
  for j = 1, p do
    local err = check(KEYS[ki + 3 + j], 'hash')
    if err then return err end
  end
  ki = ki + 4 + p
  ai = ai + 4 + 3 * p
end
local out = {}
ki, ai = 1, 5
for i = 1, n do
  local meta, log, snaps, snap = KEYS[ki], KEYS[ki + 1], KEYS[ki + 2], KEYS[ki + 3]
  if not create_meta(meta, log, snaps, snap, ARGV[ai]) and ARGV[ai + 1] ~= '0' then
    rolled_back(meta, ARGV[ai + 1], ARGV[ai + 2], ARGV[ai])
  end
  local p = tonumber(ARGV[ai + 3])
  local row = redis.call('HMGET', meta, 'epoch', 'head', 'lineage')
  local epoch, head = row[1], tonumber(row[2])
  local lineage = row[3] or epoch
  local v = head
  local parts = {}
  local firsts = {}
  for j = 1, p do
    local pkey = KEYS[ki + 3 + j]
    local a = ai + 4 + 3 * (j - 1)
    local seq, count = ARGV[a], tonumber(ARGV[a + 1])
    local original = nil
    if seq ~= '0' then
      local rec = redis.call('HGET', pkey, seq)
      if rec then
        local colon = string.find(rec, ':', 1, true)
        if string.sub(rec, colon + 1) == lineage then original = tonumber(string.sub(rec, 1, colon - 1)) end
      end
    end
    if original then
      firsts[j] = original
    else
      firsts[j] = v
      if count > 0 then
        parts[#parts + 1] = ARGV[a + 2]
        v = v + count
      end
      if seq ~= '0' then
        redis.call('HSET', pkey, seq, string.format('%d', firsts[j]) .. ':' .. lineage)
        redis.call('HDEL', pkey, string.format('%d', tonumber(seq) - windowSeqs))
        redis.call('PEXPIRE', pkey, windowMs)
      end
    end
  end
  if v > head then
    local d = table.concat(parts)
    redis.call('XADD', log, string.format('%d-1', head), 'n', string.format('%d', v - head), 'd', d, 'e', epoch)
    if live then
      redis.call('SPUBLISH', string.sub(log, 1, -4) .. 'live', string.format('%d:%d:', head, v - head) .. epoch .. ':' .. d)
    end
    redis.call('HSET', meta, 'head', string.format('%d', v))
  end
  out[#out + 1] = head
  out[#out + 1] = tonumber(epoch)
  out[#out + 1] = p
  for j = 1, p do out[#out + 1] = firsts[j] end
  ki = ki + 4 + p
  ai = ai + 4 + 3 * p
end
return out
`;
