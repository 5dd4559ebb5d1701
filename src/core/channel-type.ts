/**
 * What an app tells the core about the channels it owns. The core keeps one state per channel,
 * folded from the log with `apply`; snapshots of it go to the engine (every `snapshotEvery`
 * events) and to clients that are too far behind.
 */
import type { BrigadeError } from '../protocol/index.ts';

/** Who is publishing, as the gateway established it. */
export interface Publisher {
  /** Verified user id from a signed token, or '' for an anonymous connection. */
  userId: string;
  /** Remote address, for per-IP limits. */
  ip: string;
}

/** Who connects (hub.connect): without `ip`, the session looks it up through its sink when first needed (Sink.peerAddress). */
export interface ConnectingPublisher {
  userId: string;
  ip?: string;
}

/** A claim a publish must take on the shared engine before it is queued (ChannelType.sharedClaim). */
export interface SharedClaim {
  key: string;
  ttlMs: number;
  /** The refusal when another node's publish holds the claim for `remainingMs` more. */
  refused(remainingMs: number): BrigadeError;
}

export interface ChannelType<S> {
  /** Channels whose name starts with this prefix belong to this type, e.g. 'place:'. */
  readonly prefix: string;
  /** Bytes per event when every event has the same size (packed batches); 0 when variable. */
  readonly eventSize: number;
  /** Largest payload accepted from a client, bytes. */
  readonly maxEventBytes: number;

  /** False when the name is in this type's namespace but names nothing (e.g. an unconfigured canvas). */
  exists(channel: string): boolean;
  /** Empty state of a channel at version 0. */
  init(channel: string): S;
  /** Folds one committed event into the state. Must not throw for any event `validate` accepted. */
  apply(state: S, payload: Uint8Array, version: number): void;
  encodeSnapshot(state: S): Uint8Array;
  decodeSnapshot(channel: string, bytes: Uint8Array): S;

  /**
   * Checks a client's publish before it is queued: returns a BrigadeError to refuse it (nothing
   * changes), or null to accept. May record the acceptance (a cooldown starts).
   */
  validate(channel: string, payload: Uint8Array, publisher: Publisher, nowMs: number): BrigadeError | null;

  /**
   * For a publish `validate` accepted: a claim to take on the engine, when it is shared by several
   * nodes (Claims in engine.ts), before the event is queued, or null. This is how a limit that
   * `validate` keeps per node (a per-user cooldown) holds across every node: the publish goes ahead
   * only if the claim is free, and is refused with `refused(remaining)` otherwise. Not called when
   * the engine has no claims (one node: `validate` is the whole truth).
   */
  sharedClaim?(channel: string, publisher: Publisher, nowMs: number): SharedClaim | null;

  /**
   * Who may read a channel: a BrigadeError refuses the subscribe (FORBIDDEN, or a code of the
   * app's block) and nothing changes; null allows it. Absent: everyone may read. (An inbox device
   * may read only its own channel.)
   */
  authorizeSubscribe?(channel: string, publisher: Publisher): BrigadeError | null;

  /**
   * Ephemeral channels are not logged: a publish is fanned out at the type's tick with a version
   * this node assigns, never appended to the engine. What a client may rely on: order and dense
   * versions within one epoch on one node; catch-up from the node's recent frames (or a snapshot
   * of the node's state); nothing survives a restart (a new epoch, state from `init`); each node
   * has its own copy of the channel (subscribers and publishers on other nodes do not see it).
   * For live media and presence-like state (choir), where latency matters and history does not.
   */
  ephemeral?: boolean;

  /**
   * How often this type's pending events go out, ms. Ephemeral types run their own tick on the
   * wall-clock grid at this interval (default: the core's tickMs). Logged types append on the
   * core's tick whose grid point crosses a multiple of it (a multiple of tickMs; default: every
   * tick): their events wait pending until then, and are acknowledged then. A logged type's tickMs
   * that is not a multiple of the core's is refused when the type is added. Stopping appends
   * every pending event, due or not.
   */
  tickMs?: number;
}
