/**
 * A real Redis Sentinel deployment on loopback for tests: one primary, `replicas` replicas
 * (`--replicaof`), and `sentinels` sentinels (`redis-server FILE --sentinel`) monitoring it under
 * MASTER_NAME with quorum 2. Failover timeouts are set low (down after 1 s, failover timeout 3 s)
 * so a test that kills the primary sees the failover within a few seconds. Every process is
 * stopped by PID (SIGKILL when the test process exits), and the temp directory is removed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../src/sim/child.ts';
import { launch, startRedis, type RedisServer } from './redis-server.ts';
import { eventually } from './eventually.ts';

export const MASTER_NAME = 'brigade-test';

export interface SentinelDeployment {
  /** Data servers, the first one the primary at the start. */
  servers: RedisServer[];
  sentinelPorts: number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, as --redis-sentinels takes it. */
  sentinelList: string;
  /** The port of the server the sentinels name as primary now. */
  primaryPort(): Promise<number>;
  /**
   * Waits until every sentinel names the same other primary than `port`, and returns its port.
   * (Until they agree, a lagging sentinel may still name the old address: a primary restarted
   * there meanwhile would be taken for the primary by clients that ask that sentinel.)
   */
  failedOverFrom(port: number, timeoutMs?: number): Promise<number>;
  destroy(): Promise<void>;
}

/**
 * `password`: requirepass (and masterauth) on the primary and replicas, known to the sentinels as
 * auth-pass; `sentinelPassword`: requirepass on the sentinels (and sentinel-pass between them).
 */
export async function startSentinelDeployment(options: { replicas?: number; sentinels?: number; password?: string; sentinelPassword?: string } = {}): Promise<SentinelDeployment> {
  const auth = options.password ? ['--requirepass', options.password, '--masterauth', options.password] : [];
  const sentinelAuth = options.sentinelPassword ? { password: options.sentinelPassword } : {};
  const primary = await startRedis({ extraArgs: auth });
  const servers: RedisServer[] = [primary];
  for (let i = 0; i < (options.replicas ?? 1); i++) {
    servers.push(await startRedis({ extraArgs: [...auth, '--replicaof', '127.0.0.1', String(primary.port)] }));
  }
  const dir = mkdtempSync(join(tmpdir(), 'brigade-sentinel-'));
  const procs: ChildProcess[] = [];
  const sentinelPorts: number[] = [];
  const killOnExit = (): void => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  for (let i = 0; i < (options.sentinels ?? 3); i++) {
    const port = await freePort();
    const file = join(dir, `sentinel-${i}.conf`);
    writeFileSync(file, [
      `port ${port}`, 'bind 127.0.0.1', 'daemonize no', `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
      `sentinel failover-timeout ${MASTER_NAME} 3000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      ...(options.password ? [`sentinel auth-pass ${MASTER_NAME} ${options.password}`] : []),
      ...(options.sentinelPassword ? [`requirepass ${options.sentinelPassword}`, `sentinel sentinel-pass ${options.sentinelPassword}`] : []),
      '',
    ].join('\n'));
    procs.push(await launch([file, '--sentinel'], '+monitor master'));
    sentinelPorts.push(port);
  }
  /** The primary's port as each sentinel names it (0 where one did not answer). */
  const askEach = async (): Promise<number[]> => Promise.all(sentinelPorts.map(async (port) => {
    const s = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...sentinelAuth });
    s.on('error', () => undefined);
    try {
      await s.connect();
      const reply = await s.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME) as [string, string] | null;
      return reply ? Number(reply[1]) : 0;
    } catch {
      return 0;
    } finally {
      s.disconnect();
    }
  }));
  const ask = async (): Promise<number> => {
    for (const port of sentinelPorts) {
      const s = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...sentinelAuth });
      s.on('error', () => undefined);
      try {
        await s.connect();
        const reply = await s.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME) as [string, string] | null;
        if (reply) return Number(reply[1]);
      } catch { /* the next one */ } finally {
        s.disconnect();
      }
    }
    throw new Error('no sentinel answered');
  };
  // The sentinels find the replicas and each other through the primary (hello messages every 2 s).
  await eventually(async () => {
    for (const port of sentinelPorts) {
      const s = new Redis({ port, host: '127.0.0.1', lazyConnect: true, ...sentinelAuth });
      try {
        await s.connect();
        const master = await s.call('SENTINEL', 'master', MASTER_NAME) as string[];
        const field = (name: string) => Number(master[master.indexOf(name) + 1]);
        if (field('num-slaves') < servers.length - 1 || field('num-other-sentinels') < sentinelPorts.length - 1) return false;
      } finally {
        s.disconnect();
      }
    }
    return true;
  }, { what: 'the sentinels to know the replicas and each other', timeoutMs: 30_000, intervalMs: 200 });
  return {
    servers,
    sentinelPorts,
    sentinelList: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    primaryPort: ask,
    async failedOverFrom(port, timeoutMs = 30_000) {
      let now = port;
      await eventually(async () => {
        const named = await askEach();
        now = named[0];
        return named.every((p) => p === now && p !== port && p !== 0);
      }, { what: `every sentinel to name a primary other than ${port}`, timeoutMs, intervalMs: 100 });
      return now;
    },
    async destroy() {
      for (const p of procs) {
        if (p.exitCode !== null || p.signalCode !== null) continue;
        const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
        p.kill('SIGKILL');
        await exited;
      }
      process.off('exit', killOnExit);
      for (const s of servers) await s.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
