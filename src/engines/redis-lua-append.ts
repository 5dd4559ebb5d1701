/**
 * Lua: append one request's events to one channel, atomically numbered. Run once per channel per
 * append call (per node per tick), whatever the number of events: they travel packed in ARGV[3].
 *
 * KEYS[1]  <prefix>{channel}:meta   hash: epoch, head, oldest
 * KEYS[2]  <prefix>{channel}:log    stream of batches
 * ARGV[1]  epoch candidate: a random non-zero u32, kept only when the channel is new
 * ARGV[2]  count: number of events in the batch; 0 appends nothing
 * ARGV[3]  the packed events (redis-event-codec.ts)
 *
 * Returns the first version assigned (the head before the append), an integer. The entry's stream
 * id is "<firstVersion>-1". XADD runs before the head moves, so a refused XADD (an id not above the
 * stream's top, only possible if the meta hash was lost) changes nothing but the meta's creation.
 */
export const APPEND_LUA = `
local meta, log = KEYS[1], KEYS[2]
if redis.call('HSETNX', meta, 'epoch', ARGV[1]) == 1 then
  redis.call('HSET', meta, 'head', 0, 'oldest', 0)
end
local head = tonumber(redis.call('HGET', meta, 'head'))
local count = tonumber(ARGV[2])
if count > 0 then
  redis.call('XADD', log, string.format('%d-1', head), 'n', ARGV[2], 'd', ARGV[3])
  redis.call('HSET', meta, 'head', string.format('%d', head + count))
end
return head
`;
