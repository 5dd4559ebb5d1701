/**
 * The jobs app's dead-letter tools and retention in a real `brigade serve`, once on the embedded
 * engine and once on a real redis-server: retry and drop of dead jobs over HTTP with the admin
 * token (401 without it, 404 for a job that is not dead), and completed and dead jobs deleted by the
 * retention options while an idempotency key keeps answering its first id for its window.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import { JobsClient } from '../../../src/sdk/jobs.ts';
import { eventually } from '../../helpers/eventually.ts';
import type { ServerProcess } from '../../helpers/server-process.ts';
import { PRODUCER, WORKER, startJobsServer, type JobsServer } from './fixtures/jobs-server.ts';


for (const engine of ['embedded', 'redis'] as const) {
  describe(`jobs dead letters and retention (${engine})`, () => {
    let running: JobsServer | undefined;
    let server: ServerProcess;
    let client: BrigadeClient;
    let jobs: JobsClient;

    before(async () => {
      running = await startJobsServer(engine, ['--jobs-tick-ms', '50',
        '--jobs-keep-completed-ms', '300', '--jobs-keep-dead-count', '2', '--jobs-keep-dead-ms', '0']);
      ({ server, client } = running);
      jobs = new JobsClient(client, { producerKey: PRODUCER, workerKey: WORKER });
    });
    after(async () => {
      await running?.stop();
    });

    const get = async (path: string): Promise<{ status: number; body: any }> => {
      const res = await fetch(`${server.url}${path}`);
      return { status: res.status, body: await res.json() };
    };
    const admin = async (path: string, token = server.adminToken): Promise<{ status: number; body: any }> => {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      return { status: res.status, body: await res.json() };
    };
    /** Claims and fails every job of the queue once (maxAttempts 1: each goes dead). */
    const killAll = async (queue: string, n: number): Promise<void> => {
      const claimed = await client.request<{ jobs: { id: string; lease: string }[] }>('jobs.claim', { key: WORKER, queue, max: n });
      assert.equal(claimed.jobs.length, n);
      for (const j of claimed.jobs) {
        const r = await client.request<{ state: string }>('jobs.fail', { key: WORKER, queue, id: j.id, lease: j.lease, error: 'nope' });
        assert.equal(r.state, 'dead');
      }
    };

    it('retries and drops dead jobs with the admin token; refuses others, typed, changing nothing', async () => {
      const queue = 'dead-tools';
      const ids = await jobs.enqueueMany(queue, [{ payload: 1, maxAttempts: 1 }, { payload: 2, maxAttempts: 1 }]);
      await killAll(queue, 2);
      const [a, b] = ids.map((j) => j.id);
      const overview = (await get('/api/jobs')).body.queues.find((q: any) => q.queue === queue);
      assert.deepEqual(overview.dead.map((j: any) => j.id).sort(), [a, b].sort());

      const noToken = await admin(`/api/jobs/${queue}/${a}/retry`, 'wrong');
      assert.deepEqual([noToken.status, noToken.body.code], [401, 'JOBS_BAD_KEY']);
      const badQueue = await admin(`/api/jobs/bad%20queue/${a}/drop`);
      assert.deepEqual([badQueue.status, badQueue.body.code, badQueue.body.field], [400, 'JOBS_INVALID_QUEUE', 'queue']);
      assert.equal((await get(`/api/jobs/${queue}/${a}`)).body.state, 'dead');

      const retried = await admin(`/api/jobs/${queue}/${a}/retry`);
      assert.deepEqual([retried.status, retried.body], [200, { ok: true, queue, id: a, action: 'retry' }]);
      const again = await admin(`/api/jobs/${queue}/${a}/retry`);
      assert.deepEqual([again.status, again.body.code], [404, 'JOBS_NOT_FOUND']);
      const worker = jobs.worker(queue, async ({ attempt }) => ({ attempt }), { concurrency: 1, poll: 'fixed', pollMs: 50 });
      try {
        const done = await eventually(async () => { const j = (await get(`/api/jobs/${queue}/${a}`)).body; return j.state === 'completed' && j; },
          { what: 'the retried job completed', timeoutMs: 15_000 });
        assert.deepEqual(done.result, { attempt: 2 });
      } finally {
        await worker.stop();
      }

      const dropped = await admin(`/api/jobs/${queue}/${b}/drop`);
      assert.deepEqual([dropped.status, dropped.body.action], [200, 'drop']);
      assert.equal((await get(`/api/jobs/${queue}/${b}`)).status, 404);
      const notDead = await admin(`/api/jobs/${queue}/${a}/drop`);
      assert.deepEqual([notDead.status, notDead.body.code], [404, 'JOBS_NOT_FOUND']);
      assert.equal((await get(`/api/jobs/${queue}/${a}`)).body.state, 'completed', 'a refused drop deletes nothing');
    });

    it('retention deletes completed jobs after --jobs-keep-completed-ms and keeps the newest --jobs-keep-dead-count dead; keys keep their window', async () => {
      const queue = 'retained';
      const [keyed] = await jobs.enqueueMany(queue, [{ payload: 'keyed', key: 'once-only' }]);
      const worker = jobs.worker(queue, async () => 'ok', { concurrency: 2, poll: 'fixed', pollMs: 50 });
      try {
        await eventually(async () => (await get(`/api/jobs/${queue}`)).body.counts.completed === 1, { what: 'the keyed job completed', timeoutMs: 15_000 });
      } finally {
        await worker.stop();
      }
      // Gone after 300 ms (the retention pass runs at most once a second).
      await eventually(async () => (await get(`/api/jobs/${queue}/${keyed!.id}`)).status === 404, { what: 'the completed job deleted', timeoutMs: 15_000 });
      assert.equal((await get(`/api/jobs/${queue}`)).body.counts.completed, 0);
      // Its key's window (24 h) still holds: no second job.
      assert.deepEqual(await jobs.enqueue(queue, 'keyed again', { key: 'once-only' }), { id: keyed!.id, created: false });
      assert.equal((await get(`/api/jobs/${queue}`)).body.counts.waiting, 0);

      const dead = await jobs.enqueueMany(queue, [1, 2, 3, 4].map((n) => ({ payload: n, maxAttempts: 1 })));
      await killAll(queue, 4);
      await eventually(async () => (await get(`/api/jobs/${queue}`)).body.counts.dead === 2, { what: 'dead jobs down to 2', timeoutMs: 15_000 });
      const kept = (await get('/api/jobs')).body.queues.find((q: any) => q.queue === queue).dead.map((j: any) => j.id).sort();
      assert.deepEqual(kept, [dead[2]!.id, dead[3]!.id].sort(), 'the newest two dead jobs are kept');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      // The node's default labels sit beside `queue`.
      const pruned = metrics.split('\n').find((l) => l.startsWith('brigade_jobs_pruned_total{') && l.includes(`queue="${queue}"`));
      assert.ok(pruned && Number(pruned.split(' ').pop()) >= 3, `pruned counter: ${pruned}`);
    });
  });
}
