/**
 * Lua: takes or renews a claim for a holder (HeldClaims in core/engine.ts).
 *
 * KEYS[1]  <prefix>held:{key}   string: the holder, with a TTL
 * ARGV[1]  holder (non-empty)
 * ARGV[2]  ttl, ms (a positive integer)
 *
 * Returns {holder, ms left}: ARGV[1] and the ttl when taken or renewed (free, or already ARGV[1]'s);
 * otherwise the other holder and its PTTL (at least 1), unchanged.
 */
export const HOLD_CLAIM_LUA = `
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], tonumber(ARGV[2])}
end
local left = redis.call('PTTL', KEYS[1])
if left < 1 then left = 1 end
return {cur, left}
`;

/**
 * Lua: ends a held claim if ARGV[1] holds it.
 *
 * KEYS[1]  <prefix>held:{key}
 * ARGV[1]  holder
 *
 * Returns 1 when it was ARGV[1]'s and is gone, else 0 (another holder's claim is untouched).
 */
export const RELEASE_CLAIM_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
