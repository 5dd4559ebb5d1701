/**
 * Push mode on a real `brigade serve`: two push workers with concurrency 5 are sent 100 jobs as they
 * are enqueued; every job completes once, no worker holds more than its credit, no jobs.claim is
 * ever sent, and while idle the workers send nothing at all.
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
const clients: BrigadeClient[] = [];

before(async () => {
  server = await startServer(['--apps', 'jobs', '--jobs-producer-key', PRODUCER, '--jobs-worker-key', WORKER, '--jobs-tick-ms', '100']);
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
  server.cleanup();
});

/** A client whose requests are counted by kind. */
async function countingClient(): Promise<{ client: BrigadeClient; sent: Map<string, number> }> {
  const client = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
  clients.push(client);
  await client.ready();
  const sent = new Map<string, number>();
  const request = client.request.bind(client);
  client.request = ((kind: string, body?: unknown, options?: { timeoutMs?: number }) => {
    sent.set(kind, (sent.get(kind) ?? 0) + 1);
    return request(kind, body, options);
  }) as typeof client.request;
  return { client, sent };
}

async function metric(name: string, queue: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{') && l.includes(`queue="${queue}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** Observes a quiet stretch: a window to see that nothing happens in, not a wait for an event. */
const observeFor = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('jobs push mode', () => {
  it('pushes 100 jobs to 2 workers within their credit, each completed once, with no polling', async () => {
    const queue = 'push-100';
    const producer = new JobsClient((await countingClient()).client, { producerKey: PRODUCER });
    const seen = new Map<string, number>();
    const workers = await Promise.all(['w1', 'w2'].map(async (name) => {
      const { client, sent } = await countingClient();
      let held = 0;
      let maxHeld = 0;
      const worker = new JobsClient(client, { workerKey: WORKER }).worker<number>(queue, async ({ id, attempt }) => {
        assert.equal(attempt, 1);
        held++;
        maxHeld = Math.max(maxHeld, held);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
        held--;
      }, { mode: 'push', concurrency: 5, workerId: name });
      return { name, worker, sent, maxHeld: () => maxHeld };
    }));
    // Both subscribed (one open subscribe each) before anything is enqueued: the enqueues push.
    await eventually(() => workers.every((w) => w.sent.get('jobs.subscribe') === 1));
    for (let batch = 0; batch < 4; batch++) {
      await producer.enqueueMany(queue, Array.from({ length: 25 }, (_, i) => ({ payload: batch * 25 + i })));
    }
    await eventually(async () => {
      const completed = workers.reduce((n, w) => n + w.worker.stats.completed, 0);
      return completed === 100 && (await metric('brigade_jobs_completed', queue)) === 100;
    }, { what: 'all 100 completed' });
    assert.equal(seen.size, 100);
    assert.ok([...seen.values()].every((n) => n === 1), 'each job ran once');
    for (const w of workers) {
      assert.ok(w.maxHeld() <= 5, `${w.name} held ${w.maxHeld()} jobs at once, over its credit of 5`);
      assert.ok(w.worker.stats.maxHeld <= 5);
      assert.ok(w.worker.stats.completed > 0, `${w.name} got work`);
      assert.equal(w.sent.get('jobs.claim') ?? 0, 0, 'push workers never poll');
    }
    assert.equal(await metric('brigade_jobs_claim_requests_total', queue), 0);
    assert.equal(await metric('brigade_jobs_pushed_total', queue), 100);

    // Idle: no request of any kind from either worker.
    const before = workers.map((w) => [...w.sent.values()].reduce((a, b) => a + b, 0));
    await observeFor(1500);
    assert.deepEqual(workers.map((w) => [...w.sent.values()].reduce((a, b) => a + b, 0)), before, 'idle workers send nothing');

    // And still subscribed: a job enqueued now is pushed at once.
    await producer.enqueue(queue, 'late');
    await eventually(() => workers.reduce((n, w) => n + w.worker.stats.completed, 0) === 101);
    await Promise.all(workers.map((w) => w.worker.stop()));
  });

  it('a worker sends the completions of one turn in one jobs.complete_many, never one jobs.complete each', async () => {
    const queue = 'push-batched';
    const producer = new JobsClient((await countingClient()).client, { producerKey: PRODUCER });
    await producer.enqueueMany(queue, Array.from({ length: 40 }, (_, i) => ({ payload: i })));
    const { client, sent } = await countingClient();
    const ran = new Map<number, number>();
    // A no-op handler: the 10 jobs of one reply all finish in the turn they arrived.
    const worker = new JobsClient(client, { workerKey: WORKER }).worker<number>(queue, ({ payload }) => {
      ran.set(payload, (ran.get(payload) ?? 0) + 1);
    }, { mode: 'push', concurrency: 10 });
    await eventually(async () => worker.stats.completed === 40 && (await metric('brigade_jobs_completed', queue)) === 40, { what: 'all 40 completed' });
    assert.equal(ran.size, 40);
    assert.ok([...ran.values()].every((n) => n === 1), 'each job ran once');
    assert.equal(sent.get('jobs.complete') ?? 0, 0);
    const batches = sent.get('jobs.complete_many') ?? 0;
    assert.ok(batches >= 4 && batches < 40, `${batches} jobs.complete_many for 40 jobs of concurrency 10`);
    assert.ok(worker.stats.maxHeld <= 10);
    await worker.stop();
  });

  it('a claim fills one worker\'s free slots before the next worker gets any: 8 jobs to workers of concurrency 8 go to one of them', async () => {
    const queue = 'push-fill';
    const producer = new JobsClient((await countingClient()).client, { producerKey: PRODUCER });
    const ranBy = new Map<string, number>();
    const workers = await Promise.all(['f1', 'f2'].map(async (name) => {
      const { client, sent } = await countingClient();
      const worker = new JobsClient(client, { workerKey: WORKER }).worker<number>(queue, () => {
        ranBy.set(name, (ranBy.get(name) ?? 0) + 1);
      }, { mode: 'push', concurrency: 8, workerId: name });
      return { worker, sent };
    }));
    await eventually(() => workers.every((w) => w.sent.get('jobs.subscribe') === 1));
    await producer.enqueueMany(queue, Array.from({ length: 8 }, (_, i) => ({ payload: i })));
    await eventually(() => workers.reduce((n, w) => n + w.worker.stats.completed, 0) === 8, { what: 'all 8 completed' });
    assert.equal(ranBy.size, 1, `one worker ran all 8 (ran by ${JSON.stringify([...ranBy])})`);
    const busy = workers.find((w) => w.worker.stats.completed === 8)!;
    assert.equal(busy.sent.get('jobs.complete_many'), 1, 'its 8 completions went in one jobs.complete_many');
    // Then more than one worker's credit: 12 jobs are 8 to one worker and 4 to the other.
    ranBy.clear();
    await producer.enqueueMany(queue, Array.from({ length: 12 }, (_, i) => ({ payload: 100 + i })));
    await eventually(() => workers.reduce((n, w) => n + w.worker.stats.completed, 0) === 20, { what: 'all 20 completed' });
    assert.deepEqual([...ranBy.values()].sort((a, b) => a - b), [4, 8]);
    await Promise.all(workers.map((w) => w.worker.stop()));
  });

  it('jobs enqueued one by one between completions are pushed by their enqueue, not by the tick', async () => {
    // A second node whose tick never comes in this test: whatever is pushed, the enqueue pushed.
    const slow = await startServer(['--apps', 'jobs', '--jobs-producer-key', PRODUCER, '--jobs-worker-key', WORKER, '--jobs-tick-ms', '600000']);
    const own: BrigadeClient[] = [];
    try {
      const connect = async () => {
        const c = new BrigadeClient(slow.wsUrl, { WebSocket: WebSocket as never });
        own.push(c);
        await c.ready();
        return c;
      };
      const queue = 'push-no-tick';
      const producer = new JobsClient(await connect(), { producerKey: PRODUCER });
      const ran: number[] = [];
      const workers = await Promise.all([1, 2].map(async () => new JobsClient(await connect(), { workerKey: WORKER }).worker<number>(queue,
        ({ payload }) => { ran.push(payload); }, { mode: 'push', concurrency: 3 })));
      await eventually(() => workers.every((w) => w.stats.subscribes === 1));
      for (let i = 0; i < 30; i++) {
        await producer.enqueue(queue, i);
        // Completions come in between the enqueues (and the credit they return): neither delays the next push.
        await eventually(() => ran.length === i + 1, { what: `job ${i} pushed` });
      }
      assert.deepEqual([...ran].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i));
      await eventually(() => workers.reduce((n, w) => n + w.stats.completed, 0) === 30);
      await Promise.all(workers.map((w) => w.stop()));
    } finally {
      for (const c of own) c.close();
      await slow.stop();
      slow.cleanup();
    }
  });

  it('a push worker that disconnects loses nothing: its leases expire and the other worker runs the jobs', async () => {
    const queue = 'push-drop';
    const { client: dropping } = await countingClient();
    const producer = new JobsClient((await countingClient()).client, { producerKey: PRODUCER });
    let started = 0;
    const hung: Array<() => void> = [];
    const dropper = new JobsClient(dropping, { workerKey: WORKER }).worker(queue, async () => {
      started++;
      await new Promise<void>((resolve) => hung.push(resolve)); // does not finish until the test ends
    }, { mode: 'push', concurrency: 2, workerId: 'dropper', heartbeatFraction: 1 / 3 });
    await producer.enqueueMany(queue, [{ payload: 1, timeoutMs: 300 }, { payload: 2, timeoutMs: 300 }]);
    await eventually(() => started === 2);
    dropping.close();
    const { client } = await countingClient();
    const attempts: number[] = [];
    const rescuer = new JobsClient(client, { workerKey: WORKER }).worker(queue, ({ attempt }) => { attempts.push(attempt); },
      { mode: 'push', concurrency: 2, workerId: 'rescuer' });
    await eventually(() => attempts.length === 2);
    assert.deepEqual(attempts, [2, 2]);
    await rescuer.stop();
    // Let the disconnected worker's handlers end, so it stops and leaves nothing running.
    for (const resolve of hung) resolve();
    await dropper.stop();
  });
});
