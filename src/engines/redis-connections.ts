/**
 * The Redis engine's connections and where they lead: one server, a Sentinel-managed primary or a
 * Cluster (redis-target.ts). It opens them (the command connection, the reader's, and with
 * minReplicasAcked the append connection that WAIT may block), keeps them connecting until
 * close(), warns once per outage, names the primary in use (and counts failovers followed), and
 * says whether the engine is ready. Every other part of the engine gets its command connection
 * through connected(), which refuses at once with UNAVAILABLE while it is down (no offline queue).
 */
import type { Cluster } from 'ioredis';
import { BrigadeError } from '../protocol/index.ts';
import { unavailable, withinMs } from './redis-errors.ts';
import { defineJobCommands } from './redis-jobs.ts';
import { defineScripts } from './redis-scripts.ts';
import { checkCluster, checkSentinels, clusterNodesOpen, connectTo, describeTarget, hostPort, type RedisConn, type RedisTarget } from './redis-target.ts';

export interface EngineLogger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

export interface RedisConnectionOptions {
  target: RedisTarget;
  /** With more than 0, appends get a connection of their own (WAIT blocks it). */
  minReplicasAcked: number;
  replicaAckTimeoutMs: number;
  commandTimeoutMs: number;
  readBlockMs: number;
  logger: EngineLogger;
}

/** What open() connected: the reader's connection is handed on to the delivery loop. */
export interface OpenedConnections {
  cmd: RedisConn;
  appendConn: RedisConn;
  /** A cluster: a sharded subscriber (it queues and resubscribes); else a plain connection for XREAD. */
  readerConn: RedisConn;
}

export class RedisConnections {
  readonly target: RedisTarget;
  private readonly options: RedisConnectionOptions;
  private readonly logger: EngineLogger;
  private cmd: RedisConn | null = null;
  /** The connection appends go on: `cmd`, or its own with minReplicasAcked (WAIT blocks it). */
  private appendConn: RedisConn | null = null;
  private primary: string | null = null;
  private primaryMoves = 0;
  private closing = false;
  private lastWarnedDown = false;

  constructor(options: RedisConnectionOptions) {
    this.options = options;
    this.target = options.target;
    this.logger = options.logger;
  }

  get closed(): boolean {
    return this.closing;
  }

  /** True once open() has connected (until close()). */
  get opened(): boolean {
    return this.cmd !== null;
  }

  get sharded(): boolean {
    return this.target.kind === 'cluster';
  }

  async open(): Promise<OpenedConnections> {
    const target = this.target;
    const { commandTimeoutMs, readBlockMs } = this.options;
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
    const waitMs = this.options.replicaAckTimeoutMs;
    const appendConn = this.options.minReplicasAcked > 0
      ? connectTo(target, { ...common, commandTimeout: commandTimeoutMs + waitMs, socketTimeout: commandTimeoutMs + waitMs, connectionName: 'brigade-engine-append' })
      : cmd;
    const conns = appendConn === cmd ? [cmd, readerConn] : [cmd, readerConn, appendConn];
    for (const conn of conns) {
      conn.on('error', (err: Error) => this.trouble(err));
      conn.on('ready', () => {
        this.lastWarnedDown = false;
      });
      this.keepConnecting(conn);
    }
    cmd.on('ready', () => this.primaryInUse(cmd));
    // A cluster's primaries change with a failover (a replica promoted) or a resharding: each slot
    // map refresh names them again, so the log and brigade_redis_primary follow.
    if (sharded) cmd.on('refresh', () => this.primaryInUse(cmd));
    defineScripts(cmd, appendConn);
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
    return { cmd, appendConn, readerConn };
  }

  /** The primary the command connection is on now ("host:port"), or null before the first connect. */
  primaryAddress(): string | null {
    return this.primary;
  }

  /** Times the command connection came up on another primary than before (a failover followed). */
  get primaryChanges(): number {
    return this.primaryMoves;
  }

  guard(): void {
    if (this.closing) throw new BrigadeError('UNAVAILABLE', 'the redis engine is closed');
  }

  /** The command connection, or UNAVAILABLE at once when the engine is closed, not open or disconnected. */
  connected(): RedisConn {
    this.guard();
    if (!this.cmd) throw new BrigadeError('UNAVAILABLE', 'the redis engine is not open; call open() first');
    if (this.cmd.status !== 'ready') {
      throw new BrigadeError('UNAVAILABLE', `redis is unreachable (connection ${this.cmd.status}); retry later`, 1000);
    }
    return this.cmd;
  }

  /** The connection appends go on, checked as connected() checks the command connection (and that one too). */
  appending(): RedisConn {
    this.connected();
    const conn = this.appendConn!;
    if (conn.status !== 'ready') {
      throw new BrigadeError('UNAVAILABLE', `redis is unreachable (connection ${conn.status}); retry later`, 1000);
    }
    return conn;
  }

  isReady(): boolean {
    return !this.closing && this.cmd !== null && this.cmd.status === 'ready' && this.appendConn?.status === 'ready';
  }

  /**
   * Marks the engine closed (no call is taken from here on, and nothing reconnects) and hands
   * back the connections to quit, the append connection first.
   */
  shut(): RedisConn[] {
    this.closing = true;
    const cmd = this.cmd;
    const appendConn = this.appendConn !== cmd ? this.appendConn : null;
    this.cmd = null;
    this.appendConn = null;
    return [appendConn, cmd].filter((conn): conn is RedisConn => conn !== null);
  }

  /** One warning per outage: ioredis reports every failed reconnect attempt. */
  trouble(err: Error): void {
    if (this.closing || this.lastWarnedDown) return;
    this.lastWarnedDown = true;
    this.logger.warn({ err: err.message }, 'redis connection trouble; reconnecting');
  }

  private primaryInUse(conn: RedisConn): void {
    if (this.target.kind === 'cluster') {
      // Many primaries, each for its slots (ioredis follows MOVED): named at the start and again
      // whenever a slot map refresh shows another set (a failover promoted a replica).
      if (conn.status !== 'ready') return;
      const primaries = (conn as Cluster).nodes('master').map((n) => hostPort({ host: n.options.host ?? '?', port: n.options.port ?? 0 })).sort().join(',');
      if (primaries === '' || primaries === this.primary) return;
      const previous = this.primary;
      this.primary = primaries;
      if (previous !== null) this.primaryMoves++;
      (this.logger.info?.bind(this.logger) ?? this.logger.warn.bind(this.logger))({ primaries, previous, redis: describeTarget(this.target) },
        previous === null ? 'redis cluster in use' : 'redis cluster primaries changed (failover followed)');
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

  /**
   * ioredis ends a connection for good when a connect attempt is cut short (a Sentinel lookup
   * interrupted, for one): a node would then stay unready until restarted. Until close(), an ended
   * connection is connected again.
   */
  private keepConnecting(conn: RedisConn): void {
    conn.on('end', () => {
      if (this.closing) return;
      const options = conn.options as { connectionName?: string; redisOptions?: { connectionName?: string } };
      const connection = options.connectionName ?? options.redisOptions?.connectionName;
      this.logger.warn({ connection }, 'redis connection ended by the client library; connecting again');
      setTimeout(() => {
        if (!this.closing && conn.status === 'end') conn.connect().catch(() => undefined);
      }, 200);
    });
  }
}

/** Quits each connection (commands already sent finish first), then disconnects it. */
export async function quitAll(conns: Array<RedisConn | null>): Promise<void> {
  for (const conn of conns) {
    if (!conn) continue;
    if (conn.status === 'ready') await conn.quit().catch(() => undefined);
    // Also after QUIT: only disconnect() ends a Sentinel connection's failover detector (its own
    // connections to the sentinels), which would otherwise reconnect forever.
    conn.disconnect();
  }
}
