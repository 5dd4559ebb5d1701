/**
 * The Redis engine's job hashes: since 2026-12-07 an enqueue packs the options no hot step reads
 * (priority, backoffMs, backoffMaxMs, runAt, createdAt) into one field `o` (redis-lua-jobs.ts). A job
 * written before, with those as fields of their own and no `o`, must read and run the same: its
 * record, claim order by priority, a failure's backoff, retrying it when dead. Real redis-server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engines/index.ts';
import { jobQueueBase } from '../../src/engines/redis-jobs.ts';
import { startRedis } from '../helpers/redis-server.ts';

const server = await startRedis();
const admin = new Redis(server.url);
after(async () => {
  admin.disconnect();
  await server.destroy();
});

const T0 = 1_800_000_000_000;

/** Writes job `id` of `queue` as an enqueue did before `o` (every option a field of its own), waiting. */
async function writeOldJob(prefix: string, queue: string, id: number, priority: number, payload: string): Promise<void> {
  const base = jobQueueBase(prefix, queue);
  await admin.hset(`${base}job:${id}`, {
    state: 'waiting', payload, runAt: String(T0), priority: String(priority), maxAttempts: '2', backoffMs: '1000',
    backoffMaxMs: '60000', timeoutMs: '30000', createdAt: String(T0 - 5),
  });
  await admin.zadd(`${base}waiting`, String((1000 - priority) * 2 ** 42 + id), String(id));
  await admin.set(`${base}seq`, String(id));
}

describe('redis engine: job hashes written before the packed options', () => {
  it('read, claim by priority, back off, go dead and retry as they did; new jobs beside them pack their options', async () => {
    const prefix = `test-jobs-layout-${randomBytes(4).toString('hex')}:`;
    const engine = new RedisEngine({ url: server.url, prefix, retention: { retainEvents: 100, keepSnapshots: 2 }, logger: { warn: () => undefined } });
    try {
      await engine.open();
      const queue = 'old';
      await writeOldJob(prefix, queue, 1, 0, '"low"');
      await writeOldJob(prefix, queue, 2, 5, '"high"');
      const record = (await engine.getJob(queue, '2'))!;
      assert.deepEqual(
        [record.state, record.payload, record.priority, record.runAtMs, record.maxAttempts, record.backoffMs, record.backoffMaxMs, record.timeoutMs, record.createdAtMs],
        ['waiting', '"high"', 5, T0, 2, 1000, 60_000, 30_000, T0 - 5],
      );
      // A new job (packed options) with a priority between the old two's.
      const [fresh] = await engine.enqueueJobs(queue, [{
        payload: '"mid"', runAtMs: T0, priority: 3, maxAttempts: 1, backoffMs: 500, backoffMaxMs: 9000, timeoutMs: 20_000,
      }], T0 + 1);
      assert.equal(fresh!.id, '3');
      const packed = await admin.hgetall(`${jobQueueBase(prefix, queue)}job:3`);
      assert.equal(packed.o, `3,500,9000,${T0},${T0 + 1}`);
      assert.equal(packed.priority, undefined);
      const newRecord = (await engine.getJob(queue, '3'))!;
      assert.deepEqual(
        [newRecord.priority, newRecord.runAtMs, newRecord.maxAttempts, newRecord.backoffMs, newRecord.backoffMaxMs, newRecord.timeoutMs, newRecord.createdAtMs],
        [3, T0, 1, 500, 9000, 20_000, T0 + 1],
      );
      const claimed = await engine.claimJobs(queue, 3, T0 + 10);
      assert.deepEqual(claimed.map((j) => j.payload), ['"high"', '"mid"', '"low"']);
      assert.deepEqual(claimed.map((j) => [j.attempt, j.maxAttempts, j.timeoutMs]), [[1, 2, 30_000], [1, 1, 20_000], [1, 2, 30_000]]);
      // The old job's backoff from its own fields: attempt 1 → 1000 ms × [½, 1] (jitter 0: 500).
      assert.deepEqual(await engine.failJob(queue, '2', claimed[0]!.lease, 'e1', 0, T0 + 20), { state: 'failed', runAtMs: T0 + 20 + 500 });
      assert.equal((await engine.getJob(queue, '2'))!.runAtMs, T0 + 520);
      // Promoted by its due time, back ahead of the lower priority (old job 1 is still active).
      assert.equal(await engine.promoteJobs(queue, T0 + 600, 10), 1);
      const again = await engine.claimJobs(queue, 1, T0 + 600);
      assert.deepEqual(again.map((j) => [j.id, j.attempt]), [['2', 2]]);
      // The new job fails its only attempt, the old one its second of two: both dead.
      assert.deepEqual(await engine.failJob(queue, '3', claimed[1]!.lease, 'e2', 0, T0 + 700), { state: 'dead', runAtMs: 0 });
      assert.deepEqual(await engine.failJob(queue, '2', again[0]!.lease, 'e3', 0, T0 + 700), { state: 'dead', runAtMs: 0 });
      // Retried dead jobs wait again in priority order: old 2 (5) before new 3 (3).
      assert.equal(await engine.retryDeadJob(queue, '3', T0 + 800), true);
      assert.equal(await engine.retryDeadJob(queue, '2', T0 + 800), true);
      const retried = await engine.claimJobs(queue, 2, T0 + 900);
      assert.deepEqual(retried.map((j) => [j.id, j.attempt, j.maxAttempts]), [['2', 3, 3], ['3', 2, 2]]);
      // A new job's failure backs off by its packed options: attempt 1 → 400 ms × [½, 1] (jitter 0: 200).
      const [four] = await engine.enqueueJobs(queue, [{
        payload: '"four"', runAtMs: T0, priority: -2, maxAttempts: 3, backoffMs: 400, backoffMaxMs: 9000, timeoutMs: 20_000,
      }], T0 + 950);
      const [taken] = await engine.claimJobs(queue, 1, T0 + 960);
      assert.equal(taken!.id, four!.id);
      assert.deepEqual(await engine.failJob(queue, four!.id, taken!.lease, 'e4', 0, T0 + 1000), { state: 'failed', runAtMs: T0 + 1000 + 200 });
      const listed = await engine.listJobs(queue, 'failed', 10);
      assert.deepEqual(listed.map((j) => [j.id, j.priority, j.runAtMs, j.createdAtMs, j.error]), [[four!.id, -2, T0 + 1200, T0 + 950, 'e4']]);
    } finally {
      await engine.close();
    }
  });
});
