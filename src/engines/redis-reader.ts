/**
 * What the Redis engine needs of its delivery loop, whichever reader runs it: the one-server XREAD
 * loop (redis-batch-reader.ts) or the cluster's sharded pub/sub with log reads
 * (redis-shard-reader.ts). Both keep, per watched channel, the epoch its log is followed in and
 * the end of what was delivered; these are the accessors they share.
 */
import type { Position } from '../core/engine.ts';

export interface ChannelReader {
  start(): void;
  /**
   * Delivers every batch of `channel` from `fromVersion` of log `epoch` on. No effect when already
   * watched at that epoch; watched at another, the log was replaced: the watch restarts there and
   * `announce` says so.
   */
  follow(channel: string, fromVersion: number, epoch: number): void;
  /** Stops delivering `channel`. No effect when not watched. */
  unwatch(channel: string): void;
  /** The epoch and end of what this reader has delivered of `channel`; undefined when not watched. */
  seen(channel: string): Position | undefined;
  isWatching(channel: string): boolean;
  /** How many channels are watched. */
  readonly watching: number;
  /** Ends the loop and its connection; batches not yet delivered are not. */
  stop(): Promise<void>;
}

/** A watch as both readers keep it: the epoch followed, and the version after the last one delivered. */
export interface WatchedEnd {
  epoch: number;
  end: number;
}

/** ChannelReader.seen over a reader's watches. */
export function seenIn(watches: ReadonlyMap<string, WatchedEnd>, channel: string): Position | undefined {
  const watch = watches.get(channel);
  return watch === undefined ? undefined : { epoch: watch.epoch, version: watch.end };
}
