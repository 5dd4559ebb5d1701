/**
 * Lua: a channel's epoch, head and oldest, creating the meta hash when missing so that the epoch
 * reported for a channel never written (or lost) is the one its first append keeps.
 *
 * KEYS[1]  <prefix>{channel}:meta   hash: epoch, head, oldest
 * KEYS[2]  <prefix>{channel}:log    } deleted when the meta is missing: leftovers of a lost
 * KEYS[3]  <prefix>{channel}:snaps  } incarnation (see redis-lua-meta.ts)
 * KEYS[4]  <prefix>{channel}:snap   }
 * ARGV[1]  epoch candidate: a random non-zero u32, kept only when the channel is new
 *
 * Returns { epoch, head, oldest }, three integers.
 */
import { CREATE_META_LUA } from './redis-lua-meta.ts';

export const INFO_LUA = `${CREATE_META_LUA}
local meta = KEYS[1]
create_meta(meta, KEYS[2], KEYS[3], KEYS[4], ARGV[1])
local row = redis.call('HMGET', meta, 'epoch', 'head', 'oldest')
return { tonumber(row[1]), tonumber(row[2]), tonumber(row[3]) }
`;
