/**
 * The jobs app's numbers: per-queue counters kept by this node (plain field increments on the hot
 * path), per-second series of the last minutes for the dashboard (enqueued, completed, failed,
 * claim requests), the latest claim-request arrival times (the slot pattern), and their export to
 * /metrics through prom-client, with the queues' state counts read from the engine at scrape time.
 */
import client from 'prom-client';
import { JOB_STATES, type JobCounts } from '../../core/engine.ts';

/** Seconds of per-second history kept per queue (the dashboard's charts). */
export const HISTORY_SECONDS = 300;
/** Claim-request arrival times kept per queue. */
export const ARRIVALS_KEPT = 400;

export const COUNTER_KINDS = ['enqueued', 'claimed', 'completed', 'failed', 'dead', 'leaseExpired', 'claimRequests', 'pushed', 'pruned'] as const;
export type CounterKind = typeof COUNTER_KINDS[number];
/** The kinds with a per-second history. */
export const SERIES_KINDS = ['enqueued', 'completed', 'failed', 'claimRequests'] as const;
export type SeriesKind = typeof SERIES_KINDS[number];

/** Counts per whole second in a ring of HISTORY_SECONDS buckets. */
class SecondSeries {
  private readonly counts = new Float64Array(HISTORY_SECONDS);
  private readonly stamps = new Float64Array(HISTORY_SECONDS).fill(-1);

  add(nowMs: number, n: number): void {
    const s = Math.floor(nowMs / 1000);
    const i = s % HISTORY_SECONDS;
    if (this.stamps[i] !== s) {
      this.stamps[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i] += n;
  }

  /** The last `seconds` whole seconds before the current one, oldest first. */
  last(nowMs: number, seconds: number): number[] {
    const now = Math.floor(nowMs / 1000);
    const out: number[] = [];
    for (let s = now - seconds; s < now; s++) {
      const i = ((s % HISTORY_SECONDS) + HISTORY_SECONDS) % HISTORY_SECONDS;
      out.push(this.stamps[i] === s ? this.counts[i] : 0);
    }
    return out;
  }
}

export class QueueStats {
  readonly counters: Record<CounterKind, number> = Object.fromEntries(COUNTER_KINDS.map((k) => [k, 0])) as Record<CounterKind, number>;
  readonly series: Record<SeriesKind, SecondSeries> = Object.fromEntries(SERIES_KINDS.map((k) => [k, new SecondSeries()])) as Record<SeriesKind, SecondSeries>;
  /** Claim-request arrival times (ms), a ring of ARRIVALS_KEPT. */
  private readonly arrivals: number[] = [];
  private arrivalAt = 0;

  count(kind: CounterKind, n = 1, nowMs = Date.now()): void {
    this.counters[kind] += n;
    if ((SERIES_KINDS as readonly string[]).includes(kind)) this.series[kind as SeriesKind].add(nowMs, n);
    if (kind === 'claimRequests') {
      if (this.arrivals.length < ARRIVALS_KEPT) this.arrivals.push(nowMs);
      else this.arrivals[this.arrivalAt] = nowMs;
      this.arrivalAt = (this.arrivalAt + 1) % ARRIVALS_KEPT;
    }
  }

  /** The kept arrival times since `sinceMs`, ascending. */
  arrivalsSince(sinceMs: number): number[] {
    return this.arrivals.filter((t) => t >= sinceMs).sort((a, b) => a - b);
  }
}

/** Upper bounds of brigade_jobs_push_offer_seconds's buckets, seconds. */
export const OFFER_BUCKETS = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1];

export class JobsStats {
  readonly queues = new Map<string, QueueStats>();
  /** brigade_jobs_push_offer_seconds, once registered (registerJobsMetrics). */
  offerSeconds: client.Histogram | null = null;

  /**
   * One push offer that took `ms` on this node, from the claim being asked for (an enqueue, a
   * credit, a tick) to the offer handed to the worker's connection (one observation a reply).
   */
  offer(ms: number): void {
    this.offerSeconds?.observe(ms / 1000);
  }

  queue(name: string): QueueStats {
    let q = this.queues.get(name);
    if (!q) {
      q = new QueueStats();
      this.queues.set(name, q);
    }
    return q;
  }
}

const COUNTER_HELP: Record<CounterKind, [string, string]> = {
  enqueued: ['brigade_jobs_enqueued_total', 'Jobs enqueued through this node (new ones; an idempotent repeat is not counted)'],
  claimed: ['brigade_jobs_claimed_total', 'Jobs claimed through this node (attempts started), polled or pushed'],
  completed: ['brigade_jobs_completed_total', 'Jobs completed through this node'],
  failed: ['brigade_jobs_failed_total', 'Attempts failed through this node: reported by a worker, or a lease reaped by its tick'],
  dead: ['brigade_jobs_dead_total', 'Jobs that went dead through a failure a worker reported on this node (reaped ones count in the dead gauge only)'],
  leaseExpired: ['brigade_jobs_lease_expired_total', 'Leases this node reaped after they expired (counted in failed too)'],
  pruned: ['brigade_jobs_pruned_total', 'Completed and dead jobs this node deleted under the retention options'],
  claimRequests: ['brigade_jobs_claim_requests_total', 'jobs.claim requests (polls) that arrived at this node'],
  pushed: ['brigade_jobs_pushed_total', 'Jobs this node claimed for push-mode workers and sent them'],
};

/**
 * Registers the jobs metrics. The state gauges (`brigade_jobs_waiting{queue}` …) are the engine's,
 * the same on every node sharing it; one jobCounts call per queue per scrape, shared by the six gauges.
 */
export function registerJobsMetrics(registry: client.Registry, stats: JobsStats, readCounts: () => Promise<Map<string, JobCounts>>): void {
  let pending: Promise<Map<string, JobCounts>> | null = null;
  let pendingAt = 0;
  const counts = (): Promise<Map<string, JobCounts>> => {
    const now = Date.now();
    if (!pending || now - pendingAt > 500) {
      pendingAt = now;
      pending = readCounts().catch(() => new Map());
    }
    return pending;
  };
  for (const state of JOB_STATES) {
    new client.Gauge({
      name: `brigade_jobs_${state}`, help: `Jobs ${state} in each queue (the engine's count, read at scrape time)`,
      labelNames: ['queue'], registers: [registry],
      async collect() {
        this.reset();
        for (const [queue, c] of await counts()) this.set({ queue }, c[state]);
      },
    });
  }
  stats.offerSeconds = new client.Histogram({
    name: 'brigade_jobs_push_offer_seconds',
    help: 'Push offers (replies to jobs.subscribe with jobs) by their time on this node: from the claim being asked for (an enqueue, a credit, a tick) to the offer handed to the worker\'s connection, the commit included',
    buckets: OFFER_BUCKETS, registers: [registry],
  });
  for (const kind of COUNTER_KINDS) {
    const [name, help] = COUNTER_HELP[kind];
    const last = new Map<string, number>();
    new client.Counter({
      name, help, labelNames: ['queue'], registers: [registry],
      collect() {
        for (const [queue, q] of stats.queues) {
          const v = q.counters[kind];
          this.inc({ queue }, Math.max(0, v - (last.get(queue) ?? 0)));
          last.set(queue, v);
        }
      },
    });
  }
}
