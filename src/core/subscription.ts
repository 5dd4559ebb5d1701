/** One connection's subscription to one channel, and the states it moves through. */
import type { Channel } from './channel.ts';
import type { Session } from './session.ts';

export type SubscriptionState =
  /** Being sent history (from the ring, the engine or a snapshot); not yet receiving live batches. */
  | 'catching-up'
  /** In channel.live: gets every batch as it is committed. */
  | 'live'
  /** Paused after its connection's buffer passed the limit; waits for the client to resume. */
  | 'behind';

export class Subscription {
  state: SubscriptionState = 'catching-up';
  /** Bumped on every (re)subscribe so a stale catch-up that resumes after an await stops. */
  generation = 0;
  /** While catching up: the version the client will have once it has read what was sent. */
  position = 0;

  constructor(readonly session: Session, readonly channel: Channel) {}
}
