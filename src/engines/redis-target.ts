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
 */
import { Redis, type RedisOptions } from 'ioredis';
import { BrigadeError } from '../protocol/index.ts';

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: HostPort[]; masterName: string };

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
  return `sentinel master ${JSON.stringify(target.masterName)} via ${target.sentinels.map(hostPort).join(',')}`;
}

export function hostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A new, unconnected connection to the target's primary, with the engine's `options`. */
export function connectTo(target: RedisTarget, options: RedisOptions): Redis {
  if (target.kind === 'single') return new Redis(target.url, options);
  return new Redis({
    ...options,
    sentinels: target.sentinels,
    name: target.masterName,
    role: 'master',
    // A demoted primary refuses writes: reconnect (through the sentinels) without re-sending.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
    // Ask the sentinels again soon after all of them failed (a failover in progress), never slower than 1 s.
    sentinelRetryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
  });
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
      connectTimeout: SENTINEL_CHECK_TIMEOUT_MS, commandTimeout: SENTINEL_CHECK_TIMEOUT_MS, retryStrategy: () => null,
    });
    conn.on('error', () => undefined);
    try {
      await conn.connect();
      const reply = await conn.call('SENTINEL', 'get-master-addr-by-name', target.masterName) as [string, string] | null;
      return { sentinel: s, reply, err: null as string | null };
    } catch (err) {
      return { sentinel: s, reply: null, err: err instanceof Error ? err.message : String(err) };
    } finally {
      conn.disconnect();
    }
  }));
  const found = answers.find((a) => Array.isArray(a.reply));
  if (found) return { host: found.reply![0], port: Number(found.reply![1]) };
  const reached = answers.filter((a) => a.err === null);
  if (reached.length === 0) {
    throw new BrigadeError('REDIS_SENTINELS_UNREACHABLE', `no sentinel answered (${answers.map((a) => `${hostPort(a.sentinel)}: ${a.err}`).join('; ')}); `
      + 'check --redis-sentinels: each must be a running redis-sentinel (redis-server --sentinel) reachable from this node');
  }
  throw new BrigadeError('REDIS_MASTER_UNKNOWN', `sentinels ${reached.map((a) => hostPort(a.sentinel)).join(',')} know no master named `
    + `${JSON.stringify(target.masterName)}; check --redis-master-name against the name in their "sentinel monitor" line`);
}
