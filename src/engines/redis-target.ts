/**
 * Where the Redis engine finds its Redis: one server by URL, or a primary that Redis Sentinel
 * names (and follows through failovers). Each shape opens its connections here, so the engine
 * itself never branches on the shape.
 *
 * Sentinel: ioredis asks the sentinels in turn for the primary of `masterName`, connects to it,
 * checks with INFO that it really is a primary (a stale one demoted to replica is refused and the
 * sentinels are asked again), and reconnects through the sentinels whenever the connection drops.
 * An old primary that is still reachable after a failover is demoted by the sentinels; the first
 * write it refuses (READONLY, nothing written) makes the connection ask the sentinels again.
 * ioredis's `failoverDetector` (+switch-master) is NOT used: its disconnect can land while the
 * connection is reconnecting, which leaves it ended for good (seen in the failover test about one
 * run in four, a node that never came back). Before the first connection,
 * open() asks every sentinel directly (checkSentinels), so wrong addresses or a wrong name fail the
 * start with a typed error instead of a connection that retries forever.
 *
 * Cluster: an ioredis `Cluster` over the seed nodes given. It learns the slot map (CLUSTER SLOTS)
 * from them and sends each command to the primary of its key's slot; MOVED (a slot that moved for
 * good: a failover, a finished resharding) and ASK (a slot being migrated) replies are followed by
 * ioredis, which re-sends the command there and refreshes its map; a command refused so (MOVED,
 * ASK, TRYAGAIN, CLUSTERDOWN) never ran, so re-sending it is safe. A command on a connection that
 * closed with it in flight is NOT re-sent (retryDelayOnFailover 0): it may have run, and the
 * engine reports that doubt instead. Before the first connection, open() asks the seed nodes for
 * CLUSTER INFO (checkCluster): none reachable, or a cluster not fully covered (cluster_state
 * other than ok), fail the start with REDIS_CLUSTER_DOWN naming what was found.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { BrigadeError } from '../protocol/index.ts';

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'single'; url: string }
  /**
   * sentinelPassword: the sentinels' `requirepass` (AUTH to each sentinel); password: the data
   * servers' (`requirepass` on the primary and replicas, which the sentinels know as `auth-pass`).
   */
  | { kind: 'sentinel'; sentinels: HostPort[]; masterName: string; sentinelPassword?: string; password?: string }
  | { kind: 'cluster'; nodes: HostPort[] };

/** A connection the engine sends commands on: one server's, or a cluster's (which routes by slot). */
export type RedisConn = Redis | Cluster;

/** Parses `host:port,host:port` (IPv6 as `[::1]:26379`); throws RangeError naming the bad entry. */
export function parseHostPorts(list: string, what: string): HostPort[] {
  const out: HostPort[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) throw new RangeError(`${what}: ${JSON.stringify(raw)} is not host:port (port 1-65535)`);
    out.push({ host: m[1] ?? m[2], port });
  }
  if (out.length === 0) throw new RangeError(`${what}: at least one host:port is needed`);
  return out;
}

export function describeTarget(target: RedisTarget): string {
  if (target.kind === 'single') return target.url.replace(/\/\/[^@/]*@/, '//***@');
  if (target.kind === 'cluster') return `cluster via ${target.nodes.map(hostPort).join(',')}`;
  return `sentinel master ${JSON.stringify(target.masterName)} via ${target.sentinels.map(hostPort).join(',')}`;
}

export function hostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A new, unconnected connection to the target's primary, with the engine's `options`. */
export function connectTo(target: RedisTarget, options: RedisOptions, clusterOptions: ClusterOptions = {}): RedisConn {
  if (target.kind === 'single') return new Redis(target.url, options);
  if (target.kind === 'cluster') {
    const { lazyConnect, enableOfflineQueue, ...perNode } = options;
    const cluster = new Cluster(target.nodes, {
      lazyConnect,
      // false: a command for a slot whose primary is gone is refused at once instead of waiting in
      // the cluster's queue until a replica takes over, which would hold up a tick's other shards.
      enableOfflineQueue,
      enableReadyCheck: true,
      scaleReads: 'master',
      // Never re-send a command whose connection closed with it in flight (it may have run).
      retryDelayOnFailover: 0,
      // CLUSTERDOWN/TRYAGAIN: nothing ran; try again a little later, up to maxRedirections times.
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      clusterRetryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
      // Per-node connections queue nothing either way: the cluster's own queue (above) decides.
      redisOptions: perNode,
      ...clusterOptions,
    });
    // ioredis opens a node's connection on its first command, and without the cluster's queue a
    // command sent while it is still opening is refused: open each one as soon as it is known.
    if (enableOfflineQueue === false) {
      // Only once ready: a node opened while the cluster client is still starting can stall its start.
      const open = (node: Redis): void => {
        if (cluster.status === 'ready' && node.status === 'wait') node.connect().catch(() => undefined);
      };
      cluster.on('ready', () => cluster.nodes('all').forEach(open));
      cluster.on('+node', open);
    }
    return cluster;
  }
  return new Redis({
    ...options,
    sentinels: target.sentinels,
    name: target.masterName,
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(target.password ? { password: target.password } : {}),
    role: 'master',
    // A demoted primary refuses writes: reconnect (through the sentinels) without re-sending.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
    // Ask the sentinels again soon after all of them failed (a failover in progress), never slower than 1 s.
    sentinelRetryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
  });
}

/**
 * Resolves once every node connection of `cluster` is open (or has failed): a cluster client
 * without an offline queue refuses a command sent while its node's connection is still opening.
 */
export async function clusterNodesOpen(cluster: Cluster): Promise<void> {
  await Promise.all(cluster.nodes('all').map((node) => {
    if (node.status === 'ready' || node.status === 'end') return null;
    return new Promise<void>((resolve) => {
      node.once('ready', () => resolve());
      node.once('end', () => resolve());
      if (node.status === 'wait') node.connect().catch(() => resolve());
    });
  }));
}

/** Longest one sentinel may take to answer checkSentinels, ms. */
const SENTINEL_CHECK_TIMEOUT_MS = 2000;

/**
 * Asks every sentinel for the primary of `masterName`. Resolves with the address the first
 * answering sentinel names. Rejects with REDIS_SENTINELS_UNREACHABLE when none answers, and with
 * REDIS_MASTER_UNKNOWN when those that answer know no such master; both name what was tried.
 */
export async function checkSentinels(target: Extract<RedisTarget, { kind: 'sentinel' }>): Promise<HostPort> {
  const answers = await Promise.all(target.sentinels.map(async (s) => {
    const conn = new Redis({
      host: s.host, port: s.port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0,
      // No INFO ready check: a sentinel that wants a password answers the command itself NOAUTH.
      enableReadyCheck: false,
      ...(target.sentinelPassword ? { password: target.sentinelPassword } : {}),
      connectTimeout: SENTINEL_CHECK_TIMEOUT_MS, commandTimeout: SENTINEL_CHECK_TIMEOUT_MS, retryStrategy: () => null,
    });
    // The connection's own errors (an AUTH refused on connect) say more than "Connection is closed".
    let connError = null as string | null;
    conn.on('error', (err: Error) => { connError ??= err.message; });
    try {
      await conn.connect();
      const reply = await conn.call('SENTINEL', 'get-master-addr-by-name', target.masterName) as [string, string] | null;
      return { sentinel: s, reply, err: null as string | null };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { sentinel: s, reply: null, err: connError && !connError.includes(message) ? `${message} (${connError})` : message };
    } finally {
      conn.disconnect();
    }
  }));
  const found = answers.find((a) => Array.isArray(a.reply));
  if (found) return { host: found.reply![0], port: Number(found.reply![1]) };
  const reached = answers.filter((a) => a.err === null);
  const refused = answers.find((a) => a.err !== null && /NOAUTH|WRONGPASS|invalid password|AUTH/i.test(a.err));
  if (refused && reached.length === 0) {
    throw new BrigadeError('REDIS_SENTINEL_AUTH', `the sentinels refused this node (${answers.map((a) => `${hostPort(a.sentinel)}: ${a.err}`).join('; ')}); `
      + 'check --redis-sentinel-password against the sentinels\' requirepass');
  }
  if (reached.length === 0) {
    throw new BrigadeError('REDIS_SENTINELS_UNREACHABLE', `no sentinel answered (${answers.map((a) => `${hostPort(a.sentinel)}: ${a.err}`).join('; ')}); `
      + 'check --redis-sentinels: each must be a running redis-sentinel (redis-server --sentinel) reachable from this node');
  }
  throw new BrigadeError('REDIS_MASTER_UNKNOWN', `sentinels ${reached.map((a) => hostPort(a.sentinel)).join(',')} know no master named `
    + `${JSON.stringify(target.masterName)}; check --redis-master-name against the name in their "sentinel monitor" line`);
}

/**
 * Asks every seed node for CLUSTER INFO. Resolves once one of them says cluster_state:ok. Rejects
 * with REDIS_CLUSTER_DOWN when none answers, when one answers that it is not in cluster mode, or
 * when those that answer say the cluster is not fully covered (CLUSTERDOWN: slots without a
 * reachable primary); the message names what each node said.
 */
export async function checkCluster(target: Extract<RedisTarget, { kind: 'cluster' }>): Promise<void> {
  const answers = await Promise.all(target.nodes.map(async (node) => {
    const conn = new Redis({
      host: node.host, port: node.port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0,
      connectTimeout: SENTINEL_CHECK_TIMEOUT_MS, commandTimeout: SENTINEL_CHECK_TIMEOUT_MS, retryStrategy: () => null,
    });
    conn.on('error', () => undefined);
    try {
      await conn.connect();
      const info = String(await conn.call('CLUSTER', 'INFO'));
      const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
      const slots = /cluster_slots_ok:(\d+)/.exec(info)?.[1] ?? '?';
      return { node, ok: state === 'ok', said: `cluster_state:${state}, ${slots} of 16384 slots ok` };
    } catch (err) {
      return { node, ok: false, said: err instanceof Error ? err.message : String(err) };
    } finally {
      conn.disconnect();
    }
  }));
  if (answers.some((a) => a.ok)) return;
  throw new BrigadeError('REDIS_CLUSTER_DOWN', `the redis cluster is not serving every slot (${answers.map((a) => `${hostPort(a.node)}: ${a.said}`).join('; ')}); `
    + 'check --redis-cluster: each must be a node of a running cluster (cluster-enabled yes) whose slots are all assigned to reachable primaries');
}
