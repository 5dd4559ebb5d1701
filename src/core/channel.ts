/**
 * One channel in memory on this node: its folded state at `head`, the recent encoded batches
 * (the same bytes every subscriber got, replayed to clients that catch up), its subscribers
 * (all of them, and the live ones that get every batch), and the events waiting for the next tick.
 *
 * The channel owns these: the rest of the core changes them only through its methods. It knows
 * its subscribers only as members of type `M` (subscription.ts names them), so it imports nothing
 * of the core but the channel type and the log event.
 */
import { encodeBatch, encodeSnapshot, type BrigadeError } from '../protocol/index.ts';
import type { ChannelType } from './channel-type.ts';
import type { LogEvent } from './engine.ts';

export interface RecentBatch {
  firstVersion: number;
  events: Uint8Array[];
  /** The encoded BATCH frame, shared by every subscriber. */
  frame: Uint8Array;
}

/** Called once per publish request when its events are committed (version) or refused. */
export type AckCallback = (firstVersion: number, error: BrigadeError | null) => void;

/**
 * One publish request's events waiting in a channel: `count` events, acknowledged together. A
 * client's publish is one object of a class with an `ack` method (publish.ts ClientAck), not a
 * closure beside it; server-side publishes use a callback.
 */
export interface PendingAck {
  readonly count: number;
  ack(firstVersion: number, error: BrigadeError | null): void;
  /** The publish's stamp (PUBLISH_ONCE, or the node's own, given at its first append). */
  producer: string | undefined;
  seq: number | undefined;
  /** When an append holding it first ended in doubt (ms since the epoch); 0 = never. */
  doubtSince: number;
}

export class Channel<S = unknown, M = unknown> {
  private readonly liveMembers = new Set<M>();
  /** Every subscription of this channel on this node, live or not (for counting and cleanup). */
  private readonly members = new Set<M>();
  private readonly recent: RecentBatch[] = [];
  private recentBytes = 0;
  private pending: LogEvent[] = [];
  private pendingAcks: PendingAck[] = [];
  private headVersion: number;

  /** Version of the last snapshot this node stored in the engine. */
  lastStoredSnapshot = 0;
  /**
   * Set when one of this node's own appends crossed a multiple of snapshotEvery: the snapshot is
   * stored once the state reaches this version. Exactly one node's batch crosses each multiple,
   * so over Redis one node stores each snapshot instead of every node storing the same one.
   */
  snapshotDueAt = 0;
  /** When the idle sweep first found this channel without subscriptions or pending events (ms since the epoch); 0 = in use. */
  idleSince = 0;
  private snapshotFrame: { version: number; frame: Uint8Array; stateBytes: number } | null = null;

  constructor(
    readonly name: string,
    readonly type: ChannelType<S>,
    readonly epoch: number,
    /** Next version to be applied (= number of events folded into state). */
    head: number,
    /** Lowest version the engine can still read. */
    public oldest: number,
    public state: S,
    private readonly recentLimitBytes: number,
  ) {
    this.headVersion = head;
    this.lastStoredSnapshot = head;
  }

  /** Next version to be applied (= number of events folded into state). */
  get head(): number {
    return this.headVersion;
  }

  // ---- subscribers ---------------------------------------------------------------------------

  /** The subscribers that get every committed batch as it is fanned out. */
  get live(): ReadonlySet<M> {
    return this.liveMembers;
  }

  /** Every subscriber on this node, live, catching up or behind. */
  get subscribers(): ReadonlySet<M> {
    return this.members;
  }

  /** A new subscriber (not live until `goLive`); the channel is in use again. */
  addSubscriber(member: M): void {
    this.members.add(member);
    this.idleSince = 0;
  }

  /** The subscriber is gone (unsubscribed, disconnected, or moved to a reloaded channel). */
  removeSubscriber(member: M): void {
    this.liveMembers.delete(member);
    this.members.delete(member);
  }

  /** The subscriber has caught up: it gets every batch from now on. */
  goLive(member: M): void {
    this.liveMembers.add(member);
  }

  /** The subscriber stops getting batches (behind, or catching up again) but stays subscribed. */
  pause(member: M): void {
    this.liveMembers.delete(member);
  }

  // ---- pending events ---------------------------------------------------------------------

  /** Events waiting for the next tick. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Queues one publish request's events for the next tick; `ack` hears when they are committed.
   * A stamped publish (producer, seq) is committed once however often it is queued.
   */
  /** Queues one publish request's events (pending.count of them) behind those already waiting. */
  queue(events: LogEvent | readonly LogEvent[], pending: PendingAck): void {
    if (Array.isArray(events)) {
      for (const e of events as readonly LogEvent[]) this.pending.push(e);
    } else this.pending.push(events as LogEvent);
    this.pendingAcks.push(pending);
    this.idleSince = 0;
  }

  /** Puts taken events back in front of any queued since (an append in doubt, tried again next tick). */
  requeueFront(taken: { events: LogEvent[]; acks: PendingAck[] }): void {
    this.pending = taken.events.concat(this.pending);
    this.pendingAcks = taken.acks.concat(this.pendingAcks);
    this.idleSince = 0;
  }

  /** Takes every waiting event and its acks (in order), leaving none. */
  takePending(): { events: LogEvent[]; acks: PendingAck[] } {
    const taken = { events: this.pending, acks: this.pendingAcks };
    this.pending = [];
    this.pendingAcks = [];
    return taken;
  }

  // ---- committed batches ------------------------------------------------------------------

  /**
   * Folds a committed batch into the state and returns its frames, each encoded once and holding
   * at most `maxEventsPerFrame` events.
   */
  applyBatch(firstVersion: number, payloads: Uint8Array[], maxEventsPerFrame: number): RecentBatch[] {
    for (let i = 0; i < payloads.length; i++) this.type.apply(this.state, payloads[i], firstVersion + i);
    this.headVersion = firstVersion + payloads.length;
    const frames: RecentBatch[] = [];
    for (let start = 0; start < payloads.length; start += maxEventsPerFrame) {
      const events = payloads.length <= maxEventsPerFrame ? payloads : payloads.slice(start, start + maxEventsPerFrame);
      const v = firstVersion + start;
      const batch = { firstVersion: v, events, frame: encodeBatch(this.name, v, events, this.type.eventSize) };
      frames.push(batch);
      this.recent.push(batch);
      this.recentBytes += batch.frame.length;
    }
    while (this.recentBytes > this.recentLimitBytes && this.recent.length > 1) {
      this.recentBytes -= this.recent.shift()!.frame.length;
    }
    return frames;
  }

  /** First version the in-memory ring can replay; `head` when it is empty. */
  get recentStart(): number {
    return this.recent.length > 0 ? this.recent[0].firstVersion : this.head;
  }

  /** Frames that together carry exactly the events from `fromVersion` to the head. */
  *recentFramesFrom(fromVersion: number): Generator<{ firstVersion: number; frame: Uint8Array }> {
    for (const b of this.recent) {
      const end = b.firstVersion + b.events.length;
      if (end <= fromVersion) continue;
      if (b.firstVersion >= fromVersion) yield b;
      else {
        // Only the first frame of a catch-up can start mid-batch: encode that slice alone.
        const skip = fromVersion - b.firstVersion;
        yield { firstVersion: fromVersion, frame: encodeBatch(this.name, fromVersion, b.events.slice(skip), this.type.eventSize) };
      }
    }
  }

  /** The SNAPSHOT frame at the current head, encoded at most once per version. */
  snapshotAtHead(): { version: number; frame: Uint8Array; stateBytes: number } {
    if (this.snapshotFrame === null || this.snapshotFrame.version !== this.head) {
      const bytes = this.type.encodeSnapshot(this.state);
      this.snapshotFrame = { version: this.head, frame: encodeSnapshot(this.name, this.epoch, this.head, bytes), stateBytes: bytes.length };
    }
    return this.snapshotFrame;
  }

  /**
   * True when sending a snapshot is cheaper than replaying `head - fromVersion` events. Only
   * known for fixed-size events; the snapshot size is the last encoded one (or unknown: false).
   */
  snapshotCheaperFrom(fromVersion: number): boolean {
    if (this.type.eventSize === 0 || this.snapshotFrame === null) return false;
    return (this.head - fromVersion) * this.type.eventSize > this.snapshotFrame.stateBytes;
  }
}
