/**
 * The jobs app in a real `brigade serve` (embedded engine): producing over HTTP with typed refusals,
 * workers over the SDK completing every job exactly once on record, and a worker killed with
 * kill -9 mid-job whose lease expires so another worker completes the job as attempt 2.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import { JobsClient, type JobsWorker } from '../../../src/sdk/jobs.ts';
import { eventually } from '../../helpers/eventually.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const hangingWorker = fileURLToPath(new URL('./fixtures/hanging-worker.ts', import.meta.url));
const PRODUCER = 'producer-key-for-tests';
const WORKER = 'worker-key-for-tests';

let server: ServerProcess;
const clients: BrigadeClient[] = [];

before(async () => {
  server = await startServer(['--apps', 'jobs', '--jobs-producer-key', PRODUCER, '--jobs-worker-key', WORKER,
    '--jobs-tick-ms', '100', '--jobs-slot-separation-ms', '20', '--jobs-max-payload-bytes', '20000', '--jobs-max-body-bytes', '50000']);
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
  server.cleanup();
});

async function post(queue: string, body: unknown, key = PRODUCER, raw?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/api/jobs/${queue}`, {
    method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: raw ?? JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`);
  return { status: res.status, body: await res.json() };
}

async function jobsClient(): Promise<JobsClient> {
  const client = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  clients.push(client);
  await client.ready();
  return new JobsClient(client, { producerKey: PRODUCER, workerKey: WORKER });
}

describe('jobs app', () => {
  it('enqueues over HTTP, one job or a bulk array, and reads jobs and counts back', async () => {
    const one = await post('http-one', { payload: { to: 'a@b.c' }, priority: 3, key: 'k-1' });
    assert.equal(one.status, 201);
    assert.deepEqual(one.body, { id: '1', created: true });
    const again = await post('http-one', { payload: { to: 'other' }, key: 'k-1' });
    assert.deepEqual(again.body, { id: '1', created: false });
    const bulk = await post('http-one', [{ payload: 1 }, { payload: 2, delayMs: 60_000 }]);
    assert.equal(bulk.status, 201);
    assert.deepEqual(bulk.body.jobs.map((j: { id: string }) => j.id), ['2', '3']);
    const job = await get('/api/jobs/http-one/1');
    assert.equal(job.status, 200);
    assert.deepEqual([job.body.state, job.body.payload, job.body.priority, job.body.attempt], ['waiting', { to: 'a@b.c' }, 3, 0]);
    const counts = await get('/api/jobs/http-one');
    assert.deepEqual(counts.body.counts, { waiting: 2, delayed: 1, active: 0, failed: 0, completed: 0, dead: 0 });
    assert.equal((await get('/api/jobs/http-one/99')).body.code, 'JOBS_NOT_FOUND');
  });

  it('refuses bad input with typed errors and enqueues nothing', async () => {
    const wrongKey = await post('bad', { payload: 1 }, 'nope');
    assert.deepEqual([wrongKey.status, wrongKey.body.code], [401, 'JOBS_BAD_KEY']);
    const unknown = await post('bad', { payload: 1, colour: 'red' });
    assert.deepEqual([unknown.status, unknown.body.code, unknown.body.field], [400, 'JOBS_BAD_OPTION', 'colour']);
    const badBulk = await post('bad', [{ payload: 1 }, { maxAttempts: 0 }]);
    assert.deepEqual([badBulk.status, badBulk.body.field], [400, 'jobs[1].maxAttempts']);
    // --jobs-max-payload-bytes 20000: the JSON text of the payload, quotes included.
    const big = await post('bad', { payload: 'x'.repeat(19_999) });
    assert.deepEqual([big.status, big.body.code, big.body.field], [413, 'JOBS_PAYLOAD_TOO_LARGE', 'payload']);
    // --jobs-max-body-bytes 50000: three payloads each under the limit, a body over its own.
    const bigBody = await post('bad', [1, 2, 3].map(() => ({ payload: 'y'.repeat(19_000) })));
    assert.deepEqual([bigBody.status, bigBody.body.code, bigBody.body.field], [413, 'JOBS_PAYLOAD_TOO_LARGE', 'body']);
    const notJson = await post('bad', null, PRODUCER, '{nope');
    assert.deepEqual([notJson.status, notJson.body.code, notJson.body.field], [400, 'JOBS_BAD_OPTION', 'body']);
    const badValue = await post('bad', { payload: 1, priority: 1.5 });
    assert.deepEqual([badValue.status, badValue.body.code, badValue.body.field], [400, 'JOBS_BAD_OPTION', 'priority']);
    const badQueue = await post('has%20space', { payload: 1 });
    assert.deepEqual([badQueue.status, badQueue.body.code], [400, 'JOBS_INVALID_QUEUE']);
    assert.deepEqual((await get('/api/jobs/bad')).body.counts.waiting, 0);
    const jobs = await jobsClient();
    const claim = (jobs as unknown as { client: BrigadeClient }).client.request('jobs.claim', { key: WORKER, queue: 'no/such' });
    await assert.rejects(claim, { code: 'JOBS_INVALID_QUEUE' });
    const wrongWorker = (jobs as unknown as { client: BrigadeClient }).client.request('jobs.claim', { key: 'x', queue: 'bad' });
    await assert.rejects(wrongWorker, { code: 'JOBS_BAD_KEY' });
    const stale = (jobs as unknown as { client: BrigadeClient }).client.request('jobs.complete', { key: WORKER, queue: 'bad', id: '1', lease: 'old' });
    await assert.rejects(stale, { code: 'JOBS_LEASE_LOST' });
    const c = (jobs as unknown as { client: BrigadeClient }).client;
    // Unknown fields of a worker request are refused by name, not ignored.
    await assert.rejects(c.request('jobs.claim', { key: WORKER, queue: 'bad', max: 1, colour: 'red' }),
      (err: Error & { code: string }) => err.code === 'JOBS_BAD_OPTION' && /^colour: /.test(err.message));
    await assert.rejects(c.request('jobs.claim', { key: WORKER, queue: 'bad', max: 0 }), (err: Error & { code: string }) => err.code === 'JOBS_BAD_OPTION' && /^max: /.test(err.message));
    await assert.rejects(c.request('jobs.claim', { key: WORKER, queue: '' }), { code: 'JOBS_INVALID_QUEUE' });
    await assert.rejects(c.request('jobs.claim', { key: WORKER, queue: 'q'.repeat(65) }), { code: 'JOBS_INVALID_QUEUE' });
    assert.equal((await get('/api/jobs/bad')).body.counts.waiting, 0, 'nothing was enqueued by any refusal');

    // A real lease: a result over the limit is refused and records nothing; then a completion,
    // after which the same lease is stale for heartbeat, complete and fail alike.
    await post('leases', { payload: 'p' });
    const [claimed] = (await c.request<{ jobs: { id: string; lease: string }[] }>('jobs.claim', { key: WORKER, queue: 'leases' })).jobs;
    const lease = { key: WORKER, queue: 'leases', id: claimed!.id, lease: claimed!.lease };
    await assert.rejects(c.request('jobs.complete', { ...lease, result: 'r'.repeat(20_000) }),
      (err: Error & { code: string }) => err.code === 'JOBS_PAYLOAD_TOO_LARGE' && /^result: /.test(err.message));
    assert.equal((await get(`/api/jobs/leases/${claimed!.id}`)).body.state, 'active');
    await c.request('jobs.complete', { ...lease, result: 'first' });
    await assert.rejects(c.request('jobs.heartbeat', lease), { code: 'JOBS_LEASE_LOST' });
    await assert.rejects(c.request('jobs.complete', { ...lease, result: 'second' }), { code: 'JOBS_LEASE_LOST' });
    await assert.rejects(c.request('jobs.fail', { ...lease, error: 'late' }), { code: 'JOBS_LEASE_LOST' });
    const done = (await get(`/api/jobs/leases/${claimed!.id}`)).body;
    assert.deepEqual([done.state, done.result, done.attempt, done.error], ['completed', 'first', 1, null]);
  });

  it('jobs.complete_many completes a batch in one request, a stale lease in it refused alone; bad input refused whole', async () => {
    const c = (await jobsClient() as unknown as { client: BrigadeClient }).client;
    await post('many', [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const claimed = (await c.request<{ jobs: { id: string; lease: string }[] }>('jobs.claim', { key: WORKER, queue: 'many', max: 3 })).jobs;
    assert.equal(claimed.length, 3);
    const [a, b, d] = claimed as [{ id: string; lease: string }, { id: string; lease: string }, { id: string; lease: string }];
    const ok = { key: WORKER, queue: 'many' };
    // Refused whole, each naming its field; nothing completed by any of them.
    const refusals: [unknown, string, RegExp][] = [
      [[], 'JOBS_BAD_OPTION', /^jobs: /],
      ['x', 'JOBS_BAD_OPTION', /^jobs: /],
      [[{ id: a.id, lease: a.lease, result: 1 }, { id: b.id, lease: b.lease, colour: 'red' }], 'JOBS_BAD_OPTION', /^jobs\[1\]\.colour: /],
      [[{ id: a.id, lease: a.lease, result: 1 }, { id: b.id, result: 1 }], 'JOBS_BAD_OPTION', /^jobs\[1\]\.lease: /],
      [[{ id: a.id, lease: a.lease, result: 1 }, { id: b.id, lease: b.lease, result: 'r'.repeat(20_000) }], 'JOBS_PAYLOAD_TOO_LARGE', /^jobs\[1\]\.result: /],
    ];
    for (const [jobs, code, message] of refusals) {
      await assert.rejects(c.request('jobs.complete_many', { ...ok, jobs }), (err: Error & { code: string }) => err.code === code && message.test(err.message));
    }
    await assert.rejects(c.request('jobs.complete_many', { ...ok, key: 'wrong', jobs: [{ id: a.id, lease: a.lease }] }), { code: 'JOBS_BAD_KEY' });
    assert.equal((await get('/api/jobs/many')).body.counts.active, 3, 'no refusal completed anything');
    // d completed alone first: its lease is stale in the batch.
    await c.request('jobs.complete', { ...ok, id: d.id, lease: d.lease, result: 'alone' });
    const reply = await c.request<{ outcomes: { id: string; ok: boolean; code?: string }[] }>('jobs.complete_many', {
      ...ok, jobs: [{ id: a.id, lease: a.lease, result: { n: 1 } }, { id: d.id, lease: d.lease, result: 'again' }, { id: b.id, lease: b.lease }],
    });
    assert.deepEqual(reply.outcomes, [
      { id: a.id, ok: true }, { id: d.id, ok: false, code: 'JOBS_LEASE_LOST' }, { id: b.id, ok: true },
    ]);
    const records = await Promise.all([a, b, d].map(async (j) => (await get(`/api/jobs/many/${j.id}`)).body));
    assert.deepEqual(records.map((r) => [r.state, r.result]), [['completed', { n: 1 }], ['completed', null], ['completed', 'alone']]);
  });

  it('jobs.complete_many with compact: true answers {lost: [indexes], now}; a compact that is not a boolean is refused, nothing completed', async () => {
    const c = (await jobsClient() as unknown as { client: BrigadeClient }).client;
    await post('compact', [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const claimed = (await c.request<{ jobs: { id: string; lease: string }[] }>('jobs.claim', { key: WORKER, queue: 'compact', max: 3 })).jobs;
    const [a, b, d] = claimed as [{ id: string; lease: string }, { id: string; lease: string }, { id: string; lease: string }];
    const ok = { key: WORKER, queue: 'compact' };
    await assert.rejects(c.request('jobs.complete_many', { ...ok, compact: 'yes', jobs: [{ id: a.id, lease: a.lease }] }),
      (err: Error & { code: string }) => err.code === 'JOBS_BAD_OPTION' && /^compact: /.test(err.message));
    assert.equal((await get('/api/jobs/compact')).body.counts.active, 3, 'the refusal completed nothing');
    await c.request('jobs.complete', { ...ok, id: b.id, lease: b.lease, result: 'alone' });
    const reply = await c.request<Record<string, unknown>>('jobs.complete_many', {
      ...ok, compact: true, jobs: [{ id: a.id, lease: a.lease, result: 'A' }, { id: b.id, lease: b.lease, result: 'again' }, { id: d.id, lease: d.lease }],
    });
    assert.deepEqual(Object.keys(reply).sort(), ['lost', 'now']);
    assert.deepEqual(reply.lost, [1]);
    const records = await Promise.all([a, b, d].map(async (j) => (await get(`/api/jobs/compact/${j.id}`)).body));
    assert.deepEqual(records.map((r) => [r.state, r.result]), [['completed', 'A'], ['completed', 'alone'], ['completed', null]]);
  });

  it('a handler that returns at once completes with its value, one that throws at once fails its attempt (no timers needed)', async () => {
    const jobs = await jobsClient();
    const { id: good } = await jobs.enqueue('sync', 'good', { maxAttempts: 1 });
    const { id: bad } = await jobs.enqueue('sync', 'bad', { maxAttempts: 1 });
    const worker = jobs.worker<string>('sync', (job) => {
      if (job.payload === 'bad') throw new Error('thrown at once');
      return { echoed: job.payload, attempt: job.attempt };
    }, { poll: 'fixed', pollMs: 20, concurrency: 2 });
    await eventually(async () => (await get(`/api/jobs/sync/${bad}`)).body.state === 'dead', { what: 'the thrower dead', timeoutMs: 10_000 });
    await eventually(async () => (await get(`/api/jobs/sync/${good}`)).body.state === 'completed', { what: 'the good one completed', timeoutMs: 10_000 });
    await worker.stop();
    assert.deepEqual((await get(`/api/jobs/sync/${good}`)).body.result, { echoed: 'good', attempt: 1 });
    assert.equal((await get(`/api/jobs/sync/${bad}`)).body.error, 'thrown at once');
    assert.deepEqual([worker.stats.completed, worker.stats.failed, worker.stats.maxHeld <= 2], [1, 1, true]);
  });

  it('a handler that never returns fails its attempt at handlerTimeoutMs; past maxAttempts the job is dead', async () => {
    const jobs = await jobsClient();
    const { id } = await jobs.enqueue('hangs', null, { maxAttempts: 2, backoff: 10 });
    const attempts: number[] = [];
    const worker = jobs.worker('hangs', (job) => {
      attempts.push(job.attempt);
      return new Promise(() => {}); // never settles, ignores its signal
    }, { poll: 'fixed', pollMs: 20, handlerTimeoutMs: 150 });
    await eventually(async () => (await get(`/api/jobs/hangs/${id}`)).body.state === 'dead', { what: 'dead after two timeouts', timeoutMs: 10_000 });
    await worker.stop();
    const job = (await get(`/api/jobs/hangs/${id}`)).body;
    assert.deepEqual(attempts, [1, 2]);
    assert.equal(job.attempt, 2);
    assert.equal(job.error, 'handler timed out after 150 ms');
  });

  it('a handler\'s signal aborts at handlerTimeoutMs, whether the handler read it at the start or only afterwards', async () => {
    const jobs = await jobsClient();
    await jobs.enqueue('aborts', 'early', { maxAttempts: 1 });
    await jobs.enqueue('aborts', 'late', { maxAttempts: 1 });
    const seen: Record<string, { aborted: boolean; reason: string }> = {};
    const worker = jobs.worker<string>('aborts', (job) => {
      if (job.payload === 'early') {
        const signal = job.signal;
        assert.equal(signal.aborted, false);
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => {
          seen.early = { aborted: signal.aborted, reason: String((signal.reason as Error).message) };
          resolve();
        }));
      }
      // Never reads its signal until its time is up.
      return new Promise<void>((resolve) => setTimeout(() => {
        seen.late = { aborted: job.signal.aborted, reason: String((job.signal.reason as Error).message) };
        resolve();
      }, 400));
    }, { poll: 'fixed', pollMs: 20, concurrency: 2, handlerTimeoutMs: 150 });
    await eventually(() => seen.early !== undefined && seen.late !== undefined, { what: 'both handlers saw their signal', timeoutMs: 10_000 });
    await worker.stop();
    assert.deepEqual(seen, {
      early: { aborted: true, reason: 'handler timed out after 150 ms' },
      late: { aborted: true, reason: 'handler timed out after 150 ms' },
    });
  });

  it('200 jobs, 3 workers: every job completed exactly once on record', async () => {
    const producer = await jobsClient();
    const ids = await producer.enqueueMany('bulk200', Array.from({ length: 200 }, (_, i) => ({ payload: { n: i } })));
    assert.equal(new Set(ids.map((r) => r.id)).size, 200);
    const runs = new Map<number, number>();
    const workers: JobsWorker[] = [];
    for (let w = 0; w < 3; w++) {
      const jobs = await jobsClient();
      workers.push(jobs.worker<{ n: number }>('bulk200', async (job) => {
        runs.set(job.payload.n, (runs.get(job.payload.n) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        return { doubled: job.payload.n * 2, by: w };
      }, { concurrency: 5 }));
    }
    await eventually(async () => (await get('/api/jobs/bulk200')).body.counts.completed === 200, { what: '200 jobs completed', timeoutMs: 30_000 });
    await Promise.all(workers.map((w) => w.stop()));
    assert.equal(runs.size, 200);
    assert.ok([...runs.values()].every((n) => n === 1), 'each handler ran once');
    const byWorker = new Set<number>();
    for (const { id } of ids.filter((_, i) => i % 20 === 0)) {
      const job = (await get(`/api/jobs/bulk200/${id}`)).body;
      assert.equal(job.state, 'completed');
      assert.equal(job.attempt, 1);
      assert.equal(job.result.doubled, job.payload.n * 2);
      byWorker.add(job.result.by);
    }
    assert.ok(byWorker.size >= 2, 'the workers shared the work');
    assert.equal(workers.reduce((s, w) => s + w.stats.completed, 0), 200);
  });

  it('a worker killed with kill -9 mid-job loses its lease; another completes the job as attempt 2', async () => {
    const producer = await jobsClient();
    const { id } = await producer.enqueue('crash', { work: 'x' }, { timeoutMs: 1000, backoff: 0, maxAttempts: 3 });
    const child = spawn(process.execPath, ['--import', 'tsx', hangingWorker, server.wsUrl, WORKER, 'crash'], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    try {
      await eventually(() => out.includes(`started ${id} 1`), { what: 'the child worker took the job', timeoutMs: 15_000 });
      // It heartbeats: the lease outlives its 1 s timeout while the child lives.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await get(`/api/jobs/crash/${id}`)).body.state, 'active');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const jobs = await jobsClient();
    const seen: number[] = [];
    const worker = jobs.worker('crash', (job) => {
      seen.push(job.attempt);
      return 'done';
    }, { poll: 'fixed', pollMs: 50 });
    await eventually(async () => (await get(`/api/jobs/crash/${id}`)).body.state === 'completed', { what: 'the job completed by another worker', timeoutMs: 10_000 });
    await worker.stop();
    const job = (await get(`/api/jobs/crash/${id}`)).body;
    assert.deepEqual(seen, [2]);
    assert.equal(job.attempt, 2);
    assert.equal(job.result, 'done');
    assert.equal(job.error, 'lease expired');
  });

  it('a handler that throws retries with backoff; past maxAttempts the job is dead', async () => {
    const jobs = await jobsClient();
    const { id } = await jobs.enqueue('flaky', null, { maxAttempts: 2, backoff: 10 });
    const attempts: number[] = [];
    const worker = jobs.worker('flaky', (job) => {
      attempts.push(job.attempt);
      throw new Error(`nope ${job.attempt}`);
    }, { poll: 'fixed', pollMs: 20 });
    await eventually(async () => (await get(`/api/jobs/flaky/${id}`)).body.state === 'dead', { what: 'dead', timeoutMs: 10_000 });
    await worker.stop();
    assert.deepEqual(attempts, [1, 2]);
    assert.equal((await get(`/api/jobs/flaky/${id}`)).body.error, 'nope 2');
  });

  it('jobs.slots: index and count come from expiring membership and rebalance when a worker leaves', async () => {
    const c = (await jobsClient() as unknown as { client: BrigadeClient }).client;
    const slots = (worker: string) => c.request<{ index: number; count: number; separationMs: number; ttlMs: number }>(
      'jobs.slots', { key: WORKER, queue: 'slotq', worker });
    assert.deepEqual(await slots('w-b').then((r) => [r.index, r.count, r.separationMs]), [0, 1, 20]);
    assert.deepEqual(await slots('w-a').then((r) => [r.index, r.count]), [0, 2]);
    assert.deepEqual(await slots('w-b').then((r) => [r.index, r.count]), [1, 2]);
    // w-a stops re-joining: after its ttl, w-b is alone again and takes index 0.
    const { ttlMs } = await slots('w-b');
    // The keep-alive's last request is awaited before the test ends: one still in flight when the
    // client closes would reject after the test (a CI run saw it as an unhandled rejection).
    let lastKeepAlive: Promise<unknown> = Promise.resolve();
    const keepAlive = setInterval(() => { lastKeepAlive = slots('w-b'); }, 500);
    try {
      await eventually(async () => {
        const r = await slots('w-b');
        return r.index === 0 && r.count === 1;
      }, { what: 'w-a expired', timeoutMs: ttlMs + 3000 });
    } finally {
      clearInterval(keepAlive);
      await lastKeepAlive;
    }
  });
});
