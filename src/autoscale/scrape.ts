/**
 * Reading a node: its health probe and the four load gauges of its /metrics.
 *
 * The Prometheus text format is parsed here by hand, on purpose: we need four gauges, the
 * sample-line grammar is small (name, optional {labels}, value, optional timestamp), and the one
 * npm parser (parse-prometheus-text-format) is not installed here and would be a dependency for
 * thirty lines. prom-client only writes the format.
 */
import type { NodeFigures, QueueDepth } from './decide.ts';

/** The gauges Brigade exports for autoscaling (src/gateway/metrics.ts). */
export const GAUGES = {
  connections: 'brigade_connections',
  connectsPerSecond: 'brigade_connects_per_second',
  messagesInPerSecond: 'brigade_messages_in_per_second',
  messagesOutPerSecond: 'brigade_messages_out_per_second',
} as const satisfies Record<keyof NodeFigures, string>;

/** The jobs app's per-queue gauges a worker pool scales on (src/apps/jobs/stats.ts). */
export const QUEUE_GAUGES = { waiting: 'brigade_jobs_waiting', active: 'brigade_jobs_active' } as const satisfies Record<keyof QueueDepth, string>;

export class ScrapeError extends Error {
  constructor(readonly code: 'UNREACHABLE' | 'TIMEOUT' | 'HTTP_STATUS' | 'BAD_METRICS', message: string) {
    super(message);
    this.name = 'ScrapeError';
  }
}

/**
 * Sums of every sample per metric name (over label sets), from Prometheus text exposition.
 * Comment (# HELP/# TYPE) and blank lines are skipped; a malformed sample line throws.
 */
export function parseSamples(text: string, wanted?: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!m) throw new ScrapeError('BAD_METRICS', `line ${n + 1}: no metric name in ${JSON.stringify(line.slice(0, 80))}`);
    const name = m[0];
    let i = name.length;
    if (line[i] === '{') i = skipLabels(line, i, n);
    if (wanted && !wanted.has(name)) continue;
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new ScrapeError('BAD_METRICS', `line ${n + 1}: expected a value after ${name}`);
    const value = parseValue(rest[0]);
    if (value === null) throw new ScrapeError('BAD_METRICS', `line ${n + 1}: ${JSON.stringify(rest[0])} is not a number`);
    out.set(name, (out.get(name) ?? 0) + value);
  }
  return out;
}

/** Index just past the closing brace of a label set; label values may hold escaped quotes and braces. */
function skipLabels(line: string, open: number, n: number): number {
  let inString = false;
  for (let i = open + 1; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '}') return i + 1;
  }
  throw new ScrapeError('BAD_METRICS', `line ${n + 1}: unterminated label set`);
}

function parseValue(s: string): number | null {
  if (s === 'NaN') return NaN;
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  const v = Number(s);
  return s !== '' && !Number.isNaN(v) ? v : null;
}

/** The load figures out of a /metrics body; every gauge must be there and finite. */
export function figuresOf(text: string): NodeFigures {
  const samples = parseSamples(text, new Set(Object.values(GAUGES)));
  const out = {} as NodeFigures;
  for (const [key, name] of Object.entries(GAUGES) as [keyof NodeFigures, string][]) {
    const v = samples.get(name);
    if (v === undefined) throw new ScrapeError('BAD_METRICS', `${name} is not exported (not a Brigade node, or an older one?)`);
    if (!Number.isFinite(v) || v < 0) throw new ScrapeError('BAD_METRICS', `${name} is ${v}`);
    out[key] = v;
  }
  return out;
}

/**
 * Each queue's depth out of a /metrics body: the `queue` label of QUEUE_GAUGES' samples. A node
 * without the jobs app exports none (an empty map). Queue names need no escapes ([A-Za-z0-9_.-]).
 */
export function queueDepthsOf(text: string): Map<string, QueueDepth> {
  const out = new Map<string, QueueDepth>();
  for (const line of text.split('\n')) {
    for (const [key, name] of Object.entries(QUEUE_GAUGES) as [keyof QueueDepth, string][]) {
      if (!line.startsWith(name + '{')) continue;
      const queue = /[{,]queue="([A-Za-z0-9_.-]{1,64})"/.exec(line)?.[1];
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (queue === undefined || !Number.isFinite(value) || value < 0) throw new ScrapeError('BAD_METRICS', `bad ${name} sample ${JSON.stringify(line.slice(0, 120))}`);
      let depth = out.get(queue);
      if (!depth) out.set(queue, (depth = { waiting: 0, active: 0 }));
      depth[key] = value;
    }
  }
  return out;
}

async function get(url: string, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error;
    if (e.name === 'TimeoutError') throw new ScrapeError('TIMEOUT', `${url}: no answer within ${timeoutMs} ms`);
    throw new ScrapeError('UNREACHABLE', `${url}: ${(e.cause as Error | undefined)?.message ?? e.message}`);
  }
  // Read the body under the same deadline: a node can stall after the headers.
  const body = await res.text().catch((err: Error) => {
    throw new ScrapeError(err.name === 'TimeoutError' ? 'TIMEOUT' : 'UNREACHABLE', `${url}: body: ${err.message}`);
  });
  if (!res.ok) throw new ScrapeError('HTTP_STATUS', `${url}: HTTP ${res.status}`);
  return body;
}

/** Resolves if the health path answers 2xx within the timeout; otherwise throws a ScrapeError. */
export async function probe(baseUrl: string, path: string, timeoutMs: number): Promise<void> {
  await get(baseUrl + path, timeoutMs);
}

export async function scrape(baseUrl: string, timeoutMs: number): Promise<{ figures: NodeFigures; queues: Map<string, QueueDepth> }> {
  const text = await get(`${baseUrl}/metrics`, timeoutMs);
  return { figures: figuresOf(text), queues: queueDepthsOf(text) };
}

/** One round on one node: health and figures, each failing on its own. */
export interface NodeReading {
  healthy: boolean;
  healthError: string | null;
  figures: NodeFigures | null;
  /** Per-queue depth (jobs app); empty when the scrape failed or the node has no jobs. */
  queues: Map<string, QueueDepth>;
  scrapeError: string | null;
}

export async function read(baseUrl: string, healthPath: string, timeoutMs: number): Promise<NodeReading> {
  const [h, f] = await Promise.allSettled([probe(baseUrl, healthPath, timeoutMs), scrape(baseUrl, timeoutMs)]);
  return {
    healthy: h.status === 'fulfilled',
    healthError: h.status === 'rejected' ? String((h.reason as Error).message) : null,
    figures: f.status === 'fulfilled' ? f.value.figures : null,
    queues: f.status === 'fulfilled' ? f.value.queues : new Map(),
    scrapeError: f.status === 'rejected' ? String((f.reason as Error).message) : null,
  };
}
