/**
 * The processes the tracker benchmark starts, and only those: the servers under test (the
 * bittorrent-tracker reference through bench/tracker/reference-server.ts, Brigade nodes through
 * `node bin/brigade.js serve`), a redis-server for two Brigade nodes, and the peer workers. Each
 * one is tracked by its ChildProcess and stopped by its PID (SIGTERM, then SIGKILL after a grace
 * period), also on error, Ctrl-C and exit. CPU time is read from /proc for a process and every
 * descendant it has (a Brigade node with --workers forks).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onLines, shippedNodeFlags, startBrigade } from '../lib/listening.ts';
import { cpuSeconds, rssBytes } from '../lib/proc.ts';
import type { FromPeerWorker, ToPeerWorker } from './messages.ts';
import { exited, freePort, waitExit } from '../../src/sim/child.ts';
export { freePort };

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

const tracked = new Set<ChildProcess>();
const stopping = new Set<ChildProcess>();
let cleaning: Promise<void> | null = null;
/** Called when a tracked process dies on its own (not stopped by us): the run is void. */
let onUnexpectedExit: (what: string) => void = () => {};

export function setUnexpectedExitHandler(fn: (what: string) => void): void {
  onUnexpectedExit = fn;
}


function track(p: ChildProcess, what: string): void {
  tracked.add(p);
  p.once('exit', (code, signal) => {
    tracked.delete(p);
    if (!stopping.has(p) && !cleaning) onUnexpectedExit(`${what} (pid ${p.pid}) exited (${code ?? signal})`);
  });
}

/** SIGTERM (or an IPC 'exit' for workers), then SIGKILL after graceMs; by PID only. */
export async function stopProcess(p: ChildProcess, graceMs: number): Promise<void> {
  stopping.add(p);
  if (!exited(p) && p.pid) {
    if (p.connected) { try { p.send({ t: 'exit' }); } catch { /* channel gone */ } }
    else { try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ } }
    if (!(await waitExit(p, graceMs))) {
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
      await waitExit(p, 2000);
    }
  }
  tracked.delete(p);
}

/** Stops everything still running that this bench started. */
export function cleanupAll(): Promise<void> {
  cleaning ??= Promise.all([...tracked].map((p) => stopProcess(p, 5000))).then(() => {});
  return cleaning;
}

process.on('exit', () => {
  // Last resort (a crash past cleanup): SIGKILL what is still ours, by PID.
  for (const p of tracked) if (!exited(p) && p.pid) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
});


// ---- CPU and memory of a process tree ----------------------------------------------------------

/** The PIDs of a process and all its descendants (from /proc/<pid>/stat ppid fields). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch { /* gone meanwhile */ }
  }
  const out: number[] = [];
  const walk = (pid: number) => { out.push(pid); for (const c of children.get(pid) ?? []) walk(c); };
  walk(root);
  return out;
}

/** utime + stime of each PID, seconds (processes gone meanwhile count 0). */
export function treeCpu(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const s = cpuSeconds(pid);
    out.set(pid, Number.isFinite(s) ? s : 0);
  }
  return out;
}

export function treeRss(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) { const r = rssBytes(pid); if (Number.isFinite(r)) sum += r; }
  return sum;
}

// ---- servers ----------------------------------------------------------------------------------

export interface Started {
  proc: ChildProcess;
  pid: number;
  port: number;
  /** The command line as the results show it (no temp paths). */
  shown: string;
  /** stderr lines kept (the last log lines, for errors). */
  stderr: string[];
  /** The reference only: its 'warning' counts so far (SIGUSR2 → a JSON line on stdout). */
  warnings?: () => Promise<WarningCounts | null>;
}

export interface WarningCounts { warnings: number; byReason: Record<string, number> }

/** TRACKER_BENCH_SERVER_NODE_ARGS="--flag …": node flags for every server process, both targets alike. */
function serverNodeArgs(): string[] {
  return (process.env.TRACKER_BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
}

/** Starts bench/tracker/reference-server.ts (bittorrent-tracker's server) on a free port. */
export async function startReference(): Promise<Started> {
  const args = [...serverNodeArgs(), '--import', 'tsx', join(here, 'reference-server.ts'), '--port', '0', '--host', '127.0.0.1'];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  track(proc, 'reference tracker');
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => stderr.push(...d.toString().split('\n').filter(Boolean)));
  let onCounts: ((c: WarningCounts) => void) | null = null;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reference tracker did not start in 20 s: ${stderr.join('\n')}`)), 20_000);
    onLines(proc.stdout!, (line) => {
      try {
        const m = JSON.parse(line) as { listening?: number } & Partial<WarningCounts>;
        if (typeof m.listening === 'number') { clearTimeout(timer); resolve(m.listening); }
        if (typeof m.warnings === 'number' && onCounts) onCounts(m as WarningCounts);
      } catch { /* not ours */ }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`reference tracker exited (${code}): ${stderr.join('\n')}`)); });
  });
  const warnings = () => new Promise<WarningCounts | null>((resolve) => {
    const timer = setTimeout(() => { onCounts = null; resolve(null); }, 5000);
    onCounts = (c) => { clearTimeout(timer); onCounts = null; resolve(c); };
    try { process.kill(proc.pid!, 'SIGUSR2'); } catch { clearTimeout(timer); resolve(null); }
  });
  return { proc, pid: proc.pid!, port, stderr, warnings, shown: 'node --import tsx bench/tracker/reference-server.ts --port 0 --host 127.0.0.1' };
}

/** Starts one `brigade serve` node; `extra` are the settings flags (see announce.ts). */
export async function startBrigadeNode(dataDir: string, extra: string[]): Promise<Started> {
  const cli = join(repoRoot, 'bin', 'brigade.js');
  const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, ...extra];
  // TRACKER_BENCH_SERVER_CPU_PROF=DIR: a V8 CPU profile of each Brigade node, written when it exits.
  // Node's own flags go before the CLI (NODE_OPTIONS refuses --cpu-prof).
  const prof = process.env.TRACKER_BENCH_SERVER_CPU_PROF;
  // Brigade runs with the node flags it ships with (bin/brigade.js's #! line), then the bench's own.
  const nodeArgs = [...shippedNodeFlags(cli), ...serverNodeArgs(), ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])];
  const started = await startBrigade(cli, args, repoRoot, undefined, nodeArgs);
  track(started.proc, 'brigade node');
  const hide: Record<string, string> = { '--data': '<tmp>', '--identity-secret': '<shared>', '--redis': '<redis-url>', '--redis-prefix': '<fresh prefix>' };
  const shown = ['node', ...nodeArgs.filter((a) => !a.startsWith('--cpu-prof')), 'bin/brigade.js', ...args.map((a, i) => hide[args[i - 1]] ?? a)].join(' ');
  return { proc: started.proc, pid: started.pid, port: started.port, shown, stderr: started.logTail };
}

/** The `serve` flags this build has (parsed from `serve --help`), to pass only settings that exist. */
export function brigadeFlags(): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'brigade.js'), 'serve', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    p.once('error', reject);
    p.once('exit', () => resolve(new Set(out.match(/^\s+(--[a-z0-9-]+)/gm)?.map((s) => s.trim()) ?? [])));
  });
}

export interface StartedRedis { proc: ChildProcess; pid: number; url: string }

/** A throwaway redis-server on a free loopback port (no persistence: nothing here needs it). */
export async function startRedis(dir: string): Promise<StartedRedis> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc, 'redis-server');
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start in 15 s:\n${output}`)), 15_000);
    const onData = (d: Buffer) => { output += d.toString(); if (output.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); } };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('error', (err) => { clearTimeout(timer); reject(err); });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited (${code}):\n${output}`)); });
  });
  return { proc, pid: proc.pid!, url: `redis://127.0.0.1:${port}` };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// ---- peer workers -----------------------------------------------------------------------------

export interface PeerWorker {
  proc: ChildProcess;
  pid: number;
  /** The newest message of each kind. */
  latest: Map<string, FromPeerWorker>;
  send(m: ToPeerWorker): void;
  next<K extends FromPeerWorker['t']>(t: K, timeoutMs: number): Promise<Extract<FromPeerWorker, { t: K }>>;
}

export function startPeerWorker(): PeerWorker {
  // TRACKER_BENCH_CPU_PROF=DIR: a V8 CPU profile of every worker, to see what the load itself costs.
  const prof = process.env.TRACKER_BENCH_CPU_PROF;
  const proc = fork(join(here, 'peer-worker.ts'), [], {
    execArgv: ['--import', 'tsx', ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [])],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  track(proc, 'peer worker');
  const latest = new Map<string, FromPeerWorker>();
  const waiters: { t: string; resolve(m: FromPeerWorker): void }[] = [];
  proc.on('message', (m: FromPeerWorker) => {
    latest.set(m.t, m);
    if (m.t === 'error') onUnexpectedExit(`peer worker (pid ${proc.pid}) failed: ${m.message}`);
    const i = waiters.findIndex((w) => w.t === m.t);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  return {
    proc, pid: proc.pid!, latest,
    send: (m) => { if (proc.connected) proc.send(m); },
    next(t, timeoutMs) {
      return new Promise((resolve, reject) => {
        const w = { t, resolve: (m: FromPeerWorker) => { clearTimeout(timer); resolve(m as Extract<FromPeerWorker, { t: typeof t }>); } };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`peer worker (pid ${proc.pid}) sent no '${t}' within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
  };
}
