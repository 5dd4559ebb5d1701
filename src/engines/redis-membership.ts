/**
 * Membership for the Redis engine: a set is a sorted set `<prefix>{<set>}:members` scored by
 * expiresAtMs (redis-lua-join.ts); the key expires with its latest member, so an abandoned set
 * leaves nothing behind. Expired members are dropped as the set is read.
 */
import type { Membership } from '../core/engine.ts';
import { unavailable } from './redis-errors.ts';
import { membersKey } from './redis-keys.ts';
import { scripts } from './redis-scripts.ts';
import type { RedisConn } from './redis-target.ts';

export class RedisMembership implements Membership {
  private readonly prefix: string;
  /** The command connection (redis-connections.ts connected()). */
  private readonly connected: () => RedisConn;

  constructor(prefix: string, connected: () => RedisConn) {
    this.prefix = prefix;
    this.connected = connected;
  }

  async join(set: string, member: string, ttlMs: number): Promise<void> {
    const cmd = this.connected();
    const now = Date.now();
    try {
      await scripts(cmd).brigadeJoin(membersKey(this.prefix, set), String(now), String(Math.ceil(now + ttlMs)), member);
    } catch (err) {
      throw unavailable('joining the set failed', err);
    }
  }

  async leave(set: string, member: string): Promise<void> {
    const cmd = this.connected();
    try {
      await cmd.zrem(membersKey(this.prefix, set), member);
    } catch (err) {
      throw unavailable('leaving the set failed', err);
    }
  }

  async members(set: string): Promise<readonly string[]> {
    const cmd = this.connected();
    const key = membersKey(this.prefix, set);
    const now = Date.now();
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await cmd.pipeline()
        .zremrangebyscore(key, '-inf', now)
        .zrangebyscore(key, `(${now}`, '+inf')
        .exec();
    } catch (err) {
      throw unavailable('reading the set failed', err);
    }
    if (!results) throw unavailable('reading the set failed', 'no reply');
    const failed = results.find(([err]) => err !== null);
    if (failed) throw unavailable('reading the set failed', failed[0]);
    return (results[1][1] as string[]).sort();
  }

  async count(set: string): Promise<number> {
    const cmd = this.connected();
    try {
      return await cmd.zcount(membersKey(this.prefix, set), `(${Date.now()}`, '+inf');
    } catch (err) {
      throw unavailable('counting the set failed', err);
    }
  }
}
