/**
 * One channel subscription on the client side: where the application is in the channel's log
 * (`version` = events applied = the next version it expects, and the `epoch` of that log), and the
 * rules that keep it exact across resumes: events below `version` are dropped (duplicates after a
 * resume), a batch that starts past `version` is never applied (the subscription re-subscribes
 * from `version` instead), and a snapshot replaces both version and epoch.
 *
 * A snapshot in another epoch than the one held means the log the application counted in is gone
 * (the server's storage lost it and started again): the state is replaced (onSnapshot) and the
 * change is reported (onEpochChange, and the client's 'epoch' event). Batches are never applied
 * across it: the server sends the new epoch's snapshot before any batch of it, and after it
 * `version` counts in the new log only.
 *
 * Frames for a channel that arrive between sending a SUBSCRIBE and its SUBSCRIBED belong to the
 * stream being replaced (the server answers SUBSCRIBED before any catch-up), so they are ignored.
 */
import { BrigadeError, SubscribeMode, type ClientFrame, type SubscribeModeValue } from '../protocol/index.ts';
import { callSafely } from './emitter.ts';

/** How a new subscription starts: from a known version, from a snapshot of the current state, or from the head. */
export type SubscribeFromMode = 'version' | 'snapshot' | 'head';

export interface SubscribeFrom {
  /** Events already applied (default 0). Used when mode is 'version'. */
  version?: number;
  /** Epoch of the log `version` counts in; 0 (default) = unknown, the server's is adopted. */
  epoch?: number;
  /** Default 'version'. */
  mode?: SubscribeFromMode;
}

export interface SubscriptionHandlers {
  /**
   * Events `firstVersion`, `firstVersion + 1`, …, each exactly once and in order. The arrays are
   * views into the received frame; the SDK never reuses them. `subscription.version` already
   * counts them when this runs.
   */
  onBatch(firstVersion: number, events: Uint8Array[]): void;
  /**
   * The channel's whole state after events 0..version-1, replacing whatever the application held
   * (also when `epoch` changed: the old log is gone). Needed for mode 'snapshot', and for mode
   * 'version' whenever the server finds a snapshot cheaper or the client's epoch is stale.
   */
  onSnapshot?(version: number, state: Uint8Array, epoch: number): void;
  /**
   * The log this subscription counted in is gone and a new one (a new epoch) replaced it, for
   * example after the server's storage lost its data. Called right after the onSnapshot that
   * replaced the state; `previousVersion` events of the old log are not part of it any more.
   */
  onEpochChange?(change: EpochChange): void;
  /** Errors about this channel. Without it they go to the client's 'error' event. */
  onError?(err: BrigadeError): void;
  /** The server stopped sending at `version` (this client was too slow); the SDK resumes from there by itself. */
  onBehind?(version: number): void;
}

/** A subscription moved to a new epoch (see SubscriptionHandlers.onEpochChange). */
export interface EpochChange {
  channel: string;
  previousEpoch: number;
  /** Events the application had applied from the old log. */
  previousVersion: number;
  epoch: number;
  /** The version of the snapshot that replaced the state. */
  version: number;
}

/** What the application holds: a position and a way out. */
export interface Subscription {
  readonly channel: string;
  /** Events applied = the next version expected. 0 until known in modes 'snapshot' and 'head' (see `synced`). */
  readonly version: number;
  /** Epoch of the log `version` counts in; 0 = not known yet. */
  readonly epoch: number;
  /** False until the first snapshot (mode 'snapshot') or SUBSCRIBED (mode 'head') fixes the version. */
  readonly synced: boolean;
  /** True after unsubscribe() or a permanent subscribe error. */
  readonly closed: boolean;
  unsubscribe(): void;
}

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  /** Sends a SUBSCRIBE for the subscription's current position now, or on the next open. */
  resubscribe(sub: ChannelSubscription): void;
  /** Forgets the subscription and tells the server (when connected). */
  release(sub: ChannelSubscription): void;
  /** Fallback for errors when the subscription has no onError. */
  reportError(err: BrigadeError): void;
  /** Tells the application (the client's 'epoch' event) that a subscription moved to a new epoch. */
  reportEpochChange(change: EpochChange): void;
  /** Least wait before retrying a subscribe the server refused for now, ms. */
  readonly minRetryDelayMs: number;
}

type Phase =
  /** Not sent on the current connection (disconnected, or waiting to retry). */
  | 'idle'
  /** SUBSCRIBE sent; frames for the channel belong to the old stream until SUBSCRIBED. */
  | 'subscribing'
  /** SUBSCRIBED received: batches, snapshots and BEHIND frames are ours. */
  | 'live';

const wireMode: Record<SubscribeFromMode, SubscribeModeValue> = {
  version: SubscribeMode.FROM_VERSION,
  snapshot: SubscribeMode.SNAPSHOT,
  head: SubscribeMode.HEAD,
};

export class ChannelSubscription implements Subscription {
  version: number;
  epoch: number;
  synced: boolean;
  closed = false;
  /** requestId of the latest SUBSCRIBE on this connection; 0 when none. */
  requestId = 0;
  private phase: Phase = 'idle';
  private readonly initialMode: SubscribeFromMode;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly channel: string,
    private readonly handlers: SubscriptionHandlers,
    private readonly host: SubscriptionHost,
    from: SubscribeFrom = {},
  ) {
    this.initialMode = from.mode ?? 'version';
    this.version = this.initialMode === 'version' ? from.version ?? 0 : 0;
    this.epoch = from.epoch ?? 0;
    this.synced = this.initialMode === 'version';
  }

  unsubscribe(): void {
    if (this.closed) return;
    this.close();
    this.host.release(this);
  }

  /** The SUBSCRIBE to send now: from `version` once it is known, else the mode asked for. */
  subscribeFrame(requestId: number): ClientFrame {
    this.cancelRetry();
    this.requestId = requestId;
    this.phase = 'subscribing';
    return {
      kind: 'subscribe', requestId, channel: this.channel,
      mode: this.synced ? SubscribeMode.FROM_VERSION : wireMode[this.initialMode],
      fromVersion: this.synced ? this.version : 0,
      epoch: this.epoch,
    };
  }

  /** True between sending a SUBSCRIBE and its SUBSCRIBED. */
  get awaitingSubscribed(): boolean {
    return this.phase === 'subscribing';
  }

  /** The connection dropped: nothing is in flight any more. */
  disconnected(): void {
    this.phase = 'idle';
    this.requestId = 0;
  }

  handleSubscribed(requestId: number, epoch: number, headVersion: number): void {
    if (this.closed || requestId !== this.requestId || this.phase !== 'subscribing') return;
    this.phase = 'live';
    if (!this.synced && this.initialMode === 'head') {
      this.version = headVersion;
      this.epoch = epoch;
      this.synced = true;
    } else if (this.epoch === 0) {
      // We had no opinion, so the server trusted our version in its current log.
      // A different known epoch is not adopted here: a SNAPSHOT with the new one follows.
      this.epoch = epoch;
    }
  }

  handleBatch(firstVersion: number, events: Uint8Array[]): void {
    if (this.closed || this.phase !== 'live' || !this.synced) return;
    if (firstVersion > this.version) {
      // A gap: never expected; applying it would corrupt the state, asking again cannot.
      this.host.resubscribe(this);
      return;
    }
    const end = firstVersion + events.length;
    if (end <= this.version) return;
    const skip = this.version - firstVersion;
    const fresh = skip === 0 ? events : events.slice(skip);
    this.version = end;
    callSafely(() => this.handlers.onBatch(firstVersion + skip, fresh));
  }

  handleSnapshot(version: number, epoch: number, state: Uint8Array): void {
    if (this.closed || this.phase !== 'live') return;
    const previous = { epoch: this.epoch, version: this.version, synced: this.synced };
    this.version = version;
    this.epoch = epoch;
    this.synced = true;
    const onSnapshot = this.handlers.onSnapshot;
    if (onSnapshot) callSafely(() => onSnapshot.call(this.handlers, version, state, epoch));
    if (previous.synced && previous.epoch !== 0 && previous.epoch !== epoch && !this.closed) {
      const change: EpochChange = {
        channel: this.channel, previousEpoch: previous.epoch, previousVersion: previous.version, epoch, version,
      };
      const onEpochChange = this.handlers.onEpochChange;
      if (onEpochChange) callSafely(() => onEpochChange.call(this.handlers, change));
      this.host.reportEpochChange(change);
    }
  }

  handleBehind(version: number): void {
    if (this.closed || this.phase !== 'live') return;
    const onBehind = this.handlers.onBehind;
    if (onBehind) callSafely(() => onBehind.call(this.handlers, version));
    // Everything sent before BEHIND has been applied, so our version is where the server stopped.
    if (!this.closed) this.host.resubscribe(this);
  }

  /** An ERROR answering this subscription's SUBSCRIBE (before or after SUBSCRIBED). */
  handleSubscribeError(err: BrigadeError): void {
    if (this.closed) return;
    this.phase = 'idle';
    this.requestId = 0;
    if (err.temporary) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (!this.closed) this.host.resubscribe(this);
      }, Math.max(err.retryAfterMs, this.host.minRetryDelayMs));
    } else {
      this.unsubscribe();
    }
    this.handleError(err);
  }

  /** An ERROR about this channel not tied to a pending request. */
  handleError(err: BrigadeError): void {
    const onError = this.handlers.onError;
    if (onError) callSafely(() => onError.call(this.handlers, err));
    else this.host.reportError(err);
  }

  private close(): void {
    this.closed = true;
    this.phase = 'idle';
    this.cancelRetry();
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }
}
