/**
 * The jobs app's column wire forms in a real `brigade serve`, once on the embedded engine and once
 * on a real redis-server: `jobs.enqueue` with `{payloads, options, keys}` (reply `{ids, existing,
 * now}`) and `jobs.complete_many` with `{ids, leases, results}`, what each records, each refusal
 * typed and changing nothing, and the SDK sending both forms.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import { JobsClient } from '../../../src/sdk/jobs.ts';
import { eventually } from '../../helpers/eventually.ts';
import type { ServerProcess } from '../../helpers/server-process.ts';
import { PRODUCER, WORKER, startJobsServer, type JobsServer } from './fixtures/jobs-server.ts';


type Claimed = { id: string; lease: string };

for (const engine of ['embedded', 'redis'] as const) {
  describe(`jobs column wire forms (${engine})`, () => {
    let running: JobsServer | undefined;
    let server: ServerProcess;
    let client: BrigadeClient;
    /** What this test's client sent, by kind (the SDK's requests included). */
    const sent: { kind: string; body: Record<string, unknown> }[] = [];

    before(async () => {
      running = await startJobsServer(engine, ['--jobs-tick-ms', '50', '--jobs-max-payload-bytes', '20000', '--jobs-max-body-bytes', '100000']);
      ({ server, client } = running);
      const request = client.request.bind(client);
      client.request = ((kind: string, body: Record<string, unknown>, options?: never) => {
        sent.push({ kind, body });
        return request(kind, body, options);
      }) as typeof client.request;
    });
    after(async () => {
      await running?.stop();
    });

    const get = async (path: string): Promise<any> => (await fetch(`${server.url}${path}`)).json();
    const counts = async (queue: string): Promise<Record<string, number>> => (await get(`/api/jobs/${queue}`)).counts;
    const refused = (p: Promise<unknown>, code: string, field: string): Promise<void> =>
      assert.rejects(p, (err: Error & { code: string }) => err.code === code && err.message.startsWith(`${field}: `));

    it('jobs.enqueue with payloads, options and keys: one options check, ids and the existing ones by index', async () => {
      const queue = `cols-enq-${engine}`;
      const enqueue = (body: Record<string, unknown>) => client.request<{ ids: string[]; existing: number[]; now: number }>('jobs.enqueue', { key: PRODUCER, queue, ...body });
      const first = await enqueue({ payloads: [{ a: 1 }, 2, null], options: { priority: 5, maxAttempts: 2, timeoutMs: 5000 }, keys: ['k1', null, 'k3'] });
      assert.deepEqual(Object.keys(first).sort(), ['existing', 'ids', 'now']);
      assert.equal(first.ids.length, 3);
      assert.deepEqual(first.existing, []);
      const records = await Promise.all(first.ids.map((id) => get(`/api/jobs/${queue}/${id}`)));
      assert.deepEqual(records.map((r) => [r.payload, r.priority, r.maxAttempts, r.timeoutMs, r.state]),
        [[{ a: 1 }, 5, 2, 5000, 'waiting'], [2, 5, 2, 5000, 'waiting'], [null, 5, 2, 5000, 'waiting']]);
      // A key of the window names its first job: not created again.
      const again = await enqueue({ payloads: ['x', 'y'], keys: ['k3', 'k-new'] });
      assert.equal(again.ids[0], first.ids[2]);
      assert.deepEqual(again.existing, [0]);
      // No options, no keys: the defaults (priority 0, 3 attempts, 30 s lease); a delay shared by all.
      const bare = await enqueue({ payloads: [7, 8] });
      const delayed = await enqueue({ payloads: [9], options: { delayMs: 60_000 } });
      const b = await get(`/api/jobs/${queue}/${bare.ids[1]}`);
      assert.deepEqual([b.payload, b.priority, b.maxAttempts, b.timeoutMs, b.state], [8, 0, 3, 30_000, 'waiting']);
      assert.equal((await get(`/api/jobs/${queue}/${delayed.ids[0]}`)).state, 'delayed');
      assert.deepEqual(await counts(queue), { waiting: 6, delayed: 1, active: 0, failed: 0, completed: 0, dead: 0 });
    });

    it('refuses a bad column enqueue whole, naming the field, and enqueues nothing', async () => {
      const queue = `cols-enq-bad-${engine}`;
      const enqueue = (body: Record<string, unknown>) => client.request('jobs.enqueue', { key: PRODUCER, queue, ...body });
      const cases: [Record<string, unknown>, string, string][] = [
        [{ payloads: [] }, 'JOBS_BAD_OPTION', 'payloads'],
        [{ payloads: 'x' }, 'JOBS_BAD_OPTION', 'payloads'],
        [{ options: { priority: 1 } }, 'JOBS_BAD_OPTION', 'payloads'],
        [{ payloads: [1], jobs: [{ payload: 1 }] }, 'JOBS_BAD_OPTION', 'jobs'],
        [{ payloads: [1], options: 'x' }, 'JOBS_BAD_OPTION', 'options'],
        [{ payloads: [1], options: { payload: 1 } }, 'JOBS_BAD_OPTION', 'options.payload'],
        [{ payloads: [1], options: { key: 'k-refused' } }, 'JOBS_BAD_OPTION', 'options.key'],
        [{ payloads: [1], options: { colour: 'red' } }, 'JOBS_BAD_OPTION', 'options.colour'],
        [{ payloads: [1], options: { priority: 5000 } }, 'JOBS_BAD_OPTION', 'options.priority'],
        [{ payloads: [1, 2], keys: ['k-refused'] }, 'JOBS_BAD_OPTION', 'keys'],
        [{ payloads: [1, 2], keys: ['k-refused', 5] }, 'JOBS_BAD_OPTION', 'keys[1]'],
        [{ payloads: [1, 2], keys: ['k-refused', ''] }, 'JOBS_BAD_OPTION', 'keys[1]'],
        [{ payloads: [1, 'r'.repeat(20_001)], keys: ['k-refused', null] }, 'JOBS_PAYLOAD_TOO_LARGE', 'payloads[1]'],
        [{ payloads: [1], colour: 'red' }, 'JOBS_BAD_OPTION', 'colour'],
      ];
      for (const [body, code, field] of cases) await refused(enqueue(body), code, field);
      await assert.rejects(client.request('jobs.enqueue', { key: 'wrong', queue, payloads: [1], keys: ['k-refused'] }), { code: 'JOBS_BAD_KEY' });
      assert.deepEqual(await counts(queue), { waiting: 0, delayed: 0, active: 0, failed: 0, completed: 0, dead: 0 });
      // No refused request took the key it named.
      const keyed = await client.request<{ existing: number[] }>('jobs.enqueue', { key: PRODUCER, queue, payloads: [1], keys: ['k-refused'] });
      assert.deepEqual(keyed.existing, []);
    });

    it('jobs.complete_many with ids, leases and results: a stale lease refused alone; bad columns refused whole, nothing completed', async () => {
      const queue = `cols-done-${engine}`;
      await client.request('jobs.enqueue', { key: PRODUCER, queue, payloads: [1, 2, 3, 4, 5] });
      const claimed = (await client.request<{ jobs: Claimed[] }>('jobs.claim', { key: WORKER, queue, max: 5 })).jobs;
      assert.equal(claimed.length, 5);
      const [a, b, d, e, f] = claimed as [Claimed, Claimed, Claimed, Claimed, Claimed];
      const many = (body: Record<string, unknown>) => client.request<Record<string, unknown>>('jobs.complete_many', { key: WORKER, queue, ...body });
      const cases: [Record<string, unknown>, string, string][] = [
        [{ ids: [], leases: [] }, 'JOBS_BAD_OPTION', 'ids'],
        [{ ids: 'x', leases: [a.lease] }, 'JOBS_BAD_OPTION', 'ids'],
        [{ leases: [a.lease] }, 'JOBS_BAD_OPTION', 'ids'],
        [{ ids: [a.id] }, 'JOBS_BAD_OPTION', 'leases'],
        [{ ids: [a.id], leases: [a.lease, b.lease] }, 'JOBS_BAD_OPTION', 'leases'],
        [{ ids: [a.id], leases: [a.lease], results: [] }, 'JOBS_BAD_OPTION', 'results'],
        [{ ids: [a.id], leases: [a.lease], results: 'r' }, 'JOBS_BAD_OPTION', 'results'],
        [{ ids: [a.id, 5], leases: [a.lease, b.lease] }, 'JOBS_BAD_OPTION', 'ids[1]'],
        [{ ids: [a.id, b.id], leases: [a.lease, ''] }, 'JOBS_BAD_OPTION', 'leases[1]'],
        [{ ids: [a.id, b.id], leases: [a.lease, b.lease], results: [1, 'r'.repeat(20_001)] }, 'JOBS_PAYLOAD_TOO_LARGE', 'results[1]'],
        [{ ids: [a.id], leases: [a.lease], jobs: [{ id: a.id, lease: a.lease }] }, 'JOBS_BAD_OPTION', 'jobs'],
      ];
      for (const [body, code, field] of cases) await refused(many(body), code, field);
      assert.equal((await counts(queue)).active, 5, 'no refusal completed anything');
      // d completed alone first: its lease is stale in the batch.
      await client.request('jobs.complete', { key: WORKER, queue, id: d.id, lease: d.lease, result: 'alone' });
      const compact = await many({ ids: [a.id, d.id, b.id], leases: [a.lease, d.lease, b.lease], results: [{ n: 1 }, 'again', null], compact: true });
      assert.deepEqual(Object.keys(compact).sort(), ['lost', 'now']);
      assert.deepEqual(compact.lost, [1]);
      // Without results every result is null; without compact, one outcome per job.
      const full = await many({ ids: [e.id, a.id, f.id], leases: [e.lease, a.lease, f.lease] });
      assert.deepEqual(full.outcomes, [{ id: e.id, ok: true }, { id: a.id, ok: false, code: 'JOBS_LEASE_LOST' }, { id: f.id, ok: true }]);
      const records = await Promise.all([a, b, d, e, f].map((j) => get(`/api/jobs/${queue}/${j.id}`)));
      assert.deepEqual(records.map((r) => [r.state, r.result, r.attempt, r.leaseExpiresAt]),
        [['completed', { n: 1 }, 1, null], ['completed', null, 1, null], ['completed', 'alone', 1, null], ['completed', null, 1, null], ['completed', null, 1, null]]);
      assert.deepEqual(await counts(queue), { waiting: 0, delayed: 0, active: 0, failed: 0, completed: 5, dead: 0 });
    });

    it('the SDK sends columns: enqueueMany of shared options, a push worker\'s completions with results only when one is not null', async () => {
      const queue = `cols-sdk-${engine}`;
      const jobs = new JobsClient(client, { producerKey: PRODUCER, workerKey: WORKER });
      sent.length = 0;
      const ids = await jobs.enqueueMany(queue, Array.from({ length: 20 }, (_, i) => ({ payload: i, maxAttempts: 4, key: `sdk-${i}` })));
      assert.ok(ids.every((j) => j.created));
      const repeat = await jobs.enqueueMany(queue, [{ payload: 'again', maxAttempts: 4, key: 'sdk-3' }]);
      assert.deepEqual(repeat, [{ id: ids[3]!.id, created: false }]);
      // Options that differ go as jobs, one object each, as before.
      const mixed = await jobs.enqueueMany(queue, [{ payload: 20, priority: 1 }, { payload: 21 }]);
      assert.deepEqual(mixed.map((j) => j.created), [true, true]);
      const enqueues = sent.filter((s) => s.kind === 'jobs.enqueue').map((s) => s.body);
      assert.deepEqual(enqueues.map((b) => [Array.isArray(b.payloads), Array.isArray(b.jobs)]), [[true, false], [true, false], [false, true]]);
      assert.deepEqual(enqueues[0]!.options, { maxAttempts: 4 });
      const worker = jobs.worker<number>(queue, ({ payload }) => (payload % 2 === 0 ? payload * 10 : null), { mode: 'push', concurrency: 8 });
      try {
        await eventually(async () => (await counts(queue)).completed === 22);
      } finally {
        await worker.stop();
      }
      const completions = sent.filter((s) => s.kind === 'jobs.complete_many').map((s) => s.body);
      assert.ok(completions.length > 0);
      for (const body of completions) {
        assert.equal(body.jobs, undefined);
        assert.ok(Array.isArray(body.ids) && Array.isArray(body.leases) && (body.ids as unknown[]).length === (body.leases as unknown[]).length);
      }
      assert.ok(completions.some((body) => Array.isArray(body.results)), 'even payloads have results');
      const records = await Promise.all(ids.slice(0, 4).map((j) => get(`/api/jobs/${queue}/${j.id}`)));
      assert.deepEqual(records.map((r) => [r.state, r.result, r.maxAttempts]), [['completed', 0, 4], ['completed', null, 4], ['completed', 20, 4], ['completed', null, 4]]);
      assert.equal(worker.stats.completed, 22);
      assert.equal(worker.stats.leasesLost, 0);
    });
  });
}
