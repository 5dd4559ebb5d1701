/**
 * tracker — WebTorrent's websocket tracker (issue 4), wire-compatible with the unmodified
 * bittorrent-tracker client, with swarms shared by every node of one engine (Redis) and relays
 * between nodes grouped per tick. Protocol, extension, settings and design: docs/tracker.md.
 */
export { Tracker, NODE_STATS_INTERVAL_MS } from './tracker.ts';
export type { TrackerDeps, TrackerEngine, NodeStats } from './tracker.ts';
export { defaultTrackerOptions } from './options.ts';
export type { TrackerOptions } from './options.ts';
export { trackerHttpRoutes, TRACKER_WS_PATHS } from './routes.ts';
export { trackerApp, trackerOptionsFrom } from './app.ts';
export type { TrackerAppOptions } from './app.ts';
export { TrackerStatusView, STATUS_TOP_SWARMS, STATUS_SCAN_SWARMS } from './status.ts';
export type { TrackerStatus, SwarmSummary } from './status.ts';
export { parseMessage } from './parse.ts';
export type { TrackerRequest, AnnounceRequest, AnswerRequest, SignalRequest, ScrapeRequest, ParseLimits } from './parse.ts';
export { TrackerFailureCodes, failureText } from './failures.ts';
export type { FailureReason, TrackerFailure } from './failures.ts';
export { swarmView, peerMember, swarmSet, nodeAddress } from './members.ts';
export { pickTargets } from './peer.ts';
export { isBinaryId, binToHex, hexToBin } from './ids.ts';
export { registerTrackerMetrics } from './stats.ts';
