/**
 * The publish path: a client's publish is checked (size, per-IP rate, the type's validate, a
 * shared claim over several nodes) and queued in its channel; the tick appends the pending events
 * of every channel due (one engine call) and acknowledges them with their versions. A logged type
 * with its own tickMs is due only on the core ticks whose grid point crosses a multiple of it.
 * Ephemeral types never reach the engine: their own tick (flushEphemeral) numbers, acknowledges
 * and fans out their events at once.
 * Depends on the channel registry, fan-out (ephemeral delivery; batches held while an append is in
 * flight), snapshots (due after an append), the grid timer, and the `PublishHost` it defines here.
 */
import { BrigadeError, encodeAck } from '../protocol/index.ts';
import { asBrigadeError } from './as-brigade-error.ts';
import type { ChannelRegistry } from './channel-registry.ts';
import { unknownChannel } from './channel-registry.ts';
import type { AckCallback } from './channel.ts';
import type { ChannelType, Publisher } from './channel-type.ts';
import type { CoreContext } from './core-context.ts';
import { AppendSplitError, hasClaims, type AppendRequest, type AppendResult, type Claims, type LogEvent, type PublishStamp } from './engine.ts';
import type { PendingAck } from './channel.ts';
import type { FanOut } from './fan-out.ts';
import { everyOnGrid, type GridTimer } from './grid-timer.ts';
import { RateLimiter } from './rate-limiter.ts';
import type { Snapshots } from './snapshots.ts';
import type { SubscribedChannel } from './subscription.ts';

/** What a publish needs of the connection it came from (Session implements it). */
export interface PublishingSession {
  readonly publisher: Publisher;
  send(frame: Uint8Array): void;
  sendError(requestId: number, err: BrigadeError, channel?: string): void;
}

export interface PublishHost {
  /** False once the node has stopped and its last tick ran: new events are refused. */
  accepting(): boolean;
  /** An event of a logged channel was queued for the tick: the hub arms its tick if it was asleep. */
  pending(): void;
}

/**
 * True when a logged type of tick `typeTickMs` appends on the core tick due at `dueMs`, the
 * previous one having been due at `previousDueMs`: when the grid point crosses a multiple of it.
 * A type without its own tick (or one no longer than the core's) appends on every tick.
 */
export function loggedTypeDue(typeTickMs: number | undefined, coreTickMs: number, dueMs: number, previousDueMs: number): boolean {
  if (typeTickMs === undefined || typeTickMs <= coreTickMs) return true;
  return Math.floor(dueMs / typeTickMs) > Math.floor(previousDueMs / typeTickMs);
}

/**
 * A publish's payload is a view into the socket's read buffer, so it is copied before it is
 * queued: into a shared slab (a view per event, not an ArrayBuffer per event, which the garbage
 * collector tracks one by one; issue 21). A slab lives while any event copied into it does: events
 * are dropped once committed and fanned out, so that is a few ticks.
 */
const PAYLOAD_SLAB_BYTES = 64 * 1024;
let slab = new Uint8Array(PAYLOAD_SLAB_BYTES);
let slabAt = 0;
function copyPayload(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  if (n > PAYLOAD_SLAB_BYTES / 8) return Uint8Array.prototype.slice.call(payload);
  if (slabAt + n > PAYLOAD_SLAB_BYTES) {
    slab = new Uint8Array(PAYLOAD_SLAB_BYTES);
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + n);
  out.set(payload);
  slabAt += n;
  return out;
}

/** A client's publish waiting in its channel: answered with an ACK or ERROR frame on its session. */
class ClientAck implements PendingAck {
  readonly count = 1;
  producer: string | undefined;
  seq: number | undefined;
  doubtSince = 0;

  constructor(private readonly session: PublishingSession, private readonly requestId: number, private readonly channel: string, stamp: { producer: string; seq: number } | undefined) {
    this.producer = stamp?.producer;
    this.seq = stamp?.seq;
  }

  ack(firstVersion: number, error: BrigadeError | null): void {
    if (error) this.session.sendError(this.requestId, error, this.channel);
    else this.session.send(encodeAck(this.requestId, firstVersion));
  }
}

export class PublishPath {
  /** The engine's shared claims, when it has them (apps' cross-node limits: ChannelType.sharedClaim). */
  private readonly claims: Claims | null;
  private readonly ipLimiter: RateLimiter;
  /** Logged channels with pending events, appended by the tick. */
  private readonly dirty = new Set<SubscribedChannel>();
  /** Ephemeral channels with events to fan out, by their type's tick interval (see ChannelType.ephemeral). */
  private readonly ephemeralDirty = new Map<number, Set<SubscribedChannel>>();
  private readonly ephemeralTimers = new Map<number, GridTimer>();
  /** The grid point of the last tick (logged types with their own tickMs count from it). */
  private lastDueMs = 0;
  /** This node's producer id, for the unstamped publishes it stamps itself (see stamp()). */
  private readonly nodeProducer: string;
  /** The next sequence number of nodeProducer per channel. */
  private readonly nodeSeqs = new Map<string, number>();
  /** True while appends fail: the failure is logged once per outage, with a count when it ends. */
  private failing: { since: number; ticks: number; publishes: number } | null = null;

  constructor(
    private readonly ctx: CoreContext,
    private readonly registry: ChannelRegistry,
    private readonly fanOut: FanOut,
    private readonly snapshots: Snapshots,
    private readonly host: PublishHost,
  ) {
    this.claims = hasClaims(ctx.engine) ? ctx.engine : null;
    this.ipLimiter = new RateLimiter(ctx.options.publishPerSecondPerIp, ctx.options.publishBurstPerIp);
    this.nodeProducer = `node-${ctx.nodeId}`;
  }

  /**
   * A client's publish. With a stamp (PUBLISH_ONCE: producer, seq) it is idempotent: sent again
   * (after a reconnect, to any node, or after OUTCOME_UNKNOWN) it is committed once and answered
   * with its one version. The stamp skips the checks that already passed the first time only in
   * the engine (a repeat is answered, not appended); validate and rate limits run as for any publish.
   */
  publish(session: PublishingSession, requestId: number, channel: string, payload: Uint8Array, stamp?: { producer: string; seq: number }): void {
    const { options } = this.ctx;
    const type = this.registry.typeFor(channel);
    if (!type) return this.refuse(session, requestId, channel, unknownChannel(channel));
    if (payload.length > type.maxEventBytes) {
      return this.refuse(session, requestId, channel, new BrigadeError('EVENT_TOO_LARGE', `event of ${payload.length} bytes is over the ${type.maxEventBytes}-byte limit of ${type.prefix} channels`));
    }
    const nowMs = this.ctx.now();
    const waitMs = this.ipLimiter.take(session.publisher.ip, nowMs);
    if (waitMs > 0) {
      return this.refuse(session, requestId, channel, new BrigadeError('RATE_LIMITED', `more than ${options.publishPerSecondPerIp} publishes/s from ${session.publisher.ip}; retry in ${waitMs} ms`, waitMs));
    }
    const invalid = type.validate(channel, payload, session.publisher, nowMs);
    if (invalid) return this.refuse(session, requestId, channel, invalid);
    const event: LogEvent = { payload: copyPayload(payload), publisher: session.publisher.userId, timeMs: nowMs };
    const ack = new ClientAck(session, requestId, channel, stamp);
    const claim = this.claims && type.sharedClaim ? type.sharedClaim(channel, session.publisher, nowMs) : null;
    if (claim) {
      // Another node may hold it: the event is queued only once the claim is ours.
      this.claims!.claim(claim.key, claim.ttlMs).then(
        (remainingMs) => (remainingMs > 0 ? this.refuse(session, requestId, channel, claim.refused(remainingMs)) : this.queue(channel, event, ack)),
        (err) => this.refuse(session, requestId, channel, asBrigadeError(err)),
      );
      return;
    }
    this.queue(channel, event, ack);
  }

  private refuse(session: PublishingSession, requestId: number, channel: string, err: BrigadeError): void {
    this.ctx.stats.publishesRefused++;
    session.sendError(requestId, err, channel);
  }

  /** Appends events on the server's behalf (no validate); resolves with the first version once committed. */
  async publishInternal(channel: string, payloads: Uint8Array[], publisher: string): Promise<number> {
    const ch = await this.registry.channel(channel);
    const timeMs = this.ctx.now();
    return new Promise((resolve, reject) => {
      const ack: AckCallback = (v, err) => (err ? reject(err) : resolve(v));
      this.enqueue(ch, payloads.map((payload) => ({ payload, publisher, timeMs })), { count: payloads.length, ack, producer: undefined, seq: undefined, doubtSince: 0 });
    });
  }

  /** CoreApi.sendEphemeral: an ephemeral tick of one channel, now (flushEphemeral without the queue). */
  sendEphemeral(channel: string, payloads: Uint8Array[], publisher: string): boolean {
    const ch = this.registry.get(channel);
    if (!ch || !ch.type.ephemeral || ch.pendingCount > 0 || !this.registry.isCurrent(ch) || !this.host.accepting()) return false;
    if (payloads.length === 0) return true;
    const timeMs = this.ctx.now();
    this.ctx.stats.eventsIn += payloads.length;
    this.fanOut.deliver({ channel: ch.name, firstVersion: ch.head, epoch: ch.epoch, events: payloads.map((payload) => ({ payload, publisher, timeMs })) });
    return true;
  }

  private queue(channel: string, event: LogEvent, ack: PendingAck): void {
    const ch = this.registry.get(channel);
    if (ch) this.enqueue(ch, event, ack);
    else this.registry.channel(channel).then((c) => this.enqueue(c, event, ack), (err) => ack.ack(0, asBrigadeError(err)));
  }

  /** Queues one publish: one event (a client's publish, no array made for it) or several (publishInternal). */
  private enqueue(ch: SubscribedChannel, events: LogEvent | LogEvent[], ack: PendingAck): void {
    const count = ack.count;
    const { options, stats } = this.ctx;
    if (!this.host.accepting()) {
      return ack.ack(0, new BrigadeError('SHUTTING_DOWN', 'this node is shutting down; reconnect to another node'));
    }
    if (ch.pendingCount + count > options.maxPendingPerChannel) {
      const retryMs = Math.max(options.tickMs, ch.type.ephemeral ? 0 : ch.type.tickMs ?? 0);
      return ack.ack(0, new BrigadeError('RATE_LIMITED', `channel ${ch.name} has ${ch.pendingCount} events waiting for the next tick (limit ${options.maxPendingPerChannel}); retry shortly`, retryMs));
    }
    // Ephemeral events are never appended: a stamp means nothing there.
    if (ch.type.ephemeral) ack.producer = ack.seq = undefined;
    ch.queue(events, ack);
    stats.eventsIn += count;
    if (ch.type.ephemeral) {
      const interval = this.ephemeralInterval(ch.type);
      let set = this.ephemeralDirty.get(interval);
      if (!set) this.ephemeralDirty.set(interval, (set = new Set()));
      set.add(ch);
      this.ephemeralTimers.get(interval)?.wake();
    } else {
      this.dirty.add(ch);
      this.host.pending();
    }
  }

  /** True while a logged channel has events waiting for the core's tick. */
  hasPending(): boolean {
    return this.dirty.size > 0;
  }

  /** True while `ch` has events waiting for a tick (logged or ephemeral). */
  isDirty(ch: SubscribedChannel): boolean {
    return this.dirty.has(ch) || (this.ephemeralDirty.get(this.ephemeralInterval(ch.type))?.has(ch) ?? false);
  }

  // ---- ephemeral types: their own tick ---------------------------------------------------------

  private ephemeralInterval(type: ChannelType<any>): number {
    return type.tickMs ?? this.ctx.options.tickMs;
  }

  /** Starts the grid timer of an ephemeral type's interval (one per interval). */
  startEphemeralTick(type: ChannelType<any>): void {
    if (!type.ephemeral) return;
    const interval = this.ephemeralInterval(type);
    if (this.ephemeralTimers.has(interval)) return;
    // On demand: woken by the events it numbers (enqueue), so an idle type costs no wake-ups.
    const timer = everyOnGrid(interval, () => this.flushEphemeral(interval), (err) => {
      this.ctx.logger.error({ err: String(err), intervalMs: interval }, 'ephemeral tick failed');
    }, true);
    this.ephemeralTimers.set(interval, timer);
    if (this.ephemeralDirty.get(interval)?.size) timer.wake();
  }

  /** Stops the ephemeral ticks, then numbers and sends what they had waiting. */
  async stopEphemeralTicks(): Promise<void> {
    for (const t of this.ephemeralTimers.values()) await t.stop();
    this.ephemeralTimers.clear();
    for (const interval of [...this.ephemeralDirty.keys()]) this.flushEphemeral(interval);
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
      const { events, acks } = ch.takePending();
      if (!this.registry.isCurrent(ch)) {
        for (const a of acks) a.ack(0, new BrigadeError('UNAVAILABLE', `channel ${ch.name} was unloaded before its tick; retry`));
        continue;
      }
      let v = ch.head;
      for (const a of acks) {
        a.ack(v, null);
        v += a.count;
      }
      this.fanOut.deliver({ channel: ch.name, firstVersion: ch.head, epoch: ch.epoch, events });
    }
  }

  // ---- logged types: the core's tick ---------------------------------------------------------

  /**
   * The core's tick due at `dueMs`: appends the pending events of every channel whose type is due
   * on it (all of them when `everything`: the last tick before stopping) in one engine call, and
   * acknowledges them. Resolves true when it appended anything.
   */
  async appendDue(dueMs: number, everything: boolean): Promise<boolean> {
    const previousDueMs = this.lastDueMs;
    this.lastDueMs = dueMs;
    if (this.dirty.size === 0) return false;
    const coreTickMs = this.ctx.options.tickMs;
    const chans: SubscribedChannel[] = [];
    for (const ch of this.dirty) {
      if (everything || loggedTypeDue(ch.type.tickMs, coreTickMs, dueMs, previousDueMs)) chans.push(ch);
    }
    if (chans.length === 0) return false;
    for (const ch of chans) this.dirty.delete(ch);
    await this.append(chans);
    return true;
  }

  /**
   * Appends `chans`' pending events in one engine call and acknowledges them. Every publish goes to
   * the engine stamped (stamp()), so when the call ends in doubt (OUTCOME_UNKNOWN: the store stopped
   * answering mid-call) the same publishes are put back in front of their channels and go again
   * with the same stamps next tick: the engine commits each once and answers a repeat with its
   * original version, so the answer each publisher finally gets is the true one. Past
   * outcomeUnknownAfterMs a publish still unresolved is answered OUTCOME_UNKNOWN. Any other failure
   * committed nothing: each publish is refused with it. A sharded engine may commit some channels
   * and not others (AppendSplitError): the committed ones are acknowledged, the others go the
   * failure's way.
   */
  private async append(chans: SubscribedChannel[]): Promise<void> {
    const { engine, stats, observer } = this.ctx;
    const started = performance.now();
    let taken = chans.map((ch) => ch.takePending());
    const requests: AppendRequest[] = chans.map((ch, i) => ({ channel: ch.name, events: taken[i].events, publishes: this.stamp(ch.name, taken[i].acks) }));
    let results: AppendResult[];
    let split = false;
    this.fanOut.hold();
    try {
      results = await engine.append(requests);
    } catch (err) {
      const e = asBrigadeError(err);
      if (!(err instanceof AppendSplitError)) {
        this.appendFailed(e, chans, taken);
        this.fanOut.release();
        return;
      }
      const failed = chans.flatMap((_, i) => (err.committed[i] === null ? [i] : []));
      this.appendFailed(e, failed.map((i) => chans[i]), failed.map((i) => taken[i]));
      const done = chans.flatMap((_, i) => (err.committed[i] === null ? [] : [i]));
      results = done.map((i) => err.committed[i]!);
      taken = done.map((i) => taken[i]);
      chans = done.map((i) => chans[i]);
      split = true;
    }
    if (!split) this.appendSucceeded();
    for (let i = 0; i < chans.length; i++) {
      // Committed at these versions of the log the engine names, whichever epoch that is: true.
      const { firsts } = results[i];
      const acks = taken[i].acks;
      let end = results[i].version;
      for (let j = 0; j < acks.length; j++) {
        if (firsts[j] < results[i].version) stats.publishRepeats++;
        acks[j].ack(firsts[j], null);
        end = Math.max(end, firsts[j] + acks[j].count);
      }
      this.snapshots.appended(chans[i], results[i].version, end);
    }
    this.fanOut.release();
    // The engine may say a new epoch before (or instead of) a batch of it reaching onBatch.
    for (let i = 0; i < chans.length; i++) {
      if (results[i].epoch !== chans[i].epoch) this.registry.epochSeen(chans[i], results[i].epoch);
    }
    for (const ch of chans) this.snapshots.maybeStore(ch);
    const took = performance.now() - started;
    stats.ticks++;
    stats.lastTickMs = took;
    observer.tick(took);
  }

  /**
   * One stamp per publish: its own (PUBLISH_ONCE), or this node's, given once and kept (it stays
   * on the PendingAck), so a publish tried again after a doubt carries the same one.
   */
  private stamp(channel: string, acks: PendingAck[]): PublishStamp[] {
    for (let i = 0; i < acks.length; i++) {
      const a = acks[i];
      if (a.producer === undefined) {
        const seq = (this.nodeSeqs.get(channel) ?? 0) + 1;
        this.nodeSeqs.set(channel, seq);
        a.producer = this.nodeProducer;
        a.seq = seq;
      }
    }
    // Each ack now has its producer, seq and count: it is its own stamp (no object per publish).
    return acks as PublishStamp[];
  }

  private appendFailed(e: BrigadeError, chans: SubscribedChannel[], taken: { events: LogEvent[]; acks: PendingAck[] }[]): void {
    const { logger, options, stats } = this.ctx;
    const nowMs = this.ctx.now();
    const publishes = taken.reduce((n, t) => n + t.acks.length, 0);
    if (this.failing === null) {
      this.failing = { since: nowMs, ticks: 0, publishes: 0 };
      logger.warn({ err: e.message, code: e.code, channels: chans.length }, e.code === 'OUTCOME_UNKNOWN'
        ? 'append in doubt; its publishes are tried again each tick with the same stamps'
        : 'append failed; publishes refused until the store answers again');
    }
    this.failing.ticks++;
    this.failing.publishes += publishes;
    const unknown = e.code === 'OUTCOME_UNKNOWN';
    if (unknown) stats.appendsInDoubt++;
    for (let i = 0; i < chans.length; i++) {
      const ch = chans[i];
      const again: { events: LogEvent[]; acks: PendingAck[] } = { events: [], acks: [] };
      let at = 0;
      for (const a of taken[i].acks) {
        const events = taken[i].events.slice(at, at + a.count);
        at += a.count;
        // A publish never in doubt was not committed by this failed call: refused, truthfully. One
        // that was in doubt before still is (an earlier call may have committed it), whatever
        // this call's failure.
        if (!unknown && !a.doubtSince) {
          a.ack(0, e);
          continue;
        }
        a.doubtSince ||= nowMs;
        if (nowMs - a.doubtSince >= options.outcomeUnknownAfterMs || !this.registry.isCurrent(ch) || !this.host.accepting()) {
          stats.outcomesUnknown++;
          a.ack(0, new BrigadeError('OUTCOME_UNKNOWN', `the store did not answer whether this publish on ${ch.name} was committed; `
            + 're-send it with the same producer and seq (PUBLISH_ONCE), which commits it at most once', options.tickMs));
          continue;
        }
        for (const ev of events) again.events.push(ev);
        again.acks.push(a);
      }
      if (again.acks.length > 0) {
        ch.requeueFront(again);
        this.dirty.add(ch);
      }
    }
  }

  /** The first append that works after failures ends the outage: one log line with what it cost. */
  private appendSucceeded(): void {
    if (this.failing === null) return;
    const f = this.failing;
    this.failing = null;
    this.ctx.logger.info({ failedTicks: f.ticks, publishesAffected: f.publishes, outageMs: this.ctx.now() - f.since }, 'appends work again');
  }
}
