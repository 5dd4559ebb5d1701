/**
 * Starts a real redis-server on a free local port with its own data directory, for integration
 * tests. It stops, kills and restarts only the process it started (by PID), and SIGKILLs it when
 * the test process exits, so a failing test leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/sim/child.ts';

const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
const START_TIMEOUT_MS = 15_000;

export interface RedisServerOptions {
  /** AOF persistence, with appendfsync always: an acknowledged write survives even SIGKILL. */
  appendonly?: boolean;
  /** Data directory; a fresh temp directory (removed by destroy()) when omitted. */
  dir?: string;
  /** More redis-server arguments (`--replicaof`, `--cluster-enabled`, …), after the helper's own. */
  extraArgs?: string[];
}

export interface RedisServer {
  url: string;
  port: number;
  /** PID of the running redis-server; changes on restart. */
  readonly pid: number;
  dir: string;
  /** SIGTERM (Redis flushes its AOF and exits) and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Stops it and removes the temp directory it created. */
  destroy(): Promise<void>;
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'brigade-redis-'));
  const argsFor = (port: number) => [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
    '--appendonly', options.appendonly ? 'yes' : 'no', '--appendfsync', 'always', '--daemonize', 'no',
    ...(options.extraArgs ?? []),
  ];
  // freePort() closes the port before redis-server binds it; a test file running beside this one
  // can take it in between. Then redis-server says so and exits: try another port.
  let port = await freePort();
  let args = argsFor(port);
  let proc: ChildProcess;
  for (let attempt = 1; ; attempt++) {
    try {
      proc = await launch(args);
      break;
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/i.test((err as Error).message)) throw err;
      port = await freePort();
      args = argsFor(port);
    }
  }
  const killOnExit = (): void => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await exited;
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return proc.pid!;
    },
    dir,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGTERM');
      proc = await launch(args);
    },
    destroy: async () => {
      await end('SIGTERM');
      process.off('exit', killOnExit);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Spawns redis-server and resolves once it logs `ready` (by default, that it accepts connections). */
export function launch(args: string[], ready = 'Ready to accept connections'): Promise<ChildProcess> {
  const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const fail = (why: string): void => {
      clearTimeout(timer);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      reject(new Error(`redis-server ${why}; output:\n${output}`));
    };
    const timer = setTimeout(() => fail(`did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(ready)) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        resolve(proc);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => fail(`exited (${signal ?? code})`);
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', (err) => fail(`could not be spawned: ${err.message}`));
  });
}

