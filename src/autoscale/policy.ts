/**
 * The autoscaling policy (`brigade autoscale --policy FILE`): its shape, its defaults, and its
 * validation. Every bad field is refused with a PolicyError that names the field, before anything
 * is started, so a typo never turns into a running fleet with a surprising size.
 */
import { readFileSync } from 'node:fs';

export type PolicyErrorCode = 'POLICY_UNREADABLE' | 'POLICY_INVALID';

export class PolicyError extends Error {
  constructor(readonly code: PolicyErrorCode, readonly field: string, message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

export interface HealthPolicy {
  /** Path probed on every node each interval; liveness (/healthz), not readiness: see docs. */
  path: string;
  /** A probe (and a /metrics scrape) slower than this counts as failed. */
  timeoutMs: number;
  /** Consecutive failed probes after which a local node is replaced. */
  failuresBeforeReplace: number;
}

export type PortSpec = 0 | { from: number; to: number };

export interface LocalPolicy {
  /** argv that starts a node, before the flags below; default: this CLI's `serve`. */
  command: string[] | null;
  /** --redis for every node; nodes share state only through it. */
  redis: string;
  host: string;
  /** 0: each node binds a free port and reports it in its 'brigade listening' line; or a range. */
  ports: PortSpec;
  /** --data for every node (they share its generated secrets, created once by the autoscaler). */
  data: string;
  /** Extra arguments appended after the generated ones. */
  args: string[];
  /** Extra environment variables for the nodes. */
  env: Record<string, string>;
  /** A node that has not logged 'brigade listening' by then is killed and replaced. */
  startTimeoutMs: number;
  /** SIGTERM first (nodes drain); SIGKILL if the node has not exited by then. */
  stopTimeoutMs: number;
  /** Delay before replacing a node that exited by itself; doubles while nodes die before listening. */
  restartDelayMs: number;
  /** Copy the nodes' stdout/stderr lines to the autoscaler's stderr. */
  forwardLogs: boolean;
}

export interface StatusPolicy {
  /** Rewritten (atomically) after every interval and every node change; '' = none. */
  file: string;
  /** GET /status on this port; -1 = none, 0 = a free port (logged as 'autoscale status listening'). */
  port: number;
  host: string;
}

/**
 * A pool of job workers scaled on one queue's depth (the jobs app's `brigade_jobs_waiting` +
 * `brigade_jobs_active` gauges for that queue, read from the nodes' /metrics): as many workers as
 * depth ÷ jobsPerWorker, within minWorkers…maxWorkers, with the top level's scaleDownBelow,
 * cooldownMs and scaleDownCooldownMs.
 */
export interface WorkerPoolPolicy {
  /** In the status and the logs; default: the queue. */
  name: string;
  /** The queue whose depth drives the pool (1-64 of [A-Za-z0-9_.-]). */
  queue: string;
  /** argv of one worker process. It gets BRIGADE_URL (a running node), BRIGADE_JOBS_QUEUE, BRIGADE_JOBS_WORKER_KEY, BRIGADE_WORKER_ID. */
  command: string[];
  /** Working directory of the workers; default the autoscaler's. */
  cwd: string;
  minWorkers: number;
  maxWorkers: number;
  /** Target: jobs waiting or active per worker. */
  jobsPerWorker: number;
  env: Record<string, string>;
  /** SIGTERM first (the worker finishes its jobs); SIGKILL if it has not exited by then. */
  stopTimeoutMs: number;
  /** Delay before replacing a worker that exited by itself; doubles while workers die young. */
  restartDelayMs: number;
  forwardLogs: boolean;
}

export interface Policy {
  /** Per-node target: WebSocket connections accepted per second. */
  connectsPerSecond: number;
  /** Per-node target: WebSocket messages in + out per second. */
  messagesPerSecond: number;
  minNodes: number;
  maxNodes: number;
  /**
   * Hysteresis: scale down only when the load would fit in fewer nodes each loaded below this
   * fraction of the targets, so a load right at a boundary does not flap.
   */
  scaleDownBelow: number;
  /** No two scaling changes closer than this. */
  cooldownMs: number;
  /** Before a scale-down, at least this long since the last change (>= cooldownMs; default cooldownMs). */
  scaleDownCooldownMs: number;
  /** How often nodes are probed and scraped and a decision is taken. */
  intervalMs: number;
  health: HealthPolicy;
  local: LocalPolicy;
  /** --print mode: node base URLs to watch (started and stopped by someone else). */
  nodes: string[];
  status: StatusPolicy;
  /** Job worker pools scaled on queue depth (local mode starts them; --print prints their counts). */
  workers: WorkerPoolPolicy[];
}

export type Mode = 'local' | 'print';

/** Hard upper bounds, so a slip of the keyboard cannot ask for 10^6 processes. */
export const LIMITS = { maxNodes: 1000, minIntervalMs: 50, maxWorkers: 1000, maxPools: 32 } as const;

const POOL_KEYS = ['name', 'queue', 'command', 'cwd', 'minWorkers', 'maxWorkers', 'jobsPerWorker', 'env', 'stopTimeoutMs', 'restartDelayMs', 'forwardLogs'];

const HEALTH_DEFAULTS: HealthPolicy = { path: '/healthz', timeoutMs: 2000, failuresBeforeReplace: 3 };
const LOCAL_DEFAULTS: LocalPolicy = {
  command: null, redis: '', host: '127.0.0.1', ports: 0, data: './data', args: [], env: {},
  startTimeoutMs: 30_000, stopTimeoutMs: 15_000, restartDelayMs: 1000, forwardLogs: true,
};
const STATUS_DEFAULTS: StatusPolicy = { file: '', port: -1, host: '127.0.0.1' };

/** Reads and validates a policy file. */
export function loadPolicy(path: string, mode: Mode): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError('POLICY_UNREADABLE', '', `policy file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new PolicyError('POLICY_INVALID', '', `policy file ${path}: not JSON: ${(err as Error).message}`);
  }
  return parsePolicy(raw, mode, path);
}

/** Validates a parsed policy object; `source` prefixes every message. */
export function parsePolicy(raw: unknown, mode: Mode, source = 'policy'): Policy {
  const bad = (field: string, why: string, got?: unknown): never => {
    throw new PolicyError('POLICY_INVALID', field, `${source}: ${field} ${why}${got !== undefined ? `, got ${JSON.stringify(got)}` : ''}`);
  };
  const top = object(raw, '(top level)', bad);
  only(top, '', ['connectsPerSecond', 'messagesPerSecond', 'minNodes', 'maxNodes', 'scaleDownBelow', 'cooldownMs',
    'scaleDownCooldownMs', 'intervalMs', 'health', 'local', 'nodes', 'status', 'workers'], bad);

  const connectsPerSecond = positive(top, 'connectsPerSecond', undefined, '', bad);
  const messagesPerSecond = positive(top, 'messagesPerSecond', undefined, '', bad);
  const minNodes = integer(top, 'minNodes', 1, 1, LIMITS.maxNodes, '', bad);
  const maxNodes = integer(top, 'maxNodes', Math.max(minNodes, 1), 1, LIMITS.maxNodes, '', bad);
  if (maxNodes < minNodes) bad('maxNodes', `must be >= minNodes (${minNodes})`, maxNodes);
  const scaleDownBelow = top.scaleDownBelow === undefined ? 0.8 : num(top.scaleDownBelow, 'scaleDownBelow', bad);
  if (!(scaleDownBelow > 0 && scaleDownBelow <= 1)) bad('scaleDownBelow', 'must be a fraction in (0, 1]', top.scaleDownBelow);
  const cooldownMs = integer(top, 'cooldownMs', 60_000, 0, Number.MAX_SAFE_INTEGER, '', bad);
  const scaleDownCooldownMs = integer(top, 'scaleDownCooldownMs', cooldownMs, 0, Number.MAX_SAFE_INTEGER, '', bad);
  if (scaleDownCooldownMs < cooldownMs) bad('scaleDownCooldownMs', `must be >= cooldownMs (${cooldownMs}): no two changes are closer than cooldownMs`, scaleDownCooldownMs);
  const intervalMs = integer(top, 'intervalMs', 5000, LIMITS.minIntervalMs, Number.MAX_SAFE_INTEGER, '', bad);

  const h = top.health === undefined ? {} : object(top.health, 'health', bad);
  only(h, 'health.', Object.keys(HEALTH_DEFAULTS), bad);
  const health: HealthPolicy = {
    path: path(h, 'health.path', HEALTH_DEFAULTS.path, bad),
    timeoutMs: integer(h, 'timeoutMs', HEALTH_DEFAULTS.timeoutMs, 1, Number.MAX_SAFE_INTEGER, 'health.', bad),
    failuresBeforeReplace: integer(h, 'failuresBeforeReplace', HEALTH_DEFAULTS.failuresBeforeReplace, 1, 1000, 'health.', bad),
  };
  if (health.timeoutMs > intervalMs) bad('health.timeoutMs', `must be <= intervalMs (${intervalMs}): a probe must end before the next one`, health.timeoutMs);

  const l = top.local === undefined ? {} : object(top.local, 'local', bad);
  only(l, 'local.', Object.keys(LOCAL_DEFAULTS), bad);
  const local: LocalPolicy = {
    command: l.command === undefined ? null : strings(l.command, 'local.command', bad, true),
    redis: str(l, 'redis', LOCAL_DEFAULTS.redis, 'local.', bad),
    host: str(l, 'host', LOCAL_DEFAULTS.host, 'local.', bad),
    ports: ports(l.ports, bad),
    data: str(l, 'data', LOCAL_DEFAULTS.data, 'local.', bad),
    args: l.args === undefined ? [] : strings(l.args, 'local.args', bad, false),
    env: env(l.env, bad),
    startTimeoutMs: integer(l, 'startTimeoutMs', LOCAL_DEFAULTS.startTimeoutMs, 1, Number.MAX_SAFE_INTEGER, 'local.', bad),
    stopTimeoutMs: integer(l, 'stopTimeoutMs', LOCAL_DEFAULTS.stopTimeoutMs, 0, Number.MAX_SAFE_INTEGER, 'local.', bad),
    restartDelayMs: integer(l, 'restartDelayMs', LOCAL_DEFAULTS.restartDelayMs, 0, Number.MAX_SAFE_INTEGER, 'local.', bad),
    forwardLogs: bool(l, 'forwardLogs', LOCAL_DEFAULTS.forwardLogs, 'local.', bad),
  };
  if (local.redis && !/^rediss?:\/\//.test(local.redis)) bad('local.redis', 'must be a redis:// or rediss:// URL', local.redis);
  if (local.host === '') bad('local.host', 'must not be empty', local.host);
  if (typeof local.ports === 'object' && local.ports.to - local.ports.from + 1 < maxNodes) {
    bad('local.ports', `range holds ${local.ports.to - local.ports.from + 1} ports, fewer than maxNodes (${maxNodes})`, top.local && (top.local as any).ports);
  }

  const nodes = top.nodes === undefined ? [] : strings(top.nodes, 'nodes', bad, false).map((u, i) => nodeUrl(u, `nodes[${i}]`, bad));

  const s = top.status === undefined ? {} : object(top.status, 'status', bad);
  only(s, 'status.', Object.keys(STATUS_DEFAULTS), bad);
  const status: StatusPolicy = {
    file: str(s, 'file', STATUS_DEFAULTS.file, 'status.', bad),
    port: integer(s, 'port', STATUS_DEFAULTS.port, -1, 65535, 'status.', bad),
    host: str(s, 'host', STATUS_DEFAULTS.host, 'status.', bad),
  };

  const workers = top.workers === undefined ? [] : pools(top.workers, local.forwardLogs, bad);

  if (mode === 'print') {
    if (nodes.length === 0) bad('nodes', '(a non-empty list of node URLs) is required with --print');
  } else {
    if (top.nodes !== undefined) bad('nodes', 'is only read with --print; local mode watches the nodes it starts');
    // Nodes that do not share Redis would each hold their own state: refuse rather than split users.
    if (!local.redis && maxNodes > 1) bad('local.redis', 'is required when maxNodes > 1 (nodes share state only through Redis)');
  }
  return { connectsPerSecond, messagesPerSecond, minNodes, maxNodes, scaleDownBelow, cooldownMs, scaleDownCooldownMs, intervalMs, health, local, nodes, status, workers };
}

function pools(v: unknown, forwardLogs: boolean, bad: Bad): WorkerPoolPolicy[] {
  if (!Array.isArray(v)) bad('workers', 'must be a list of worker pools', v);
  const list = v as unknown[];
  if (list.length > LIMITS.maxPools) bad('workers', `holds at most ${LIMITS.maxPools} pools`, list.length);
  const out = list.map((raw, i): WorkerPoolPolicy => {
    const at = `workers[${i}].`;
    const w = object(raw, `workers[${i}]`, bad);
    only(w, at, POOL_KEYS, bad);
    const queue = str(w, 'queue', '', at, bad);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(queue)) bad(at + 'queue', 'must be a queue name: 1-64 of A-Z a-z 0-9 _ . -', w.queue);
    if (w.command === undefined) bad(at + 'command', 'is required (the argv of one worker process)');
    const minWorkers = integer(w, 'minWorkers', 0, 0, LIMITS.maxWorkers, at, bad);
    const maxWorkers = integer(w, 'maxWorkers', Math.max(minWorkers, 1), 1, LIMITS.maxWorkers, at, bad);
    if (maxWorkers < minWorkers) bad(at + 'maxWorkers', `must be >= minWorkers (${minWorkers})`, maxWorkers);
    if (w.env !== undefined) {
      const e = object(w.env, at + 'env', bad);
      for (const [k, x] of Object.entries(e)) if (typeof x !== 'string') bad(`${at}env.${k}`, 'must be a string', x);
    }
    return {
      name: str(w, 'name', queue, at, bad),
      queue,
      command: strings(w.command, at + 'command', bad, true),
      cwd: str(w, 'cwd', '', at, bad),
      minWorkers, maxWorkers,
      jobsPerWorker: positive(w, 'jobsPerWorker', undefined, at, bad),
      env: (w.env ?? {}) as Record<string, string>,
      stopTimeoutMs: integer(w, 'stopTimeoutMs', 15_000, 0, Number.MAX_SAFE_INTEGER, at, bad),
      restartDelayMs: integer(w, 'restartDelayMs', 1000, 0, Number.MAX_SAFE_INTEGER, at, bad),
      forwardLogs: bool(w, 'forwardLogs', forwardLogs, at, bad),
    };
  });
  const names = new Set<string>();
  out.forEach((p, i) => {
    if (names.has(p.name)) bad(`workers[${i}].name`, 'must be unique among the pools', p.name);
    names.add(p.name);
  });
  return out;
}

// ---- field readers: each names the field it refuses ----

type Bad = (field: string, why: string, got?: unknown) => never;
type Obj = Record<string, unknown>;

function object(v: unknown, field: string, bad: Bad): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'must be a JSON object', v);
  return v as Obj;
}

function only(o: Obj, prefix: string, keys: string[], bad: Bad): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(prefix + k, `is not a known field (known: ${keys.join(', ')})`);
}

function num(v: unknown, field: string, bad: Bad): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(field, 'must be a number', v);
  return v as number;
}

function positive(o: Obj, key: string, dflt: number | undefined, prefix: string, bad: Bad): number {
  if (o[key] === undefined) {
    if (dflt === undefined) bad(prefix + key, prefix ? 'is required (a target, > 0)' : 'is required (a per-node target, > 0)');
    return dflt as number;
  }
  const n = num(o[key], prefix + key, bad);
  if (!(n > 0)) bad(prefix + key, 'must be > 0', o[key]);
  return n;
}

function integer(o: Obj, key: string, dflt: number, min: number, max: number, prefix: string, bad: Bad): number {
  if (o[key] === undefined) return dflt;
  const n = num(o[key], prefix + key, bad);
  if (!Number.isInteger(n) || n < min || n > max) bad(prefix + key, `must be an integer from ${min} to ${max}`, o[key]);
  return n;
}

function str(o: Obj, key: string, dflt: string, prefix: string, bad: Bad): string {
  if (o[key] === undefined) return dflt;
  if (typeof o[key] !== 'string') bad(prefix + key, 'must be a string', o[key]);
  return o[key] as string;
}

function bool(o: Obj, key: string, dflt: boolean, prefix: string, bad: Bad): boolean {
  if (o[key] === undefined) return dflt;
  if (typeof o[key] !== 'boolean') bad(prefix + key, 'must be true or false', o[key]);
  return o[key] as boolean;
}

function path(o: Obj, field: string, dflt: string, bad: Bad): string {
  const v = str(o, 'path', dflt, 'health.', bad);
  if (!v.startsWith('/')) bad(field, 'must start with /', v);
  return v;
}

function strings(v: unknown, field: string, bad: Bad, nonEmpty: boolean): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) bad(field, 'must be a list of strings', v);
  if (nonEmpty && (v as string[]).length === 0) bad(field, 'must not be empty', v);
  return v as string[];
}

function env(v: unknown, bad: Bad): Record<string, string> {
  if (v === undefined) return {};
  const o = object(v, 'local.env', bad);
  for (const [k, x] of Object.entries(o)) if (typeof x !== 'string') bad(`local.env.${k}`, 'must be a string', x);
  return o as Record<string, string>;
}

function ports(v: unknown, bad: Bad): PortSpec {
  if (v === undefined || v === 0) return 0;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('local.ports', 'must be 0 or {"from": N, "to": M}', v);
  const o = v as Obj;
  only(o, 'local.ports.', ['from', 'to'], bad);
  const from = integer(o, 'from', NaN, 1, 65535, 'local.ports.', bad);
  const to = integer(o, 'to', NaN, 1, 65535, 'local.ports.', bad);
  if (Number.isNaN(from) || Number.isNaN(to)) bad('local.ports', 'needs both from and to', v);
  if (to < from) bad('local.ports.to', `must be >= local.ports.from (${from})`, to);
  return { from, to };
}

function nodeUrl(u: string, field: string, bad: Bad): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return bad(field, 'must be an http:// or https:// URL', u);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') bad(field, 'must be an http:// or https:// URL', u);
  return url.origin + url.pathname.replace(/\/+$/, '');
}
