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
 *   (redis-shard-reader.ts, which says why). A channel is watched from its head when info() first sees it, from the
 *   first version of this engine's first append to it, and from the end of the first read() that
 *   reaches its head. onBatch handlers then get every batch of it, from every node, exactly once and
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
 * Optional abilities:
 * - DirectMessages over Redis pub/sub: PUBLISH on the command connection to `<prefix>dm:<address>`
 *   (on a cluster: SPUBLISH to `<prefix>dm:{<address>}` on the shard of that slot, received on
 *   the shard reader's subscriber; plain PUBLISH would go to every node of the cluster);
 *   a third connection, opened on the first receive(), SUBSCRIBEs to the addresses received here
 *   (binary-safe, through `messageBuffer`) and resubscribes by itself after a reconnect. Messages
 *   published while it is (re)subscribing are lost: at most once, as DirectMessages promises.
 * - Membership as a sorted set `<prefix>{<set>}:members` scored by expiresAtMs (redis-lua-join.ts);
 *   the key expires with its latest member, so an abandoned set leaves nothing behind.
 */
import { randomInt } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type {
  AppendRequest, BatchHandler, ChannelInfo, ChannelRelease, Claims, ClaimedJob, CommittedBatch, DirectMessages, EnqueuedJob, Engine,
  FailOutcome, JobCompletion, JobCounts, JobQueues, JobRecord, JobRetention, JobState, LogEvent, Membership, NewJob,
  AppendResult, Position, RetentionOptions, StoredSnapshot,
} from '../core/engine.ts';
import { AppendSplitError, PRODUCER_WINDOW } from '../core/engine.ts';
import { BrigadeError } from '../protocol/index.ts';
import { RedisBatchReader } from './redis-batch-reader.ts';
import { packEvents, unpackEvents } from './redis-event-codec.ts';
import {
  batchId, channelKeys, checkPrefix, claimKey, directChannel, heldClaimKey, liveChannel, membersKey, parseBatchEntry, producerKey,
} from './redis-keys.ts';
import { RedisShardReader } from './redis-shard-reader.ts';
import { keySlot } from './redis-slot.ts';
import { groupBySlot, settleOrLeaveStragglers } from './redis-cluster-append.ts';
import { inDoubt, outcomeUnknown, unavailable, withinMs } from './redis-errors.ts';
import { validateStamps } from './stamps.ts';
import type { BatchEntry, RawStreamEntry } from './redis-keys.ts';
import { APPEND_LUA } from './redis-lua-append.ts';
import { CLAIM_LUA } from './redis-lua-claim.ts';
import { HOLD_CLAIM_LUA, RELEASE_CLAIM_LUA } from './redis-lua-hold-claim.ts';
import { checkHeldClaim } from './embedded-held-claims.ts';
import { GET_SNAPSHOT_LUA } from './redis-lua-get-snapshot.ts';
import { INFO_LUA } from './redis-lua-info.ts';
import { JOIN_LUA } from './redis-lua-join.ts';
import { PUT_SNAPSHOT_LUA } from './redis-lua-put-snapshot.ts';
import { ROLL_BACK_LUA } from './redis-lua-roll-back.ts';
import { checkCluster, checkSentinels, clusterNodesOpen, connectTo, describeTarget, hostPort, type RedisConn, type RedisTarget } from './redis-target.ts';
import { defineJobCommands, RedisJobs } from './redis-jobs.ts';

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
   * `brigade serve` passes half of --tick-ms. Default 50.
   */
  straggleMs?: number;
  logger?: EngineLogger;
}

export interface EngineLogger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
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

/** The scripts as ioredis commands (defineCommand adds them at runtime; EVALSHA, EVAL on NOSCRIPT). */
interface ScriptCommands {
  /** KEYS and ARGV as redis-lua-append.ts describes. */
  /** One array (ioredis flattens it): a tick of tens of thousands of publishes is too many arguments to spread into a call. */
  brigadeAppend(numberOfKeysKeysAndArgs: Array<number | string | Buffer>): Promise<number[]>;
  brigadeInfo(meta: string, log: string, snaps: string, snap: string, epoch: string): Promise<[number, number, number]>;
  brigadePutSnapshot(meta: string, log: string, snaps: string, snap: string, version: string, bytes: Buffer,
    timeMs: string, keepSnapshots: string, retainEvents: string, epoch: string, expectedEpoch: string): Promise<number>;
  brigadeGetSnapshotBuffer(snaps: string, snap: string, atOrBefore: string): Promise<[Buffer, Buffer, Buffer] | null>;
  brigadeJoin(members: string, now: string, expiresAtMs: string, member: string): Promise<number>;
  brigadeClaim(key: string, ttlMs: string): Promise<number>;
  brigadeHoldClaim(key: string, holder: string, ttlMs: string): Promise<[string, number]>;
  brigadeReleaseClaim(key: string, holder: string): Promise<number>;
  brigadeRollBack(meta: string, knownEpoch: string, seenEnd: string, candidate: string): Promise<[number, number]>;
}

const defaultLogger = { warn: (obj: object, msg: string) => console.warn(msg, obj) };

/** One receive() call: its own object, so the same function registered twice is two receivers. */
interface Receiver { handler: (bytes: Uint8Array) => void }

export class RedisEngine implements Engine, DirectMessages, Membership, Claims, ChannelRelease, JobQueues {
  readonly kind = 'redis';
  readonly shared = true;
  private readonly options: RedisEngineOptions;
  private readonly prefix: string;
  private readonly logger: EngineLogger;
  private readonly handlers: BatchHandler[] = [];
  private cmd: RedisConn | null = null;
  /** The connection appends go on: `cmd`, or its own with minReplicasAcked (WAIT blocks it). */
  private appendConn: RedisConn | null = null;
  private readonly target: RedisTarget;
  private readonly minReplicasAcked: number;
  private readonly replicaAckTimeoutMs: number;
  private primary: string | null = null;
  private primaryMoves = 0;
  private replicaShortfalls = 0;
  private reader: RedisBatchReader | RedisShardReader | null = null;
  /** The pub/sub connection for direct messages, opened on the first receive() (a cluster: the shard reader's). */
  private subscriber: RedisConn | null = null;
  /** Pub/sub channel → the receivers of its address on this engine. */
  private readonly receivers = new Map<string, Set<Receiver>>();
  private closed = false;
  private lastWarnedDown = false;
  /** Cluster: channels whose last append was left running by append() (its shard straggled). */
  private readonly stillRunning = new Set<string>();
  private readonly straggleMs: number;
  /** Job queues: one Lua script per step (redis-jobs.ts, redis-lua-jobs.ts). */
  private readonly jobs: RedisJobs;

  constructor(options: RedisEngineOptions) {
    this.options = options;
    this.prefix = options.prefix ?? REDIS_ENGINE_DEFAULTS.prefix;
    checkPrefix(this.prefix);
    this.logger = options.logger ?? defaultLogger;
    this.jobs = new RedisJobs(this.prefix);
    if (options.target === undefined && !options.url) throw new RangeError('the redis engine needs a url or a target');
    this.target = options.target ?? { kind: 'single', url: options.url! };
    const n = options.minReplicasAcked ?? 0;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`minReplicasAcked must be a whole number >= 0, got ${n}`);
    this.minReplicasAcked = n;
    const waitMs = options.replicaAckTimeoutMs ?? REDIS_ENGINE_DEFAULTS.replicaAckTimeoutMs;
    // WAIT 0 would wait forever: the bound is what keeps a replica that never answers from holding ACKs.
    if (!Number.isFinite(waitMs) || waitMs < 1) throw new RangeError(`replicaAckTimeoutMs must be at least 1, got ${waitMs}`);
    this.replicaAckTimeoutMs = Math.ceil(waitMs);
    const straggleMs = options.straggleMs ?? REDIS_ENGINE_DEFAULTS.straggleMs;
    if (!Number.isFinite(straggleMs) || straggleMs < 0) throw new RangeError(`straggleMs must be a number >= 0, got ${straggleMs}`);
    this.straggleMs = straggleMs;
  }

  async open(): Promise<void> {
    this.guard();
    if (this.cmd) return;
    const target = this.target;
    const commandTimeoutMs = this.options.commandTimeoutMs ?? REDIS_ENGINE_DEFAULTS.commandTimeoutMs;
    const readBlockMs = this.options.readBlockMs ?? REDIS_ENGINE_DEFAULTS.readBlockMs;
    if (target.kind === 'sentinel') await checkSentinels(target);
    if (target.kind === 'cluster') await checkCluster(target);
    const sharded = target.kind === 'cluster';
    const common = {
      lazyConnect: true,
      protocol: 2 as const,
      // Refuse at once while disconnected, and never re-send a command that may already have run.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    };
    // socketTimeout: a connection that stops answering (half-open TCP) is dropped and reconnected.
    const cmd = connectTo(target, {
      ...common, commandTimeout: commandTimeoutMs, socketTimeout: commandTimeoutMs, connectionName: 'brigade-engine',
    });
    // A cluster's reader is a sharded subscriber (redis-shard-reader.ts): it queues and resubscribes.
    const readerConn = sharded
      ? connectTo(target, {
        protocol: 2, lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true,
        connectionName: 'brigade-engine-reader',
      }, { shardedSubscribers: true })
      : connectTo(target, { ...common, socketTimeout: readBlockMs + commandTimeoutMs, connectionName: 'brigade-engine-reader' });
    // With minReplicasAcked, the tick's script and its WAIT go on a connection of their own: WAIT
    // blocks its connection up to replicaAckTimeoutMs, which must not hold up reads and claims.
    const waitMs = this.replicaAckTimeoutMs;
    const appendConn = this.minReplicasAcked > 0
      ? connectTo(target, { ...common, commandTimeout: commandTimeoutMs + waitMs, socketTimeout: commandTimeoutMs + waitMs, connectionName: 'brigade-engine-append' })
      : cmd;
    const conns = appendConn === cmd ? [cmd, readerConn] : [cmd, readerConn, appendConn];
    for (const conn of conns) {
      conn.on('error', (err: Error) => this.connectionTrouble(err));
      conn.on('ready', () => {
        this.lastWarnedDown = false;
      });
      this.keepConnecting(conn);
    }
    cmd.on('ready', () => this.primaryInUse(cmd));
    for (const conn of new Set([cmd, appendConn])) conn.defineCommand('brigadeAppend', { lua: APPEND_LUA });
    cmd.defineCommand('brigadeInfo', { numberOfKeys: 4, lua: INFO_LUA });
    cmd.defineCommand('brigadeRollBack', { numberOfKeys: 1, lua: ROLL_BACK_LUA });
    cmd.defineCommand('brigadePutSnapshot', { numberOfKeys: 4, lua: PUT_SNAPSHOT_LUA });
    cmd.defineCommand('brigadeGetSnapshot', { numberOfKeys: 2, lua: GET_SNAPSHOT_LUA, readOnly: true });
    cmd.defineCommand('brigadeJoin', { numberOfKeys: 1, lua: JOIN_LUA });
    cmd.defineCommand('brigadeClaim', { numberOfKeys: 1, lua: CLAIM_LUA });
    cmd.defineCommand('brigadeHoldClaim', { numberOfKeys: 1, lua: HOLD_CLAIM_LUA });
    cmd.defineCommand('brigadeReleaseClaim', { numberOfKeys: 1, lua: RELEASE_CLAIM_LUA });
    defineJobCommands(cmd);
    try {
      const connecting = Promise.all(conns.map((conn) => conn.connect()));
      // A cluster client keeps retrying a slot map it cannot use (no address for a slot, say):
      // bound it, so a start fails with a typed error instead of waiting forever.
      if (sharded) await withinMs(connecting, 2 * commandTimeoutMs, () => new BrigadeError('REDIS_CLUSTER_DOWN', `no usable slot map from the redis `
        + `${describeTarget(target)} within ${2 * commandTimeoutMs} ms (CLUSTER SLOTS must name a reachable address for every slot; `
        + 'set cluster-announce-ip on nodes that do not know theirs)'));
      else await connecting;
      if (sharded) {
        await withinMs(Promise.all([cmd, appendConn].map((c) => clusterNodesOpen(c as Cluster))), commandTimeoutMs,
          () => new BrigadeError('REDIS_CLUSTER_DOWN', `the primaries of the redis ${describeTarget(target)} did not all accept a connection within ${commandTimeoutMs} ms`));
      }
    } catch (err) {
      for (const conn of conns) conn.disconnect();
      throw unavailable(`cannot connect to redis at ${describeTarget(target)}`, err);
    }
    this.cmd = cmd;
    this.appendConn = appendConn;
    this.primaryInUse(cmd);
    if (sharded) {
      const subscriber = readerConn as Cluster;
      this.subscriber = subscriber;
      subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.deliverDirect(channel.toString(), message));
      this.reader = new RedisShardReader({
        cmd,
        subscriber,
        batchesPerRead: this.options.batchesPerRead ?? REDIS_ENGINE_DEFAULTS.batchesPerRead,
        logKey: (channel) => channelKeys(this.prefix, channel).log,
        metaKey: (channel) => channelKeys(this.prefix, channel).meta,
        liveChannel: (channel) => liveChannel(this.prefix, channel),
        deliver: (channel, batch) => this.deliver(channel, batch),
        announce: (channel, position) => this.emit({ channel, firstVersion: position.version, epoch: position.epoch, events: [] }),
        currentPositions: (channels) => this.currentPositions(channels),
        rollBack: (channel, seen) => this.rollBack(channel, seen),
        epochCheckMs: this.options.epochCheckMs ?? REDIS_ENGINE_DEFAULTS.epochCheckMs,
        logger: this.logger,
      });
      this.reader.start();
      return;
    }
    this.reader = new RedisBatchReader(readerConn as Redis, {
      blockMs: readBlockMs,
      batchesPerRead: this.options.batchesPerRead ?? REDIS_ENGINE_DEFAULTS.batchesPerRead,
      logKey: (channel) => channelKeys(this.prefix, channel).log,
      metaKey: (channel) => channelKeys(this.prefix, channel).meta,
      deliver: (channel, batch) => this.deliver(channel, batch),
      announce: (channel, position) => this.emit({ channel, firstVersion: position.version, epoch: position.epoch, events: [] }),
      currentPositions: (channels) => this.currentPositions(channels),
      rollBack: (channel, seen) => this.rollBack(channel, seen),
      epochCheckMs: this.options.epochCheckMs ?? REDIS_ENGINE_DEFAULTS.epochCheckMs,
      unblock: async (clientId) => Number(await (cmd as Redis).client('UNBLOCK', clientId)),
      logger: this.logger,
    });
    this.reader.start();
  }

  /** The primary the command connection is on now ("host:port"), or null before the first connect. */
  primaryAddress(): string | null {
    return this.primary;
  }

  /** Times the command connection came up on another primary than before (a failover followed). */
  get primaryChanges(): number {
    return this.primaryMoves;
  }

  private primaryInUse(conn: RedisConn): void {
    if (this.target.kind === 'cluster') {
      // Many primaries, each for its slots: name the nodes once, and let ioredis follow MOVED.
      if (this.primary === null && conn.status === 'ready') {
        this.primary = (conn as Cluster).nodes('master').map((n) => hostPort({ host: n.options.host ?? '?', port: n.options.port ?? 0 })).sort().join(',');
        (this.logger.info?.bind(this.logger) ?? this.logger.warn.bind(this.logger))({ primaries: this.primary, redis: describeTarget(this.target) }, 'redis cluster in use');
      }
      return;
    }
    const stream = (conn as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
    if (!stream?.remoteAddress || conn.status !== 'ready') return;
    const address = hostPort({ host: stream.remoteAddress, port: stream.remotePort ?? 0 });
    if (address === this.primary) return;
    const previous = this.primary;
    this.primary = address;
    if (previous !== null) this.primaryMoves++;
    const log = this.logger.info?.bind(this.logger) ?? this.logger.warn.bind(this.logger);
    log({ primary: address, previous, redis: describeTarget(this.target) }, previous === null ? 'redis primary in use' : 'redis primary changed (failover followed)');
  }

  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    this.connected();
    const conn = this.appendConn!;
    if (conn.status !== 'ready') {
      throw new BrigadeError('UNAVAILABLE', `redis is unreachable (connection ${conn.status}); retry later`, 1000);
    }
    if (requests.length === 0) return [];
    for (const request of requests) validateStamps(request.channel, request.events, request.publishes);
    if (this.target.kind !== 'cluster') return this.appendGroup(conn, requests);
    const groups = groupBySlot(this.prefix, requests);
    // One script per slot, all sent at once (each to its slot's primary). A group with a channel
    // whose earlier call still runs is not sent: one call per channel at a time keeps its order
    // and keeps a stalled shard's queue from growing by a call every tick.
    const shards: Array<string | null> = [];
    const calls: Array<Promise<AppendResult[]>> = new Array(groups.length);
    const byShard = new Map<string, number[]>();
    groups.forEach((group, g) => {
      const part = group.map((i) => requests[i]);
      const running = part.find((r) => this.stillRunning.has(r.channel));
      const shard = running ? null : this.shardOf(conn as Cluster, part[0].channel);
      shards.push(shard);
      if (running) calls[g] = Promise.reject(outcomeUnknown(`not sent: the append of ${running.channel} before it still has no answer from its shard`));
      else if (this.minReplicasAcked === 0) calls[g] = this.appendGroup(conn, part);
      else byShard.set(shard!, [...(byShard.get(shard!) ?? []), g]);
    });
    for (const gs of byShard.values()) {
      this.appendShard(conn, gs.map((g) => groups[g].map((i) => requests[i]))).forEach((call, k) => {
        calls[gs[k]] = call;
      });
    }
    const settled = await settleOrLeaveStragglers(calls, shards, this.straggleMs);
    const results: Array<AppendResult | null> = new Array(requests.length).fill(null);
    let failure: BrigadeError | null = null;
    settled.forEach((outcome, g) => {
      if (outcome === 'straggling') {
        // Its shard answers far later than the others (a failover, a stalled primary): this tick's
        // other shards are not held up for it. The call runs on and may commit; its publishes go
        // again with the same stamps once it has settled, and are then answered with their versions.
        const channels = groups[g].map((i) => requests[i].channel);
        for (const channel of channels) this.stillRunning.add(channel);
        void calls[g].catch(() => undefined).finally(() => {
          for (const channel of channels) this.stillRunning.delete(channel);
        });
        const err = outcomeUnknown(`no answer from its shard ${this.straggleMs} ms after the other shards answered; the call runs on`);
        if (failure === null || failure.code !== 'OUTCOME_UNKNOWN') failure = err;
        return;
      }
      if (outcome.status === 'fulfilled') {
        outcome.value.forEach((result, j) => {
          results[groups[g][j]] = result;
        });
      } else {
        const err = unavailable('append refused; nothing was committed', outcome.reason);
        // In doubt beats refused: the caller must then re-send with the same stamps.
        if (failure === null || (err.code === 'OUTCOME_UNKNOWN' && failure.code !== 'OUTCOME_UNKNOWN')) failure = err;
      }
    });
    if (failure === null) return results as AppendResult[];
    if (results.every((r) => r === null)) throw failure;
    throw new AppendSplitError(failure, results);
  }

  /** The primary that serves `channel`'s slot now ("host:port"; '' before the slot map is known). */
  private shardOf(cluster: Cluster, channel: string): string {
    return cluster.slots[keySlot(channelKeys(this.prefix, channel).meta)]?.[0] ?? '';
  }

  /** The script's arguments for requests whose keys are all in one slot (or on one server). */
  private scriptArgs(requests: AppendRequest[]): Array<string | Buffer | number> {
    const keys: string[] = [];
    const args: Array<string | Buffer> = [String(requests.length), String(PRODUCER_WINDOW.seqs), String(PRODUCER_WINDOW.ms),
      this.target.kind === 'cluster' ? '1' : '0'];
    try {
      for (const request of requests) {
        const k = channelKeys(this.prefix, request.channel);
        keys.push(k.meta, k.log, k.snaps, k.snap);
        const publishes = request.publishes ?? [{ producer: '', seq: 0, count: request.events.length }];
        // What this engine has seen of the channel: a log found below it went back (a failover).
        const seen = this.reader!.seen(request.channel);
        args.push(newEpoch(), String(seen?.epoch ?? 0), String(seen?.version ?? 0), String(publishes.length));
        let at = 0;
        for (const p of publishes) {
          keys.push(p.producer ? producerKey(this.prefix, request.channel, p.producer) : k.meta);
          args.push(p.producer ? String(p.seq) : '0', String(p.count), packEvents(request.events.slice(at, at + p.count)));
          at += p.count;
        }
      }
    } catch (err) {
      throw unavailable('append refused; nothing was committed', err);
    }
    return [keys.length, ...keys, ...args];
  }

  /** One script call (and its WAIT) for requests whose keys are all in one slot (or on one server). */
  private async appendGroup(conn: RedisConn, requests: AppendRequest[]): Promise<AppendResult[]> {
    const call = this.scriptArgs(requests);
    let reply: number[];
    let replicas = Infinity;
    try {
      const script = (conn as unknown as ScriptCommands).brigadeAppend(call);
      // Sent right behind the script on the same connection: WAIT counts the replicas that have
      // every write of this connection so far, the script's included.
      const waited = this.minReplicasAcked > 0 ? (conn as Redis).wait(this.minReplicasAcked, this.replicaAckTimeoutMs) : null;
      waited?.catch(() => undefined); // judged below, after the script's own outcome
      reply = await script;
      if (waited) replicas = Number(await waited);
    } catch (err) {
      if (!inDoubt(err)) throw unavailable('append refused; nothing was committed', err);
      throw outcomeUnknown(err);
    }
    return this.appended(requests, reply, replicas);
  }

  /**
   * Cluster with minReplicasAcked: the scripts of every slot group served by one primary, and ONE
   * WAIT behind them, as one pipeline to that primary (a pipeline goes to one node: WAIT asks the
   * right one). One WAIT per shard, not per slot: WAIT blocks its connection, so a WAIT per slot
   * would queue each slot's behind the last's. A promise per group, in order.
   */
  private appendShard(conn: RedisConn, groups: AppendRequest[][]): Array<Promise<AppendResult[]>> {
    let calls: Array<Array<string | Buffer | number>>;
    try {
      calls = groups.map((requests) => this.scriptArgs(requests));
    } catch (err) {
      return groups.map(() => Promise.reject(err));
    }
    const pipeline = conn.pipeline();
    for (const call of calls) (pipeline as unknown as ScriptCommands).brigadeAppend(call);
    pipeline.wait(this.minReplicasAcked, this.replicaAckTimeoutMs);
    const sent = pipeline.exec().then((replies) => {
      if (!replies) throw new Error('no reply');
      return replies;
    });
    sent.catch(() => undefined);
    let refreshed = false;
    return groups.map(async (requests, g) => {
      let replies: Array<[Error | null, unknown]>;
      try {
        replies = await sent;
      } catch (err) {
        if (!inDoubt(err)) throw unavailable('append refused; nothing was committed', err);
        throw outcomeUnknown(err);
      }
      const [refused, reply] = replies[g];
      if (refused) {
        // ioredis follows MOVED/ASK for a pipeline only when every command of it got one (WAIT
        // does not): the script did not run; learn where the slot went, for the next tick.
        if (/^(MOVED|ASK) /.test(refused.message) && !refreshed) {
          refreshed = true;
          (conn as Cluster).refreshSlotsCache();
        }
        if (!inDoubt(refused)) throw unavailable('append refused; nothing was committed', refused);
        throw outcomeUnknown(refused);
      }
      const waited = replies[groups.length];
      return this.appended(requests, reply as number[], waited[0] ? 0 : Number(waited[1]));
    });
  }

  /** The results of a script that ran, once `replicas` replicas (Infinity: none asked for) had it. */
  private appended(requests: AppendRequest[], reply: number[], replicas: number): AppendResult[] {
    if (replicas < this.minReplicasAcked) {
      this.replicaShortfalls++;
      throw outcomeUnknown(`committed on the primary, but ${replicas} of the ${this.minReplicasAcked} replicas asked for `
        + `acknowledged it within ${this.replicaAckTimeoutMs} ms, so a failover could still lose it`);
    }
    const results: AppendResult[] = [];
    let at = 0;
    for (let i = 0; i < requests.length; i++) {
      if (!Array.isArray(reply) || at + 3 > reply.length) throw outcomeUnknown('malformed reply');
      const version = Number(reply[at]);
      const epoch = Number(reply[at + 1]);
      const p = Number(reply[at + 2]);
      const firsts = reply.slice(at + 3, at + 3 + p).map(Number);
      at += 3 + p;
      results.push({ version, epoch, firsts });
      this.reader!.follow(requests[i].channel, version, epoch);
    }
    return results;
  }

  /** Appends that committed on the primary but were not on minReplicasAcked replicas in time. */
  get replicaAckShortfalls(): number {
    return this.replicaShortfalls;
  }

  /**
   * The stored events in [fromVersion, fromVersion + limit), never below `oldest`; like the
   * embedded engine, a read starting below `oldest` comes back short at the front.
   */
  async read(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]> {
    const cmd = this.connected();
    if (limit <= 0) return [];
    const keys = channelKeys(this.prefix, channel);
    const rangeEnd = Math.min(fromVersion + limit, Number.MAX_SAFE_INTEGER);
    const start = Math.max(0, fromVersion);
    if (rangeEnd <= start) return [];
    let results: Array<[Error | null, unknown]> | null;
    try {
      // One round trip: the batch straddling fromVersion, the batches starting after it within the
      // range, and the bounds. Trimming only removes whole batches below `oldest`, and appends only
      // add above the head, so the three need not be read atomically.
      results = await cmd.pipeline()
        .xrevrangeBuffer(keys.log, batchId(start), '-', 'COUNT', 1)
        .xrangeBuffer(keys.log, `${start + 1}-0`, batchId(rangeEnd - 1))
        .hmget(keys.meta, 'head', 'oldest', 'epoch')
        .exec();
    } catch (err) {
      throw unavailable('read failed', err);
    }
    if (!results) throw unavailable('read failed', 'no reply');
    const failed = results.find(([err]) => err !== null);
    if (failed) throw unavailable('read failed', failed[0]);
    const straddling = results[0][1] as RawStreamEntry[];
    const following = results[1][1] as RawStreamEntry[];
    const [head, oldest, epoch] = (results[2][1] as Array<string | null>).map((v) => Number(v ?? 0));
    const from = Math.max(start, oldest);
    const end = Math.min(rangeEnd, head);
    const events: LogEvent[] = [];
    let next = from;
    for (const entry of [...straddling, ...following]) {
      if (next >= end) break;
      const batch = parseBatchEntry(entry);
      if (!batch) continue;
      if (batch.firstVersion + batch.count <= next) continue;
      if (batch.firstVersion > next) break; // a gap: the log is trimmed or damaged here
      const skip = next - batch.firstVersion;
      const taken = unpackEvents(batch.packed, skip, Math.min(batch.count - skip, end - next));
      for (const event of taken) events.push(event);
      next += taken.length;
      if (taken.length === 0) break;
    }
    if (next >= head && epoch > 0) this.reader!.follow(channel, head, epoch);
    return events;
  }

  /** The hub unloaded `channel`: its log leaves this engine's XREAD (see redis-batch-reader.ts). */
  releaseChannel(channel: string): void {
    this.reader?.unwatch(channel);
  }

  /** Channels whose batches this engine now reads (for tests and metrics). */
  watchedChannels(): number {
    return this.reader?.watching ?? 0;
  }

  async info(channel: string): Promise<ChannelInfo> {
    const cmd = this.connected();
    const keys = channelKeys(this.prefix, channel);
    let row: [number, number, number];
    try {
      row = await (cmd as unknown as ScriptCommands).brigadeInfo(keys.meta, keys.log, keys.snaps, keys.snap, newEpoch());
    } catch (err) {
      throw unavailable('info failed', err);
    }
    const [epoch, head, oldest] = row.map(Number);
    this.reader!.follow(channel, head, epoch);
    return { epoch, head, oldest };
  }

  async putSnapshot(channel: string, snapshot: StoredSnapshot): Promise<void> {
    const cmd = this.connected();
    const keys = channelKeys(this.prefix, channel);
    const { keepSnapshots, retainEvents } = this.options.retention;
    let oldest: number;
    try {
      oldest = Number(await (cmd as unknown as ScriptCommands).brigadePutSnapshot(
        keys.meta, keys.log, keys.snaps, keys.snap, String(snapshot.version), asBuffer(snapshot.bytes),
        String(snapshot.timeMs), String(Math.max(1, keepSnapshots)), String(retainEvents), newEpoch(),
        String(snapshot.epoch ?? 0)));
    } catch (err) {
      throw unavailable('storing the snapshot failed', err);
    }
    if (oldest < 0) {
      throw new BrigadeError('UNAVAILABLE', `snapshot of epoch ${snapshot.epoch} refused: ${channel}'s log is no longer at that epoch`);
    }
  }

  async getSnapshot(channel: string, atOrBefore?: number): Promise<StoredSnapshot | null> {
    const cmd = this.connected();
    const keys = channelKeys(this.prefix, channel);
    let row: [Buffer, Buffer, Buffer] | null;
    try {
      row = await (cmd as unknown as ScriptCommands).brigadeGetSnapshotBuffer(
        keys.snaps, keys.snap, atOrBefore === undefined ? '+inf' : String(atOrBefore));
    } catch (err) {
      throw unavailable('reading the snapshot failed', err);
    }
    if (!row || !row[1]) return null;
    return { version: Number(row[0].toString()), bytes: row[1], timeMs: Number(row[2].toString()) };
  }

  async sendTo(address: string, bytes: Uint8Array): Promise<void> {
    const cmd = this.connected();
    try {
      if (this.target.kind === 'cluster') await cmd.spublish(directChannel(this.prefix, address, true), asBuffer(bytes));
      else await cmd.publish(directChannel(this.prefix, address), asBuffer(bytes));
    } catch (err) {
      throw unavailable('sending the direct message failed', err);
    }
  }

  receive(address: string, handler: (bytes: Uint8Array) => void): () => void {
    this.guard();
    if (!this.cmd) throw new BrigadeError('UNAVAILABLE', 'the redis engine is not open; call open() first');
    const sharded = this.target.kind === 'cluster';
    const channel = directChannel(this.prefix, address, sharded);
    const subscriber = this.subscriber ?? this.openSubscriber();
    let receivers = this.receivers.get(channel);
    if (!receivers) {
      receivers = new Set();
      this.receivers.set(channel, receivers);
      // Queued until the connection is ready; commands on one connection run in order, so a later
      // UNSUBSCRIBE of the same channel cannot overtake this.
      (sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel)).catch((err: unknown) =>
        this.logger.warn({ err: String(err), address }, 'subscribing to direct messages failed'));
    }
    const receiver: Receiver = { handler };
    receivers.add(receiver);
    return () => {
      const current = this.receivers.get(channel);
      if (!current?.delete(receiver) || current.size > 0) return;
      this.receivers.delete(channel);
      if (this.subscriber && !this.closed) {
        (sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)).catch((err: unknown) =>
          this.logger.warn({ err: String(err), address }, 'unsubscribing from direct messages failed'));
      }
    };
  }

  async join(set: string, member: string, ttlMs: number): Promise<void> {
    const cmd = this.connected();
    const now = Date.now();
    try {
      await (cmd as unknown as ScriptCommands).brigadeJoin(
        membersKey(this.prefix, set), String(now), String(Math.ceil(now + ttlMs)), member);
    } catch (err) {
      throw unavailable('joining the set failed', err);
    }
  }

  async leave(set: string, member: string): Promise<void> {
    const cmd = this.connected();
    try {
      await cmd.zrem(membersKey(this.prefix, set), member);
    } catch (err) {
      throw unavailable('leaving the set failed', err);
    }
  }

  async members(set: string): Promise<readonly string[]> {
    const cmd = this.connected();
    const key = membersKey(this.prefix, set);
    const now = Date.now();
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await cmd.pipeline()
        .zremrangebyscore(key, '-inf', now)
        .zrangebyscore(key, `(${now}`, '+inf')
        .exec();
    } catch (err) {
      throw unavailable('reading the set failed', err);
    }
    if (!results) throw unavailable('reading the set failed', 'no reply');
    const failed = results.find(([err]) => err !== null);
    if (failed) throw unavailable('reading the set failed', failed[0]);
    return (results[1][1] as string[]).sort();
  }

  async count(set: string): Promise<number> {
    const cmd = this.connected();
    try {
      return await cmd.zcount(membersKey(this.prefix, set), `(${Date.now()}`, '+inf');
    } catch (err) {
      throw unavailable('counting the set failed', err);
    }
  }

  async claim(key: string, ttlMs: number): Promise<number> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`a claim's ttlMs must be a positive number, got ${ttlMs}`);
    const cmd = this.connected();
    try {
      return Number(await (cmd as unknown as ScriptCommands).brigadeClaim(claimKey(this.prefix, key), String(Math.ceil(ttlMs))));
    } catch (err) {
      throw unavailable('claiming failed', err);
    }
  }

  async holdClaim(key: string, holder: string, ttlMs: number): Promise<{ holder: string; ttlMs: number }> {
    checkHeldClaim(holder, ttlMs);
    const cmd = this.connected();
    try {
      const [h, left] = await (cmd as unknown as ScriptCommands).brigadeHoldClaim(heldClaimKey(this.prefix, key), holder, String(Math.ceil(ttlMs)));
      return { holder: h, ttlMs: Number(left) };
    } catch (err) {
      throw unavailable('holding the claim failed', err);
    }
  }

  async releaseClaim(key: string, holder: string): Promise<boolean> {
    const cmd = this.connected();
    try {
      return Number(await (cmd as unknown as ScriptCommands).brigadeReleaseClaim(heldClaimKey(this.prefix, key), holder)) === 1;
    } catch (err) {
      throw unavailable('releasing the claim failed', err);
    }
  }

  onBatch(handler: BatchHandler): void {
    this.handlers.push(handler);
  }

  isReady(): boolean {
    return !this.closed && this.cmd !== null && this.cmd.status === 'ready' && this.appendConn?.status === 'ready';
  }

  /** Idempotent. Commands already sent finish before the connection closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const cmd = this.cmd;
    const appendConn = this.appendConn !== cmd ? this.appendConn : null;
    const reader = this.reader;
    const subscriber = this.subscriber;
    this.cmd = null;
    this.appendConn = null;
    this.reader = null;
    this.subscriber = null;
    this.receivers.clear();
    await reader?.stop();
    for (const conn of [subscriber, appendConn, cmd]) {
      if (!conn) continue;
      if (conn.status === 'ready') await conn.quit().catch(() => undefined);
      // Also after QUIT: only disconnect() ends a Sentinel connection's failover detector (its own
      // connections to the sentinels), which would otherwise reconnect forever.
      conn.disconnect();
    }
  }

  /**
   * Unlike the others, this connection queues commands while (re)connecting and resubscribes after a
   * reconnect: a subscription is standing state, not a command that may have run.
   */
  private openSubscriber(): RedisConn {
    const subscriber = connectTo(this.target, {
      protocol: 2,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
      connectionName: 'brigade-engine-dm',
    });
    subscriber.on('error', (err: Error) => this.connectionTrouble(err));
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.deliverDirect(channel.toString(), message));
    this.subscriber = subscriber;
    return subscriber;
  }

  private deliverDirect(channel: string, message: Buffer): void {
    const receivers = this.receivers.get(channel);
    if (!receivers) return;
    for (const receiver of [...receivers]) {
      if (!receivers.has(receiver)) continue; // removed by an earlier handler of this message
      try {
        receiver.handler(message);
      } catch (err) {
        this.logger.warn({ err, channel }, 'direct message handler threw');
      }
    }
  }

  private deliver(channel: string, entry: BatchEntry): void {
    if (this.handlers.length === 0) return;
    let events: LogEvent[];
    try {
      events = unpackEvents(entry.packed, 0, entry.count);
    } catch (err) {
      this.logger.warn({ err, channel, firstVersion: entry.firstVersion }, 'undecodable batch in the redis log; skipped');
      return;
    }
    const { firstVersion, epoch } = entry;
    this.emit({ channel, firstVersion, epoch, events });
  }

  private emit(batch: CommittedBatch): void {
    for (const handler of this.handlers) {
      try {
        handler(batch);
      } catch (err) {
        // The batch is committed; one faulty subscriber must not stop delivery to the others.
        this.logger.warn({ err, channel: batch.channel, firstVersion: batch.firstVersion }, 'onBatch handler threw');
      }
    }
  }

  /**
   * The channel's log is below what this engine saw of it in the same epoch: the Redis now serving
   * lost batches that were delivered (a failover to a replica that had not got them). Its epoch is
   * moved on (redis-lua-roll-back.ts; once, whichever engine sees it first), so every node reloads
   * it and every client takes a snapshot instead of trusting versions that now mean other events.
   */
  private async rollBack(channel: string, seen: Position): Promise<Position> {
    const cmd = this.connected();
    const [epoch, head] = (await (cmd as unknown as ScriptCommands).brigadeRollBack(
      channelKeys(this.prefix, channel).meta, String(seen.epoch), String(seen.version), newEpoch())).map(Number);
    this.logger.warn({ channel, seenEpoch: seen.epoch, seenEnd: seen.version, epoch, head },
      'redis log went back below what this node had delivered (a failover lost batches); the channel moves to a new epoch');
    return { epoch, version: head };
  }

  /**
   * Where each channel's log is now (creating the meta of a lost one, as info() does), for the
   * reader's epoch check; null for a channel it could not ask about.
   */
  private async currentPositions(channels: string[]): Promise<Array<Position | null>> {
    const cmd = this.connected() as unknown as ScriptCommands;
    // One call each (a cluster refuses a pipeline over several slots); they go out together.
    return Promise.all(channels.map(async (channel) => {
      const keys = channelKeys(this.prefix, channel);
      try {
        const row = await cmd.brigadeInfo(keys.meta, keys.log, keys.snaps, keys.snap, newEpoch());
        return Array.isArray(row) ? { epoch: Number(row[0]), version: Number(row[1]) } : null;
      } catch {
        return null;
      }
    }));
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
    const cmd = this.connected();
    try {
      return await step(cmd);
    } catch (err) {
      throw unavailable(`${what} failed`, err);
    }
  }

  /**
   * ioredis ends a connection for good when a connect attempt is cut short (a Sentinel lookup
   * interrupted, for one): a node would then stay unready until restarted. Until close(), an ended
   * connection is connected again.
   */
  private keepConnecting(conn: RedisConn): void {
    conn.on('end', () => {
      if (this.closed) return;
      const options = conn.options as { connectionName?: string; redisOptions?: { connectionName?: string } };
      const connection = options.connectionName ?? options.redisOptions?.connectionName;
      this.logger.warn({ connection }, 'redis connection ended by the client library; connecting again');
      setTimeout(() => {
        if (!this.closed && conn.status === 'end') conn.connect().catch(() => undefined);
      }, 200);
    });
  }

  /** One warning per outage: ioredis reports every failed reconnect attempt. */
  private connectionTrouble(err: Error): void {
    if (this.closed || this.lastWarnedDown) return;
    this.lastWarnedDown = true;
    this.logger.warn({ err: err.message }, 'redis connection trouble; reconnecting');
  }

  private guard(): void {
    if (this.closed) throw new BrigadeError('UNAVAILABLE', 'the redis engine is closed');
  }

  private connected(): RedisConn {
    this.guard();
    if (!this.cmd) throw new BrigadeError('UNAVAILABLE', 'the redis engine is not open; call open() first');
    if (this.cmd.status !== 'ready') {
      throw new BrigadeError('UNAVAILABLE', `redis is unreachable (connection ${this.cmd.status}); retry later`, 1000);
    }
    return this.cmd;
  }
}

/** ioredis sends a Buffer as bytes but a plain Uint8Array as its String() ("1,2,3"): wrap, no copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function newEpoch(): string {
  return String(randomInt(1, 2 ** 32));
}
