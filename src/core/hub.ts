/**
 * The hub: the facade over this node's core. Data flows one way: publish → pending → engine.append
 * (one call per tick) → engine.onBatch (every node) → fold into state → encode once → same bytes
 * to every live subscriber. The work is done by its parts, each one role:
 *
 * - channel-registry.ts: channel types, loading/unloading channels, reloading on a new epoch;
 * - publish.ts: publish checks and queueing, the append + acks of a tick, ephemeral ticks;
 * - fan-out.ts: committed batches → state → frames → live subscribers, backpressure;
 * - snapshots.ts: storing snapshots in the engine;
 * - subscriptions.ts (+ catch-up.ts): subscribe, unsubscribe, moving subscribers on a new epoch;
 * - tick-clock.ts / tick-needs.ts: when ticks fall and how long their fan-out waits.
 *
 * The hub wires them, owns start/stop and the tick timer, the sessions (connect/disconnect), and
 * implements CoreApi (what apps get) and SessionHost (what a session hands its frames to).
 * Nothing below imports it back: each part names what it needs as a small interface of its own.
 */
import type { ClientFrame } from '../protocol/index.ts';
import { ChannelRegistry } from './channel-registry.ts';
import type { ChannelType, ConnectingPublisher, Publisher } from './channel-type.ts';
import type { CoreContext } from './core-context.ts';
import type { ChannelView, CoreApi } from './core-api.ts';
import { hasMembership, type Engine, type LogEvent, type StoredSnapshot } from './engine.ts';
import { FanOut } from './fan-out.ts';
import { defaultCoreOptions, silentLogger, type CoreOptions, type Logger } from './options.ts';
import { PublishPath } from './publish.ts';
import { RequestRouter } from './requests.ts';
import { Session, type SessionHost } from './session.ts';
import type { Sink } from './sink.ts';
import { Snapshots } from './snapshots.ts';
import { newStats, noopObserver, type CoreObserver } from './stats.ts';
import type { SubscribedChannel, Subscription } from './subscription.ts';
import { Subscriptions } from './subscriptions.ts';
import { TickClock } from './tick-clock.ts';
import { TickNeeds } from './tick-needs.ts';
import { randomBytes } from 'node:crypto';

export { asBrigadeError } from './as-brigade-error.ts';
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

/** Longest a view waits for a version this node wrote to come back from the engine (CoreApi.view), ms. */
const VIEW_WAIT_MS = 2000;

export class Hub implements CoreApi, SessionHost {
  readonly options: CoreOptions;
  readonly stats = newStats();
  readonly engine: Engine;
  readonly logger: Logger;
  /** This node's id (random per process): the tick needs' member, and every app's AppCore.nodeId. */
  readonly nodeId: string;
  /** REQUEST frames, routed to the apps that registered their kinds. */
  readonly requests: RequestRouter;
  /** Open sessions, for shutdown and scrape-time gauges (never iterated on the hot path). */
  readonly sessions = new Set<Session>();
  private readonly now: () => number;
  private readonly registry: ChannelRegistry;
  private readonly snapshots: Snapshots;
  private readonly fanOut: FanOut;
  private readonly publishing: PublishPath;
  private readonly subscriptions: Subscriptions;
  /** When ticks fall and how long their fan-out waits (on the wall clock: the grid every node shares). */
  private readonly clock: TickClock;
  /** Over a shared engine with Membership: this node's tick need told to, and the peers' read from, the other nodes. */
  private readonly tickNeeds: TickNeeds | null;
  private timer: NodeJS.Timeout | null = null;
  /**
   * No tick is armed because the last one found nothing to do (nothing pending, nothing queued,
   * no append in flight): the next event to append or batch to fan out arms it again (wake()).
   */
  private asleep = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private tickRunning: Promise<void> | null = null;
  private started = false;
  private stopped = false;

  constructor(deps: HubDeps) {
    this.engine = deps.engine;
    this.options = { ...defaultCoreOptions, ...deps.options };
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? Date.now;
    this.requests = new RequestRouter(this.logger);
    this.nodeId = deps.nodeId ?? randomBytes(6).toString('hex');
    const ctx: CoreContext = {
      engine: this.engine, options: this.options, stats: this.stats, logger: this.logger,
      observer: deps.observer ?? noopObserver, now: this.now, nodeId: this.nodeId,
    };
    this.clock = new TickClock(this.options);
    this.registry = new ChannelRegistry(ctx, {
      replay: (b) => this.fanOut.onBatch(b),
      appendInFlight: () => this.tickRunning !== null || this.fanOut.holding,
      hasWork: (ch) => this.publishing.isDirty(ch) || this.fanOut.hasQueued(ch.name),
      dropQueued: (name) => this.fanOut.drop(name),
      replaced: (old, next) => this.subscriptions.moveSubscribers(old, next),
      reloadFailed: (old) => this.subscriptions.stopAll(old),
    });
    this.snapshots = new Snapshots(ctx, this.registry);
    this.fanOut = new FanOut(ctx, this.registry, this.snapshots, this.clock, () => this.wake());
    this.publishing = new PublishPath(ctx, this.registry, this.fanOut, this.snapshots, {
      // Refused once stopped, except while the last tick (stop's flush) is still to run.
      accepting: () => !(this.stopped && this.timer === null && this.tickRunning === null),
      pending: () => this.wake(),
    });
    this.subscriptions = new Subscriptions(ctx, this.registry, this.fanOut);
    for (const t of deps.types) this.addType(t);
    this.stats.currentTickMs = this.options.tickMs;
    this.tickNeeds = this.engine.shared && hasMembership(this.engine)
      ? new TickNeeds(this.engine, this.nodeId, this.clock, this.logger, undefined, () => !this.asleep)
      : null;
    this.engine.onBatch((b) => this.fanOut.onBatch(b));
  }

  /**
   * Serves channels of `type` (an app's ChannelType). Prefixes may not overlap another type's, so
   * every channel name has one owner; a logged type's tickMs must be a multiple of the core's.
   */
  addType(type: ChannelType<any>): void {
    this.registry.addType(type);
    if (type.ephemeral && !this.stopped && this.started) this.publishing.startEphemeralTick(type);
  }

  typeFor(channel: string): ChannelType<any> | null {
    return this.registry.typeFor(channel);
  }

  start(): void {
    this.stopped = false;
    this.started = true;
    for (const t of this.registry.allTypes()) this.publishing.startEphemeralTick(t);
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
    this.asleep = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.publishing.stopEphemeralTicks();
    if (this.tickRunning) await this.tickRunning;
    await this.runTick(true);
    await this.tickNeeds?.stop();
  }

  // ---- sessions ---------------------------------------------------------------------------

  connect(sink: Sink, publisher: ConnectingPublisher): Session {
    this.stats.connections++;
    this.stats.connectsTotal++;
    const session = new Session(this, sink, publisher);
    this.sessions.add(session);
    return session;
  }

  disconnect(session: Session): void {
    this.stats.connections--;
    this.sessions.delete(session);
    this.subscriptions.detach(session);
  }

  subscribe(session: Session, f: SubscribeFrame): void {
    this.subscriptions.subscribe(session, f);
  }

  unsubscribe(session: Session, requestId: number, channel: string): void {
    this.subscriptions.unsubscribe(session, requestId, channel);
  }

  publish(session: Session, requestId: number, channel: string, payload: Uint8Array, stamp?: { producer: string; seq: number }): void {
    this.publishing.publish(session, requestId, channel, payload, stamp);
  }

  /** Stops sending to a slow connection and tells it where to resume. */
  goBehind(sub: Subscription, version: number): void {
    this.fanOut.goBehind(sub, version);
  }

  /** Largest number of unsent bytes on any one connection right now (bounded by maxBufferedBytes + one frame). */
  maxBufferedBytes(): number {
    let max = 0;
    for (const s of this.sessions) max = Math.max(max, s.sink.bufferedAmount);
    return max;
  }

  // ---- channels ---------------------------------------------------------------------------

  /** The loaded channel, loading it from the engine (snapshot + tail) on first use. */
  channel(name: string): Promise<SubscribedChannel> {
    return this.registry.channel(name);
  }

  /**
   * Unloads every channel that has had no subscription and nothing to append or fan out for
   * channelIdleMs (see ChannelRegistry.unloadIdle). Returns how many went.
   */
  unloadIdleChannels(nowMs = this.now()): number {
    return this.registry.unloadIdle(nowMs);
  }

  // ---- the tick ---------------------------------------------------------------------------

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
        const next = this.clock.end(took);
        if (this.idle()) {
          // Nothing to append, fan out or wait for: no timer until something arrives (wake()).
          this.asleep = true;
          this.clock.rest();
        } else {
          this.schedule(next);
        }
        this.stats.currentTickMs = this.clock.intervalMs;
        this.tickNeeds?.tickEnded();
      });
    }, Math.max(0, due - this.clock.now()));
  }

  /** False while the tick sleeps (nothing to do, no timer armed) until work arrives. */
  get ticking(): boolean {
    return !this.asleep;
  }

  /** True when a tick would have nothing to do: no pending event, no batch queued or held back. */
  private idle(): boolean {
    return !this.publishing.hasPending() && !this.fanOut.hasQueued() && !this.fanOut.holding;
  }

  /**
   * Work arrived (an event queued for appending, a committed batch for the fan-out): arms the tick
   * at the next grid point if it was asleep, so the work waits at most one interval, as with an
   * always-running tick. An idle node so wakes for nothing (docs/benchmarks-inbox.md, "An idle
   * node").
   */
  private wake(): void {
    if (!this.asleep || this.stopped || this.timer !== null || this.tickRunning !== null) return;
    this.asleep = false;
    this.clock.wake();
    this.schedule(this.clock.nextDue());
    this.tickNeeds?.woke();
  }

  /**
   * How long after its grid point a tick's fan-out waits over a shared engine, ms: at least
   * fanOutGraceMs, more when batches of recent ticks came later (see TickClock.graceMs).
   */
  graceMs(): number {
    return this.clock.graceMs();
  }

  /**
   * One tick: appends the pending events of every channel due in one engine call and acknowledges
   * them (every channel when `everything`: the flush on stop), then (over a shared engine,
   * graceMs() after the grid point) fans out every batch that arrived.
   * Resolves with the milliseconds of work it did (append + fan-out, not the grace).
   */
  private async runTick(everything = false): Promise<number> {
    const started = performance.now();
    const appended = await this.publishing.appendDue(this.clock.dueMs, everything);
    const took = performance.now() - started;
    // Over a shared engine this node's own batch comes back through the engine's reader, after the
    // append resolves: wait for it (and the other nodes' batches of this tick) even when nothing is
    // queued yet.
    if (!this.fanOut.hasQueued() && !(appended && this.engine.shared)) return took;
    if (this.engine.shared && !this.stopped) {
      const grace = this.graceMs();
      this.stats.fanOutGraceMs = grace;
      const wait = this.clock.dueMs + grace - this.clock.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const fanOutStarted = performance.now();
    this.fanOut.flush();
    return took + (performance.now() - fanOutStarted);
  }

  // ---- CoreApi -----------------------------------------------------------------------------

  async view<S>(channel: string, atLeast = 0): Promise<ChannelView<S>> {
    let ch = await this.registry.channel(channel);
    ch.idleSince = 0;
    // Read-your-writes: an acknowledged batch still waiting for its fan-out is applied now.
    if (this.fanOut.hasQueued(channel)) this.fanOut.flush();
    if (ch.head < atLeast) {
      // Not here yet (over Redis it comes back through the stream reader): applied on arrival.
      await this.fanOut.whenApplied(channel, atLeast, VIEW_WAIT_MS);
      ch = await this.registry.channel(channel);
    }
    return { epoch: ch.epoch, version: ch.head, state: ch.state as S };
  }

  publishInternal(channel: string, payloads: Uint8Array[], publisher: string): Promise<number> {
    return this.publishing.publishInternal(channel, payloads, publisher);
  }

  sendEphemeral(channel: string, payloads: Uint8Array[], publisher: string): boolean {
    return this.publishing.sendEphemeral(channel, payloads, publisher);
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
