/**
 * Starts and stops the servers under test for `brigade bench`: Brigade (embedded engine, or N
 * `brigade serve --redis` processes on their own ports sharing one redis-server the bench starts),
 * or a peer from bench/peers/. Every process is tracked by PID, checked by its command line, and
 * stopped by PID (SIGTERM, then SIGKILL after a grace period).
 *
 * With --redis the bench runs N separate server processes rather than one `--workers N` cluster:
 * a scrape of a cluster's shared port reaches one worker at a time (docs/OPERATIONS.md), while
 * the bench needs every process's /metrics (BEHIND, resumes, ticks) and its own PID for CPU and
 * RSS. Viewers and editors are spread over the processes' ports round-robin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shippedNodeFlags, startBrigade } from './listening.ts';
import { cmdline } from './proc.ts';
import type { BenchOptions } from './options.ts';
import type { Target } from './load-protocol.ts';
import { exited, freePort, waitExit } from './child.ts';

const bundled = !import.meta.url.endsWith('.ts');
/** The repository (or installed package) root: dist/cli.js and src/sim/*.ts are both two levels in or one. */
export const ROOT = fileURLToPath(new URL(bundled ? '../' : '../../', import.meta.url));
/** Where the worker entry points are: dist/sim/*.js when bundled, src/sim/*.ts under tsx. */
export const SIM_DIR = fileURLToPath(new URL(bundled ? './sim/' : './', import.meta.url));
export const WORKER_EXT = bundled ? '.js' : '.ts';
/** Node flags a worker needs: the TypeScript sources run through tsx. */
export const WORKER_EXEC_ARGV = bundled ? [] : ['--import', 'tsx'];

export interface ServerProcessInfo { pid: number; role: string; url: string | null }

export interface RunningTarget {
  target: Target;
  /** Base URLs (ws://host:port) to spread viewers and editors over. */
  urls: string[];
  /** HTTP base URL of each Brigade process (for /metrics, info, snapshot.bin); empty for peers. */
  httpUrls: string[];
  /** Every process whose CPU and RSS count as the server's (redis-server included). */
  processes: ServerProcessInfo[];
  /** The arguments each server was started with (temp paths left out). */
  commands: string[];
  stop(): Promise<void>;
}



/** SIGTERM by PID, SIGKILL after `graceMs`. */
export async function stopProcess(p: ChildProcess, graceMs = 15_000): Promise<void> {
  if (exited(p) || !p.pid) return;
  try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
  if (await waitExit(p, graceMs)) return;
  try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  await waitExit(p, 2000);
}


/** Resolves once `proc` prints a line for which `match` returns a value. */
function waitForLine<T>(proc: ChildProcess, what: string, match: (line: string) => T | undefined, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let out = '';
    const tail: string[] = [];
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs / 1000} s:\n${tail.join('\n')}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        tail.push(line);
        if (tail.length > 30) tail.shift();
        const v = match(line);
        if (v !== undefined) { clearTimeout(timer); proc.off('exit', onExit); resolve(v); }
      }
    };
    const onExit = (code: number | null, signal: string | null) => { clearTimeout(timer); reject(new Error(`${what} exited (${signal ?? code}) before it was ready:\n${tail.join('\n')}`)); };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', (err) => { clearTimeout(timer); reject(new Error(`${what} could not be spawned: ${err.message}`)); });
  });
}

/** Keeps draining a child's pipes after start-up so it never blocks on a full pipe. */
function drain(p: ChildProcess): void {
  p.stdout?.resume();
  p.stderr?.resume();
}

/**
 * Starts redis-server on a free loopback port, no persistence, its files in `dir`; `track` gets the
 * process as soon as it is spawned (so a failed start is still stopped by the caller).
 */
export async function startRedisServer(dir: string, track: (p: ChildProcess) => void): Promise<{ proc: ChildProcess; port: number; command: string }> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
  const proc = spawn(process.env.REDIS_SERVER_BIN ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  await waitForLine(proc, 'redis-server', (line) => (line.includes('Ready to accept connections') ? true : undefined), 15_000);
  drain(proc);
  return { proc, port, command: `redis-server ${args.filter((a) => a !== dir).join(' ')}` };
}

export async function startTarget(target: Target, o: BenchOptions, onUnexpectedExit: (what: string) => void): Promise<RunningTarget> {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  let stopping = false;
  const watch = (p: ChildProcess, what: string) => p.once('exit', (code, signal) => { if (!stopping) onUnexpectedExit(`${what} (pid ${p.pid}) exited unexpectedly (${signal ?? code})`); });
  const stop = async () => {
    stopping = true;
    // Servers first (they may flush to Redis on SIGTERM), Redis last.
    for (const p of [...children].reverse()) await stopProcess(p);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    if (target === 'brigade') return await startBrigadeTarget(o, children, dirs, watch, stop);
    const script = join(ROOT, 'bench', 'peers', `${target}.ts`);
    if (!existsSync(script)) throw new Error(`the ${target} peer server (${script}) is missing`);
    const args = [...o.serverNodeOptions, '--import', 'tsx', script, '--host', '127.0.0.1', '--port', '0', '--tick-ms', String(o.tickMs), '--width', String(o.width), '--height', String(o.height)];
    const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    const port = await waitForLine(proc, `peer ${target}`, (line) => {
      try { const j = JSON.parse(line) as { listening?: number }; return typeof j.listening === 'number' ? j.listening : undefined; } catch { return undefined; }
    });
    drain(proc);
    watch(proc, `peer ${target}`);
    return {
      target, urls: [`ws://127.0.0.1:${port}`], httpUrls: [], processes: [{ pid: proc.pid!, role: `peer ${target}`, url: `ws://127.0.0.1:${port}` }],
      commands: [`node ${args.join(' ')}`.replace(ROOT + '/', '')], stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startBrigadeTarget(
  o: BenchOptions, children: ChildProcess[], dirs: string[], watch: (p: ChildProcess, what: string) => void, stop: () => Promise<void>,
): Promise<RunningTarget> {
  // BRIGADE_BENCH_SERVER_CLI: another build's bin/brigade.js (its dist/ built), to compare two builds
  // under the same simulator in alternating runs (bench/compare-rounds.ts --baseline-cli).
  const cli = resolve(process.env.BRIGADE_BENCH_SERVER_CLI ?? join(ROOT, 'bin', 'brigade.js'));
  if (!existsSync(join(dirname(dirname(cli)), 'dist', 'cli.js'))) throw new Error(`${join(dirname(dirname(cli)), 'dist', 'cli.js')} is missing: run \`npm run build\` first`);
  const processes: ServerProcessInfo[] = [];
  const commands: string[] = [];
  const common = [
    '--host', '127.0.0.1', '--port', '0', '--place-cooldown-ms', '0', '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0',
    '--identity-per-minute-per-ip', '0', '--tick-ms', String(o.tickMs), '--max-tick-ms', String(o.maxTickMs), '--place-canvases', `main:${o.width}x${o.height}`,
  ];
  // Later flags win in node, so --server-node-options can override what ships.
  const nodeFlags = [...shippedNodeFlags(cli), ...o.serverNodeOptions];
  const engineArgs: string[] = [];
  if (o.redis) {
    const dir = mkdtempSync(join(tmpdir(), 'brigade-bench-redis-'));
    dirs.push(dir);
    const { proc: redis, port, command } = await startRedisServer(dir, (p) => children.push(p));
    watch(redis, 'redis-server');
    processes.push({ pid: redis.pid!, role: 'redis-server', url: null });
    commands.push(command);
    // A fresh prefix per run: the log starts at position 0 like the embedded engine's.
    engineArgs.push('--redis', `redis://127.0.0.1:${port}`, '--redis-prefix', `bench-${randomBytes(4).toString('hex')}:`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'brigade-bench-'));
  dirs.push(dataDir);
  // Every process signs identity tokens alike.
  const secrets = ['--identity-secret', randomBytes(24).toString('base64url'), '--admin-token', randomBytes(24).toString('base64url')];
  const urls: string[] = [];
  const httpUrls: string[] = [];
  for (let k = 0; k < o.workers; k++) {
    const args = ['serve', ...common, ...engineArgs, '--data', dataDir, ...secrets];
    const started = await startBrigade(cli, args, ROOT, 50, nodeFlags);
    children.push(started.proc);
    drain(started.proc);
    if (!cmdline(started.pid).includes('brigade.js')) throw new Error(`PID ${started.pid} is not the brigade server: ${cmdline(started.pid)}`);
    watch(started.proc, `brigade server ${k}`);
    urls.push(`ws://127.0.0.1:${started.port}`);
    httpUrls.push(`http://127.0.0.1:${started.port}`);
    processes.push({ pid: started.pid, role: `brigade ${k}`, url: urls[k] });
    if (k === 0) commands.push(`node ${nodeFlags.map((f) => f + ' ').join('')}${process.env.BRIGADE_BENCH_SERVER_CLI ? cli : 'bin/brigade.js'} ${['serve', ...common, ...engineArgs].join(' ')} --data <temp dir> --identity-secret <random> --admin-token <random>${o.workers > 1 ? ` (x${o.workers}, one per port)` : ''}`);
  }
  return { target: 'brigade', urls, httpUrls, processes, commands, stop };
}
