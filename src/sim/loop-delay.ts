/**
 * Event-loop delay per process, for the benchmarks that measure latency across several processes
 * (jobs-push): a job late by 20 ms was held up somewhere, and this says in which process's loop.
 *
 * Every process samples the same way, Node's `monitorEventLoopDelay` with a 10 ms timer (the node
 * exports it on /metrics as `brigade_process_nodejs_eventloop_lag_*` when started with
 * `--metrics-loop-lag-ms 10`, as the jobs benchmarks start it; its gauges have the interval taken out):
 * each sample is how long the timer took, so an idle loop reads ~10 ms. Figures here are the
 * *delay*, that minus the timer's 10 ms: how late the loop came back to its timers, which is how
 * long anything arriving meanwhile (a socket read, a reply) waited behind the work in front of it or
 * for a CPU. The simulator's processes keep their own (LoopDelayMonitor); the node's is read off its
 * /metrics (nodeLoopDelay), whose scrape also restarts it, so one scrape before a window and one after
 * give that window's figures.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { simFetch } from './loopback-fetch.ts';

/** The sampling timer's period, ms (prom-client's default: the node's figures use the same). */
export const LOOP_DELAY_RESOLUTION_MS = 10;

/** Delay beyond the sampling timer's period, ms (null: no sample). */
export interface LoopDelay {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

const ms = (ns: number): number | null => (Number.isFinite(ns) && ns > 0 ? Math.max(0, Math.round((ns / 1e6 - LOOP_DELAY_RESOLUTION_MS) * 100) / 100) : null);

export class LoopDelayMonitor {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });

  constructor() {
    this.h.enable();
  }

  summary(): LoopDelay {
    const h = this.h;
    if (h.count === 0) return { p50: null, p90: null, p99: null, max: null, mean: null };
    return { p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) };
  }

  reset(): void {
    this.h.reset();
  }
}

/**
 * The node's event-loop delay since its last /metrics scrape (prom-client's lag gauges, same timer),
 * or null when it has none. Scraping restarts its histogram: call once before a window and once after.
 */
export async function nodeLoopDelay(httpUrl: string): Promise<LoopDelay | null> {
  const res = await simFetch(`${httpUrl}/metrics`);
  const text = await res.text();
  if (!res.ok) return null;
  const read = (name: string): number | null => {
    const m = new RegExp(`^brigade_process_nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
    // The node's gauges are already the delay (its sampling interval taken out, src/gateway/metrics.ts).
    return m ? Math.round(Number(m[1]) * 1e5) / 100 : null;
  };
  const out: LoopDelay = { p50: read('p50'), p90: read('p90'), p99: read('p99'), max: read('max'), mean: read('mean') };
  return Object.values(out).every((v) => v === null) ? null : out;
}
