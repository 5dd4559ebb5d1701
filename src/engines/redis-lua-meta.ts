/**
 * Lua, shared by the scripts that may write a channel: `create_meta(meta, log, snaps, snap, epoch)`
 * makes the channel's meta hash when it is missing — a channel never written, or one whose data
 * Redis lost (restarted without persistence, a deleted key) — with the candidate epoch, head 0 and
 * oldest 0, and deletes whatever an earlier incarnation left in the other three keys, so a new epoch
 * never inherits old versions. Returns true when it made a new epoch.
 */
export const CREATE_META_LUA = `
local function create_meta(meta, log, snaps, snap, epoch)
  if redis.call('HSETNX', meta, 'epoch', epoch) == 1 then
    redis.call('HSET', meta, 'head', 0, 'oldest', 0)
    redis.call('DEL', log, snaps, snap)
    return true
  end
  return false
end
`;
