/**
 * Lua: adds or refreshes a member of a membership set, drops the expired ones, and keeps the key's
 * own expiry at the latest member's, so a set nobody re-joins disappears from Redis by itself.
 *
 * KEYS[1]  <prefix>{set}:members   zset: member → expiresAtMs
 * ARGV[1]  now, ms since the epoch (the caller's clock)
 * ARGV[2]  the member's expiresAtMs
 * ARGV[3]  member
 *
 * Returns the number of unexpired members.
 */
export const JOIN_LUA = `
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
redis.call('ZADD', key, ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', key, math.ceil(tonumber(last[2])))
return redis.call('ZCARD', key)
`;
