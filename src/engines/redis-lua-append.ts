/**
 * Lua: append one tick — every request of one append() call, over any number of channels — as one
 * atomic step. Redis runs a script to its end and never interleaves another command, and this one
 * checks every key before it writes any, so the call commits all of its requests or none of them.
 * Commands per call do not grow with events: each request's events travel packed in one argument
 * and become ONE stream entry.
 *
 * KEYS     4 per request, in request order: <prefix>{channel}:meta, :log, :snaps, :snap
 * ARGV[1]  number of requests, n
 * then 3 per request, in request order:
 *          epoch candidate: a random non-zero u32, kept only when the channel is new (or was lost)
 *          count: number of events in the batch; 0 appends nothing
 *          the packed events (redis-event-codec.ts)
 *
 * Returns { firstVersion1, epoch1, firstVersion2, epoch2, … }: each request's position. An entry's
 * stream id is "<firstVersion>-1"; its fields are n (count), d (events) and e (epoch).
 * Refuses the whole call, writing nothing, when a key of any request holds the wrong type.
 *
 * A channel whose meta hash is missing starts a new epoch at version 0 (CREATE_META_LUA), and
 * whatever is left of an earlier incarnation (its log, its snapshots) is deleted with it: a
 * version only means something in its epoch.
 */
import { CREATE_META_LUA } from './redis-lua-meta.ts';

export const APPEND_LUA = `${CREATE_META_LUA}
local n = tonumber(ARGV[1])
local expected = { 'hash', 'stream', 'zset', 'hash' }
for i = 0, n - 1 do
  for k = 1, 4 do
    local t = redis.call('TYPE', KEYS[i * 4 + k])['ok']
    if t ~= 'none' and t ~= expected[k] then
      return redis.error_reply('WRONGTYPE ' .. KEYS[i * 4 + k] .. ' holds a ' .. t .. '; nothing was appended')
    end
  end
end
local out = {}
for i = 0, n - 1 do
  local meta, log, snaps, snap = KEYS[i * 4 + 1], KEYS[i * 4 + 2], KEYS[i * 4 + 3], KEYS[i * 4 + 4]
  local a = 1 + i * 3
  create_meta(meta, log, snaps, snap, ARGV[a + 1])
  local row = redis.call('HMGET', meta, 'epoch', 'head')
  local epoch, head = row[1], tonumber(row[2])
  local count = tonumber(ARGV[a + 2])
  if count > 0 then
    redis.call('XADD', log, string.format('%d-1', head), 'n', ARGV[a + 2], 'd', ARGV[a + 3], 'e', epoch)
    redis.call('HSET', meta, 'head', string.format('%d', head + count))
  end
  out[#out + 1] = head
  out[#out + 1] = tonumber(epoch)
end
return out
`;
