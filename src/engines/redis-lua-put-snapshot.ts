/**
 * Lua: store a snapshot, keep the newest `keepSnapshots`, and trim the log behind them, exactly as
 * the embedded engine does: the new oldest readable version is
 *   min(oldest kept snapshot, newest snapshot - retainEvents, head)
 * and only moves forward. Stream entries lying wholly below it are removed (XTRIM MINID); the entry
 * that straddles it stays, so a read from `oldest` still finds its events.
 *
 * KEYS[1]  <prefix>{channel}:meta    hash: epoch, head, oldest
 * KEYS[2]  <prefix>{channel}:log     stream of batches, ids "<firstVersion>-1"
 * KEYS[3]  <prefix>{channel}:snaps   zset of kept snapshot versions (member = score = version)
 * KEYS[4]  <prefix>{channel}:snap    hash: "<version>" → bytes, "<version>:t" → timeMs
 * ARGV[1]  version (decimal integer)
 * ARGV[2]  snapshot bytes
 * ARGV[3]  timeMs
 * ARGV[4]  keepSnapshots (at least 1)
 * ARGV[5]  retainEvents
 * ARGV[6]  epoch candidate: a random non-zero u32, kept only when the channel is new
 * ARGV[7]  the epoch the snapshot's version counts in ('0': not said)
 *
 * Returns the oldest readable version after trimming, an integer; -1 (nothing changed) when ARGV[7]
 * is given and the channel's log is not at that epoch (lost since): the snapshot is not a state
 * of this log.
 */
import { CREATE_META_LUA } from './redis-lua-meta.ts';

export const PUT_SNAPSHOT_LUA = `${CREATE_META_LUA}
local meta, log, snaps, snap = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local version = ARGV[1]
if ARGV[7] ~= '0' and redis.call('HGET', meta, 'epoch') ~= ARGV[7] then
  return -1
end
create_meta(meta, log, snaps, snap, ARGV[6])
redis.call('ZADD', snaps, version, version)
redis.call('HSET', snap, version, ARGV[2], version .. ':t', ARGV[3])
local excess = redis.call('ZCARD', snaps) - tonumber(ARGV[4])
if excess > 0 then
  local dropped = redis.call('ZRANGE', snaps, 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', snaps, 0, excess - 1)
  for _, v in ipairs(dropped) do
    redis.call('HDEL', snap, v, v .. ':t')
  end
end
local oldestKept = tonumber(redis.call('ZRANGE', snaps, 0, 0)[1])
local newest = tonumber(redis.call('ZRANGE', snaps, -1, -1)[1])
local head = tonumber(redis.call('HGET', meta, 'head'))
local oldest = tonumber(redis.call('HGET', meta, 'oldest'))
local trimBelow = math.min(oldestKept, newest - tonumber(ARGV[5]), head)
if trimBelow <= oldest then
  return oldest
end
redis.call('HSET', meta, 'oldest', string.format('%d', trimBelow))
local minId = string.format('%d-0', trimBelow)
local straddling = redis.call('XREVRANGE', log, string.format('%d-1', trimBelow), '-', 'COUNT', 1)[1]
if straddling then
  local first = tonumber(string.match(straddling[1], '^(%d+)-'))
  local fields = straddling[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'n' and first + tonumber(fields[i + 1]) > trimBelow then
      minId = straddling[1]
    end
  end
end
redis.call('XTRIM', log, 'MINID', minId)
return trimBelow
`;
