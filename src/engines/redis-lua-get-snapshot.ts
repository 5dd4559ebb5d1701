/**
 * Lua: the newest snapshot at or before a version, read in one step so a concurrent putSnapshot
 * cannot drop its bytes between finding the version and reading them.
 *
 * KEYS[1]  <prefix>{channel}:snaps   zset of kept snapshot versions
 * KEYS[2]  <prefix>{channel}:snap    hash: "<version>" → bytes, "<version>:t" → timeMs
 * ARGV[1]  atOrBefore: a version, or "+inf" for the newest
 *
 * Returns { version, bytes, timeMs } as bulk strings, or nil when there is none.
 */
export const GET_SNAPSHOT_LUA = `
local found = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, 1)[1]
if not found then
  return false
end
local row = redis.call('HMGET', KEYS[2], found, found .. ':t')
return { found, row[1], row[2] }
`;
