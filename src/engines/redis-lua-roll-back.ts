/**
 * Lua: a channel's log went back. Redis replication is asynchronous, so after a failover the new
 * primary may lack the last batches the old one committed, although nodes delivered them (and,
 * without WAIT, acknowledged them). The head is then below what a node saw in the same epoch, and
 * the same versions would be given to other events. `roll_back` moves the channel to a new epoch
 * at the head it has, so every node reloads it and every client takes a snapshot.
 *
 * The producer windows (redis-lua-append.ts) stay valid across it: they record the `lineage`, the
 * epoch the log was created in, which a roll-back keeps. Every record the new primary holds was
 * written by the same script as the batch it names, so it names a version the log still has.
 *
 * `rolled_back(meta, known_epoch, seen_end, candidate)`: when the meta is at `known_epoch` and
 * its head is below `seen_end`, sets the new epoch (the candidate, a random non-zero u32) and keeps
 * the old one as the lineage. Returns true when it did.
 *
 * ROLL_BACK_LUA, the script for an engine that only reads (redis-batch-reader.ts):
 * KEYS[1]  <prefix>{channel}:meta
 * ARGV     known epoch, seen end (the version after the last one the engine delivered), candidate
 * Returns { epoch, head } after the check; { 0, 0 } when the meta is missing (the log was lost:
 * the ordinary epoch check takes it from there).
 */
export const ROLL_BACK_FN_LUA = `
local function rolled_back(meta, known_epoch, seen_end, candidate)
  local row = redis.call('HMGET', meta, 'epoch', 'head')
  if not row[1] or row[1] ~= known_epoch or tonumber(row[2]) >= tonumber(seen_end) then return false end
  if candidate == row[1] then candidate = string.format('%d', tonumber(candidate) % 4294967295 + 1) end
  if redis.call('HEXISTS', meta, 'lineage') == 0 then redis.call('HSET', meta, 'lineage', row[1]) end
  redis.call('HSET', meta, 'epoch', candidate)
  return true
end
`;

export const ROLL_BACK_LUA = `${ROLL_BACK_FN_LUA}
local meta = KEYS[1]
rolled_back(meta, ARGV[1], ARGV[2], ARGV[3])
local row = redis.call('HMGET', meta, 'epoch', 'head')
return { tonumber(row[1] or 0), tonumber(row[2] or 0) }
`;
