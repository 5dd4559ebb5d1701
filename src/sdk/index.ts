/**
 * The Brigade SDK: a typed client for browsers and Node (Node users pass the `ws` package's
 * WebSocket). The wire format it speaks is specified in docs/PROTOCOL.md.
 */
export { BrigadeClient } from './client.ts';
export { ClientDefaults } from './client-options.ts';
export { Inbox } from './inbox.ts';
export type { InboxCursor, InboxItem, InboxMessage, InboxOptions } from './inbox.ts';
export type {
  BrigadeClientOptions, ClientEvents, CloseInfo, WebSocketConstructor, WebSocketLike,
} from './client-options.ts';
export type {
  EpochChange, SubscribeFrom, SubscribeFromMode, Subscription, SubscriptionHandlers,
} from './subscription.ts';
export type { BackoffOptions } from './backoff.ts';
export { BrigadeError, ErrorCodes, CloseCodes } from '../protocol/index.ts';
export type { ErrorCode } from '../protocol/index.ts';
export { registerErrorCodes } from '../protocol/index.ts';
export type { ErrorBlock } from '../protocol/index.ts';
export { JobsClient, enqueueHttp, JOBS_ERROR_BLOCK } from './jobs.ts';
export type { EnqueueOptions, JobContext, JobHandler, JobsWorker, WorkerOptions, WorkerStats } from './jobs.ts';
export { nextPollAt, sleepUntilSlotMs, slotPeriodMs } from './slots.ts';
export type { SlotInput } from './slots.ts';
