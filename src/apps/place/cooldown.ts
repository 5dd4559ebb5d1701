/**
 * Per-user cooldown for one canvas: at most one accepted edit per `cooldownMs`.
 *
 * The map holds only users who edited within about two cooldown periods: entries older than
 * `cooldownMs` can no longer refuse anything, so a lazy sweep (run from `tryStart`, at most once
 * per cooldown period) drops them. Memory follows active users, not everyone who ever drew.
 *
 * The tracker is per node. With several nodes sharing an engine, the canvas also takes a claim on
 * the engine for each accepted edit (PlaceChannelType.sharedClaim), so the cooldown holds across
 * nodes; a claim another node holds sets this node's entry with restart().
 */
import { COOLDOWN_SWEEP_MIN_INTERVAL_MS } from './constants.ts';

export class CooldownTracker {
  private readonly lastEditMs = new Map<string, number>();
  private lastSweepMs = -Infinity;
  private readonly sweepIntervalMs: number;

  /** cooldownMs 0 disables the cooldown: nothing is recorded. */
  constructor(readonly cooldownMs: number) {
    this.sweepIntervalMs = Math.max(cooldownMs, COOLDOWN_SWEEP_MIN_INTERVAL_MS);
  }

  /** Milliseconds until `userId` may edit again; 0 when allowed now. */
  remainingMs(userId: string, nowMs: number): number {
    if (this.cooldownMs <= 0) return 0;
    const last = this.lastEditMs.get(userId);
    if (last === undefined) return 0;
    const remaining = last + this.cooldownMs - nowMs;
    // A clock that stepped back must not stretch a cooldown past one full period.
    return remaining > 0 ? Math.min(remaining, this.cooldownMs) : 0;
  }

  /**
   * Starts the user's cooldown if it has run out and returns 0; otherwise returns the remaining
   * milliseconds and changes nothing.
   */
  tryStart(userId: string, nowMs: number): number {
    if (this.cooldownMs <= 0) return 0;
    this.maybeSweep(nowMs);
    const remaining = this.remainingMs(userId, nowMs);
    if (remaining > 0) return remaining;
    this.lastEditMs.set(userId, nowMs);
    return 0;
  }

  /** Sets the user's cooldown to end `remainingMs` after `nowMs` (another node started it). */
  restart(userId: string, remainingMs: number, nowMs: number): void {
    if (this.cooldownMs <= 0) return;
    this.lastEditMs.set(userId, nowMs - this.cooldownMs + Math.min(Math.max(0, remainingMs), this.cooldownMs));
  }

  /** Users currently tracked (for tests and metrics). */
  get size(): number {
    return this.lastEditMs.size;
  }

  /** Drops every entry whose cooldown has run out. */
  sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    for (const [userId, last] of this.lastEditMs) {
      if (nowMs - last >= this.cooldownMs) this.lastEditMs.delete(userId);
    }
  }

  private maybeSweep(nowMs: number): void {
    // `nowMs < lastSweepMs` means the clock stepped back; sweep so the schedule re-bases.
    if (nowMs - this.lastSweepMs >= this.sweepIntervalMs || nowMs < this.lastSweepMs) this.sweep(nowMs);
  }
}
