/**
 * The Redis engine: channel logs, snapshots and epochs in one Redis shared by many processes and
 * machines. Keys are laid out in redis-keys.ts; every write is one Lua script (redis-lua-*.ts), so
 * each step is atomic in Redis whichever node runs it.
 *
 * - append: ONE script call per append() (per node per tick) over every channel of the call
 *   (redis-lua-append.ts), so a tick commits whole or not at all, as the Engine contract says. The
 *   script numbers each request's batch from its channel's head and adds ONE stream entry holding
 *   the packed events, so commands per tick do not grow with events or channels.
 *   Redis Cluster refuses a script over keys of several slots: there the call's channels are
 *   grouped by slot (redis-slot.ts) and each group is one script call, sent at once to the
 *   primary of its slot. Each group commits whole or not at all; a call whose groups did not all
 *   commit rejects with an AppendSplitError that says which requests did (core/engine.ts). A shard
 *   that has not answered `straggleMs` (+ twice what that took) after another shard answered (a
 *   failover, a replica that does not answer WAIT) is not waited for: its part is answered in doubt
 *   and its call runs on, and its channels are not sent again until that call settles, so one
 *   shard does not set the pace of the others' ticks (settleOrLeaveStragglers).
 * - delivery: a second connection per engine XREADs the logs of the channels this engine watches
 *   (redis-batch-reader.ts); on a cluster, sharded pub/sub with reads of the log to fill gaps
 *   (redis-shard-reader.ts, which says why). A channel is watched from its head when info() first
 *   sees it, from the first version of this engine's first append to it, and from the end of the
 *   first read() that reaches its head. onBatch handlers then get every batch of it, from every node, exactly once and
 *   in version order — possibly before, possibly after the append() that wrote it resolves.
 *   releaseChannel() (the hub unloading an idle channel) takes it out of the XREAD again.
 * - epochs: each stream entry carries its epoch (field e). A channel whose keys Redis lost starts
 *   again at version 0 in a new epoch (redis-lua-meta.ts). The reader finds that out after every
 *   reconnect and at least every `epochCheckMs` (and this engine's own appends find it at once),
 *   then delivers a batch with no events at the new epoch's head and follows the new log from there.
 * - durability: append resolves once Redis has run the script; whether that survives a Redis crash
 *   is Redis's persistence setting (appendonly yes + appendfsync always for an ack on disk).
 * - failure: with the connection down, calls reject at once with UNAVAILABLE (no offline queue);
 *   a call in flight when it drops rejects too, and is not re-sent: it may have run, whole (the
 *   message says "in doubt"). A script error (a key of the wrong type) commits nothing.
 *   ioredis reconnects by itself and the reader resumes from its cursors.
 *
 * Optional abilities: DirectMessages over Redis pub/sub (redis-direct-messages.ts), Membership as
 * expiring sorted sets (redis-membership.ts), Claims and held claims (redis-claims.ts), JobQueues
 * (redis-jobs.ts), ChannelRelease (the reader stops watching the channel).
 *
 * The engine is a facade over its parts, each one role (as core/hub.ts is over the core's):
 * - redis-connections.ts: connecting (one server, Sentinel, Cluster), reconnecting, the primary in
 *   use, readiness, and connected() (UNAVAILABLE at once while down) for every other part;
 * - redis-append.ts: the tick's scripts, per-slot appends and stragglers on a cluster
 *   (redis-cluster-append.ts), WAIT for minReplicasAcked, what the reader saw (roll-back detection);
 * - redis-delivery.ts: the reader (redis-batch-reader.ts or redis-shard-reader.ts), onBatch,
 *   epoch checks and roll-backs;
 * - redis-reads.ts: read, info, snapshots;
 * - redis-direct-messages.ts, redis-membership.ts, redis-claims.ts, redis-jobs.ts: the abilities;
 * - redis-scripts.ts: the Lua scripts as ioredis commands.
 * The facade checks the options, wires the parts and owns open/close; nothing below imports it.
 */
import type {
  AppendRequest, AppendResult, BatchHandler, ChannelInfo, ChannelRelease, Claims, ClaimedJob, DirectMessages, EnqueuedJob, Engine,
  FailOutcome, JobCompletion, JobCounts, JobQueues, JobRecord, JobRetention, JobState, LogEvent, Membership, NewJob, RetentionOptions, StoredSnapshot,
} from '../core/engine.ts';
import { RedisAppendPath } from './redis-append.ts';
import { RedisClaims } from './redis-claims.ts';
import { quitAll, RedisConnections, type EngineLogger } from './redis-connections.ts';
import { RedisDelivery } from './redis-delivery.ts';
import { RedisDirectMessages } from './redis-direct-messages.ts';
import { unavailable } from './redis-errors.ts';
import { corkForTurn, RedisJobs } from './redis-jobs.ts';
import { checkPrefix } from './redis-keys.ts';
import { RedisMembership } from './redis-membership.ts';
import { RedisReads } from './redis-reads.ts';
import type { Cluster } from 'ioredis';
import type { RedisConn, RedisTarget } from './redis-target.ts';

export type { EngineLogger } from './redis-connections.ts';

export interface RedisEngineOptions {
  /** redis://[user:password@]host:port[/db]; or give `target`. */
  url?: string;
  /** Where Redis is (redis-target.ts): one server by URL, or a Sentinel-managed primary. Default: `url`. */
  target?: RedisTarget;
  /**
   * Replicas that must hold an append before it resolves (WAIT after the tick's script); 0 = do
   * not wait (replication stays asynchronous and a failover may lose acknowledged appends).
   */
  minReplicasAcked?: number;
  /**
   * Longest an append waits for `minReplicasAcked` replicas, ms. Past it the append rejects with
   * OUTCOME_UNKNOWN (it is committed on the primary but may not survive a failover); the core
   * tries it again with the same stamps. Default 1000.
   */
  replicaAckTimeoutMs?: number;
  /** Prepended to every key; no braces. Default 'brigade:'. */
  prefix?: string;
  retention: RetentionOptions;
  /** Longest a command may take before it rejects with UNAVAILABLE, ms. Default 5000. */
  commandTimeoutMs?: number;
  /** Longest one blocking XREAD of the delivery loop waits, ms. Default 2000. */
  readBlockMs?: number;
  /** Most batches per channel taken by one XREAD. Default 100. */
  batchesPerRead?: number;
  /**
   * Longest time between two checks that the watched channels' logs are still at the epoch this
   * engine follows (one HGET each, pipelined), ms: how late a lost log is noticed while the
   * connection stays up. After a reconnect they are checked at once. Default 2000.
   */
  epochCheckMs?: number;
  /**
   * Cluster: once one shard has answered a tick's append, how much longer the others are waited
   * for, ms, plus twice as long as the first took. A shard still silent then is left
   * running and its part answered in doubt (OUTCOME_UNKNOWN: the core sends it again with the same
   * stamps once it has settled), so one shard in a failover does not set the pace of the others.
   * `brigade serve` passes --redis-cluster-straggler-ms (default: half of --tick-ms). Default 50.
   */
  straggleMs?: number;
  logger?: EngineLogger;
}

export const REDIS_ENGINE_DEFAULTS = {
  prefix: 'brigade:',
  replicaAckTimeoutMs: 1000,
  commandTimeoutMs: 5000,
  readBlockMs: 2000,
  batchesPerRead: 100,
  epochCheckMs: 2000,
  straggleMs: 50,
} as const;

const defaultLogger = { warn: (obj: object, msg: string) => console.warn(msg, obj) };

export class RedisEngine implements Engine, DirectMessages, Membership, Claims, ChannelRelease, JobQueues {
  readonly kind = 'redis';
  readonly shared = true;
  private readonly conns: RedisConnections;
  private readonly delivery: RedisDelivery;
  private readonly appends: RedisAppendPath;
  private readonly reads: RedisReads;
  private readonly direct: RedisDirectMessages;
  private readonly membership: RedisMembership;
  private readonly claims: RedisClaims;
  /** Job queues: one Lua script per step (redis-jobs.ts, redis-lua-jobs.ts). */
  private readonly jobs: RedisJobs;

  constructor(options: RedisEngineOptions) {
    const prefix = options.prefix ?? REDIS_ENGINE_DEFAULTS.prefix;
    checkPrefix(prefix);
    const logger = options.logger ?? defaultLogger;
    this.jobs = new RedisJobs(prefix);
    if (options.target === undefined && !options.url) throw new RangeError('the redis engine needs a url or a target');
    const target: RedisTarget = options.target ?? { kind: 'single', url: options.url! };
    const minReplicasAcked = options.minReplicasAcked ?? 0;
    if (!Number.isInteger(minReplicasAcked) || minReplicasAcked < 0) {
      throw new RangeError(`minReplicasAcked must be a whole number >= 0, got ${minReplicasAcked}`);
    }
    const waitMs = options.replicaAckTimeoutMs ?? REDIS_ENGINE_DEFAULTS.replicaAckTimeoutMs;
    // WAIT 0 would wait forever: the bound is what keeps a replica that never answers from holding ACKs.
    if (!Number.isFinite(waitMs) || waitMs < 1) throw new RangeError(`replicaAckTimeoutMs must be at least 1, got ${waitMs}`);
    const replicaAckTimeoutMs = Math.ceil(waitMs);
    const straggleMs = options.straggleMs ?? REDIS_ENGINE_DEFAULTS.straggleMs;
    if (!Number.isFinite(straggleMs) || straggleMs < 0) throw new RangeError(`straggleMs must be a number >= 0, got ${straggleMs}`);
    const readBlockMs = options.readBlockMs ?? REDIS_ENGINE_DEFAULTS.readBlockMs;
    this.conns = new RedisConnections({
      target, minReplicasAcked, replicaAckTimeoutMs, readBlockMs, logger,
      commandTimeoutMs: options.commandTimeoutMs ?? REDIS_ENGINE_DEFAULTS.commandTimeoutMs,
    });
    const connected = (): RedisConn => this.conns.connected();
    this.delivery = new RedisDelivery({
      prefix, readBlockMs, logger, connected,
      batchesPerRead: options.batchesPerRead ?? REDIS_ENGINE_DEFAULTS.batchesPerRead,
      epochCheckMs: options.epochCheckMs ?? REDIS_ENGINE_DEFAULTS.epochCheckMs,
    });
    const reader = () => this.delivery.reader();
    this.appends = new RedisAppendPath({
      prefix, sharded: target.kind === 'cluster', minReplicasAcked, replicaAckTimeoutMs, straggleMs, reader,
      appending: () => this.conns.appending(),
    });
    this.reads = new RedisReads({ prefix, retention: options.retention, connected, reader });
    this.direct = new RedisDirectMessages(prefix, this.conns, logger);
    this.membership = new RedisMembership(prefix, connected);
    this.claims = new RedisClaims(prefix, connected);
  }

  async open(): Promise<void> {
    this.conns.guard();
    if (this.conns.opened) return;
    const { cmd, readerConn } = await this.conns.open();
    if (this.conns.sharded) this.direct.useShardSubscriber(readerConn as Cluster);
    this.delivery.start(cmd, readerConn, this.conns.sharded);
  }

  /** The primary the command connection is on now ("host:port"), or null before the first connect. */
  primaryAddress(): string | null {
    return this.conns.primaryAddress();
  }

  /** Times the command connection came up on another primary than before (a failover followed). */
  get primaryChanges(): number {
    return this.conns.primaryChanges;
  }

  /** Appends that committed on the primary but were not on minReplicasAcked replicas in time. */
  get replicaAckShortfalls(): number {
    return this.appends.replicaAckShortfalls;
  }

  append(requests: AppendRequest[]): Promise<AppendResult[]> {
    return this.appends.append(requests);
  }

  read(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]> {
    return this.reads.read(channel, fromVersion, limit);
  }

  info(channel: string): Promise<ChannelInfo> {
    return this.reads.info(channel);
  }

  putSnapshot(channel: string, snapshot: StoredSnapshot): Promise<void> {
    return this.reads.putSnapshot(channel, snapshot);
  }

  getSnapshot(channel: string, atOrBefore?: number): Promise<StoredSnapshot | null> {
    return this.reads.getSnapshot(channel, atOrBefore);
  }

  /** The hub unloaded `channel`: its log leaves this engine's XREAD (see redis-batch-reader.ts). */
  releaseChannel(channel: string): void {
    this.delivery.releaseChannel(channel);
  }

  /** Channels whose batches this engine now reads (for tests and metrics). */
  watchedChannels(): number {
    return this.delivery.watchedChannels();
  }

  onBatch(handler: BatchHandler): void {
    this.delivery.onBatch(handler);
  }

  sendTo(address: string, bytes: Uint8Array): Promise<void> {
    return this.direct.sendTo(address, bytes);
  }

  receive(address: string, handler: (bytes: Uint8Array) => void): () => void {
    return this.direct.receive(address, handler);
  }

  join(set: string, member: string, ttlMs: number): Promise<void> {
    return this.membership.join(set, member, ttlMs);
  }

  leave(set: string, member: string): Promise<void> {
    return this.membership.leave(set, member);
  }

  members(set: string): Promise<readonly string[]> {
    return this.membership.members(set);
  }

  count(set: string): Promise<number> {
    return this.membership.count(set);
  }

  claim(key: string, ttlMs: number): Promise<number> {
    return this.claims.claim(key, ttlMs);
  }

  holdClaim(key: string, holder: string, ttlMs: number): Promise<{ holder: string; ttlMs: number }> {
    return this.claims.holdClaim(key, holder, ttlMs);
  }

  releaseClaim(key: string, holder: string): Promise<boolean> {
    return this.claims.releaseClaim(key, holder);
  }

  isReady(): boolean {
    return this.conns.isReady();
  }

  /** Idempotent. Commands already sent finish before the connection closes. */
  async close(): Promise<void> {
    if (this.conns.closed) return;
    const conns = this.conns.shut(); // the append connection (if its own), then the command connection
    const reader = this.delivery.detach();
    const subscriber = this.direct.detach();
    await reader?.stop();
    await quitAll([subscriber, ...conns]);
  }

  async enqueueJobs(queue: string, jobs: NewJob[], nowMs: number): Promise<EnqueuedJob[]> {
    return this.jobStep('enqueueing jobs', (cmd) => this.jobs.enqueue(cmd, queue, jobs, nowMs));
  }

  async claimJobs(queue: string, max: number, nowMs: number): Promise<ClaimedJob[]> {
    return this.jobStep('claiming jobs', (cmd) => this.jobs.claim(cmd, queue, max, nowMs));
  }

  async heartbeatJob(queue: string, id: string, lease: string, nowMs: number): Promise<number | null> {
    return this.jobStep('extending a lease', (cmd) => this.jobs.heartbeat(cmd, queue, id, lease, nowMs));
  }

  async completeJob(queue: string, id: string, lease: string, result: string, nowMs: number): Promise<boolean> {
    return this.jobStep('completing a job', (cmd) => this.jobs.complete(cmd, queue, [{ id, lease, result }], nowMs).then((r) => r[0]!));
  }

  async completeJobs(queue: string, items: readonly JobCompletion[], nowMs: number): Promise<boolean[]> {
    if (items.length === 0) return [];
    return this.jobStep('completing jobs', (cmd) => this.jobs.complete(cmd, queue, items, nowMs));
  }

  async failJob(queue: string, id: string, lease: string, error: string, jitter: number, nowMs: number): Promise<FailOutcome | null> {
    return this.jobStep('failing a job', (cmd) => this.jobs.fail(cmd, queue, id, lease, error, jitter, nowMs));
  }

  async promoteJobs(queue: string, nowMs: number, limit: number): Promise<number> {
    return this.jobStep('promoting jobs', (cmd) => this.jobs.promote(cmd, queue, nowMs, limit));
  }

  async reapJobs(queue: string, nowMs: number, jitter: number, limit: number): Promise<number> {
    return this.jobStep('reaping leases', (cmd) => this.jobs.reap(cmd, queue, nowMs, jitter, limit));
  }

  async getJob(queue: string, id: string): Promise<JobRecord | null> {
    return this.jobStep('reading a job', (cmd) => this.jobs.get(cmd, queue, id));
  }

  async listJobs(queue: string, state: JobState, limit: number): Promise<JobRecord[]> {
    return this.jobStep('listing jobs', (cmd) => this.jobs.list(cmd, queue, state, limit));
  }

  async retryDeadJob(queue: string, id: string, nowMs: number): Promise<boolean> {
    return this.jobStep('retrying a dead job', (cmd) => this.jobs.retryDead(cmd, queue, id, nowMs));
  }

  async dropDeadJob(queue: string, id: string): Promise<boolean> {
    return this.jobStep('dropping a dead job', (cmd) => this.jobs.dropDead(cmd, queue, id));
  }

  async pruneJobs(queue: string, retention: JobRetention, nowMs: number, limit: number): Promise<number> {
    return this.jobStep('pruning jobs', (cmd) => this.jobs.prune(cmd, queue, retention, nowMs, limit));
  }

  async jobCounts(queue: string): Promise<JobCounts> {
    return this.jobStep('counting jobs', (cmd) => this.jobs.counts(cmd, queue));
  }

  async jobQueueNames(): Promise<string[]> {
    return this.jobStep('listing queues', (cmd) => this.jobs.queueNames(cmd));
  }

  /** A job step: UNAVAILABLE when Redis is down or the call fails (a call in flight may have run, whole). */
  private async jobStep<T>(what: string, step: (cmd: RedisConn) => Promise<T>): Promise<T> {
    const cmd = this.conns.connected();
    corkForTurn(cmd);
    try {
      return await step(cmd);
    } catch (err) {
      throw unavailable(`${what} failed`, err);
    }
  }

}
