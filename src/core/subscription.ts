/**
 * One connection's subscription to one channel, and the states it moves through. Depends on the
 * channel (which holds it as a member) and on the small `SubscriberSession` it defines here, which
 * session.ts implements: neither of them imports this module's users back.
 */
import type { Channel } from './channel.ts';
import type { SessionSubscriptions } from './session-subscriptions.ts';
import type { Sink } from './sink.ts';

export type SubscriptionState =
  /** Being sent history (from the ring, the engine or a snapshot); not yet receiving live batches. */
  | 'catching-up'
  /** Live on its channel: gets every batch as it is committed. */
  | 'live'
  /** Paused after its connection's buffer passed the limit; waits for the client to resume. */
  | 'behind';

/** What a subscription needs of its connection (Session implements it). */
export interface SubscriberSession {
  readonly closed: boolean;
  readonly sink: Sink;
  /** This connection's subscriptions, by channel name. */
  readonly subscriptions: SessionSubscriptions<Subscription>;
  /** Sends one frame (nothing once closed). */
  send(frame: Uint8Array): void;
}

/** A loaded channel whose members are subscriptions: the channel as the hub holds it. */
export type SubscribedChannel = Channel<unknown, Subscription>;

export class Subscription {
  state: SubscriptionState = 'catching-up';
  /** Bumped on every (re)subscribe so a stale catch-up that resumes after an await stops. */
  generation = 0;
  /** While catching up: the version the client will have once it has read what was sent. */
  position = 0;

  constructor(readonly session: SubscriberSession, readonly channel: SubscribedChannel) {}
}
