/** Core limits and defaults, each with its unit. Every one is configurable (see src/cli/config.ts). */
export interface CoreOptions {
  /** Target time between appends, ms. Each tick appends every channel's pending events as one batch. */
  tickMs: number;
  /**
   * Upper bound for the adaptive tick, ms. When appending and fanning out a tick takes longer than
   * tickMs, the interval doubles (tickMs × 2^k, the shortest that covers the work, at most this) so
   * batches grow and per-tick cost is paid less often. Ticks fall on multiples of their interval in
   * wall-clock time, so nodes over Redis tick together.
   */
  maxTickMs: number;
  /**
   * Over a shared engine (Redis): the least a node waits after its tick's grid point before fanning
   * out, ms, so the batches other nodes appended on the same tick (ticks fall on a shared
   * wall-clock grid) reach it first and go out in the same frame. It waits longer when their
   * batches have lately arrived later (at most a quarter of the interval). Ignored on the
   * embedded engine.
   */
  fanOutGraceMs: number;
  /** A connection whose unsent bytes would pass this is sent BEHIND and paused, bytes. */
  maxBufferedBytes: number;
  /** Store a snapshot every this many events per channel (by the node whose append crosses each multiple); 0 = never. */
  snapshotEvery: number;
  /** Encoded batches kept in memory per channel for cheap catch-up, bytes. */
  recentBytesPerChannel: number;
  /**
   * Most events in one BATCH frame (live, ring and catch-up alike), so one frame, and with it the
   * bytes queued per connection, stays bounded however large a tick's batch is.
   */
  maxEventsPerFrame: number;
  /** Subscriptions one connection may hold. */
  maxSubscriptionsPerConnection: number;
  /** Events waiting for the next tick per channel; publishes past it are refused (RATE_LIMITED). */
  maxPendingPerChannel: number;
  /** Malformed frames tolerated per connection before it is closed with 4400. */
  maxProtocolErrors: number;
  /**
   * A loaded channel with no subscriptions and nothing pending for this long is unloaded: its state
   * and recent batches leave memory and the engine stops delivering its batches here (over Redis,
   * its log leaves this node's XREAD). The next use loads it again from snapshot + log. ms; 0 = never.
   */
  channelIdleMs: number;
  /**
   * How long a node keeps trying to learn the outcome of an append that ended in doubt (the store
   * stopped answering mid-call), ms. It tries again each tick with the same stamps, which commits
   * nothing twice; past this, each publish still unresolved is answered OUTCOME_UNKNOWN.
   */
  outcomeUnknownAfterMs: number;
  /** Publishes per second per IP address (token bucket refill rate); 0 = unlimited. */
  publishPerSecondPerIp: number;
  /** Token bucket size for publishPerSecondPerIp. */
  publishBurstPerIp: number;
}

export const defaultCoreOptions: CoreOptions = {
  tickMs: 100,
  maxTickMs: 1000,
  fanOutGraceMs: 15,
  maxBufferedBytes: 1 << 20,
  snapshotEvery: 10_000,
  recentBytesPerChannel: 1 << 20,
  maxEventsPerFrame: 16_384,
  maxSubscriptionsPerConnection: 64,
  maxPendingPerChannel: 100_000,
  maxProtocolErrors: 20,
  channelIdleMs: 60_000,
  outcomeUnknownAfterMs: 15_000,
  publishPerSecondPerIp: 50,
  publishBurstPerIp: 100,
};

/** Minimal structured logger (pino-compatible). */
export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
