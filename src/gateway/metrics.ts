/**
 * Prometheus metrics (prom-client). The core keeps plain counters; these collectors read them at
 * scrape time, so the hot path never touches a metrics library.
 */
import { readdir } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';
import { pollingCounter, RateWindow } from '../util/metrics.ts';
export { pollingCounter, RateWindow } from '../util/metrics.ts';
import type { CoreObserver, CoreStats } from '../core/index.ts';
import { sinkWrites } from './ws-sink.ts';

export interface GatewayMetrics {
  registry: client.Registry;
  observer: CoreObserver;
}

export function createMetrics(stats: CoreStats, labels: Record<string, string> = {}, maxBufferedBytes: () => number = () => 0, lagSampleMs = LAG_SAMPLE_MS): GatewayMetrics {
  const registry = new client.Registry();
  registry.setDefaultLabels(labels);
  // Its own event-loop histogram times a timer every eventLoopMonitoringPrecision ms: pushed out of
  // reach (2^31 - 1 ms); eventLoopLagGauges() below replaces its lag figures.
  client.collectDefaultMetrics({ register: registry, prefix: 'brigade_process_', eventLoopMonitoringPrecision: 2 ** 31 - 1 });
  // prom-client reads these synchronously, and each costs one step per open socket: with 15,000
  // connections a scrape blocked the event loop for 35-50 ms (a tick's fan-out waited behind it;
  // over Redis that made ticks miss their grid point). Handles and requests are dropped (the
  // connection gauges say more); the open descriptors are read off the event loop instead.
  for (const name of ['process_open_fds', 'nodejs_active_handles', 'nodejs_active_handles_total',
    'nodejs_active_requests', 'nodejs_active_requests_total', 'nodejs_active_resources', 'nodejs_active_resources_total']) {
    if (registry.getSingleMetric(`brigade_process_${name}`)) registry.removeSingleMetric(`brigade_process_${name}`);
  }
  eventLoopLagGauges(registry, lagSampleMs);
  if (process.platform === 'linux') {
    new client.Gauge({
      name: 'brigade_process_process_open_fds', help: 'Number of open file descriptors.', registers: [registry],
      async collect() {
        try {
          this.set((await readdir('/proc/self/fd')).length);
        } catch { /* not readable here: no sample */ }
      },
    });
  }

  const counter = (name: string, help: string, read: () => number) => pollingCounter(registry, name, help, read);
  const gauge = (name: string, help: string, read: () => number) => {
    new client.Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };

  gauge('brigade_connections', 'Open WebSocket connections', () => stats.connections);
  counter('brigade_connects_total', 'WebSocket connections accepted', () => stats.connectsTotal);
  // Rates over a sliding window sampled once a second, so any number of scrapers (Prometheus,
  // `brigade autoscale`) read the same figure.
  const rates = new RateWindow(10, {
    connects: () => stats.connectsTotal,
    messagesIn: () => stats.messagesIn,
    messagesOut: () => stats.messagesOut,
  });
  gauge('brigade_connects_per_second', 'WebSocket connections accepted per second, mean over the last 10 s', () => rates.perSecond('connects'));
  gauge('brigade_messages_in_per_second', 'WebSocket messages received per second (all apps), mean over the last 10 s', () => rates.perSecond('messagesIn'));
  gauge('brigade_messages_out_per_second', 'WebSocket messages sent per second (all apps), mean over the last 10 s', () => rates.perSecond('messagesOut'));
  counter('brigade_messages_in_total', 'WebSocket messages received (all apps)', () => stats.messagesIn);
  counter('brigade_messages_out_total', 'WebSocket messages sent (all apps)', () => stats.messagesOut);
  counter('brigade_events_in_total', 'Events accepted for appending', () => stats.eventsIn);
  counter('brigade_publishes_refused_total', 'Publishes refused with an error', () => stats.publishesRefused);
  counter('brigade_socket_writes_total', 'Writes to /ws sockets: one per socket per event-loop iteration that sent it anything', () => sinkWrites.total);
  counter('brigade_appends_in_doubt_total', 'Appends whose outcome the engine could not tell, tried again with the same stamps', () => stats.appendsInDoubt);
  counter('brigade_publish_repeats_total', 'Publishes found already committed (re-sent with the same stamp), answered with their original version', () => stats.publishRepeats);
  counter('brigade_outcomes_unknown_total', 'Publishes answered OUTCOME_UNKNOWN after outcomeUnknownAfterMs', () => stats.outcomesUnknown);
  counter('brigade_frames_out_total', 'Frames written to subscribers (batches, catch-up, snapshots)', () => stats.framesOut);
  counter('brigade_bytes_out_total', 'Bytes of frames written to subscribers', () => stats.bytesOut);
  counter('brigade_batches_total', 'Committed batches fanned out', () => stats.batches);
  counter('brigade_behind_total', 'Times a subscription was paused with BEHIND', () => stats.behindTotal);
  counter('brigade_resumes_total', 'Times a paused subscription resumed', () => stats.resumesTotal);
  counter('brigade_epoch_changes_total', 'Times a loaded channel was found at a new epoch (its log lost by the engine) and reloaded', () => stats.epochChangesTotal);
  counter('brigade_stale_epoch_batches_total', 'Committed batches of an epoch already left behind, dropped', () => stats.staleEpochBatchesTotal);
  counter('brigade_snapshots_sent_total', 'Snapshots sent to clients', () => stats.snapshotsSent);
  counter('brigade_protocol_errors_total', 'Malformed or unknown frames received', () => stats.protocolErrors);
  counter('brigade_ticks_total', 'Ticks that appended at least one batch', () => stats.ticks);
  gauge('brigade_connection_buffered_bytes_max', 'Largest unsent byte count on any one connection', maxBufferedBytes);
  gauge('brigade_channels_loaded', 'Channels loaded in memory on this node', () => stats.channelsLoaded);
  counter('brigade_channels_unloaded_total', 'Channels unloaded after channelIdleMs without subscriptions', () => stats.channelsUnloadedTotal);
  gauge('brigade_tick_interval_ms', 'Current adaptive tick interval, ms', () => stats.currentTickMs);
  gauge('brigade_fan_out_grace_ms', 'Over Redis: how long after its grid point the last tick waited for other nodes\' batches before fanning out, ms', () => stats.fanOutGraceMs);

  const tick = new client.Histogram({
    name: 'brigade_tick_duration_seconds', help: 'Append + fan-out time per tick', registers: [registry],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const batch = new client.Histogram({
    name: 'brigade_batch_events', help: 'Events per committed batch', registers: [registry],
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000],
  });
  return {
    registry,
    observer: { tick: (ms) => tick.observe(ms / 1000), batch: (n) => batch.observe(n) },
  };
}

/** How often the event-loop lag is sampled by default, ms (`--metrics-loop-lag-ms`): one timer wake-up per sample, idle or not. */
export const LAG_SAMPLE_MS = 1000;
const LAG_NAMES = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/**
 * `brigade_process_nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds`, in place of
 * prom-client's: its histogram times a timer every 10 ms (`eventLoopMonitoringPrecision`), 100
 * wake-ups a second that were most of an idle node's CPU (docs/benchmarks-inbox.md, "An idle
 * node"). This one samples every `sampleMs` (LAG_SAMPLE_MS unless `--metrics-loop-lag-ms` says) and reports how late each sample came, the
 * interval taken out (prom-client's figures include its 10 ms interval), so 0 means on time. A
 * stall shows when it covers a sample's instant: every stall of a second or more, shorter ones in
 * proportion to their length. Reset at each scrape, as prom-client's is.
 */
function eventLoopLagGauges(registry: client.Registry, sampleMs: number): void {
  for (const k of LAG_NAMES) {
    const name = `brigade_process_nodejs_eventloop_lag_${k}_seconds`;
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  }
  const histogram = monitorEventLoopDelay({ resolution: sampleMs });
  histogram.enable();
  const intervalNs = sampleMs * 1e6;
  const lag = (ns: number) => (Number.isFinite(ns) && histogram.count > 0 ? Math.max(0, ns - intervalNs) / 1e9 : 0);
  const read: Record<(typeof LAG_NAMES)[number], () => number> = {
    min: () => lag(histogram.min), max: () => lag(histogram.max), mean: () => lag(histogram.mean),
    stddev: () => (histogram.count > 1 ? histogram.stddev / 1e9 : 0),
    p50: () => lag(histogram.percentile(50)), p90: () => lag(histogram.percentile(90)), p99: () => lag(histogram.percentile(99)),
  };
  for (const k of LAG_NAMES) {
    new client.Gauge({
      name: `brigade_process_nodejs_eventloop_lag_${k}_seconds`, help: `The ${k} of the event loop's lag, sampled every ${sampleMs} ms, seconds.`, registers: [registry],
      collect() {
        this.set(read[k]());
        // The gauges are collected in this order: the last one starts the next scrape's samples.
        if (k === 'p99') histogram.reset();
      },
    });
  }
}
