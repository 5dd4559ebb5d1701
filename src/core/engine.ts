/**
 * The engine contract: where channel logs, snapshots and (later) durable records live.
 * The core talks to every engine only through this interface. `embedded` (SQLite, one process)
 * and `redis` (many processes and machines) implement it, and one conformance suite
 * (test/engines/engine-conformance.ts) runs against each.
 *
 * Versions: each channel's events are numbered 0, 1, 2, … with no gaps. A channel's `head` is
 * the version the next event will get (= the number of events ever appended). A snapshot "at
 * version V" is the state after applying events 0..V-1.
 *
 * Positions are values: a version only means something within its epoch (ChannelInfo.epoch), so
 * everything that names a place in a log names both (`Position`). When an engine loses a channel's
 * log (Redis restarted without persistence, a deleted key), the channel starts again at version 0
 * in a new epoch; every append result and committed batch after that carries the new epoch, and a
 * caller holding the old one must reload the channel instead of comparing versions.
 */

/** A place in one incarnation of a channel's log. */
import { BrigadeError } from '../protocol/index.ts';

export interface Position {
  /** A version in the log (for an append result: the first version the request's events got). */
  version: number;
  /** The epoch (ChannelInfo.epoch) `version` counts in. */
  epoch: number;
}

/** One event as stored in the log. `payload` is app-defined and opaque to the engine. */
export interface LogEvent {
  payload: Uint8Array;
  /** Who published it: a user id, 'admin', or '' when unknown. Used for audit and rollback. */
  publisher: string;
  /** Wall-clock time the node accepted it, ms since the epoch. */
  timeMs: number;
}

/**
 * One publish of an AppendRequest, stamped by its producer so that re-sending it never commits it
 * twice (idempotent publishing, as Kafka's idempotent producer). The engine records, atomically
 * with the append, each producer's committed sequence numbers per channel and the version each
 * got, within PRODUCER_WINDOW; a publish whose (producer, seq) is already recorded for the channel
 * (in the same epoch) is not appended again, and the result gives its original version.
 */
export interface PublishStamp {
  /** The producer: an id a client chose at random (the SDK's), or a node's own; 1-64 bytes of [A-Za-z0-9_.:-]. */
  producer: string;
  /** Its sequence number within (producer, channel): 1, 2, 3, …, dense per producer and channel. */
  seq: number;
  /** How many of the request's events are this publish's (consecutive, in request order; may be 0). */
  count: number;
}

/** How far back an engine remembers a producer's publishes on a channel. */
export const PRODUCER_WINDOW = {
  /** The newest this many sequence numbers of a producer per channel. */
  seqs: 1024,
  /** For this long after the producer's last publish on the channel, ms. */
  ms: 60 * 60_000,
} as const;

export interface AppendRequest {
  channel: string;
  /** The events to append: the concatenation of the publishes' events when `publishes` is given. */
  events: LogEvent[];
  /**
   * The request's publishes, in order, each stamped; their counts add up to events.length. Absent:
   * the request is one unstamped publish (never recognised as a repeat).
   */
  publishes?: PublishStamp[];
}

/**
 * What an append says of one request: `version` is the first version its newly appended events got
 * (the head before them, when every publish was a repeat), `epoch` the log's, and `firsts[i]` the
 * first version of publish i (its original one for a repeat); with no `publishes`, `firsts` is
 * [version].
 */
export interface AppendResult extends Position {
  firsts: number[];
}

/**
 * A committed batch, as every node sees it through `onBatch`: events `firstVersion…` of the log
 * named by `epoch`. A batch with no events is a position notice: an engine that finds a channel's
 * log replaced by a new epoch before anything was appended to it says so with `events: []` at
 * `firstVersion` = the new log's head (see `onBatch`).
 */
export interface CommittedBatch {
  channel: string;
  firstVersion: number;
  /** The epoch of the log the batch was committed to. */
  epoch: number;
  events: LogEvent[];
}

export interface StoredSnapshot {
  /** The state after events 0..version-1. */
  version: number;
  /**
   * putSnapshot: the epoch `version` counts in. When given, the snapshot is stored only while the
   * channel's log is at this epoch; otherwise putSnapshot changes nothing and rejects with
   * UNAVAILABLE (a state of a lost log must not land in its successor). getSnapshot leaves it out.
   */
  epoch?: number;
  bytes: Uint8Array;
  timeMs: number;
}

export interface ChannelInfo {
  /**
   * Identifies this incarnation of the channel's log (a random non-zero u32 chosen when the
   * channel is first written). A client whose epoch differs must take a snapshot: its versions
   * refer to a log that no longer exists.
   */
  epoch: number;
  /** Version the next appended event will get; 0 for a channel never written. */
  head: number;
  /** Lowest version still readable from the log (events below were trimmed behind a snapshot). */
  oldest: number;
}

export type BatchHandler = (batch: CommittedBatch) => void;

/**
 * append() on a sharded engine (redis cluster) over channels in several slots, when the slots did
 * not all commit: each slot's group of requests commits whole or not at all, so some requests are
 * committed and the rest are not (or may not be). `code` says what holds for the rest, as for any
 * failed append: 'UNAVAILABLE' (none of them committed) or 'OUTCOME_UNKNOWN' (some group of them
 * got no answer: it committed whole or not at all; re-send with the same stamps). `committed[i]`
 * is request i's result when it committed, null otherwise; committed requests reach onBatch like
 * any other.
 */
export class AppendSplitError extends BrigadeError {
  readonly committed: ReadonlyArray<AppendResult | null>;

  constructor(cause: BrigadeError, committed: ReadonlyArray<AppendResult | null>) {
    const done = committed.filter((r) => r !== null).length;
    super(cause.code, `${cause.message} (${done} of ${committed.length} requests committed, in other slots)`, cause.retryAfterMs);
    this.name = 'AppendSplitError';
    this.committed = committed;
  }
}

export interface Engine {
  /** 'embedded' | 'redis' — for logs and metrics. */
  readonly kind: string;

  /**
   * Whether other nodes append to the same logs (their batches reach this node's BatchHandlers).
   * A hub over a shared engine waits `fanOutGraceMs` after its tick's append, so the batches every
   * node committed on the same tick go out in one frame; with Membership it also tells the other
   * nodes its tick need (core/tick-needs.ts), so they tick together.
   */
  readonly shared: boolean;

  /** Opens files/connections and creates schema. Must be called once before anything else. */
  open(): Promise<void>;

  /**
   * Appends each request's events to its channel's log. Guarantees:
   * - per channel, the events of one request get consecutive versions (atomic, dense);
   * - the whole call is atomic: it commits every request or none (embedded: one SQLite
   *   transaction; redis: one Lua script over every channel of the call). A sharded engine (redis
   *   cluster) is atomic per slot: it sends one script per slot of the call's channels, and a call
   *   whose slots did not all commit rejects with AppendSplitError, which lists the requests that
   *   did; for the others the failure rules below hold;
   * - the promise resolves only once every request is durable (embedded: committed in WAL mode;
   *   redis: as durable as Redis's persistence setting), with each request's AppendResult, in
   *   request order: the first version its events got, each publish's first version, and the epoch
   *   of the log they went to. An epoch different from the one the caller knew means the log it
   *   knew is gone (see Position);
   * - stamped publishes (AppendRequest.publishes) are idempotent: one whose (producer, seq) the
   *   channel's log already holds in this epoch, within PRODUCER_WINDOW, is not appended again and
   *   its result is its original version. So a call whose outcome was in doubt can be made again with
   *   the same stamps, and exactly one copy of each publish is ever committed;
   * - every committed batch is passed to every registered BatchHandler (on every node that
   *   shares the engine) exactly once, in version order per channel and epoch; the embedded
   *   engine calls them synchronously, before the returned promise resolves;
   * - on failure the promise rejects with BrigadeError('UNAVAILABLE') and nothing was committed,
   *   with one exception a networked engine cannot rule out: a call sent that got no answer (a
   *   timeout, a connection lost with the call in flight) rejects with 'OUTCOME_UNKNOWN': all of it
   *   was committed, or none of it. Committed requests are then delivered through onBatch like any
   *   other, and calling append again with the same stamped publishes resolves the doubt: each is
   *   committed once, and the results give the versions they have;
   * - a stamp that does not describe its request (a bad producer id, seq < 1, counts that do not
   *   add up) refuses the whole call with 'INVALID_EVENT' before anything is written.
   */
  append(requests: AppendRequest[]): Promise<AppendResult[]>;

  /** Events with versions fromVersion.. (at most `limit`), in order. Fewer when the head is reached. */
  read(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]>;

  /** Epoch, head and oldest readable version. A channel never written has head 0 and a fresh epoch. */
  info(channel: string): Promise<ChannelInfo>;

  /**
   * Stores a snapshot. Afterwards log entries older than `version - retainEvents` may be trimmed,
   * but never ones at or after the oldest snapshot still kept (so rollback can replay from it).
   * Keeps at most `keepSnapshots` snapshots per channel (the newest).
   */
  putSnapshot(channel: string, snapshot: StoredSnapshot): Promise<void>;

  /** The newest snapshot with version <= atOrBefore (default: the newest), or null. */
  getSnapshot(channel: string, atOrBefore?: number): Promise<StoredSnapshot | null>;

  /**
   * Registers a handler for committed batches (see `append`). When a shared engine finds that a
   * channel it delivers was lost and started again in a new epoch (redis: after a reconnect, and
   * at least every `epochCheckMs`), it passes one batch of the new epoch with no events at its
   * head, then the batches appended after it; a handler that held the channel at the old epoch
   * must reload it from info/getSnapshot/read. Batches of the new epoch below that head are not
   * delivered: they are read back by that reload.
   */
  onBatch(handler: BatchHandler): void;

  /** True while the engine can accept appends (for /readyz). */
  isReady(): boolean;

  /** Flushes and closes. Further calls reject. */
  close(): Promise<void>;
}

export interface RetentionOptions {
  /** Log events kept behind the newest snapshot, for cheap catch-up. */
  retainEvents: number;
  /** Snapshots kept per channel (the newest). */
  keepSnapshots: number;
}

/*
 * Optional abilities. An engine that has one implements its interface as well as Engine; callers
 * check with the type guards below instead of widening Engine.
 */

/**
 * Node-to-node messages by address (tracker relays, inbox pushes). Delivery goes to every handler
 * that currently receives the address, on whichever node(s) of the shared engine registered it.
 * - at most once, never persisted: a message to an address nobody receives is dropped, and so is
 *   one sent while a receiver is being set up (a shared engine subscribes shortly after receive()
 *   returns) or while the connection is down;
 * - order is preserved per sender→address pair (one engine instance sending to one address);
 * - handlers run later, never inside sendTo(); one that throws is logged and skipped.
 */
export interface DirectMessages {
  /** Resolves once the message is handed on (not once it is received); UNAVAILABLE when it cannot be. */
  sendTo(address: string, bytes: Uint8Array): Promise<void>;
  /** Starts delivering `address`'s messages to `handler`; returns the function that stops it. */
  receive(address: string, handler: (bytes: Uint8Array) => void): () => void;
}

/**
 * Named sets of members that expire unless re-joined (presence). Expiry uses each node's clock,
 * so nodes sharing an engine should keep their clocks in step (NTP) relative to the TTLs used.
 */
export interface Membership {
  /** Adds `member`, or refreshes it: it stays for `ttlMs` from now. */
  join(set: string, member: string, ttlMs: number): Promise<void>;
  /** Removes `member` now; a member not in the set is fine. */
  leave(set: string, member: string): Promise<void>;
  /** The unexpired members, sorted (by UTF-16 code units). Read-only: an engine may hand out the same array again. */
  members(set: string): Promise<readonly string[]>;
  /** How many unexpired members the set has. */
  count(set: string): Promise<number>;
}

/**
 * Claims that expire, shared by every node of the engine: a per-user cooldown that holds however
 * many nodes a user reaches. An engine used by one node alone need not have it (the app's own,
 * in-process limit is then the whole truth).
 */
export interface Claims {
  /**
   * Takes `key` for `ttlMs` from now if nobody holds it, atomically across nodes: resolves 0. When
   * it is held, resolves the milliseconds until it is free (at least 1) and changes nothing.
   * Rejects with UNAVAILABLE when the engine cannot be reached.
   */
  claim(key: string, ttlMs: number): Promise<number>;
}

/**
 * Claims with a holder, renewed by their holder: "this room lives on this node" (choir). A key is
 * held by one holder string at a time; the holder renews it before it expires, and when the holder
 * stops renewing (its process died) the key is free again after the TTL. Atomic across nodes.
 */
export interface HeldClaims {
  /**
   * Takes `key` for `holder` for `ttlMs` from now when it is free or already `holder`'s (a renewal).
   * Resolves who holds it now and the ms until that claim ends: `holder` itself and `ttlMs` when
   * taken or renewed; otherwise the other holder and its time left (at least 1), changing nothing.
   * Rejects with UNAVAILABLE when the engine cannot be reached, RangeError for a bad ttl or holder.
   */
  holdClaim(key: string, holder: string, ttlMs: number): Promise<{ holder: string; ttlMs: number }>;
  /** Ends `key` now if `holder` holds it; resolves whether it did. Another holder's claim is untouched. */
  releaseClaim(key: string, holder: string): Promise<boolean>;
}

/**
 * Delivery that follows what a node uses. An engine that delivers a channel's batches only to the
 * nodes that have touched it (Redis: one XREAD per node names each channel's log) lets a node say
 * it is done with one, so that what it watches does not grow with every channel it ever served.
 */
export interface ChannelRelease {
  /**
   * Stops delivering `channel`'s batches to this node's handlers (batches already on their way may
   * still arrive). The next info(), read() or append() of it starts delivery again from its head.
   */
  releaseChannel(channel: string): void;
}

export function hasChannelRelease(e: Engine): e is Engine & ChannelRelease {
  return typeof (e as Partial<ChannelRelease>).releaseChannel === 'function';
}

export function hasClaims(e: Engine): e is Engine & Claims {
  return typeof (e as Partial<Claims>).claim === 'function';
}

export function hasHeldClaims(e: Engine): e is Engine & HeldClaims {
  const candidate = e as Partial<HeldClaims>;
  return typeof candidate.holdClaim === 'function' && typeof candidate.releaseClaim === 'function';
}

export function hasDirectMessages(e: Engine): e is Engine & DirectMessages {
  const candidate = e as Partial<DirectMessages>;
  return typeof candidate.sendTo === 'function' && typeof candidate.receive === 'function';
}

export function hasMembership(e: Engine): e is Engine & Membership {
  const candidate = e as Partial<Membership>;
  return typeof candidate.join === 'function' && typeof candidate.leave === 'function'
    && typeof candidate.members === 'function' && typeof candidate.count === 'function';
}

/**
 * Durable job queues (the jobs app): competing consumers over leases. Every call is one atomic step
 * (embedded: one SQLite transaction; redis: one Lua script) and resolves once it is committed.
 *
 * A job is `waiting` (ready), `delayed` (its runAtMs is ahead), `active` (claimed: it holds a lease
 * until leaseExpiresAtMs), `failed` (its last attempt failed; a retry is scheduled at runAtMs),
 * `completed` (with its result) or `dead` (it failed maxAttempts times). `claimJobs` takes the
 * ready jobs with the highest priority first, then the oldest (lowest id), first promoting those
 * whose runAtMs has come. Each claim is one attempt (`attempt` counts them, 1 for the first) and
 * gets a lease token of its own; heartbeat, complete and fail name that token, and a token that is
 * not the job's current, unexpired lease is refused (they resolve null/false) and changes nothing.
 * A lease that expires is reaped (`reapJobs`) as a failed attempt. So a job runs at least once;
 * every run is an attempt on record; it is completed at most once.
 *
 * Times are ms since the epoch, given by the caller (`nowMs`): nodes sharing an engine should keep
 * their clocks in step (NTP). Queue names: 1-64 of [A-Za-z0-9_.-] (JOB_QUEUE_NAME).
 */
export interface NewJob {
  /** App-defined text (the jobs app stores JSON). */
  payload: string;
  /** When it may run first; at or before nowMs: ready at once. */
  runAtMs: number;
  /** Higher runs first; an integer in [-1000, 1000]. */
  priority: number;
  /** Attempts before it goes dead, ≥ 1. */
  maxAttempts: number;
  /** Backoff after failed attempt n: min(backoffMaxMs, backoffMs × 2^(n-1)), jittered to [½, 1] of it. */
  backoffMs: number;
  backoffMaxMs: number;
  /** A claim's lease (visibility timeout), ms; a heartbeat extends it by as much again. */
  timeoutMs: number;
  /** Idempotency key: another enqueue with this key within keyTtlMs returns the first job's id. */
  key?: string;
  keyTtlMs?: number;
}

export type JobState = 'waiting' | 'delayed' | 'active' | 'failed' | 'completed' | 'dead';
export const JOB_STATES: readonly JobState[] = ['waiting', 'delayed', 'active', 'failed', 'completed', 'dead'];

export interface JobRecord {
  queue: string;
  id: string;
  state: JobState;
  payload: string;
  priority: number;
  runAtMs: number;
  /** Claims so far (the attempt now running, when active). */
  attempt: number;
  maxAttempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  createdAtMs: number;
  /** Lease expiry while active, else 0. */
  leaseExpiresAtMs: number;
  /** When it completed or went dead, else 0. */
  finishedAtMs: number;
  /** The completing attempt's result, when completed. */
  result: string | null;
  /** The last failed attempt's error, when it has one. */
  error: string | null;
}

export interface EnqueuedJob {
  id: string;
  /** False when the key named a job enqueued earlier within its window (the id is that job's). */
  created: boolean;
}

export interface ClaimedJob {
  id: string;
  payload: string;
  attempt: number;
  maxAttempts: number;
  lease: string;
  leaseExpiresAtMs: number;
  timeoutMs: number;
}

/** What a failed attempt led to. */
/** One job of a completeJobs batch. */
export interface JobCompletion {
  id: string;
  lease: string;
  /** JSON text. */
  result: string;
}

export interface FailOutcome {
  state: 'failed' | 'dead';
  /** The retry's time (failed), or 0 (dead). */
  runAtMs: number;
}

export type JobCounts = Record<JobState, number>;

/** Valid queue names. */
export const JOB_QUEUE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Delay before the retry after failed attempt `attempt` (≥ 1); jitter in [0, 1). Both engines use it (the Lua copies it). */
export function jobBackoffMs(attempt: number, backoffMs: number, backoffMaxMs: number, jitter: number): number {
  const full = Math.min(backoffMaxMs, backoffMs * 2 ** (attempt - 1));
  return Math.floor(full / 2 + (jitter * full) / 2);
}

export interface JobQueues {
  /** Adds the jobs to `queue` in one step, in order; ids are decimal, increasing per queue. */
  enqueueJobs(queue: string, jobs: NewJob[], nowMs: number): Promise<EnqueuedJob[]>;
  /**
   * Takes up to `max` ready jobs (promoting due delayed/failed ones first), highest priority first,
   * then lowest id: each becomes active with attempt + 1 and a new lease until nowMs + timeoutMs.
   */
  claimJobs(queue: string, max: number, nowMs: number): Promise<ClaimedJob[]>;
  /** Extends a current lease to nowMs + the job's timeoutMs; resolves the new expiry, or null (lease lost: nothing changed). */
  heartbeatJob(queue: string, id: string, lease: string, nowMs: number): Promise<number | null>;
  /** Completes an active job with `result`; false when the lease is not current (nothing recorded). */
  completeJob(queue: string, id: string, lease: string, result: string, nowMs: number): Promise<boolean>;
  /**
   * Completes several jobs in ONE step (one SQLite transaction, one Lua script), each as completeJob
   * would: resolves one boolean per item, in order; an item whose lease is not current is false and
   * records nothing, the others complete.
   */
  completeJobs(queue: string, items: readonly JobCompletion[], nowMs: number): Promise<boolean[]>;
  /**
   * Fails the attempt: a retry at nowMs + jobBackoffMs(attempt, …, jitter) while attempt < maxAttempts
   * (state failed), else dead. Null when the lease is not current (nothing recorded).
   */
  failJob(queue: string, id: string, lease: string, error: string, jitter: number, nowMs: number): Promise<FailOutcome | null>;
  /** Makes up to `limit` due delayed/failed jobs waiting; resolves how many. */
  promoteJobs(queue: string, nowMs: number, limit: number): Promise<number>;
  /** Fails (as failJob with error 'lease expired') up to `limit` active jobs whose lease has expired; resolves how many. */
  reapJobs(queue: string, nowMs: number, jitter: number, limit: number): Promise<number>;
  getJob(queue: string, id: string): Promise<JobRecord | null>;
  jobCounts(queue: string): Promise<JobCounts>;
  /** Every queue that was ever enqueued to, sorted. */
  jobQueueNames(): Promise<string[]>;
  /**
   * Up to `limit` jobs in `state`: completed and dead ones newest finished first (then highest id);
   * the others in the order they move next (waiting: claim order; delayed and failed: soonest
   * runAtMs; active: soonest lease expiry). The dashboard's dead letters.
   */
  listJobs(queue: string, state: JobState, limit: number): Promise<JobRecord[]>;
  /** A dead job runs again: waiting now, with one more attempt allowed (its attempts stay on record); false when it is not dead. */
  retryDeadJob(queue: string, id: string, nowMs: number): Promise<boolean>;
  /** Deletes a dead job; false when it is not dead. */
  dropDeadJob(queue: string, id: string): Promise<boolean>;
  /**
   * Retention: deletes completed and dead jobs past `retention`, oldest finished first, at most
   * `limit` of each of the two states per call (a bounded step: call again while it returns more
   * than 0). Resolves how many were deleted. Idempotency keys are not touched: a key names its job
   * for its whole window even after the job was deleted (an enqueue with it answers that id with
   * created: false, and getJob null).
   */
  pruneJobs(queue: string, retention: JobRetention, nowMs: number, limit: number): Promise<number>;
}

/** How long finished jobs are kept; 0 in a field: no limit of that kind. */
export interface JobRetention {
  /** Completed jobs that finished at or before nowMs − this are deleted, ms. */
  completedMaxAgeMs: number;
  /** Only the newest this many completed jobs are kept. */
  completedMaxCount: number;
  /** Dead jobs that went dead at or before nowMs − this are deleted, ms. */
  deadMaxAgeMs: number;
  /** Only the newest this many dead jobs are kept. */
  deadMaxCount: number;
}

export function hasJobQueues(e: Engine): e is Engine & JobQueues {
  const candidate = e as Partial<JobQueues>;
  return typeof candidate.enqueueJobs === 'function' && typeof candidate.claimJobs === 'function'
    && typeof candidate.completeJob === 'function' && typeof candidate.failJob === 'function';
}
