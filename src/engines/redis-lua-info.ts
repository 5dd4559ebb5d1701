/**
 * Lua: a channel's epoch, head and oldest, creating the meta hash when missing so that the epoch
 * reported for a channel never written is the one its first append keeps.
 *
 * KEYS[1]  <prefix>{channel}:meta   hash: epoch, head, oldest
 * ARGV[1]  epoch candidate: a random non-zero u32, kept only when the channel is new
 *
 * Returns { epoch, head, oldest }, three integers.
 */
export const INFO_LUA = `
local meta = KEYS[1]
if redis.call('HSETNX', meta, 'epoch', ARGV[1]) == 1 then
  redis.call('HSET', meta, 'head', 0, 'oldest', 0)
end
local row = redis.call('HMGET', meta, 'epoch', 'head', 'oldest')
return { tonumber(row[1]), tonumber(row[2]), tonumber(row[3]) }
`;
