/**
 * `brigade bench` options: every limit explicit, checked up front. Bad input is a SimOptionError
 * (a code and a message saying what is allowed) and nothing is started. Settings come, lowest
 * precedence first, from the defaults, BRIGADE_BENCH_* environment variables and flags.
 */
import type { Fault } from './messages.ts';
import { TARGETS, type Target } from './load-protocol.ts';

export interface BenchOptions {
  workload: 'place';
  viewers: number;
  editsPerSecond: number;
  seconds: number;
  editors: number;
  /** Targets, run one after the other on the same workload. */
  targets: Target[];
  /** An already running server (one target only); null: the bench starts it. */
  url: string | null;
  /** PIDs of the already running server's processes, for CPU and RSS. */
  serverPids: number[];
  /** Brigade only: start redis-server and `brigade serve --redis` processes. */
  redis: boolean;
  /** Brigade server processes (more than 1 needs --redis). */
  workers: number;
  tickMs: number;
  maxTickMs: number;
  width: number;
  height: number;
  /** Viewer processes; 0 = as few as the per-process limit allows, at least 2. */
  simProcesses: number;
  /** Most viewer sockets one simulator process holds. */
  maxViewersPerProcess: number;
  connectConcurrency: number;
  settleMs: number;
  out: string;
  label: string;
  seed: number;
  progress: boolean;
  fault: Fault;
  /** Node's own flags for every server process the bench starts (each target's, so the comparison stays fair). */
  serverNodeOptions: string[];
}

export const defaultBenchOptions: BenchOptions = {
  workload: 'place', viewers: 1000, editsPerSecond: 333, seconds: 10, editors: 10, targets: ['brigade'], url: null,
  serverPids: [], redis: false, workers: 1, tickMs: 100, maxTickMs: 1000, width: 1000, height: 1000,
  simProcesses: 0, maxViewersPerProcess: 18_000, connectConcurrency: 200, settleMs: 2000, out: 'bench/results',
  label: '', seed: 1, progress: true, fault: 'none', serverNodeOptions: [],
};

/** Each process may hold about 19,000 sockets here (20,000 open files, less what Node itself uses). */
export const SOCKETS_PER_PROCESS_CAP = 19_000;

export class SimOptionError extends Error {
  constructor(readonly code: 'BENCH_BAD_OPTION' | 'BENCH_UNKNOWN_OPTION' | 'BENCH_CONFLICT', message: string) {
    super(message);
  }
}

export const benchUsage = `brigade bench — drive a real-time server with simulated place viewers and editors

Usage:
  brigade bench [options]
  brigade bench --compare brigade,socketio,ws-json,net --viewers 5000 --seconds 30

Workload place: V viewers watching one canvas from position 0, E edits/s from W editor
connections, for T seconds; every viewer must end with the server's canvas. Results go to
OUT/bench-<time>.json and .html. Exit status: 0 every target converged, 1 a check failed or
the run broke, 2 bad options.

Options (flag, environment variable, default, allowed):
  --workload place              BRIGADE_BENCH_WORKLOAD           place
  --viewers V                   BRIGADE_BENCH_VIEWERS            1000     1-200000
  --edits-per-second E          BRIGADE_BENCH_EDITS_PER_SECOND   333      1-50000
  --seconds T                   BRIGADE_BENCH_SECONDS            10       1-3600
  --editors W                   BRIGADE_BENCH_EDITORS            10       1-1000 (editor connections)
  --target NAME                 BRIGADE_BENCH_TARGET             brigade  ${TARGETS.join('|')}
  --compare A,B,...             BRIGADE_BENCH_COMPARE                     the same workload against each, in turn
  --url URL                     BRIGADE_BENCH_URL                         a server already running (one target)
  --server-pid P[,P...]         BRIGADE_BENCH_SERVER_PID                  its processes, for CPU and RSS
  --redis                       BRIGADE_BENCH_REDIS              false    brigade: redis-server + brigade serve --redis
  --workers N                   BRIGADE_BENCH_WORKERS            1        1-64 brigade server processes (>1 needs --redis)
  --tick-ms MS                  BRIGADE_BENCH_TICK_MS            100      1-10000 (peers too)
  --max-tick-ms MS              BRIGADE_BENCH_MAX_TICK_MS        1000     brigade's adaptive tick bound, >= --tick-ms
  --width W / --height H        BRIGADE_BENCH_WIDTH / _HEIGHT    1000     1-16384 canvas size
  --sim-processes K             BRIGADE_BENCH_SIM_PROCESSES      auto     viewer processes (auto: >= 2, each <= the max below)
  --max-viewers-per-process N   BRIGADE_BENCH_MAX_VIEWERS_PER_PROCESS 18000 1-${SOCKETS_PER_PROCESS_CAP}
  --connect-concurrency N       BRIGADE_BENCH_CONNECT_CONCURRENCY 200     1-5000 handshakes in flight per process
  --settle-ms MS                BRIGADE_BENCH_SETTLE_MS          2000     0-60000 wait after the last ack
  --out DIR                     BRIGADE_BENCH_OUT                bench/results
  --label TEXT                  BRIGADE_BENCH_LABEL                       stored in the result
  --seed N                      BRIGADE_BENCH_SEED               1        edits are seeded-random
  --no-progress                 BRIGADE_BENCH_PROGRESS=false              no progress line on stderr
  --fault KIND                  BRIGADE_BENCH_FAULT              none     test only: drop-frame|corrupt-byte in one viewer
  --server-node-options=FLAGS   BRIGADE_BENCH_SERVER_NODE_OPTIONS         node flags for every server it starts, space-separated,
                                                                          e.g. --server-node-options=--max-semi-space-size=4
`;

type Key = Exclude<keyof BenchOptions, 'targets' | 'url' | 'serverPids' | 'workload' | 'serverNodeOptions'> | 'serverNodeOptions' | 'target' | 'compare' | 'url' | 'serverPid' | 'workload' | 'editorConnections' | 'noProgress';
const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const envName = (k: string) => 'BRIGADE_BENCH_' + k.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

/** Integer options and their bounds. */
const INTS: Partial<Record<Key, [number, number]>> = {
  viewers: [1, 200_000], seconds: [1, 3600], editors: [1, 1000], editorConnections: [1, 1000], workers: [1, 64],
  tickMs: [1, 10_000], maxTickMs: [1, 60_000], width: [1, 16_384], height: [1, 16_384], simProcesses: [0, 64],
  maxViewersPerProcess: [1, SOCKETS_PER_PROCESS_CAP], connectConcurrency: [1, 5000], settleMs: [0, 60_000], seed: [0, 2 ** 31 - 1],
};
const BOOLS = new Set<Key>(['redis', 'progress', 'noProgress']);
const STRINGS = new Set<Key>(['out', 'label', 'target', 'compare', 'url', 'serverPid', 'workload', 'fault', 'serverNodeOptions']);
const ALL = new Set<string>([...Object.keys(INTS), ...BOOLS, ...STRINGS, 'editsPerSecond']);

/** One node flag, with an optional plain value: nothing a shell or node could read as more. */
const NODE_FLAG = /^--[a-z][a-z0-9-]*(=[\w.,:/+-]+)?$/;

/** `--server-node-options`' value: node flags separated by spaces, each checked (an error names the bad one). */
export function parseNodeFlags(raw: string, source: string): string[] {
  const flags = raw.split(/\s+/).filter(Boolean);
  for (const f of flags) if (!NODE_FLAG.test(f)) throw new Error(`${source} takes node flags like --max-semi-space-size=4, separated by spaces; ${JSON.stringify(f)} is not one`);
  return flags;
}

function bad(message: string): never {
  throw new SimOptionError('BENCH_BAD_OPTION', message);
}

function setOne(o: BenchOptions, key: Key, raw: string, source: string): void {
  const bounds = INTS[key];
  if (bounds) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < bounds[0] || n > bounds[1]) bad(`${source} must be a whole number from ${bounds[0]} to ${bounds[1]}, got ${JSON.stringify(raw)}`);
    (o as unknown as Record<string, number>)[key === 'editorConnections' ? 'editors' : key] = n;
    return;
  }
  switch (key) {
    case 'editsPerSecond': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || n < 1 || n > 50_000) bad(`${source} must be a number from 1 to 50000, got ${JSON.stringify(raw)}`);
      o.editsPerSecond = n;
      return;
    }
    case 'redis': case 'progress': case 'noProgress': {
      const v = raw === '' || raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : bad(`${source} must be true or false, got ${JSON.stringify(raw)}`);
      if (key === 'redis') o.redis = v;
      else o.progress = key === 'progress' ? v : !v;
      return;
    }
    case 'workload':
      if (raw !== 'place') bad(`${source}: the only workload is place, got ${JSON.stringify(raw)}`);
      return;
    case 'target': case 'compare': {
      const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (list.length === 0) bad(`${source} needs at least one target: ${TARGETS.join(', ')}`);
      for (const t of list) if (!(TARGETS as readonly string[]).includes(t)) bad(`${source}: unknown target ${JSON.stringify(t)}; targets: ${TARGETS.join(', ')}`);
      if (new Set(list).size !== list.length) bad(`${source} names a target twice: ${raw}`);
      if (key === 'target' && list.length > 1) bad(`${source} takes one target; use --compare for several`);
      o.targets = list as Target[];
      return;
    }
    case 'url': {
      let u: URL;
      try { u = new URL(raw); } catch { bad(`${source} must be a URL like ws://127.0.0.1:8080, got ${JSON.stringify(raw)}`); }
      if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol)) bad(`${source} must be ws://, wss://, http:// or https://, got ${JSON.stringify(raw)}`);
      o.url = raw;
      return;
    }
    case 'serverPid': {
      const pids = raw.split(',').map((s) => Number(s.trim()));
      if (pids.some((p) => !Number.isInteger(p) || p < 1)) bad(`${source} must be process ids separated by commas, got ${JSON.stringify(raw)}`);
      o.serverPids = pids;
      return;
    }
    case 'fault':
      if (raw !== 'none' && raw !== 'drop-frame' && raw !== 'corrupt-byte') bad(`${source} must be none, drop-frame or corrupt-byte, got ${JSON.stringify(raw)}`);
      o.fault = raw;
      return;
    case 'serverNodeOptions': {
      try {
        o.serverNodeOptions = parseNodeFlags(raw, source);
      } catch (err) {
        bad((err as Error).message);
      }
      return;
    }
    case 'out': case 'label':
      o[key] = raw;
      return;
  }
}

export function parseBenchOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const o: BenchOptions = { ...defaultBenchOptions, targets: [...defaultBenchOptions.targets] };
  const byFlag = new Map([...ALL].map((k) => [kebab(k), k as Key]));
  for (const k of ALL) {
    const v = env[envName(k)];
    if (v !== undefined) setOne(o, k as Key, v, envName(k));
  }
  let sawTarget = false, sawCompare = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new SimOptionError('BENCH_UNKNOWN_OPTION', `unexpected argument ${JSON.stringify(arg)}; see brigade bench --help`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const key = byFlag.get(name);
    if (!key) throw new SimOptionError('BENCH_UNKNOWN_OPTION', `unknown option --${name}; see brigade bench --help`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (BOOLS.has(key)) value = (argv[i + 1] === 'true' || argv[i + 1] === 'false') ? argv[++i] : 'true';
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i];
    else bad(`--${name} needs a value`);
    if (key === 'target') sawTarget = true;
    if (key === 'compare') sawCompare = true;
    setOne(o, key, value, `--${name}`);
  }
  if (sawTarget && sawCompare) throw new SimOptionError('BENCH_CONFLICT', '--target and --compare exclude each other: --compare runs several targets, --target one');
  if (o.maxTickMs < o.tickMs) throw new SimOptionError('BENCH_CONFLICT', `--max-tick-ms (${o.maxTickMs}) must be at least --tick-ms (${o.tickMs})`);
  if (o.url !== null && o.targets.length > 1) throw new SimOptionError('BENCH_CONFLICT', '--url names one running server: use --target, not --compare');
  if (o.url !== null && (o.redis || o.workers > 1)) throw new SimOptionError('BENCH_CONFLICT', '--redis and --workers start servers; with --url the server is already running');
  if (o.url !== null && o.serverNodeOptions.length > 0) throw new SimOptionError('BENCH_CONFLICT', '--server-node-options applies to servers the bench starts; with --url the server is already running');
  if (o.url === null && o.serverPids.length > 0) throw new SimOptionError('BENCH_CONFLICT', '--server-pid goes with --url (the bench knows the PIDs of servers it starts)');
  if (o.workers > 1 && !o.redis) throw new SimOptionError('BENCH_CONFLICT', '--workers > 1 needs --redis: the embedded engine serves one process');
  if ((o.redis || o.workers > 1) && !o.targets.includes('brigade')) throw new SimOptionError('BENCH_CONFLICT', '--redis and --workers apply to the brigade target only');
  const minProcesses = Math.ceil(o.viewers / o.maxViewersPerProcess);
  if (o.simProcesses === 0) o.simProcesses = Math.min(o.viewers, Math.max(2, minProcesses));
  else if (o.simProcesses < minProcesses) throw new SimOptionError('BENCH_CONFLICT', `--sim-processes ${o.simProcesses} cannot hold ${o.viewers} viewers at ${o.maxViewersPerProcess} per process; use at least ${minProcesses}`);
  else if (o.simProcesses > o.viewers) throw new SimOptionError('BENCH_CONFLICT', `--sim-processes ${o.simProcesses} is more than the ${o.viewers} viewers`);
  // A server process, like a simulator process, holds at most about 19,000 sockets here.
  if (o.url === null) {
    for (const t of o.targets) {
      const processes = t === 'brigade' ? o.workers : 1;
      const perProcess = Math.ceil(o.viewers / processes) + Math.ceil(o.editors / processes);
      if (perProcess > SOCKETS_PER_PROCESS_CAP) {
        throw new SimOptionError('BENCH_CONFLICT', t === 'brigade'
          ? `${o.viewers} viewers + ${o.editors} editors on ${processes} brigade process(es) is ${perProcess} sockets each, over ${SOCKETS_PER_PROCESS_CAP}: use --redis --workers ${Math.ceil((o.viewers + o.editors) / SOCKETS_PER_PROCESS_CAP)} or more`
          : `${t} is one process: at most ${SOCKETS_PER_PROCESS_CAP} sockets, asked for ${perProcess}`);
      }
    }
  }
  return o;
}
