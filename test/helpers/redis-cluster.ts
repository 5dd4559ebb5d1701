/**
 * A real Redis Cluster on loopback for tests: `primaries` primaries (each a redis-server with
 * --cluster-enabled yes, its own node file and cluster bus port in a temp directory), each with
 * `replicasPerPrimary` replicas, joined by `redis-cli --cluster create … --cluster-yes` (fewer than 3
 * primaries, which redis-cli refuses: CLUSTER ADDSLOTSRANGE and CLUSTER MEET by hand); resolves
 * once every node says cluster_state:ok and knows every slot. cluster-node-timeout is low (1 s) with
 * replicas so a test that kills a primary sees its replica take over within a few seconds, 5 s without. Every process is
 * stopped by PID (SIGKILL when the test process exits, redis-server.ts), and the directories removed.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../src/sim/child.ts';
import { startRedis, type RedisServer } from './redis-server.ts';
import { eventually } from './eventually.ts';

const REDIS_CLI = process.env.REDIS_CLI_BIN ?? '/usr/bin/redis-cli';
const run = promisify(execFile);

export interface RedisClusterDeployment {
  /** Every server, primaries first (in slot order at the start), then the replicas. */
  servers: RedisServer[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…` of every server, as --redis-cluster takes it. */
  nodeList: string;
  /** The port of the server that is primary for `slot` now, as the cluster says. */
  primaryPortOf(slot: number): Promise<number>;
  /** Waits until every live node says cluster_state:ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export interface RedisClusterOptions {
  primaries?: number;
  replicasPerPrimary?: number;
  /** AOF with appendfsync always on every node. */
  appendonly?: boolean;
  /**
   * cluster-require-full-coverage (Redis's default: yes): with no, the shards that still have a
   * primary keep serving their slots while one shard has none (a failover in progress).
   */
  requireFullCoverage?: boolean;
  /**
   * cluster-node-timeout, ms. Default: 1000 with replicas (a test that kills a primary sees its
   * replica take over within a few seconds), 5000 without (no replica could take over, and on a
   * loaded machine a 1 s timeout marks a slow primary failed: the whole cluster answers CLUSTERDOWN).
   */
  nodeTimeoutMs?: number;
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterDeployment> {
  const primaries = options.primaries ?? 3;
  const replicas = options.replicasPerPrimary ?? 0;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? (replicas > 0 ? 1000 : 5000);
  const root = mkdtempSync(join(tmpdir(), 'brigade-cluster-'));
  const servers: RedisServer[] = [];
  const busPorts: number[] = [];
  try {
    for (let i = 0; i < primaries * (1 + replicas); i++) {
      const dir = join(root, `node-${i}`);
      mkdirSync(dir);
      // The bus port is set apart: the default (port + 10000) may be taken or past 65535.
      busPorts.push(await freePort());
      servers.push(await startRedis({
        dir, appendonly: options.appendonly,
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'),
          '--cluster-port', String(busPorts[i]), '--cluster-node-timeout', String(nodeTimeoutMs), '--cluster-announce-ip', '127.0.0.1',
          // A replica takes over however long it was cut off from its primary (the test kills it).
          '--cluster-replica-validity-factor', '0',
          '--cluster-require-full-coverage', options.requireFullCoverage === false ? 'no' : 'yes'],
      }));
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    if (primaries >= 3) {
      await run(REDIS_CLI, ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    } else {
      // redis-cli refuses fewer than 3 primaries: give each its even share of the slots, then meet.
      if (replicas > 0) throw new Error('replicas need at least 3 primaries (redis-cli --cluster create)');
      for (const [i, s] of servers.entries()) {
        const from = Math.floor((16384 * i) / primaries);
        const to = Math.floor((16384 * (i + 1)) / primaries) - 1;
        await run(REDIS_CLI, ['-p', String(s.port), 'CLUSTER', 'ADDSLOTSRANGE', String(from), String(to)], { timeout: 10_000 });
        if (i > 0) await run(REDIS_CLI, ['-p', String(s.port), 'CLUSTER', 'MEET', '127.0.0.1', String(servers[0].port), String(busPorts[0])], { timeout: 10_000 });
      }
    }
  } catch (err) {
    for (const s of servers) await s.destroy();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  const ask = async <T>(port: number, use: (conn: Redis) => Promise<T>): Promise<T> => {
    const conn = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
    conn.on('error', () => undefined);
    try {
      await conn.connect();
      return await use(conn);
    } finally {
      conn.disconnect();
    }
  };
  const alive = () => servers.filter((s) => { try { process.kill(s.pid, 0); return true; } catch { return false; } });
  const waitHealthy = async (timeoutMs = 20_000): Promise<void> => {
    await eventually(async () => {
      for (const s of alive()) {
        const info = await ask(s.port, (c) => c.call('CLUSTER', 'INFO') as Promise<string>).catch(() => '');
        if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
      }
      return true;
    }, { timeoutMs, intervalMs: 100 });
  };
  await waitHealthy();

  return {
    servers,
    nodeList: servers.map((s) => `127.0.0.1:${s.port}`).join(','),
    waitHealthy,
    primaryPortOf: async (slot: number) => {
      for (const s of alive()) {
        const ranges = await ask(s.port, (c) => c.call('CLUSTER', 'SLOTS') as Promise<Array<[number, number, [string, number]]>>).catch(() => null);
        if (!ranges) continue;
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (range) return Number(range[2][1]);
      }
      throw new Error(`no live node knows slot ${slot}`);
    },
    destroy: async () => {
      for (const s of servers) await s.destroy();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
