/**
 * Reads the brigade_* counters and gauges the bench reports from a Brigade process's /metrics
 * (Prometheus text; histogram buckets and prom-client's process metrics left out).
 */
import { simFetch } from './loopback-fetch.ts';
export type Metrics = Record<string, number>;

export async function scrapeMetrics(httpUrl: string, timeoutMs = 5000): Promise<Metrics> {
  const res = await simFetch(`${httpUrl}/metrics`, { timeoutMs });
  if (!res.ok) throw new Error(`GET ${httpUrl}/metrics answered ${res.status}`);
  const out: Metrics = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^(brigade_[a-z_]+?)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m && !m[1].startsWith('brigade_process_') && !m[1].endsWith('_bucket')) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Sums of the same metric over several processes. */
export function sumMetrics(list: Metrics[]): Metrics {
  const out: Metrics = {};
  for (const m of list) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
}
