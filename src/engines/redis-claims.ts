/**
 * Claims for the Redis engine: a claim is a key that exists while it is held, set only if absent
 * and expiring `ttlMs` after it was taken (redis-lua-claim.ts); a held claim is a key naming its
 * holder, renewed by that holder and released only by it (redis-lua-hold-claim.ts).
 */
import type { Claims } from '../core/engine.ts';
import { checkHeldClaim } from './embedded-held-claims.ts';
import { unavailable } from './redis-errors.ts';
import { claimKey, heldClaimKey } from './redis-keys.ts';
import { scripts } from './redis-scripts.ts';
import type { RedisConn } from './redis-target.ts';

export class RedisClaims implements Claims {
  private readonly prefix: string;
  /** The command connection (redis-connections.ts connected()). */
  private readonly connected: () => RedisConn;

  constructor(prefix: string, connected: () => RedisConn) {
    this.prefix = prefix;
    this.connected = connected;
  }

  async claim(key: string, ttlMs: number): Promise<number> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`a claim's ttlMs must be a positive number, got ${ttlMs}`);
    const cmd = this.connected();
    try {
      return Number(await scripts(cmd).brigadeClaim(claimKey(this.prefix, key), String(Math.ceil(ttlMs))));
    } catch (err) {
      throw unavailable('claiming failed', err);
    }
  }

  async holdClaim(key: string, holder: string, ttlMs: number): Promise<{ holder: string; ttlMs: number }> {
    checkHeldClaim(holder, ttlMs);
    const cmd = this.connected();
    try {
      const [h, left] = await scripts(cmd).brigadeHoldClaim(heldClaimKey(this.prefix, key), holder, String(Math.ceil(ttlMs)));
      return { holder: h, ttlMs: Number(left) };
    } catch (err) {
      throw unavailable('holding the claim failed', err);
    }
  }

  async releaseClaim(key: string, holder: string): Promise<boolean> {
    const cmd = this.connected();
    try {
      return Number(await scripts(cmd).brigadeReleaseClaim(heldClaimKey(this.prefix, key), holder)) === 1;
    } catch (err) {
      throw unavailable('releasing the claim failed', err);
    }
  }
}
