/**
 * Fan-out: committed batches (this node's and, over a shared engine, every other node's) wait in
 * a queue for this node's next tick, where the batches of a channel are merged into one, folded
 * into its state, encoded once, and the same bytes written to every live subscriber. A connection
 * over its byte limit is paused instead (goBehind: BEHIND at the version it lacks).
 * Depends on the channel registry (which channels are loaded, at which epoch), snapshots (stored
 * after the fan-out that reaches them) and the tick clock (told when batches arrive).
 */
import { encodeBehind } from '../protocol/index.ts';
import type { ChannelRegistry } from './channel-registry.ts';
import type { CoreContext } from './core-context.ts';
import type { CommittedBatch } from './engine.ts';
import type { Snapshots } from './snapshots.ts';
import type { SubscribedChannel, Subscription } from './subscription.ts';
import type { TickClock } from './tick-clock.ts';

export class FanOut {
  /**
   * Committed batches waiting for this node's next tick to be fanned out, per channel, in order.
   * Fanning out once per local tick, with the batches of a channel merged into one frame, keeps
   * the frames per subscriber at one per tick however many nodes write, and lets the adaptive tick
   * (which times the fan-out) slow a busy node down.
   */
  private queue = new Map<string, CommittedBatch[]>();
  /**
   * Batches committed while this node's own append is in flight, handled right after its ACKs
   * are sent: a publisher hears "committed" before the node spends the tick writing to every
   * viewer, and every frame still goes out in version order.
   */
  private held: CommittedBatch[] | null = null;
  /** Views waiting for a channel to reach a version (whenApplied), by channel. */
  private waiters = new Map<string, { version: number; resolve: () => void }[]>();

  constructor(
    private readonly ctx: CoreContext,
    private readonly registry: ChannelRegistry,
    private readonly snapshots: Snapshots,
    private readonly clock: Pick<TickClock, 'batchArrived'>,
    /** A batch was queued for the next tick: the hub arms its tick if it was asleep. */
    private readonly queued: () => void = () => {},
  ) {}

  /** A committed batch from the engine (or replayed after its channel's load). */
  onBatch(b: CommittedBatch): void {
    // How late after the tick's grid point batches get here: the fan-out waits about that long.
    if (this.ctx.engine.shared) this.clock.batchArrived();
    if (this.held) {
      this.held.push(b);
      return;
    }
    if (this.registry.deferIfLoading(b)) return;
    const ch = this.registry.get(b.channel);
    if (!ch) return; // not loaded here: it will be read from the engine when first used
    if (b.epoch !== ch.epoch) {
      this.registry.epochSeen(ch, b.epoch);
      return;
    }
    if (b.events.length === 0) return; // a position notice of the epoch we have: nothing to do
    const queued = this.queue.get(b.channel);
    if (queued) queued.push(b);
    else this.queue.set(b.channel, [b]);
    // A view waits for this channel: apply now rather than at the next tick.
    if (this.waiters.has(b.channel)) {
      this.flush();
      return;
    }
    this.queued();
    // Fanned out by this node's next tick, merged with whatever else arrives by then.
  }

  /** This node's append is in flight: batches wait until `release`. */
  hold(): void {
    this.held = [];
  }

  /** The append is acknowledged: the batches held meanwhile are handled, in order. */
  release(): void {
    const held = this.held;
    this.held = null;
    if (held) for (const b of held) this.onBatch(b);
  }

  get holding(): boolean {
    return this.held !== null;
  }

  /** True when batches wait for the next tick (of `channel`, when given). */
  hasQueued(channel?: string): boolean {
    return channel === undefined ? this.queue.size > 0 : this.queue.has(channel);
  }

  /**
   * Resolves once `channel`'s state includes `version` (a batch of it applied), or after `maxMs`,
   * or at once when the channel is not loaded; what the caller then reads is the state as it is.
   */
  whenApplied(channel: string, version: number, maxMs: number): Promise<void> {
    const ch = this.registry.get(channel);
    if (!ch || ch.head >= version) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const list = this.waiters.get(channel) ?? [];
      const waiter = { version, resolve: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => this.settle(channel, (w) => w === waiter), maxMs);
      list.push(waiter);
      this.waiters.set(channel, list);
    });
  }

  /** Resolves and removes the waiters of `channel` that `done` picks. */
  private settle(channel: string, done: (w: { version: number; resolve: () => void }) => boolean): void {
    const list = this.waiters.get(channel);
    if (!list) return;
    const left: typeof list = [];
    for (const w of list) {
      if (done(w)) w.resolve();
      else left.push(w);
    }
    if (left.length > 0) this.waiters.set(channel, left);
    else this.waiters.delete(channel);
  }

  /** Forgets `channel`'s queued batches (its log was lost: a snapshot replaces them). */
  drop(channel: string): void {
    this.queue.delete(channel);
  }

  /** Applies and fans out every queued batch: contiguous batches of a channel become one. */
  flush(): void {
    if (this.queue.size === 0) return;
    const queue = this.queue;
    this.queue = new Map();
    for (const batches of queue.values()) {
      let start = 0;
      for (let i = 1; i <= batches.length; i++) {
        const prev = batches[i - 1];
        if (i < batches.length && batches[i].firstVersion === prev.firstVersion + prev.events.length) continue;
        // batches[start..i) are contiguous: one merged batch.
        const first = batches[start];
        this.deliver(i - start === 1 ? first : { channel: first.channel, firstVersion: first.firstVersion, epoch: first.epoch, events: batches.slice(start, i).flatMap((b) => b.events) });
        start = i;
      }
    }
  }

  /** Folds one batch into its channel and writes its frames to every live subscriber. */
  deliver(b: CommittedBatch): void {
    const { options, stats, observer, logger } = this.ctx;
    const ch = this.registry.get(b.channel);
    if (!ch || b.epoch !== ch.epoch) return; // not loaded here, or reloaded since it was queued (epochSeen)
    let first = b.firstVersion;
    let events = b.events;
    if (first < ch.head) {
      // Already applied (seen while loading): keep only the new tail.
      events = events.slice(ch.head - first);
      first = ch.head;
      if (events.length === 0) return;
    } else if (first > ch.head) {
      logger.error({ channel: ch.name, head: ch.head, firstVersion: first }, 'gap in committed batches; reloading channel');
      // Never expected (engines deliver in order); recover by reloading from the engine and
      // sending every subscriber BEHIND at the position it has, so each resumes exactly.
      this.registry.forget(ch);
      for (const sub of ch.subscribers) {
        if (sub.state !== 'behind') this.goBehind(sub, sub.state === 'live' ? ch.head : sub.position);
      }
      return;
    }
    const payloads = events.map((e) => e.payload);
    const frames = ch.applyBatch(first, payloads, options.maxEventsPerFrame);
    stats.batches++;
    observer.batch(payloads.length);
    for (const f of frames) this.fanOut(ch, f.firstVersion, f.frame);
    this.snapshots.maybeStore(ch);
    if (this.waiters.has(ch.name)) this.settle(ch.name, (w) => w.version <= ch.head);
  }

  /** Stops sending to a slow connection and tells it where to resume. */
  goBehind(sub: Subscription, version: number): void {
    sub.channel.pause(sub);
    sub.state = 'behind';
    sub.generation++;
    this.ctx.stats.behindTotal++;
    sub.session.send(encodeBehind(sub.channel.name, version));
  }

  private fanOut(ch: SubscribedChannel, firstVersion: number, frame: Uint8Array): void {
    const { options, stats } = this.ctx;
    const limit = options.maxBufferedBytes;
    let sent = 0;
    for (const sub of ch.live) {
      const sink = sub.session.sink;
      const buffered = sink.bufferedAmount;
      if (buffered > 0 && buffered + frame.length > limit) {
        this.goBehind(sub, firstVersion);
        continue;
      }
      if (sink.sendLast !== undefined) sink.sendLast(frame);
      else sink.send(frame);
      sent++;
    }
    stats.framesOut += sent;
    stats.messagesOut += sent;
    stats.bytesOut += sent * frame.length;
  }
}
