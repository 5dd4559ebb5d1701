/**
 * What the core offers apps beyond the channel fold: read access to a channel's state and log,
 * and publishing on the server's own behalf (admin tools write ordinary events, so every viewer
 * sees them through the same log).
 */
import type { LogEvent, StoredSnapshot } from './engine.ts';

export interface ChannelView<S> {
  epoch: number;
  /** The state includes every event below this version. */
  version: number;
  /** Live state: read it, never mutate it. */
  state: S;
}

export interface CoreApi {
  /**
   * Loads the channel if needed (snapshot + tail from the engine) and returns its live state.
   * `atLeast`: a version this node's own write was acknowledged at (publishInternal's result + its
   * count); the view waits until the state includes it. Over Redis a node's own batch comes back
   * through the engine's stream reader, which may answer after the append's ACK: without it, a
   * read right after a write could miss that write. Bounded: after VIEW_WAIT_MS the state is
   * returned as it is.
   */
  view<S>(channel: string, atLeast?: number): Promise<ChannelView<S>>;
  /**
   * Appends events on the server's behalf, bypassing `validate`; resolves with the first
   * version once committed (they go out to subscribers in the next tick like any event).
   */
  publishInternal(channel: string, payloads: Uint8Array[], publisher: string): Promise<number>;
  /**
   * Ephemeral channels only: sends events to the channel's subscribers on this node now, in one
   * synchronous step (numbered from this node's head of it; no tick, no promise, no engine), the
   * same frames a publishInternal's tick would send. Returns false, sending nothing, when the
   * channel is not loaded here, is not ephemeral, or has events waiting for its tick (they must go
   * first): publishInternal then.
   */
  sendEphemeral(channel: string, payloads: Uint8Array[], publisher: string): boolean;
  /** Log events from `fromVersion` (at most `limit`). */
  readLog(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]>;
  /** The oldest version still in the log. */
  oldestVersion(channel: string): Promise<number>;
  /** Newest stored snapshot with version <= atOrBefore. */
  getSnapshot(channel: string, atOrBefore?: number): Promise<StoredSnapshot | null>;
}
