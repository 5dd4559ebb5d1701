/**
 * The queues under test for the jobs benchmarks: `brigade serve --apps jobs` on the embedded
 * engine (a fresh SQLite file) or on a redis-server it starts, redis-server alone for bullmq, and
 * only a SQLite file for plainjob (its queue runs inside the worker and producer
 * processes). Brigade listens on a fixed free port so that the crash run can kill it with SIGKILL
 * and start it again on the same port and the same data (`restart`), the clients reconnecting.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './child.ts';
import { LOOP_DELAY_RESOLUTION_MS } from './loop-delay.ts';
import type { JobsConn, JobsTargetName, SqliteCheckpoint, SqliteSynchronous } from './jobs-target.ts';
import { shippedNodeFlags, startBrigade } from './listening.ts';
import { cmdline } from './proc.ts';
import { ROOT, startRedisServer, stopProcess } from './servers.ts';

export interface JobsServer {
  conn: JobsConn;
  /** The processes whose CPU counts as the queue server's (Brigade, redis-server); none for in-process queues. */
  pids(): number[];
  /** The HTTP base of the Brigade node, or null. */
  httpUrl: string | null;
  commands: string[];
  /** Brigade: SIGKILL the node and start it again on the same port and data; resolves once it listens. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface JobsServerOptions {
  /** Extra `brigade serve` flags (e.g. --jobs-slot-separation-ms 250). */
  brigadeArgs?: string[];
  nodeFlags?: string[];
  /** The SQLite targets' synchronous (Brigade embedded: --sqlite-synchronous; plainjob: its connections). Default 'full'. */
  sqliteSynchronous?: SqliteSynchronous;
  /** Brigade embedded's --sqlite-checkpoint; default: the node's own default. */
  sqliteCheckpoint?: SqliteCheckpoint;
}

export async function startJobsServer(target: JobsTargetName, o: JobsServerOptions = {}): Promise<JobsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-jobs-bench-'));
  const children: ChildProcess[] = [];
  let brigade: ChildProcess | null = null;
  const commands: string[] = [];
  const stop = async () => {
    for (const p of [...children].reverse()) await stopProcess(p, 5000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const conn: JobsConn = {};
    let redisPid: number | null = null;
    if (target === 'brigade-redis' || target === 'bullmq') {
      const redis = await startRedisServer(dir, (p) => children.push(p));
      redisPid = redis.proc.pid!;
      conn.redisUrl = `redis://127.0.0.1:${redis.port}`;
      commands.push(redis.command);
    }
    if (target === 'plainjob') {
      conn.sqliteFile = join(dir, `${target}.db`);
      conn.sqliteSynchronous = o.sqliteSynchronous ?? 'full';
      return { conn, pids: () => [], httpUrl: null, commands, restart: async () => {}, stop };
    }
    if (target === 'bullmq') return { conn, pids: () => [redisPid!], httpUrl: null, commands, restart: async () => {}, stop };

    const cli = join(ROOT, 'bin', 'brigade.js');
    if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');
    const port = await freePort();
    conn.wsUrl = `ws://127.0.0.1:${port}`;
    conn.producerKey = randomBytes(12).toString('base64url');
    conn.workerKey = randomBytes(12).toString('base64url');
    const args = [
      'serve', '--host', '127.0.0.1', '--port', String(port), '--apps', 'jobs', '--max-frames-per-second', '0',
      // The node's loop delay in the push report (src/sim/loop-delay.ts) needs the same 10 ms sampling as the other processes'.
      '--metrics-loop-lag-ms', String(LOOP_DELAY_RESOLUTION_MS),
      ...(conn.redisUrl ? ['--redis', conn.redisUrl, '--redis-prefix', `jobs-bench-${randomBytes(3).toString('hex')}:`] : []),
      ...(target === 'brigade' ? ['--sqlite-synchronous', o.sqliteSynchronous ?? 'full'] : []),
      ...(target === 'brigade' && o.sqliteCheckpoint ? ['--sqlite-checkpoint', o.sqliteCheckpoint] : []),
      ...(o.brigadeArgs ?? []),
    ];
    const secrets = ['--data', join(dir, 'data'), '--jobs-producer-key', conn.producerKey, '--jobs-worker-key', conn.workerKey];
    // BRIGADE_BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the node.
    const extra = (process.env.BRIGADE_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const nodeFlags = [...shippedNodeFlags(cli), ...(o.nodeFlags ?? []), ...extra];
    commands.push(`node ${nodeFlags.map((f) => f + ' ').join('')}bin/brigade.js ${args.join(' ')} --data <temp dir> --jobs-producer-key <random> --jobs-worker-key <random>`);
    const launch = async () => {
      const started = await startBrigade(cli, [...args, ...secrets], ROOT, 50, nodeFlags);
      started.proc.stdout?.resume();
      started.proc.stderr?.resume();
      if (!cmdline(started.pid).includes('brigade.js')) throw new Error(`PID ${started.pid} is not the brigade server`);
      brigade = started.proc;
      children.push(started.proc);
    };
    await launch();
    return {
      conn, httpUrl: `http://127.0.0.1:${port}`, commands, stop,
      pids: () => [brigade!.pid!, ...(redisPid ? [redisPid] : [])],
      async restart() {
        const old = brigade!;
        try { process.kill(old.pid!, 'SIGKILL'); } catch { /* gone */ }
        await stopProcess(old, 2000);
        children.splice(children.indexOf(old), 1);
        await launch();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
