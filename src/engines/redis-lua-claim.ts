/**
 * Lua: takes a claim if nobody holds it (Claims in core/engine.ts).
 *
 * KEYS[1]  <prefix>claim:{key}   string with a TTL: held while it exists
 * ARGV[1]  ttl, ms (a positive integer)
 *
 * Returns 0 when taken; otherwise the milliseconds until it is free, at least 1 (a key that has no
 * TTL, which Brigade never writes, counts as held for one more TTL and gets one).
 */
export const CLAIM_LUA = `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local left = redis.call('PTTL', KEYS[1])
if left == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
if left < 1 then return 1 end
return left
`;
