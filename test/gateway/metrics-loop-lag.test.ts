/**
 * The event-loop lag in /metrics: sampled once a second by default (an idle node stays asleep),
 * every `--metrics-loop-lag-ms` when asked (the latency benchmarks read short stalls with 10).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/cli/config.ts';
import { newStats } from '../../src/core/stats.ts';
import { createMetrics } from '../../src/gateway/index.ts';

const gauge = async (registry: ReturnType<typeof createMetrics>['registry'], name: string) =>
  (await registry.getSingleMetric(`brigade_process_nodejs_eventloop_lag_${name}_seconds`)!.get()).values[0]?.value ?? NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('--metrics-loop-lag-ms: 1000 by default, set by flag or environment; bad values refused', () => {
  assert.equal(loadConfig([], {}).metricsLoopLagMs, 1000);
  assert.equal(loadConfig(['--metrics-loop-lag-ms', '10'], {}).metricsLoopLagMs, 10);
  assert.equal(loadConfig([], { BRIGADE_METRICS_LOOP_LAG_MS: '250' }).metricsLoopLagMs, 250);
  for (const bad of ['0', '12.5', '60001', 'often']) {
    assert.throws(() => loadConfig(['--metrics-loop-lag-ms', bad], {}), (err: unknown) => err instanceof ConfigError && /metricsLoopLagMs/.test(err.message), bad);
  }
});

test('sampled every 10 ms, a 60 ms stall shows in the lag gauges, without the sampling interval', async () => {
  const metrics = createMetrics(newStats(), {}, () => 0, 10);
  await sleep(50);
  await gauge(metrics.registry, 'p99'); // the last gauge read starts a fresh window
  await sleep(25); // Node's histogram records from the second sample after a reset
  const until = performance.now() + 60;
  while (performance.now() < until) { /* block the loop */ }
  await sleep(40);
  const max = await gauge(metrics.registry, 'max');
  assert.ok(max >= 0.03, `the stall is seen: max ${max} s`);
  assert.ok(max < 1, `the lag, not the 10 ms interval in seconds or a unit slip: ${max}`);
  const help = (await metrics.registry.getSingleMetric('brigade_process_nodejs_eventloop_lag_max_seconds')!.get()).help;
  assert.match(help, /sampled every 10 ms/);
});

test('sampled once a second by default: the help says so', async () => {
  const metrics = createMetrics(newStats());
  const help = (await metrics.registry.getSingleMetric('brigade_process_nodejs_eventloop_lag_max_seconds')!.get()).help;
  assert.match(help, /sampled every 1000 ms/);
});
