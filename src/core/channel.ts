/**
 * One channel in memory on this node: its folded state at `head`, the recent encoded batches
 * (the same bytes every subscriber got, replayed to clients that catch up), the live subscribers,
 * and the events waiting for the next tick.
 */
import { encodeBatch, encodeSnapshot, type BrigadeError } from '../protocol/index.ts';
import type { ChannelType } from './channel-type.ts';
import type { LogEvent } from './engine.ts';
import type { Subscription } from './subscription.ts';

export interface RecentBatch {
  firstVersion: number;
  events: Uint8Array[];
  /** The encoded BATCH frame, shared by every subscriber. */
  frame: Uint8Array;
}

/** Called once per publish request when its events are committed (version) or refused. */
export type AckCallback = (firstVersion: number, error: BrigadeError | null) => void;

export class Channel<S = unknown> {
  readonly live = new Set<Subscription>();
  /** Every subscription of this channel on this node, live or not (for counting and cleanup). */
  readonly all = new Set<Subscription>();
  readonly recent: RecentBatch[] = [];
  private recentBytes = 0;

  pending: LogEvent[] = [];
  pendingAcks: { count: number; ack: AckCallback }[] = [];

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
    public head: number,
    /** Lowest version the engine can still read. */
    public oldest: number,
    public state: S,
    private readonly recentLimitBytes: number,
  ) {
    this.lastStoredSnapshot = head;
  }

  /**
   * Folds a committed batch into the state and returns its frames, each encoded once and holding
   * at most `maxEventsPerFrame` events.
   */
  applyBatch(firstVersion: number, payloads: Uint8Array[], maxEventsPerFrame: number): RecentBatch[] {
    for (let i = 0; i < payloads.length; i++) this.type.apply(this.state, payloads[i], firstVersion + i);
    this.head = firstVersion + payloads.length;
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
