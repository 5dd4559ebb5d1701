/**
 * The tick clock: when a node's next tick falls and how long its fan-out waits. Pure arithmetic
 * over an injected `now()`; the hub owns the timer that fires at `nextDue()`, so this is tested
 * with a fake clock.
 *
 * Ticks fall on a wall-clock grid shared by every node: multiples of the interval since the Unix
 * epoch. Over a shared engine the nodes then append on the same instants, and each node's fan-out,
 * `graceMs()` after the grid point, carries every node's batch of that tick in one frame.
 * (Unaligned, a node fans out at most once per tick at its own phase, and a batch from a node at
 * another phase waits up to a whole tick more.)
 *
 * Adaptive interval: when a tick's work (its append and the fan-out of every batch that arrived,
 * this node's and other nodes') outlasts the interval, this node's own need doubles until it covers
 * that work (tickMs × 2^k; maxTickMs itself is the last step), so batches and frames grow instead
 * of ticks queueing behind each other. It halves only after CALM_TICKS ticks in a row whose work
 * took under CALM_SHARE of it, so a node under a steady load stays at one interval instead of
 * flapping between two (each flap misaligns it from the other nodes for a tick).
 *
 * The interval in force is the longest of this node's own need and its peers' (what the other
 * nodes say they need, see tick-needs.ts), at most maxTickMs: loaded nodes stay on the same
 * instants. Were they not, every tick of the slower node would still be a tick of the faster one,
 * and only the faster one's other batches would wait.
 */

export interface TickClockOptions {
  /** The shortest interval, ms: the grid's unit. */
  tickMs: number;
  /** The longest interval, ms, whatever this node or a peer needs. */
  maxTickMs: number;
  /** The least the fan-out waits after a tick's grid point, ms (see graceMs). */
  fanOutGraceMs: number;
}

/** The own need halves after this many ticks in a row whose work took under CALM_SHARE of it. */
export const CALM_TICKS = 5;
export const CALM_SHARE = 0.3;
/** Per tick, the remembered lateness of batches (graceMs) shrinks by this factor. */
export const LATE_DECAY = 0.9;
/** The fan-out waits this much past the latest recent arrival, ms (delivery jitter). */
export const LATE_MARGIN_MS = 2;
/** A peer's need not heard again for this long past two of its intervals is forgotten, ms. */
export const PEER_FORGET_AFTER_MS = 1000;

/** Wall-clock milliseconds with sub-millisecond resolution: the tick grid every node shares. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export class TickClock {
  readonly now: () => number;
  private readonly options: TickClockOptions;
  /** The interval this node's own work asks for: tickMs × 2^k, or maxTickMs. */
  private ownMs: number;
  /** The interval in force: max(ownMs, the peers'), at most maxTickMs. */
  private inForceMs: number;
  /** The grid point of the tick running or last run, ms. */
  private tickDueMs = 0;
  /** The latest a batch reached this node after its tick's grid point, decaying (see graceMs). */
  private lateMs = 0;
  /** Ticks in a row whose work took under CALM_SHARE of the own need. */
  private calmTicks = 0;
  /** What each other node last said it needs, and when that was heard. */
  private readonly peers = new Map<string, { needMs: number; heardAt: number }>();

  constructor(options: TickClockOptions, now: () => number = wallNow) {
    this.options = { ...options };
    this.now = now;
    this.ownMs = options.tickMs;
    this.inForceMs = options.tickMs;
  }

  /** The interval in force, ms. */
  get intervalMs(): number {
    return this.inForceMs;
  }

  /** What this node's own work needs, ms (what it tells its peers). */
  get ownNeedMs(): number {
    return this.ownMs;
  }

  /** The grid point of the tick running or last run, ms (0 before the first). */
  get dueMs(): number {
    return this.tickDueMs;
  }

  /** The first grid point of the interval in force at or after both `earliestMs` and now. */
  nextDue(earliestMs = this.now()): number {
    const interval = this.inForceMs;
    return Math.ceil(Math.max(earliestMs, this.now()) / interval) * interval;
  }

  /** The tick due at `dueMs` starts (its timer fired). */
  begin(dueMs: number): void {
    this.tickDueMs = dueMs;
    this.lateMs *= LATE_DECAY;
  }

  /**
   * The tick begun last did `tookMs` of work (append + fan-out, not the grace): updates the own
   * need and the interval in force, and returns the next tick's grid point, at least one interval
   * after this one's.
   */
  end(tookMs: number): number {
    const { tickMs, maxTickMs } = this.options;
    let own = Math.max(tickMs, this.ownMs);
    if (tookMs > own) {
      while (own < tookMs && own < maxTickMs) own = Math.min(own * 2, maxTickMs);
      this.calmTicks = 0;
    } else if (own > tickMs && tookMs < own * CALM_SHARE) {
      if (++this.calmTicks >= CALM_TICKS) {
        // Down a level: from maxTickMs (which need not be tickMs × 2^k) to the largest level below it.
        let lower = tickMs;
        while (lower * 2 < own) lower *= 2;
        own = lower;
        this.calmTicks = 0;
      }
    } else {
      this.calmTicks = 0;
    }
    this.ownMs = own;
    this.inForceMs = Math.min(maxTickMs, Math.max(own, this.peersNeedMs()));
    return this.nextDue(this.tickDueMs + this.inForceMs);
  }

  /** When the node's tick went to sleep (rest()), or 0 while it ticks. */
  private restingSince = 0;

  /**
   * The node's tick goes to sleep (its last tick found nothing to do, and no tick is armed until
   * work comes). Its own need is kept: a node that sleeps between two busy ticks is not calm.
   */
  rest(atMs = this.now()): void {
    this.restingSince = atMs;
  }

  /**
   * The tick wakes: the intervals it slept count as calm ticks, so after CALM_TICKS of them the own
   * need is back at tickMs (as CALM_TICKS idle ticks in a row would have brought it down), and a
   * shorter sleep leaves it where it was.
   */
  wake(atMs = this.now()): void {
    if (this.restingSince === 0) return;
    const slept = atMs - this.restingSince;
    this.restingSince = 0;
    if (slept >= CALM_TICKS * this.ownMs) {
      this.ownMs = this.options.tickMs;
      this.calmTicks = 0;
      this.inForceMs = Math.min(this.options.maxTickMs, Math.max(this.ownMs, this.peersNeedMs()));
    }
  }

  /**
   * What the other nodes say they need now, by node (this node's own entry left out), heard at
   * `atMs`: replaces what was heard before, so a node missing from it (it left, or its entry
   * expired) stops counting at once. Takes effect when the running tick ends.
   */
  peersSaid(needs: ReadonlyMap<string, number>, atMs = this.now()): void {
    this.peers.clear();
    for (const [node, needMs] of needs) {
      if (Number.isFinite(needMs) && needMs > 0) this.peers.set(node, { needMs, heardAt: atMs });
    }
  }

  /**
   * The longest need a peer said, ms (0: none). A peer not heard again for two of its intervals and
   * PEER_FORGET_AFTER_MS (the node stopped, or its word stopped coming through) is forgotten.
   */
  peersNeedMs(): number {
    const now = this.now();
    let longest = 0;
    for (const [node, p] of this.peers) {
      if (now - p.heardAt > 2 * p.needMs + PEER_FORGET_AFTER_MS) this.peers.delete(node);
      else if (p.needMs > longest) longest = p.needMs;
    }
    return longest;
  }

  /**
   * A committed batch reached this node at `atMs`: how long after the running tick's grid point
   * (within half an interval; later than that, it belongs to another tick). The fan-out waits about
   * the latest of these. Any batch counts, this node's own included: each is appended on some
   * node's tick, and all ticks share the grid.
   */
  batchArrived(atMs = this.now()): void {
    const late = atMs - this.tickDueMs;
    if (late >= 0 && late < this.inForceMs / 2 && late > this.lateMs) this.lateMs = late;
  }

  /**
   * How long after its grid point a tick's fan-out waits over a shared engine, ms: at least
   * fanOutGraceMs, more when batches of recent ticks came later than that (a busy machine delays
   * other nodes' appends and their delivery), at most a quarter of the interval.
   */
  graceMs(): number {
    const floor = this.options.fanOutGraceMs;
    return Math.min(Math.max(floor, this.lateMs + LATE_MARGIN_MS), Math.max(floor, this.inForceMs / 4));
  }
}
