/**
 * The channel registry: the channel types this node serves (typeFor/addType), the channels loaded
 * in memory, loading one on first use (snapshot + tail from the engine; batches that arrive
 * meanwhile wait in `early`), unloading idle ones, and reloading one whose log the engine lost (a
 * new epoch: epochSeen).
 * Depends on the engine contract, Channel, and the `RegistryHost` it defines here (the hub
 * implements it, handing the work on to fan-out, publish and subscriptions).
 */
import { BrigadeError } from '../protocol/index.ts';
import { Channel } from './channel.ts';
import type { ChannelType } from './channel-type.ts';
import type { CoreContext } from './core-context.ts';
import { hasChannelRelease, type ChannelRelease, type CommittedBatch } from './engine.ts';
import type { SubscribedChannel } from './subscription.ts';

/** What the registry asks of the rest of the hub. */
export interface RegistryHost {
  /** A batch that arrived while its channel was loading, handed back once it is loaded. */
  replay(batch: CommittedBatch): void;
  /** True while a tick's append is in flight: nothing is unloaded then. */
  appendInFlight(): boolean;
  /** True while `ch` has events to append or batches to fan out in the tick. */
  hasWork(ch: SubscribedChannel): boolean;
  /** `name`'s log was lost: its batches queued for fan-out belong to it and are dropped. */
  dropQueued(name: string): void;
  /** `old` was reloaded at a new epoch as `next`: its subscribers move over. */
  replaced(old: SubscribedChannel, next: SubscribedChannel): void;
  /** Reloading `old` failed: its subscribers are told where they stopped. */
  reloadFailed(old: SubscribedChannel): void;
}

export class ChannelRegistry {
  private readonly types: ChannelType<any>[] = [];
  private readonly channels = new Map<string, SubscribedChannel>();
  private readonly loading = new Map<string, Promise<SubscribedChannel>>();
  /** Batches that arrived while their channel was loading; applied after the load. */
  private readonly early = new Map<string, CommittedBatch[]>();
  /**
   * Per loaded channel, the epochs this node has left behind (its log was lost and started again):
   * a late batch of one of them is dropped, one of an epoch never seen means the log moved on again.
   */
  private readonly retiredEpochs = new Map<string, Set<number>>();
  /** The engine's per-channel delivery release, when it has one (told when a channel is unloaded). */
  private readonly release: ChannelRelease | null;

  constructor(private readonly ctx: CoreContext, private readonly host: RegistryHost) {
    this.release = hasChannelRelease(ctx.engine) ? ctx.engine : null;
  }

  /**
   * Serves channels of `type` (an app's ChannelType). Prefixes may not overlap another type's, so
   * every channel name has one owner. A logged type's tickMs must be a multiple of the core's
   * (its appends fall on the core's ticks); an ephemeral type runs its own tick at any interval.
   */
  addType(type: ChannelType<any>): void {
    for (const t of this.types) {
      if (t.prefix.startsWith(type.prefix) || type.prefix.startsWith(t.prefix)) {
        throw new Error(`channel prefix ${JSON.stringify(type.prefix)} overlaps ${JSON.stringify(t.prefix)}`);
      }
    }
    if (type.tickMs !== undefined && !(Number.isInteger(type.tickMs) && type.tickMs >= 1)) {
      throw new Error(`${type.prefix} channels: tickMs must be a whole number of milliseconds ≥ 1, got ${type.tickMs}`);
    }
    const coreTickMs = this.ctx.options.tickMs;
    if (!type.ephemeral && type.tickMs !== undefined && type.tickMs % coreTickMs !== 0) {
      throw new Error(`${type.prefix} channels: a logged type's tickMs must be a multiple of the core's tickMs (${coreTickMs} ms), got ${type.tickMs}; use ${Math.max(1, Math.round(type.tickMs / coreTickMs)) * coreTickMs}, or make the type ephemeral`);
    }
    this.types.push(type);
  }

  /** Every type served, in the order they were added. */
  allTypes(): readonly ChannelType<any>[] {
    return this.types;
  }

  typeFor(channel: string): ChannelType<any> | null {
    for (const t of this.types) if (channel.startsWith(t.prefix) && t.exists(channel)) return t;
    return null;
  }

  /** The channel if it is loaded now. */
  get(name: string): SubscribedChannel | undefined {
    return this.channels.get(name);
  }

  /** True while `ch` is the loaded channel of its name (not unloaded or replaced since). */
  isCurrent(ch: SubscribedChannel): boolean {
    return this.channels.get(ch.name) === ch;
  }

  /** The loaded channel, loading it from the engine (snapshot + tail) on first use. */
  channel(name: string): Promise<SubscribedChannel> {
    const ch = this.channels.get(name);
    if (ch) return Promise.resolve(ch);
    let p = this.loading.get(name);
    if (!p) {
      p = this.load(name).finally(() => this.loading.delete(name));
      this.loading.set(name, p);
    }
    return p;
  }

  /** Keeps `batch` for after its channel's load when that load is running; false otherwise. */
  deferIfLoading(batch: CommittedBatch): boolean {
    const early = this.early.get(batch.channel);
    if (!early) return false;
    early.push(batch);
    return true;
  }

  /** Drops `ch` (a gap in its batches): the next use loads it again from the engine. */
  forget(ch: SubscribedChannel): void {
    if (this.channels.get(ch.name) === ch) this.channels.delete(ch.name);
    this.ctx.stats.channelsLoaded = this.channels.size;
  }

  private async load(name: string): Promise<SubscribedChannel> {
    const { engine, options, stats } = this.ctx;
    const type = this.typeFor(name);
    if (!type) throw unknownChannel(name);
    if (type.ephemeral) {
      // Nothing in the engine: a fresh epoch each time this node loads it, state from init.
      const ch: SubscribedChannel = new Channel(name, type, randomEpoch(), 0, 0, type.init(name), options.recentBytesPerChannel);
      this.channels.set(name, ch);
      stats.channelsLoaded = this.channels.size;
      return ch;
    }
    this.early.set(name, []);
    try {
      let loaded: { epoch: number; oldest: number; v: number; state: unknown } | null = null;
      for (let attempt = 0; loaded === null; attempt++) {
        const info = await engine.info(name);
        const snap = await engine.getSnapshot(name);
        const state = snap ? type.decodeSnapshot(name, snap.bytes) : type.init(name);
        const base = snap ? snap.version : 0;
        let v = base;
        for (;;) {
          const events = await engine.read(name, v, options.maxEventsPerFrame);
          for (let i = 0; i < events.length; i++) type.apply(state, events[i].payload, v + i);
          v += events.length;
          if (events.length < options.maxEventsPerFrame) break;
        }
        // Another node may have stored a newer snapshot and trimmed the log past our base while
        // we read: the events we got would then not start at `base`. Start again from it.
        const after = await engine.info(name);
        // A log lost and started again while we read (a new epoch): what we read is a mix. Again.
        if (after.epoch !== info.epoch && attempt < 5) continue;
        if (after.oldest <= base || attempt >= 5) {
          if (after.epoch !== info.epoch) throw new BrigadeError('UNAVAILABLE', `channel ${name} kept changing epoch while loading; retry`);
          if (after.oldest > base) throw new BrigadeError('UNAVAILABLE', `channel ${name} kept being trimmed while loading; retry`);
          loaded = { epoch: info.epoch, oldest: after.oldest, v, state };
        }
      }
      const ch: SubscribedChannel = new Channel(name, type, loaded.epoch, loaded.v, loaded.oldest, loaded.state, options.recentBytesPerChannel);
      this.channels.set(name, ch);
      stats.channelsLoaded = this.channels.size;
      // Taken out of `early` first: while it is there deferIfLoading appends to it, and replaying
      // the list into itself would never end.
      const early = this.early.get(name) ?? [];
      this.early.delete(name);
      for (const b of early) this.host.replay(b);
      return ch;
    } finally {
      this.early.delete(name);
    }
  }

  /**
   * Unloads every channel that has had no subscription and nothing to append or fan out for
   * channelIdleMs. Skipped while a tick's append is in flight, so a batch of this node's own is
   * never dropped between its append and its fan-out. A subscribe, publish or view later loads
   * the channel again from the engine, exactly as on a fresh node.
   */
  unloadIdle(nowMs: number): number {
    if (this.host.appendInFlight()) return 0;
    const { options, stats, logger } = this.ctx;
    let unloaded = 0;
    for (const ch of this.channels.values()) {
      const idle = ch.subscribers.size === 0 && ch.pendingCount === 0 && ch.snapshotDueAt === 0 && !this.host.hasWork(ch);
      if (!idle) {
        ch.idleSince = 0;
        continue;
      }
      if (ch.idleSince === 0) ch.idleSince = nowMs;
      if (nowMs - ch.idleSince < options.channelIdleMs) continue;
      this.channels.delete(ch.name);
      this.retiredEpochs.delete(ch.name);
      this.release?.releaseChannel(ch.name);
      unloaded++;
    }
    stats.channelsLoaded = this.channels.size;
    stats.channelsUnloadedTotal += unloaded;
    if (unloaded > 0) logger.info({ unloaded, loaded: this.channels.size }, 'unloaded idle channels');
    return unloaded;
  }

  /**
   * A batch or an append result of `epoch` for `ch`, loaded at another epoch. An epoch this node
   * already left behind: a late batch of a lost log, dropped. Any other: the log `ch` folded is
   * gone (the engine lost it and started again); reload the channel and hand its subscribers to
   * the host (replaced), which gives each a snapshot at the new position.
   */
  epochSeen(ch: SubscribedChannel, epoch: number): void {
    const { stats, logger } = this.ctx;
    if (this.channels.get(ch.name) !== ch) return; // already being reloaded
    const retired = this.retiredEpochs.get(ch.name);
    if (retired?.has(epoch)) {
      stats.staleEpochBatchesTotal++;
      logger.warn({ channel: ch.name, epoch, current: ch.epoch }, 'batch of a lost epoch dropped');
      return;
    }
    stats.epochChangesTotal++;
    logger.warn({ channel: ch.name, epoch: ch.epoch, head: ch.head, newEpoch: epoch },
      'channel log replaced by a new epoch (the engine lost it); reloading, subscribers get a snapshot');
    const left = retired ?? new Set<number>();
    left.add(ch.epoch);
    // Its batches not yet fanned out belong to the lost log: the snapshot replaces them. Its
    // pending events stay with it (still dirty in the tick): they are appended by name, into the new log.
    this.host.dropQueued(ch.name);
    this.channels.delete(ch.name);
    stats.channelsLoaded = this.channels.size;
    this.channel(ch.name).then((next) => {
      const known = this.retiredEpochs.get(next.name) ?? new Set<number>();
      for (const e of left) if (e !== next.epoch) known.add(e);
      this.retiredEpochs.set(next.name, known);
      this.host.replaced(ch, next);
    }, (err) => {
      // Cannot reload now: each subscriber is told where it stopped; its resubscribe (with the
      // old epoch) loads the channel again and gets a snapshot.
      logger.warn({ channel: ch.name, err: String(err) }, 'reloading after an epoch change failed; subscribers told BEHIND');
      this.host.reloadFailed(ch);
    });
  }
}

export function unknownChannel(name: string): BrigadeError {
  return new BrigadeError('UNKNOWN_CHANNEL', `no app serves channel ${JSON.stringify(name)}`);
}

/** A random non-zero u32 (an ephemeral channel's epoch on this node). */
function randomEpoch(): number {
  return (Math.floor(Math.random() * 0xffffffff) >>> 0) || 1;
}
