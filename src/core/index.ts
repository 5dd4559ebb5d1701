export { Hub } from './hub.ts';
export { asBrigadeError } from './as-brigade-error.ts';
export type { HubDeps } from './hub.ts';
export { Session } from './session.ts';
export type { FrameVerdict } from './session.ts';
export type { Sink } from './sink.ts';
export { defaultCoreOptions, silentLogger } from './options.ts';
export type { CoreOptions, Logger } from './options.ts';
export type { CoreStats, CoreObserver } from './stats.ts';
export type { ChannelType, ConnectingPublisher, Publisher, SharedClaim } from './channel-type.ts';
export type { CoreApi, ChannelView } from './core-api.ts';
export type {
  Engine, LogEvent, AppendRequest, CommittedBatch, Position, StoredSnapshot, ChannelInfo, BatchHandler, RetentionOptions,
} from './engine.ts';
export type { Claims, DirectMessages, HeldClaims, Membership } from './engine.ts';
export type { ClaimedJob, EnqueuedJob, FailOutcome, JobCompletion, JobCounts, JobQueues, JobRecord, JobRetention, JobState, NewJob } from './engine.ts';
export { hasClaims, hasDirectMessages, hasHeldClaims, hasJobQueues, hasMembership, jobBackoffMs, JOB_QUEUE_NAME, JOB_STATES } from './engine.ts';
export { RateLimiter } from './rate-limiter.ts';
export type {
  App, AppCore, AppHandle, AppListing, AppOptions, AppRequest, CoreLimits, FrameHandler, FrameSocket, Framing, HttpRoute, PushTarget,
  OptionSpec, OptionSpecs, OptionValue, RequestHandler, SocketAcceptor, TickCallback, TickHandle, TickOptions,
} from './app.ts';
export { AppHost } from './app-host.ts';
export type { AppHostDeps, AppRun } from './app-host.ts';
export { HttpError, sendJson, sendError, readJsonBody } from './http.ts';
export { RequestRouter } from './requests.ts';
export { everyOnGrid, wallNow } from './grid-timer.ts';
export type { GridTimer } from './grid-timer.ts';
export { Outbox, newOutboxCounters } from './outbox.ts';
export type { FlushOutcome, OutboxCounters } from './outbox.ts';
