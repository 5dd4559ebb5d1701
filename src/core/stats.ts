/**
 * Counters the core keeps for metrics. Plain numbers on the hot path; the gateway exports them
 * (prom-client collect callbacks read them) so the core depends on no metrics library.
 */
export interface CoreStats {
  connections: number;
  connectsTotal: number;
  eventsIn: number;
  publishesRefused: number;
  /** Appends whose outcome the engine could not tell (OUTCOME_UNKNOWN), tried again with the same stamps. */
  appendsInDoubt: number;
  /** Publishes answered OUTCOME_UNKNOWN: still unresolved after outcomeUnknownAfterMs. */
  outcomesUnknown: number;
  framesOut: number;
  bytesOut: number;
  batches: number;
  behindTotal: number;
  resumesTotal: number;
  snapshotsSent: number;
  ticks: number;
  /** Duration of the last tick (append + fan-out), ms. */
  lastTickMs: number;
  /** The adaptive tick's interval now (tickMs × 2^k), ms. */
  currentTickMs: number;
  /** Over a shared engine, how long after its grid point a tick's fan-out last waited for other nodes' batches, ms. */
  fanOutGraceMs: number;
  protocolErrors: number;
  /** Channels loaded in memory on this node now. */
  channelsLoaded: number;
  /** Channels unloaded after channelIdleMs without subscriptions. */
  channelsUnloadedTotal: number;
  /** Times a loaded channel's log was found at a new epoch (data lost by the engine) and reloaded. */
  epochChangesTotal: number;
  /** Committed batches of an epoch this node had already left behind, dropped (each one logged). */
  staleEpochBatchesTotal: number;
  /** Every WebSocket message received, whatever the app (core frames, tracker JSON). */
  messagesIn: number;
  /** Every WebSocket message sent, whatever the app (batches, acks, errors, tracker JSON). */
  messagesOut: number;
}

export function newStats(): CoreStats {
  return {
    connections: 0, connectsTotal: 0, eventsIn: 0, publishesRefused: 0, appendsInDoubt: 0, outcomesUnknown: 0, framesOut: 0, bytesOut: 0,
    batches: 0, behindTotal: 0, resumesTotal: 0, snapshotsSent: 0, ticks: 0, lastTickMs: 0,
    currentTickMs: 0, fanOutGraceMs: 0, protocolErrors: 0, channelsLoaded: 0, channelsUnloadedTotal: 0,
    epochChangesTotal: 0, staleEpochBatchesTotal: 0, messagesIn: 0, messagesOut: 0,
  };
}

/** Distributions the gateway turns into histograms. */
export interface CoreObserver {
  tick(durationMs: number): void;
  batch(events: number): void;
}

export const noopObserver: CoreObserver = { tick() {}, batch() {} };
