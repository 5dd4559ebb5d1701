/**
 * The hub: every channel this node serves, the tick that appends their pending events, and the
 * fan-out of committed batches. Data flows one way: publish → pending → engine.append (one call
 * per tick) → engine.onBatch (every node) → fold into state → encode once → same bytes to every
 * live subscriber.
 */
import {
  BrigadeError, SubscribeMode, encodeAck, encodeBehind, encodeSubscribed, encodeUnsubscribed,
  type ClientFrame,
} from '../protocol/index.ts';
import { Channel, type AckCallback } from './channel.ts';
import type { ChannelType, Publisher } from './channel-type.ts';
import type { ChannelView, CoreApi } from './core-api.ts';
import {
  hasChannelRelease, hasClaims, hasMembership, type ChannelRelease, type Claims, type CommittedBatch, type Engine, type LogEvent,
  type Position, type StoredSnapshot,
} from './engine.ts';
import { defaultCoreOptions, silentLogger, type CoreOptions, type Logger } from './options.ts';
import { RateLimiter } from './rate-limiter.ts';
import { Session, type Sink } from './session.ts';
import { newStats, noopObserver, type CoreObserver } from './stats.ts';
import { Subscription } from './subscription.ts';
import { TickClock } from './tick-clock.ts';
import { TickNeeds } from './tick-needs.ts';
import { randomBytes } from 'node:crypto';
import { catchUp } from './catch-up.ts';
import { everyOnGrid, type GridTimer } from './grid-timer.ts';
import { RequestRouter } from './requests.ts';

type SubscribeFrame = Extract<ClientFrame, { kind: 'subscribe' }>;

export interface HubDeps {
  engine: Engine;
  types: ChannelType<any>[];
  options?: Partial<CoreOptions>;
  logger?: Logger;
  observer?: CoreObserver;
  now?: () => number;
  /** This node's id among the nodes of a shared engine (no spaces); random when not given. */
  nodeId?: string;
}

export class Hub implements CoreApi {
  readonly options: CoreOptions;
  readonly stats = newStats();
  readonly engine: Engine;
  /** The engine's shared claims, when it has them (apps' cross-node limits: ChannelType.sharedClaim). */
  private readonly claims: Claims | null;
  /** The engine's per-channel delivery release, when it has one (told when a channel is unloaded). */
  private readonly release: ChannelRelease | null;
  readonly logger: Logger;
  /** This node's id (random per process): the tick needs' member, and every app's AppCore.nodeId. */
  readonly nodeId: string;
  /** REQUEST frames, routed to the apps that registered their kinds. */
  readonly requests: RequestRouter;
  private readonly types: ChannelType<any>[];
  /** Ephemeral channels with events to fan out, by their type's tick interval (see ChannelType.ephemeral). */
  private readonly ephemeralDirty = new Map<number, Set<Channel>>();
  private readonly ephemeralTimers = new Map<number, GridTimer>();
  private readonly observer: CoreObserver;
  private readonly now: () => number;
  private readonly channels = new Map<string, Channel>();
  private readonly loading = new Map<string, Promise<Channel>>();
  /**
   * Per loaded channel, the epochs this node has left behind (its log was lost and started again):
   * a late batch of one of them is dropped, one of an epoch never seen means the log moved on again.
   */
  private readonly retiredEpochs = new Map<string, Set<number>>();
  /** Batches that arrived while their channel was loading; applied after the load. */
  private readonly early = new Map<string, CommittedBatch[]>();
  /**
   * Committed batches waiting for this node's next tick to be fanned out, per channel, in order.
   * Batches come from this node's appends and, with Redis, from every other node's: fanning out
   * once per local tick, with the batches of a channel merged into one frame, keeps the frames per
   * subscriber at one per tick however many nodes write, and lets the adaptive tick (which times
   * the fan-out) slow a busy node down.
   */
  private fanOutQueue = new Map<string, CommittedBatch[]>();
  /** When ticks fall and how long their fan-out waits (on the wall clock: the grid every node shares). */
  private readonly clock: TickClock;
  /** Over a shared engine with Membership: this node's tick need told to, and the peers' read from, the other nodes. */
  private readonly tickNeeds: TickNeeds | null;
  private readonly dirty = new Set<Channel>();
  /** Open sessions, for shutdown and scrape-time gauges (never iterated on the hot path). */
  readonly sessions = new Set<Session>();
  private readonly ipLimiter: RateLimiter;
  /**
   * Batches committed while this node's own append is in flight, handled right after its ACKs
   * are sent: a publisher hears "committed" before the node spends the tick writing to every
   * viewer, and every frame still goes out in version order.
   */
  private heldBatches: CommittedBatch[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private tickRunning: Promise<void> | null = null;
  private stopped = false;

  constructor(deps: HubDeps) {
    this.engine = deps.engine;
    this.claims = hasClaims(deps.engine) ? deps.engine : null;
    this.release = hasChannelRelease(deps.engine) ? deps.engine : null;
    this.types = [];
    for (const t of deps.types) this.addType(t);
    this.requests = new RequestRouter(deps.logger ?? silentLogger);
    this.options = { ...defaultCoreOptions, ...deps.options };
    this.logger = deps.logger ?? silentLogger;
    this.observer = deps.observer ?? noopObserver;
    this.now = deps.now ?? Date.now;
    this.ipLimiter = new RateLimiter(this.options.publishPerSecondPerIp, this.options.publishBurstPerIp);
    this.stats.currentTickMs = this.options.tickMs;
    this.clock = new TickClock(this.options);
    this.nodeId = deps.nodeId ?? randomBytes(6).toString('hex');
    this.tickNeeds = this.engine.shared && hasMembership(this.engine)
      ? new TickNeeds(this.engine, this.nodeId, this.clock, this.logger)
      : null;
    this.engine.onBatch((b) => this.onBatch(b));
  }

  /**
   * Serves channels of `type` (an app's ChannelType). Prefixes may not overlap another type's, so
   * every channel name has one owner.
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
    this.types.push(type);
    if (type.ephemeral && !this.stopped && this.started) this.startEphemeralTick(type);
  }

  private started = false;

  private startEphemeralTick(type: ChannelType<any>): void {
    const interval = type.tickMs ?? this.options.tickMs;
    if (this.ephemeralTimers.has(interval)) return;
    this.ephemeralTimers.set(interval, everyOnGrid(interval, () => this.flushEphemeral(interval), (err) => {
      this.logger.error({ err: String(err), intervalMs: interval }, 'ephemeral tick failed');
    }));
  }

  start(): void {
    this.stopped = false;
    this.started = true;
    for (const t of this.types) if (t.ephemeral) this.startEphemeralTick(t);
    this.schedule(this.clock.nextDue(this.clock.now() + this.options.tickMs));
    this.tickNeeds?.start();
    const idleMs = this.options.channelIdleMs;
    if (idleMs > 0 && this.sweepTimer === null) {
      // A channel goes at most idleMs + one sweep interval after its last use.
      this.sweepTimer = setInterval(() => this.unloadIdleChannels(), Math.max(10, Math.min(idleMs / 2, 10_000)));
      this.sweepTimer.unref();
    }
  }

  /** Stops ticking after flushing every pending event (acknowledged or refused). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const t of this.ephemeralTimers.values()) await t.stop();
    this.ephemeralTimers.clear();
    for (const interval of [...this.ephemeralDirty.keys()]) this.flushEphemeral(interval);
    if (this.tickRunning) await this.tickRunning;
    await this.runTick();
    await this.tickNeeds?.stop();
  }

  connect(sink: Sink, publisher: Publisher): Session {
    this.stats.connections++;
    this.stats.connectsTotal++;
    const session = new Session(this, sink, publisher);
    this.sessions.add(session);
    return session;
  }

  disconnect(session: Session): void {
    this.stats.connections--;
    this.sessions.delete(session);
    for (const sub of session.subscriptions.values()) {
      sub.channel.live.delete(sub);
      sub.channel.all.delete(sub);
    }
    session.subscriptions.clear();
  }

  typeFor(channel: string): ChannelType<any> | null {
    for (const t of this.types) if (channel.startsWith(t.prefix) && t.exists(channel)) return t;
    return null;
  }

  // ---- channels -------------------------------------------------------------------------

  /** The loaded channel, loading it from the engine (snapshot + tail) on first use. */
  channel(name: string): Promise<Channel> {
    const ch = this.channels.get(name);
    if (ch) return Promise.resolve(ch);
    let p = this.loading.get(name);
    if (!p) {
      p = this.load(name).finally(() => this.loading.delete(name));
      this.loading.set(name, p);
    }
    return p;
  }

  private async load(name: string): Promise<Channel> {
    const type = this.typeFor(name);
    if (!type) throw unknownChannel(name);
    if (type.ephemeral) {
      // Nothing in the engine: a fresh epoch each time this node loads it, state from init.
      const ch = new Channel(name, type, randomEpoch(), 0, 0, type.init(name), this.options.recentBytesPerChannel);
      this.channels.set(name, ch);
      this.stats.channelsLoaded = this.channels.size;
      return ch;
    }
    this.early.set(name, []);
    try {
      let loaded: { epoch: number; oldest: number; v: number; state: unknown } | null = null;
      for (let attempt = 0; loaded === null; attempt++) {
        const info = await this.engine.info(name);
        const snap = await this.engine.getSnapshot(name);
        const state = snap ? type.decodeSnapshot(name, snap.bytes) : type.init(name);
        const base = snap ? snap.version : 0;
        let v = base;
        for (;;) {
          const events = await this.engine.read(name, v, this.options.maxEventsPerFrame);
          for (let i = 0; i < events.length; i++) type.apply(state, events[i].payload, v + i);
          v += events.length;
          if (events.length < this.options.maxEventsPerFrame) break;
        }
        // Another node may have stored a newer snapshot and trimmed the log past our base while
        // we read: the events we got would then not start at `base`. Start again from it.
        const after = await this.engine.info(name);
        // A log lost and started again while we read (a new epoch): what we read is a mix. Again.
        if (after.epoch !== info.epoch && attempt < 5) continue;
        if (after.oldest <= base || attempt >= 5) {
          if (after.epoch !== info.epoch) throw new BrigadeError('UNAVAILABLE', `channel ${name} kept changing epoch while loading; retry`);
          if (after.oldest > base) throw new BrigadeError('UNAVAILABLE', `channel ${name} kept being trimmed while loading; retry`);
          loaded = { epoch: info.epoch, oldest: after.oldest, v, state };
        }
      }
      const ch = new Channel(name, type, loaded.epoch, loaded.v, loaded.oldest, loaded.state, this.options.recentBytesPerChannel);
      this.channels.set(name, ch);
      this.stats.channelsLoaded = this.channels.size;
      // Taken out of `early` first: while it is there onBatch appends to it, and replaying the
      // list into itself would never end.
      const early = this.early.get(name) ?? [];
      this.early.delete(name);
      for (const b of early) this.onBatch(b);
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
  unloadIdleChannels(nowMs = this.now()): number {
    if (this.tickRunning !== null || this.heldBatches !== null) return 0;
    let unloaded = 0;
    for (const ch of this.channels.values()) {
      const idle = ch.all.size === 0 && ch.pending.length === 0 && !this.dirty.has(ch) && !this.ephemeralDirty.get(ch.type.tickMs ?? this.options.tickMs)?.has(ch)
        && !this.fanOutQueue.has(ch.name) && ch.snapshotDueAt === 0;
      if (!idle) {
        ch.idleSince = 0;
        continue;
      }
      if (ch.idleSince === 0) ch.idleSince = nowMs;
      if (nowMs - ch.idleSince < this.options.channelIdleMs) continue;
      this.channels.delete(ch.name);
      this.retiredEpochs.delete(ch.name);
      this.release?.releaseChannel(ch.name);
      unloaded++;
    }
    this.stats.channelsLoaded = this.channels.size;
    this.stats.channelsUnloadedTotal += unloaded;
    if (unloaded > 0) this.logger.info({ unloaded, loaded: this.channels.size }, 'unloaded idle channels');
    return unloaded;
  }

  // ---- publish and tick -----------------------------------------------------------------

  publish(session: Session, requestId: number, channel: string, payload: Uint8Array): void {
    const refuse = (err: BrigadeError) => {
      this.stats.publishesRefused++;
      session.sendError(requestId, err, channel);
    };
    const type = this.typeFor(channel);
    if (!type) return refuse(unknownChannel(channel));
    if (payload.length > type.maxEventBytes) {
      return refuse(new BrigadeError('EVENT_TOO_LARGE', `event of ${payload.length} bytes is over the ${type.maxEventBytes}-byte limit of ${type.prefix} channels`));
    }
    const nowMs = this.now();
    const waitMs = this.ipLimiter.take(session.publisher.ip, nowMs);
    if (waitMs > 0) {
      return refuse(new BrigadeError('RATE_LIMITED', `more than ${this.options.publishPerSecondPerIp} publishes/s from ${session.publisher.ip}; retry in ${waitMs} ms`, waitMs));
    }
    const invalid = type.validate(channel, payload, session.publisher, nowMs);
    if (invalid) return refuse(invalid);
    const event: LogEvent = { payload: Uint8Array.prototype.slice.call(payload), publisher: session.publisher.userId, timeMs: nowMs };
    const ack: AckCallback = (version, err) => {
      if (err) session.sendError(requestId, err, channel);
      else session.send(encodeAck(requestId, version));
    };
    const claim = this.claims && type.sharedClaim ? type.sharedClaim(channel, session.publisher, nowMs) : null;
    if (claim) {
      // Another node may hold it: the event is queued only once the claim is ours.
      this.claims!.claim(claim.key, claim.ttlMs).then(
        (remainingMs) => (remainingMs > 0 ? refuse(claim.refused(remainingMs)) : this.queue(channel, event, ack)),
        (err) => refuse(asBrigadeError(err)),
      );
      return;
    }
    this.queue(channel, event, ack);
  }

  private queue(channel: string, event: LogEvent, ack: AckCallback): void {
    const ch = this.channels.get(channel);
    if (ch) this.enqueue(ch, [event], ack);
    else this.channel(channel).then((c) => this.enqueue(c, [event], ack), (err) => ack(0, asBrigadeError(err)));
  }

  async publishInternal(channel: string, payloads: Uint8Array[], publisher: string): Promise<number> {
    const ch = await this.channel(channel);
    const timeMs = this.now();
    return new Promise((resolve, reject) => {
      this.enqueue(ch, payloads.map((payload) => ({ payload, publisher, timeMs })), (v, err) => (err ? reject(err) : resolve(v)));
    });
  }

  private enqueue(ch: Channel, events: LogEvent[], ack: AckCallback): void {
    if (this.stopped && this.timer === null && this.tickRunning === null) {
      return ack(0, new BrigadeError('SHUTTING_DOWN', 'this node is shutting down; reconnect to another node'));
    }
    if (ch.pending.length + events.length > this.options.maxPendingPerChannel) {
      return ack(0, new BrigadeError('RATE_LIMITED', `channel ${ch.name} has ${ch.pending.length} events waiting for the next tick (limit ${this.options.maxPendingPerChannel}); retry shortly`, this.options.tickMs));
    }
    for (const e of events) ch.pending.push(e);
    ch.idleSince = 0;
    ch.pendingAcks.push({ count: events.length, ack });
    this.stats.eventsIn += events.length;
    if (ch.type.ephemeral) {
      const interval = ch.type.tickMs ?? this.options.tickMs;
      let set = this.ephemeralDirty.get(interval);
      if (!set) this.ephemeralDirty.set(interval, (set = new Set()));
      set.add(ch);
    } else {
      this.dirty.add(ch);
    }
  }

  /**
   * An ephemeral type's tick: each channel's pending events get the next versions of this node's
   * copy, are acknowledged, and go out to its subscribers at once (no engine, no grace).
   */
  private flushEphemeral(interval: number): void {
    const set = this.ephemeralDirty.get(interval);
    if (!set || set.size === 0) return;
    this.ephemeralDirty.delete(interval);
    for (const ch of set) {
      if (this.channels.get(ch.name) !== ch) {
        for (const a of ch.pendingAcks) a.ack(0, new BrigadeError('UNAVAILABLE', `channel ${ch.name} was unloaded before its tick; retry`));
        ch.pending = [];
        ch.pendingAcks = [];
        continue;
      }
      const events = ch.pending;
      const acks = ch.pendingAcks;
      ch.pending = [];
      ch.pendingAcks = [];
      let v = ch.head;
      for (const a of acks) {
        a.ack(v, null);
        v += a.count;
      }
      this.deliver({ channel: ch.name, firstVersion: ch.head, epoch: ch.epoch, events });
    }
  }

  /**
   * Runs the tick due at `due` (a grid point: see tick-clock.ts for the grid, the adaptive interval
   * and how the nodes of a shared engine keep to the longest need among them), then schedules the
   * next one.
   */
  private schedule(due: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.clock.begin(due);
      this.tickRunning = this.runTick().catch((err) => {
        this.logger.error({ err: String(err) }, 'tick failed');
        return 0;
      }).then((took) => {
        this.tickRunning = null;
        this.schedule(this.clock.end(took));
        this.stats.currentTickMs = this.clock.intervalMs;
        this.tickNeeds?.tickEnded();
      });
    }, Math.max(0, due - this.clock.now()));
  }

  /**
   * How long after its grid point a tick's fan-out waits over a shared engine, ms: at least
   * fanOutGraceMs, more when batches of recent ticks came later (see TickClock.graceMs).
   */
  graceMs(): number {
    return this.clock.graceMs();
  }

  /**
   * One tick: appends every dirty channel's pending events in one engine call and acknowledges
   * them, then (over a shared engine, graceMs() after the grid point) fans out every batch that
   * arrived.
   * Resolves with the milliseconds of work it did (append + fan-out, not the grace).
   */
  private async runTick(): Promise<number> {
    const started = performance.now();
    const appended = this.dirty.size > 0;
    if (appended) await this.appendDirty();
    const took = performance.now() - started;
    // Over a shared engine this node's own batch comes back through the engine's reader, after the
    // append resolves: wait for it (and the other nodes' batches of this tick) even when nothing is
    // queued yet.
    if (this.fanOutQueue.size === 0 && !(appended && this.engine.shared)) return took;
    if (this.engine.shared && !this.stopped) {
      const grace = this.graceMs();
      this.stats.fanOutGraceMs = grace;
      const wait = this.clock.dueMs + grace - this.clock.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const fanOutStarted = performance.now();
    this.flushFanOut();
    return took + (performance.now() - fanOutStarted);
  }

  /** Appends every dirty channel's pending events in one engine call and acknowledges them. */
  private async appendDirty(): Promise<void> {
    const started = performance.now();
    const chans = [...this.dirty];
    this.dirty.clear();
    const requests = chans.map((ch) => ({ channel: ch.name, events: ch.pending }));
    const acks = chans.map((ch) => ch.pendingAcks);
    for (const ch of chans) {
      ch.pending = [];
      ch.pendingAcks = [];
    }
    let positions: Position[];
    this.heldBatches = [];
    try {
      positions = await this.engine.append(requests);
    } catch (err) {
      const e = asBrigadeError(err);
      this.logger.warn({ err: e.message, channels: chans.length }, 'append failed; publishes refused');
      for (const list of acks) for (const a of list) a.ack(0, e);
      this.releaseHeldBatches();
      return;
    }
    const every = this.options.snapshotEvery;
    for (let i = 0; i < chans.length; i++) {
      // Committed at this version of the log the engine names, whichever epoch that is: true.
      const first = positions[i].version;
      let v = first;
      for (const a of acks[i]) {
        a.ack(v, null);
        v += a.count;
      }
      if (every > 0 && Math.floor(v / every) > Math.floor(first / every)) chans[i].snapshotDueAt = v;
    }
    this.releaseHeldBatches();
    // The engine may say a new epoch before (or instead of) a batch of it reaching onBatch.
    for (let i = 0; i < chans.length; i++) {
      if (positions[i].epoch !== chans[i].epoch) this.epochSeen(chans[i], positions[i].epoch);
    }
    for (const ch of chans) this.maybeStoreSnapshot(ch);
    const took = performance.now() - started;
    this.stats.ticks++;
    this.stats.lastTickMs = took;
    this.observer.tick(took);
  }

  // ---- committed batches → state → fan-out ------------------------------------------------

  private releaseHeldBatches(): void {
    const held = this.heldBatches;
    this.heldBatches = null;
    if (held) for (const b of held) this.onBatch(b);
  }

  private onBatch(b: CommittedBatch): void {
    // How late after the tick's grid point batches get here: the fan-out waits about that long.
    if (this.engine.shared) this.clock.batchArrived();
    if (this.heldBatches) {
      this.heldBatches.push(b);
      return;
    }
    const early = this.early.get(b.channel);
    if (early) {
      early.push(b);
      return;
    }
    const ch = this.channels.get(b.channel);
    if (!ch) return; // not loaded here: it will be read from the engine when first used
    if (b.epoch !== ch.epoch) {
      this.epochSeen(ch, b.epoch);
      return;
    }
    if (b.events.length === 0) return; // a position notice of the epoch we have: nothing to do
    const queued = this.fanOutQueue.get(b.channel);
    if (queued) queued.push(b);
    else this.fanOutQueue.set(b.channel, [b]);
    // Fanned out by this node's next tick (runTick), merged with whatever else arrives by then.
  }

  /** Applies and fans out every queued batch: contiguous batches of a channel become one. */
  private flushFanOut(): void {
    if (this.fanOutQueue.size === 0) return;
    const queue = this.fanOutQueue;
    this.fanOutQueue = new Map();
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

  private deliver(b: CommittedBatch): void {
    const ch = this.channels.get(b.channel);
    if (!ch || b.epoch !== ch.epoch) return; // not loaded here, or reloaded since it was queued (epochSeen)
    let first = b.firstVersion;
    let events = b.events;
    if (first < ch.head) {
      // Already applied (seen while loading): keep only the new tail.
      events = events.slice(ch.head - first);
      first = ch.head;
      if (events.length === 0) return;
    } else if (first > ch.head) {
      this.logger.error({ channel: ch.name, head: ch.head, firstVersion: first }, 'gap in committed batches; reloading channel');
      // Never expected (engines deliver in order); recover by reloading from the engine and
      // sending every subscriber BEHIND at the position it has, so each resumes exactly.
      this.channels.delete(ch.name);
      this.stats.channelsLoaded = this.channels.size;
      for (const sub of ch.all) {
        if (sub.state !== 'behind') this.goBehind(sub, sub.state === 'live' ? ch.head : sub.position);
      }
      return;
    }
    const payloads = events.map((e) => e.payload);
    const frames = ch.applyBatch(first, payloads, this.options.maxEventsPerFrame);
    this.stats.batches++;
    this.observer.batch(payloads.length);
    for (const f of frames) this.fanOut(ch, f.firstVersion, f.frame);
    this.maybeStoreSnapshot(ch);
  }

  /**
   * A batch or an append result of `epoch` for `ch`, loaded at another epoch. An epoch this node
   * already left behind: a late batch of a lost log, dropped. Any other: the log `ch` folded is
   * gone (the engine lost it and started again); reload the channel and give every subscriber a
   * snapshot at the new position (replaceChannel).
   */
  private epochSeen(ch: Channel, epoch: number): void {
    if (this.channels.get(ch.name) !== ch) return; // already being reloaded
    const retired = this.retiredEpochs.get(ch.name);
    if (retired?.has(epoch)) {
      this.stats.staleEpochBatchesTotal++;
      this.logger.warn({ channel: ch.name, epoch, current: ch.epoch }, 'batch of a lost epoch dropped');
      return;
    }
    this.stats.epochChangesTotal++;
    this.logger.warn({ channel: ch.name, epoch: ch.epoch, head: ch.head, newEpoch: epoch },
      'channel log replaced by a new epoch (the engine lost it); reloading, subscribers get a snapshot');
    const left = retired ?? new Set<number>();
    left.add(ch.epoch);
    // Its batches not yet fanned out belong to the lost log: the snapshot replaces them. Its
    // pending events stay with it (still in `dirty`): they are appended by name, into the new log.
    this.fanOutQueue.delete(ch.name);
    this.channels.delete(ch.name);
    this.stats.channelsLoaded = this.channels.size;
    this.channel(ch.name).then((next) => {
      const known = this.retiredEpochs.get(next.name) ?? new Set<number>();
      for (const e of left) if (e !== next.epoch) known.add(e);
      this.retiredEpochs.set(next.name, known);
      this.replaceChannel(ch, next);
    }, (err) => {
      // Cannot reload now: tell each subscriber where it stopped; its resubscribe (with the old
      // epoch) loads the channel again and gets a snapshot.
      this.logger.warn({ channel: ch.name, err: String(err) }, 'reloading after an epoch change failed; subscribers told BEHIND');
      for (const sub of ch.all) {
        if (sub.state !== 'behind' && sub.session.subscriptions.get(ch.name) === sub) this.goBehind(sub, sub.state === 'live' ? ch.head : sub.position);
      }
    });
  }

  /**
   * Moves `old`'s subscribers to its reloaded successor: each live or catching-up one gets the
   * SNAPSHOT of the new epoch at its head and goes live (or BEHIND at its old position when its
   * connection is over the byte limit: it resubscribes with the old epoch and gets the snapshot
   * then); a subscription already BEHIND stays so and gets the snapshot when it resumes.
   */
  private replaceChannel(old: Channel, ch: Channel): void {
    const limit = this.options.maxBufferedBytes;
    for (const sub of [...old.all]) {
      old.all.delete(sub);
      old.live.delete(sub);
      sub.generation++; // stops a catch-up still running on the old channel
      const session = sub.session;
      if (session.closed || session.subscriptions.get(old.name) !== sub) continue; // gone, or replaced by a new SUBSCRIBE
      const next = new Subscription(session, ch);
      session.subscriptions.set(ch.name, next);
      ch.all.add(next);
      ch.idleSince = 0;
      next.position = sub.state === 'live' ? old.head : sub.position;
      if (sub.state === 'behind') {
        next.state = 'behind';
        continue;
      }
      const snap = ch.snapshotAtHead();
      const buffered = session.sink.bufferedAmount;
      if (buffered > 0 && buffered + snap.frame.length > limit) {
        this.goBehind(next, next.position);
        continue;
      }
      session.send(snap.frame);
      this.stats.snapshotsSent++;
      this.stats.framesOut++;
      this.stats.bytesOut += snap.frame.length;
      next.position = snap.version;
      next.state = 'live';
      ch.live.add(next);
    }
  }

  private fanOut(ch: Channel, firstVersion: number, frame: Uint8Array): void {
    const limit = this.options.maxBufferedBytes;
    let sent = 0;
    for (const sub of ch.live) {
      const sink = sub.session.sink;
      const buffered = sink.bufferedAmount;
      if (buffered > 0 && buffered + frame.length > limit) {
        this.goBehind(sub, firstVersion);
        continue;
      }
      sink.send(frame);
      sent++;
    }
    this.stats.framesOut += sent;
    this.stats.messagesOut += sent;
    this.stats.bytesOut += sent * frame.length;
  }

  /** Stops sending to a slow connection and tells it where to resume. */
  goBehind(sub: Subscription, version: number): void {
    sub.channel.live.delete(sub);
    sub.state = 'behind';
    sub.generation++;
    this.stats.behindTotal++;
    sub.session.send(encodeBehind(sub.channel.name, version));
  }

  private maybeStoreSnapshot(ch: Channel): void {
    if (ch.snapshotDueAt > 0 && ch.head >= ch.snapshotDueAt && this.channels.get(ch.name) === ch) {
      ch.snapshotDueAt = 0;
      this.storeSnapshot(ch);
    }
  }

  private storeSnapshot(ch: Channel): void {
    const version = ch.head;
    ch.lastStoredSnapshot = version;
    const bytes = ch.type.encodeSnapshot(ch.state);
    this.engine.putSnapshot(ch.name, { version, epoch: ch.epoch, bytes, timeMs: this.now() })
      .then(() => this.engine.info(ch.name))
      .then((info) => { ch.oldest = info.oldest; })
      .catch((err) => this.logger.warn({ channel: ch.name, version, err: String(err) }, 'snapshot not stored'));
  }

  // ---- subscribe ---------------------------------------------------------------------------

  subscribe(session: Session, f: SubscribeFrame): void {
    const { requestId, channel } = f;
    const type = this.typeFor(channel);
    if (!type) return session.sendError(requestId, unknownChannel(channel), channel);
    const refused = type.authorizeSubscribe?.(channel, session.publisher) ?? null;
    if (refused) return session.sendError(requestId, refused, channel);
    const existing = session.subscriptions.get(channel);
    if (!existing && session.subscriptions.size >= this.options.maxSubscriptionsPerConnection) {
      return session.sendError(requestId, new BrigadeError('TOO_MANY_SUBSCRIPTIONS', `a connection may hold ${this.options.maxSubscriptionsPerConnection} subscriptions`), channel);
    }
    this.channel(channel).then((ch) => {
      if (session.closed) return;
      // A stale non-zero epoch gets a snapshot (catchUp) whatever its version: only a version of
      // this epoch (or an unknown one) can be ahead.
      const sameEpoch = f.epoch === 0 || f.epoch === ch.epoch;
      if (f.mode === SubscribeMode.FROM_VERSION && sameEpoch && f.fromVersion > ch.head) {
        return session.sendError(requestId, new BrigadeError('VERSION_AHEAD', `fromVersion ${f.fromVersion} is ahead of ${channel}'s head ${ch.head}; subscribe from ${ch.head} or lower`), channel);
      }
      ch.idleSince = 0;
      let sub = session.subscriptions.get(channel);
      if (sub && sub.channel !== ch) {
        // The channel was reloaded since this subscription was made.
        sub.channel.live.delete(sub);
        sub.channel.all.delete(sub);
        sub = undefined;
      }
      if (sub) {
        if (sub.state === 'behind') this.stats.resumesTotal++;
        ch.live.delete(sub);
      } else {
        sub = new Subscription(session, ch);
        session.subscriptions.set(channel, sub);
        ch.all.add(sub);
      }
      sub.state = 'catching-up';
      const generation = ++sub.generation;
      session.send(encodeSubscribed(requestId, channel, ch.epoch, ch.head));
      catchUp(this, sub, generation, f).catch((err) => {
        const e = asBrigadeError(err);
        this.logger.warn({ channel, err: e.message }, 'catch-up failed');
        session.sendError(requestId, e, channel);
      });
    }, (err) => session.sendError(requestId, asBrigadeError(err), channel));
  }

  unsubscribe(session: Session, requestId: number, channel: string): void {
    const sub = session.subscriptions.get(channel);
    if (!sub) return session.sendError(requestId, new BrigadeError('NOT_SUBSCRIBED', `not subscribed to ${channel}`), channel);
    sub.generation++;
    sub.channel.live.delete(sub);
    sub.channel.all.delete(sub);
    session.subscriptions.delete(channel);
    session.send(encodeUnsubscribed(requestId, channel));
  }

  /** Largest number of unsent bytes on any one connection right now (bounded by maxBufferedBytes + one frame). */
  maxBufferedBytes(): number {
    let max = 0;
    for (const s of this.sessions) max = Math.max(max, s.sink.bufferedAmount);
    return max;
  }

  // ---- CoreApi -----------------------------------------------------------------------------

  async view<S>(channel: string): Promise<ChannelView<S>> {
    const ch = await this.channel(channel);
    ch.idleSince = 0;
    // Read-your-writes: an acknowledged batch still waiting for its fan-out is applied now.
    if (this.fanOutQueue.has(channel)) this.flushFanOut();
    return { epoch: ch.epoch, version: ch.head, state: ch.state as S };
  }

  readLog(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]> {
    return this.engine.read(channel, fromVersion, limit);
  }

  async oldestVersion(channel: string): Promise<number> {
    return (await this.engine.info(channel)).oldest;
  }

  getSnapshot(channel: string, atOrBefore?: number): Promise<StoredSnapshot | null> {
    return this.engine.getSnapshot(channel, atOrBefore);
  }
}

function unknownChannel(name: string): BrigadeError {
  return new BrigadeError('UNKNOWN_CHANNEL', `no app serves channel ${JSON.stringify(name)}`);
}

/** A random non-zero u32 (an ephemeral channel's epoch on this node). */
function randomEpoch(): number {
  return (Math.floor(Math.random() * 0xffffffff) >>> 0) || 1;
}

export function asBrigadeError(err: unknown): BrigadeError {
  if (err instanceof BrigadeError) return err;
  return new BrigadeError('INTERNAL', err instanceof Error ? err.message : String(err));
}
