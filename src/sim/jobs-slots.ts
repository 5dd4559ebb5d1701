/**
 * Seed 002's experiment on a real node: N polling workers on an empty queue (a trickle of jobs),
 * each mode in turn,
 *
 *   fixed    every worker sleeps fixedMs after an empty poll (the value right for 2 workers: 2 × separation)
 *   scaled   every worker sleeps count × separation (the sleep scaled by the clone count)
 *   slots    the SDK's slot polling (`poll: 'slots'`): the node's declared separation
 *
 * and measures what arrives at the server: the node's own record of `jobs.claim` arrival times
 * (GET /api/jobs, the dashboard's `arrivals`, read every second and merged), over a window after a
 * warm-up of one polling period + 3 s. From them: polls per second, the coefficient of variation of
 * the gaps between arrivals (0 = perfectly even), the longest gap; and from the jobs, the longest
 * wait from enqueue to pick-up.
 */
import { Histogram } from './histogram.ts';
import { startJobsServer } from './jobs-servers.ts';
import { RunProcesses, reportsOf, type JobsProc } from './jobs-runs.ts';
import { panelSvg, type Series } from './svg.ts';

export type PollMode = 'fixed' | 'scaled' | 'slots';

export interface SlotsOptions {
  counts: number[]; modes: PollMode[]; separationMs: number; fixedMs: number; seconds: number; jobRate: number; concurrency: number; simProcesses: number;
}

export interface SlotsRun {
  mode: PollMode;
  workers: number;
  /** fixed/scaled: the sleep after an empty poll, ms; slots: null. */
  sleepMs: number | null;
  warmupSeconds: number;
  windowSeconds: number;
  arrivals: number;
  arrivalsPerSecond: number;
  expectedPerSecond: number;
  gapMeanMs: number;
  gapCv: number;
  longestGapMs: number;
  jobs: number;
  longestWaitMs: number | null;
  /** Polls that arrived in each separation-long bin of the window. */
  bins: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r2 = (n: number) => Math.round(n * 100) / 100;

/** Merges successive reads of a ring of arrival times (ascending, ms; equal times possible). */
export class ArrivalMerger {
  readonly all: number[] = [];
  add(read: number[]): void {
    const last = this.all.length ? this.all[this.all.length - 1]! : -Infinity;
    let same = 0;
    for (let i = this.all.length - 1; i >= 0 && this.all[i] === last; i--) same++;
    for (const t of read) {
      if (t < last) continue;
      if (t === last && same-- > 0) continue;
      this.all.push(t);
    }
  }
}

/** Gaps between successive arrivals in [fromMs, toMs): mean, coefficient of variation, longest. */
export function gapStats(arrivals: number[], fromMs: number, toMs: number): { count: number; meanMs: number; cv: number; longestMs: number } {
  const a = arrivals.filter((t) => t >= fromMs && t < toMs);
  const gaps = a.slice(1).map((t, i) => t - a[i]!);
  if (gaps.length === 0) return { count: a.length, meanMs: 0, cv: 0, longestMs: 0 };
  const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((s, g) => s + (g - mean) ** 2, 0) / gaps.length);
  return { count: a.length, meanMs: mean, cv: mean > 0 ? sd / mean : 0, longestMs: Math.max(...gaps) };
}

export async function slotsExperiment(o: SlotsOptions, log: (s: string) => void): Promise<SlotsRun[]> {
  const S = o.separationMs;
  const fixedMs = o.fixedMs || 2 * S;
  const server = await startJobsServer('brigade', { brigadeArgs: ['--jobs-slot-separation-ms', String(S)] });
  const run = new RunProcesses(server);
  const out: SlotsRun[] = [];
  let nextJob = 0;
  try {
    const producer = run.spawn();
    for (const mode of o.modes) {
      for (const count of o.counts) {
        const queue = `seed-${mode}-${count}`;
        const sleepMs = mode === 'fixed' ? fixedMs : mode === 'scaled' ? count * S : null;
        const period = mode === 'fixed' ? fixedMs : count * S;
        const warmupSeconds = Math.ceil((period + 3000) / 1000);
        const produce = (n: number, perSecond: number) => producer.ask({
          t: 'produce', target: 'brigade', conn: server.conn, spec: { queue }, first: (nextJob += n) - n, count: n, batch: 1, perSecond, inFlight: 1, retry: false,
        }, 'produced', (o.seconds + 60) * 1000);
        await produce(1, 0); // the queue exists (the node lists queues that were enqueued to)
        const processes = Math.min(o.simProcesses, count);
        const procs: JobsProc[] = [];
        for (let p = 0; p < processes; p++) {
          const mine = Math.floor(count / processes) + (p < count % processes ? 1 : 0);
          const w = run.spawn();
          procs.push(w);
          await w.ask({
            t: 'workers', target: 'brigade', conn: server.conn, count: mine, keepNumbers: false,
            spec: { queue, concurrency: o.concurrency, mode: 'poll', poll: mode === 'slots' ? 'slots' : 'fixed', pollMs: sleepMs ?? undefined, workerId: `p${p}w` },
          }, 'ready', 60_000);
        }
        await sleep(warmupSeconds * 1000);
        run.check();
        for (const w of procs) w.send({ t: 'reset' });
        const merger = new ArrivalMerger();
        const read = async () => {
          const res = await fetch(`${server.httpUrl}/api/jobs`);
          const body = await res.json() as { queues: { queue: string; arrivals: number[] }[] };
          merger.add(body.queues.find((q) => q.queue === queue)?.arrivals ?? []);
        };
        const t0 = Date.now();
        const t1 = t0 + o.seconds * 1000;
        const jobs = Math.round(o.jobRate * o.seconds);
        const produced = jobs > 0 ? produce(jobs, o.jobRate) : Promise.resolve(null);
        while (Date.now() < t1 + 200) {
          await read();
          await sleep(Math.min(1000, Math.max(0, t1 + 250 - Date.now())));
        }
        await read();
        await produced;
        // Every job enqueued in the window is picked up within a period (or the run says it was not).
        const deadline = Date.now() + period + 5000;
        let pickup = new Histogram();
        for (;;) {
          pickup = new Histogram();
          for (const r of await reportsOf(procs)) pickup.add(r.pickup);
          if (pickup.count >= jobs || Date.now() > deadline) break;
          await sleep(200);
        }
        await Promise.all(procs.map((w) => w.stop()));
        const g = gapStats(merger.all, t0, t1);
        const bins = Array.from({ length: Math.floor((t1 - t0) / S) }, () => 0);
        for (const t of merger.all) if (t >= t0 && t < t0 + bins.length * S) bins[Math.floor((t - t0) / S)]!++;
        const r: SlotsRun = {
          mode, workers: count, sleepMs, warmupSeconds, windowSeconds: o.seconds, arrivals: g.count, arrivalsPerSecond: r2(g.count / o.seconds),
          expectedPerSecond: r2(mode === 'fixed' ? (count * 1000) / fixedMs : 1000 / S), gapMeanMs: r2(g.meanMs), gapCv: r2(g.cv), longestGapMs: g.longestMs,
          jobs, longestWaitMs: pickup.count >= jobs && jobs > 0 ? r2(pickup.max) : jobs > 0 ? null : null, bins,
        };
        if (pickup.count < jobs) log(`[${mode} x${count}] only ${pickup.count} of ${jobs} jobs picked up in time`);
        log(`[${mode} x${count}] ${r.arrivalsPerSecond} polls/s (expected ${r.expectedPerSecond}), CV ${r.gapCv}, longest gap ${r.longestGapMs} ms, longest wait ${r.longestWaitMs} ms`);
        out.push(r);
      }
    }
    return out;
  } finally {
    await run.stop();
  }
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

/** One chart per mode: polls arriving per second, in bins of one separation, one line per worker count. */
export function slotsCharts(runs: SlotsRun[], o: SlotsOptions): Map<PollMode, string> {
  const charts = new Map<PollMode, string>();
  for (const mode of new Set(runs.map((r) => r.mode))) {
    const mine = runs.filter((r) => r.mode === mode);
    const n = Math.max(...mine.map((r) => r.bins.length));
    const seconds = Array.from({ length: n }, (_, i) => Math.round(((i * o.separationMs) / 1000) * 100) / 100);
    const series: Series[] = mine.map((r, i) => ({
      name: `${r.workers} workers: ${r.arrivalsPerSecond}/s, CV ${r.gapCv}, wait ≤ ${r.longestWaitMs ?? '–'} ms`,
      colour: COLOURS[i % COLOURS.length]!, values: r.bins.map((b) => (b * 1000) / o.separationMs),
    }));
    const what = mode === 'fixed' ? `fixed sleep of ${o.fixedMs || 2 * o.separationMs} ms` : mode === 'scaled' ? `sleep of count × ${o.separationMs} ms` : `slot polling, separation ${o.separationMs} ms`;
    charts.set(mode, panelSvg({
      title: `jobs: polls arriving at the server, ${what} (per second, in ${o.separationMs} ms bins)`, leftLabel: 'polls per second', series,
    }, seconds));
  }
  return charts;
}
