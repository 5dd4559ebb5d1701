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
}
