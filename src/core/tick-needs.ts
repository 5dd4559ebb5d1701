/**
 * Each node's tick need, told to the other nodes of a shared engine through the engine's expiring
 * Membership, outside the log: every node is one member of TICK_NEEDS_SET, "<nodeId> <needMs>",
 * and ticks at the longest need it reads there (tick-clock.ts), so loaded nodes stay on the same
 * grid instants.
 *
 * - A node re-joins at once when its need changes (joining the new member before leaving the old
 *   one, so it is never missing), and every TICK_NEED_REJOIN_MS; its member expires
 *   TICK_NEED_TTL_MS after the last re-join, so a node that dies stops counting a few seconds
 *   later. A node that stops cleanly leaves at once.
 * - It reads the set every TICK_NEEDS_READ_MS, not every tick: a read is a round trip, and at a
 *   50 ms tick that would be 20 a second per node for a value that changes rarely (the need moves
 *   with hysteresis). A need change thus reaches the peers within about TICK_NEEDS_READ_MS; until
 *   then they tick on their own grid, which only delays the loaded node's batches by up to a tick.
 * - While this node's tick is asleep (it has nothing to do: hub.ts), it only re-joins, every
 *   TICK_NEED_REJOIN_MS, and reads nothing: the peers' needs matter to a tick, so waking reads
 *   them at once (woke()), and every TICK_NEEDS_READ_MS after.
 * - If the engine cannot be reached, the needs last read stay in force until the tick clock
 *   forgets them (two of their intervals and a second).
 */
import type { Membership } from './engine.ts';
import type { Logger } from './options.ts';
import type { TickClock } from './tick-clock.ts';

/** The membership set holding every node's tick need (a set name, not an engine key). */
export const TICK_NEEDS_SET = 'core:tick-needs';
/** A node's member lives this long after its last re-join, ms. */
export const TICK_NEED_TTL_MS = 5000;
/** A node re-joins this often, ms (and at once when its need changes). */
export const TICK_NEED_REJOIN_MS = 1000;
/** A node reads the other nodes' needs this often, ms. */
export const TICK_NEEDS_READ_MS = 500;

export interface TickNeedsTiming {
  ttlMs: number;
  rejoinMs: number;
  readMs: number;
}

/** The member that says `nodeId` needs `needMs`. A node id holds no space. */
export function tickNeedMember(nodeId: string, needMs: number): string {
  return `${nodeId} ${Math.round(needMs)}`;
}

/** Null for a member that is not "<nodeId> <needMs>" with a positive need. */
export function parseTickNeed(member: string): { nodeId: string; needMs: number } | null {
  const space = member.lastIndexOf(' ');
  if (space <= 0) return null;
  const needMs = Number(member.slice(space + 1));
  if (!Number.isFinite(needMs) || needMs <= 0) return null;
  return { nodeId: member.slice(0, space), needMs };
}

export class TickNeeds {
  private readonly membership: Membership;
  private readonly nodeId: string;
  private readonly clock: TickClock;
  private readonly logger: Logger;
  private readonly timing: TickNeedsTiming;
  /** The member this node last joined as, and its need and when (clock time). */
  private said: { member: string; needMs: number; atMs: number } | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The exchange in flight: at most one at a time, however slow the engine. */
  private running: Promise<void> | null = null;
  private stopped = true;
  private warned = false;

  /**
   * `ticking`: false while the node's tick is asleep (only the re-joins are due then); the default
   * says always.
   */
  constructor(membership: Membership, nodeId: string, clock: TickClock, logger: Logger, timing?: Partial<TickNeedsTiming>, private readonly ticking: () => boolean = () => true) {
    if (/\s/.test(nodeId) || nodeId === '') throw new RangeError(`a node id must be non-empty and hold no space, got ${JSON.stringify(nodeId)}`);
    this.membership = membership;
    this.nodeId = nodeId;
    this.clock = clock;
    this.logger = logger;
    this.timing = { ttlMs: TICK_NEED_TTL_MS, rejoinMs: TICK_NEED_REJOIN_MS, readMs: TICK_NEEDS_READ_MS, ...timing };
  }

  /** Joins now, then re-joins and reads on its own timer. */
  start(): void {
    this.stopped = false;
    this.exchange();
  }

  /**
   * The next exchange: in readMs while the node ticks; while it is asleep, when the re-join is due.
   */
  private arm(): void {
    if (this.stopped || this.timer !== null) return;
    const rejoinIn = this.said === null ? this.timing.readMs : this.said.atMs + this.timing.rejoinMs - this.clock.now();
    const waitMs = this.ticking() ? this.timing.readMs : Math.max(this.timing.readMs, Math.min(rejoinIn, this.timing.rejoinMs));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.exchange();
    }, waitMs);
    this.timer.unref();
  }

  /** The node's tick woke from sleep: reads the peers' needs now (they were not read while asleep). */
  woke(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.exchange();
  }

  /** After each tick: tells the peers at once when this node's own need has changed. */
  tickEnded(): void {
    if (this.said !== null && this.said.needMs !== Math.round(this.clock.ownNeedMs)) this.exchange();
  }

  /** Stops the timer and leaves the set, so the peers stop counting this node at their next read. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    const said = this.said;
    this.said = null;
    if (said) await this.membership.leave(TICK_NEEDS_SET, said.member).catch(() => undefined);
  }

  private exchange(): void {
    if (this.stopped || this.running !== null) return;
    this.running = this.joinAndRead(this.ticking()).then(() => {
      this.warned = false;
    }, (err: unknown) => {
      if (this.warned) return;
      this.warned = true; // once per outage: this runs every readMs
      this.logger.warn({ err: String(err) }, 'telling or reading the nodes\' tick needs failed; retrying');
    }).finally(() => {
      this.running = null;
      this.arm();
    });
  }

  private async joinAndRead(read: boolean): Promise<void> {
    const needMs = Math.round(this.clock.ownNeedMs);
    const now = this.clock.now();
    const said = this.said;
    if (said === null || said.needMs !== needMs || now - said.atMs >= this.timing.rejoinMs) {
      const member = tickNeedMember(this.nodeId, needMs);
      await this.membership.join(TICK_NEEDS_SET, member, this.timing.ttlMs);
      if (this.stopped) {
        // stop() ran meanwhile and found nothing to leave: leave what was just joined.
        await this.membership.leave(TICK_NEEDS_SET, member);
        return;
      }
      this.said = { member, needMs, atMs: now };
      if (said !== null && said.member !== member) await this.membership.leave(TICK_NEEDS_SET, said.member);
    }
    if (!read) return;
    const members = await this.membership.members(TICK_NEEDS_SET);
    const needs = new Map<string, number>();
    for (const m of members) {
      const need = parseTickNeed(m);
      if (need === null || need.nodeId === this.nodeId) continue;
      // A node seen twice is between joining its new need and leaving its old one: the longer counts.
      needs.set(need.nodeId, Math.max(need.needMs, needs.get(need.nodeId) ?? 0));
    }
    this.clock.peersSaid(needs);
  }
}
