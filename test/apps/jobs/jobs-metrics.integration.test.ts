/**
 * The jobs app's per-queue metrics on /metrics of a real `brigade serve`: the state gauges read from
 * the engine at scrape time, and this node's counters, each labelled by queue.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import { JobsClient } from '../../../src/sdk/jobs.ts';
import { eventually } from '../../helpers/eventually.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';

const PRODUCER = 'producer-key-for-tests';
const WORKER = 'worker-key-for-tests';
let server: ServerProcess;
let client: BrigadeClient;

before(async () => {
  server = await startServer(['--apps', 'jobs', '--jobs-producer-key', PRODUCER, '--jobs-worker-key', WORKER, '--jobs-tick-ms', '50']);
  client = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
  await client.ready();
});
after(async () => {
  client.close();
  await server.stop();
  server.cleanup();
});

/** Every jobs sample of the exposition as `name{queue="q"}` → value (the node's default labels left out). */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('brigade_jobs_')) continue;
    const name = /^\w+/.exec(line)![0];
    const queue = /queue="[^"]*"/.exec(line)?.[0];
    if (queue) out.set(`${name}{${queue}}`, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

describe('jobs metrics', () => {
  it('exports state gauges and counters per queue', async () => {
    const jobs = new JobsClient(client, { producerKey: PRODUCER, workerKey: WORKER });
    await jobs.enqueue('metrics-a', { ok: 1 });
    await jobs.enqueue('metrics-a', { fail: true }, { maxAttempts: 1 });
    await jobs.enqueue('metrics-a', { later: true }, { delayMs: 60_000 });
    await jobs.enqueue('metrics-a', { ok: 1 }, { key: 'same' });
    await jobs.enqueue('metrics-a', { ok: 2 }, { key: 'same' }); // an idempotent repeat: not counted
    await jobs.enqueue('metrics-b', { other: true });
    let m = await scrape();
    assert.equal(m.get('brigade_jobs_waiting{queue="metrics-a"}'), 3);
    assert.equal(m.get('brigade_jobs_delayed{queue="metrics-a"}'), 1);
    assert.equal(m.get('brigade_jobs_waiting{queue="metrics-b"}'), 1);
    assert.equal(m.get('brigade_jobs_enqueued_total{queue="metrics-a"}'), 4);
    assert.equal(m.get('brigade_jobs_enqueued_total{queue="metrics-b"}'), 1);

    const worker = jobs.worker<{ fail?: boolean }>('metrics-a', ({ payload }) => {
      if (payload.fail) throw new Error('asked to fail');
      return 'done';
    }, { poll: 'fixed', pollMs: 50, concurrency: 2 });
    await eventually(async () => {
      m = await scrape();
      assert.equal(m.get('brigade_jobs_completed{queue="metrics-a"}'), 2);
      assert.equal(m.get('brigade_jobs_dead{queue="metrics-a"}'), 1);
      return true;
    });
    await worker.stop();
    m = await scrape();
    assert.equal(m.get('brigade_jobs_waiting{queue="metrics-a"}'), 0);
    assert.equal(m.get('brigade_jobs_active{queue="metrics-a"}'), 0);
    assert.equal(m.get('brigade_jobs_delayed{queue="metrics-a"}'), 1);
    assert.equal(m.get('brigade_jobs_claimed_total{queue="metrics-a"}'), 3);
    assert.equal(m.get('brigade_jobs_completed_total{queue="metrics-a"}'), 2);
    assert.equal(m.get('brigade_jobs_failed_total{queue="metrics-a"}'), 1);
    assert.equal(m.get('brigade_jobs_dead_total{queue="metrics-a"}'), 1);
    assert.ok(m.get('brigade_jobs_claim_requests_total{queue="metrics-a"}')! >= 1);
    assert.equal(m.get('brigade_jobs_completed_total{queue="metrics-b"}'), 0);
  });

  it('counts a reaped lease as failed and lease-expired', async () => {
    const jobs = new JobsClient(client, { producerKey: PRODUCER, workerKey: WORKER });
    await jobs.enqueue('metrics-reap', null, { timeoutMs: 100, maxAttempts: 5, backoff: 60_000 });
    const claimed = await client.request<{ jobs: unknown[] }>('jobs.claim', { key: WORKER, queue: 'metrics-reap', max: 1 });
    assert.equal(claimed.jobs.length, 1);
    await eventually(async () => {
      const m = await scrape();
      assert.equal(m.get('brigade_jobs_lease_expired_total{queue="metrics-reap"}'), 1);
      assert.equal(m.get('brigade_jobs_failed_total{queue="metrics-reap"}'), 1);
      assert.equal(m.get('brigade_jobs_failed{queue="metrics-reap"}'), 1);
      return true;
    });
  });
  it('times push offers on the node: brigade_jobs_push_offer_seconds counts one per offer a push worker got', async () => {
    const read = async (): Promise<{ count: number; buckets: number[] }> => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const count = Number(/^brigade_jobs_push_offer_seconds_count(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN);
      const buckets = [...text.matchAll(/^brigade_jobs_push_offer_seconds_bucket\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
      return { count, buckets };
    };
    const before = await read();
    assert.ok(Number.isFinite(before.count), 'the histogram is exported before any offer');
    const jobs = new JobsClient(client, { producerKey: PRODUCER, workerKey: WORKER });
    const seen: number[] = [];
    const worker = jobs.worker<{ n: number }>('metrics-push', ({ payload }) => { seen.push(payload.n); }, { mode: 'push', concurrency: 1 });
    try {
      // One at a time, each enqueued after the last was handled: each goes in an offer of its own.
      for (let n = 0; n < 3; n++) {
        await jobs.enqueue('metrics-push', { n });
        await eventually(() => seen.length === n + 1);
      }
    } finally {
      await worker.stop();
    }
    const afterOffers = await read();
    assert.equal(afterOffers.count - before.count, 3);
    // Cumulative buckets, the last (+Inf) holding every offer.
    assert.equal(afterOffers.buckets[afterOffers.buckets.length - 1], afterOffers.count);
    for (let i = 1; i < afterOffers.buckets.length; i++) assert.ok(afterOffers.buckets[i]! >= afterOffers.buckets[i - 1]!);
  });
});
