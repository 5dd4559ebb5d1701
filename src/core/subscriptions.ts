/**
 * Subscribe and unsubscribe: a SUBSCRIBE is authorised by the channel's type, loads the channel,
 * makes (or resets) the connection's subscription and hands it to catch-up, which brings it to the
 * head and makes it live. Also moves subscribers when their channel is replaced (a new epoch) and
 * drops a closed connection's subscriptions.
 * Depends on the channel registry, fan-out (goBehind), catch-up and Subscription; a session is
 * seen only through the `SubscribingSession` defined here.
 */
import { BrigadeError, SubscribeMode, encodeSubscribed, encodeUnsubscribed, type ClientFrame } from '../protocol/index.ts';
import { asBrigadeError } from './as-brigade-error.ts';
import { catchUp, type CatchUpHost } from './catch-up.ts';
import type { ChannelRegistry } from './channel-registry.ts';
import { unknownChannel } from './channel-registry.ts';
import type { Publisher } from './channel-type.ts';
import type { CoreContext } from './core-context.ts';
import type { FanOut } from './fan-out.ts';
import { Subscription, type SubscribedChannel, type SubscriberSession } from './subscription.ts';

type SubscribeFrame = Extract<ClientFrame, { kind: 'subscribe' }>;

/** What subscribing needs of a connection (Session implements it). */
export interface SubscribingSession extends SubscriberSession {
  readonly publisher: Publisher;
  sendError(requestId: number, err: BrigadeError, channel?: string): void;
}

export class Subscriptions {
  private readonly catchUpHost: CatchUpHost;

  constructor(private readonly ctx: CoreContext, private readonly registry: ChannelRegistry, private readonly fanOut: FanOut) {
    this.catchUpHost = { engine: ctx.engine, options: ctx.options, stats: ctx.stats, goBehind: (sub, v) => fanOut.goBehind(sub, v) };
  }

  subscribe(session: SubscribingSession, f: SubscribeFrame): void {
    const { options, stats, logger } = this.ctx;
    const { requestId, channel } = f;
    const type = this.registry.typeFor(channel);
    if (!type) return session.sendError(requestId, unknownChannel(channel), channel);
    const refused = type.authorizeSubscribe?.(channel, session.publisher) ?? null;
    if (refused) return session.sendError(requestId, refused, channel);
    const existing = session.subscriptions.get(channel);
    if (!existing && session.subscriptions.size >= options.maxSubscriptionsPerConnection) {
      return session.sendError(requestId, new BrigadeError('TOO_MANY_SUBSCRIPTIONS', `a connection may hold ${options.maxSubscriptionsPerConnection} subscriptions`), channel);
    }
    this.registry.channel(channel).then((ch) => {
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
        sub.channel.removeSubscriber(sub);
        sub = undefined;
      }
      if (sub) {
        if (sub.state === 'behind') stats.resumesTotal++;
        ch.pause(sub);
      } else {
        sub = new Subscription(session, ch);
        session.subscriptions.set(channel, sub);
        ch.addSubscriber(sub);
      }
      sub.state = 'catching-up';
      const generation = ++sub.generation;
      session.send(encodeSubscribed(requestId, channel, ch.epoch, ch.head));
      catchUp(this.catchUpHost, sub, generation, f).catch((err) => {
        const e = asBrigadeError(err);
        logger.warn({ channel, err: e.message }, 'catch-up failed');
        session.sendError(requestId, e, channel);
      });
    }, (err) => session.sendError(requestId, asBrigadeError(err), channel));
  }

  unsubscribe(session: SubscribingSession, requestId: number, channel: string): void {
    const sub = session.subscriptions.get(channel);
    if (!sub) return session.sendError(requestId, new BrigadeError('NOT_SUBSCRIBED', `not subscribed to ${channel}`), channel);
    sub.generation++;
    sub.channel.removeSubscriber(sub);
    session.subscriptions.delete(channel);
    session.send(encodeUnsubscribed(requestId, channel));
  }

  /** A closed connection: its subscriptions leave their channels. */
  detach(session: SubscriberSession): void {
    for (const sub of session.subscriptions.values()) sub.channel.removeSubscriber(sub);
    session.subscriptions.clear();
  }

  /**
   * Moves `old`'s subscribers to its reloaded successor: each live or catching-up one gets the
   * SNAPSHOT of the new epoch at its head and goes live (or BEHIND at its old position when its
   * connection is over the byte limit: it resubscribes with the old epoch and gets the snapshot
   * then); a subscription already BEHIND stays so and gets the snapshot when it resumes.
   */
  moveSubscribers(old: SubscribedChannel, ch: SubscribedChannel): void {
    const { options, stats } = this.ctx;
    const limit = options.maxBufferedBytes;
    for (const sub of [...old.subscribers]) {
      old.removeSubscriber(sub);
      sub.generation++; // stops a catch-up still running on the old channel
      const session = sub.session;
      if (session.closed || session.subscriptions.get(old.name) !== sub) continue; // gone, or replaced by a new SUBSCRIBE
      const next = new Subscription(session, ch);
      session.subscriptions.set(ch.name, next);
      ch.addSubscriber(next);
      next.position = sub.state === 'live' ? old.head : sub.position;
      if (sub.state === 'behind') {
        next.state = 'behind';
        continue;
      }
      const snap = ch.snapshotAtHead();
      const buffered = session.sink.bufferedAmount;
      if (buffered > 0 && buffered + snap.frame.length > limit) {
        this.fanOut.goBehind(next, next.position);
        continue;
      }
      session.send(snap.frame);
      stats.snapshotsSent++;
      stats.framesOut++;
      stats.bytesOut += snap.frame.length;
      next.position = snap.version;
      next.state = 'live';
      ch.goLive(next);
    }
  }

  /** `ch` could not be reloaded: each of its subscribers not yet BEHIND is told where it stopped. */
  stopAll(ch: SubscribedChannel): void {
    for (const sub of ch.subscribers) {
      if (sub.state !== 'behind' && sub.session.subscriptions.get(ch.name) === sub) this.fanOut.goBehind(sub, sub.state === 'live' ? ch.head : sub.position);
    }
  }
}
