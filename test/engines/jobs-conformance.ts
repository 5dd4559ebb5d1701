/**
 * The conformance suite of the optional engine ability JobQueues (core/engine.ts), run by each
 * engine that has it. Every call takes its `nowMs`, so the cases move time by hand: no sleeping.
 *
 * `make` returns a fresh, unopened engine over fresh storage (the suite opens and closes it).
 * `options.makePair` (engines shared between processes) returns two unopened engines over ONE
 * storage; `options.reopenable` returns an engine and a function making another one over the same
 * storage (durability). `options.cleanup` runs once, after every case.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { hasJobQueues, jobBackoffMs, type Engine, type JobQueues, type NewJob } from '../../src/core/engine.ts';

type Q = Engine & JobQueues;

export interface JobsConformanceOptions {
  makePair?: () => Promise<[Engine, Engine]>;
  reopenable?: () => Promise<{ engine: Engine; reopen: () => Promise<Engine> }>;
  cleanup?: () => Promise<void>;
}

const T0 = 1_700_000_000_000;
let counter = 0;
function queueName(label: string): string {
  return `q-${process.pid}-${counter++}-${label}`;
}

function job(payload: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    payload, runAtMs: T0, priority: 0, maxAttempts: 3, backoffMs: 1000, backoffMaxMs: 60_000, timeoutMs: 30_000, ...extra,
  };
}

export function runJobsConformance(name: string, make: () => Promise<Engine>, options: JobsConformanceOptions = {}): void {
  async function withQueues(use: (q: Q) => Promise<void>): Promise<void> {
    const engine = await make();
    assert.ok(hasJobQueues(engine), `${name} has JobQueues`);
    await engine.open();
    try {
      await use(engine);
    } finally {
      await engine.close();
    }
  }

  describe(`${name} engine: job queues`, () => {
    after(async () => {
      await options.cleanup?.();
    });

    it('enqueues jobs with increasing ids and keeps their record', async () => {
      await withQueues(async (q) => {
        const queue = queueName('enq');
        const ids = await q.enqueueJobs(queue, [job('{"a":1}'), job('"b"', { priority: 5 })], T0);
        assert.deepEqual(ids.map((r) => r.created), [true, true]);
        assert.ok(Number(ids[1]!.id) > Number(ids[0]!.id));
        const record = await q.getJob(queue, ids[0]!.id);
        assert.ok(record);
        assert.equal(record.state, 'waiting');
        assert.equal(record.payload, '{"a":1}');
        assert.equal(record.attempt, 0);
        assert.equal(record.maxAttempts, 3);
        assert.equal(record.timeoutMs, 30_000);
        assert.equal(record.createdAtMs, T0);
        assert.equal(record.result, null);
        assert.deepEqual(await q.jobCounts(queue), { waiting: 2, delayed: 0, active: 0, failed: 0, completed: 0, dead: 0 });
        assert.equal(await q.getJob(queue, '999999'), null);
        assert.equal(await q.getJob(queue, 'not-an-id'), null);
        assert.ok((await q.jobQueueNames()).includes(queue));
        assert.deepEqual(await q.enqueueJobs(queue, [], T0), []);
      });
    });

    it('takes batches past what one Lua command call holds: 4,500 jobs in one enqueue, 1,000 completions in one step', async () => {
      await withQueues(async (q) => {
        const queue = queueName('big');
        const jobs = Array.from({ length: 4500 }, (_, i) => job(String(i)));
        const ids = await q.enqueueJobs(queue, jobs, T0);
        assert.equal(ids.length, 4500);
        assert.ok(ids.every((r, i) => r.created && (i === 0 || Number(r.id) === Number(ids[i - 1]!.id) + 1)));
        assert.equal((await q.jobCounts(queue)).waiting, 4500);
        const claimed: Awaited<ReturnType<Q['claimJobs']>> = [];
        for (let k = 0; k < 10; k++) claimed.push(...await q.claimJobs(queue, 100, T0 + 1));
        assert.deepEqual(claimed.map((c) => c.payload), Array.from({ length: 1000 }, (_, i) => String(i)));
        const outcomes = await q.completeJobs(queue, claimed.map((c) => ({ id: c.id, lease: c.lease, result: 'null' })), T0 + 2);
        assert.ok(outcomes.length === 1000 && outcomes.every(Boolean));
        assert.deepEqual(await q.jobCounts(queue), { waiting: 3500, delayed: 0, active: 0, failed: 0, completed: 1000, dead: 0 });
        const next = await q.claimJobs(queue, 1, T0 + 3);
        assert.equal(next[0]!.payload, '1000');
        assert.equal(next[0]!.attempt, 1);
      });
    });

    it('claims the highest priority first, then the oldest, each with its own lease', async () => {
      await withQueues(async (q) => {
        const queue = queueName('order');
        const [low, high1, mid, high2] = await q.enqueueJobs(queue, [
          job('low', { priority: -5 }), job('high1', { priority: 10 }), job('mid'), job('high2', { priority: 10 }),
        ], T0);
        const first = await q.claimJobs(queue, 3, T0 + 1);
        assert.deepEqual(first.map((j) => j.id), [high1!.id, high2!.id, mid!.id]);
        assert.deepEqual(first.map((j) => j.payload), ['high1', 'high2', 'mid']);
        assert.equal(new Set(first.map((j) => j.lease)).size, 3);
        for (const j of first) {
          assert.equal(j.attempt, 1);
          assert.equal(j.leaseExpiresAtMs, T0 + 1 + 30_000);
        }
        const second = await q.claimJobs(queue, 10, T0 + 2);
        assert.deepEqual(second.map((j) => j.id), [low!.id]);
        assert.deepEqual(await q.claimJobs(queue, 10, T0 + 3), []);
        const counts = await q.jobCounts(queue);
        assert.equal(counts.active, 4);
        assert.equal(counts.waiting, 0);
        assert.equal((await q.getJob(queue, low!.id))!.state, 'active');
      });
    });

    it('holds a delayed job until its runAt, then a claim or a promote makes it ready', async () => {
      await withQueues(async (q) => {
        const queue = queueName('delay');
        const [later, soon] = await q.enqueueJobs(queue, [job('later', { runAtMs: T0 + 5000 }), job('soon', { runAtMs: T0 + 1000 })], T0);
        assert.equal((await q.jobCounts(queue)).delayed, 2);
        assert.equal((await q.getJob(queue, later!.id))!.state, 'delayed');
        assert.deepEqual(await q.claimJobs(queue, 10, T0 + 999), []);
        assert.deepEqual((await q.claimJobs(queue, 10, T0 + 1000)).map((j) => j.id), [soon!.id]);
        assert.equal(await q.promoteJobs(queue, T0 + 4999, 100), 0);
        assert.equal(await q.promoteJobs(queue, T0 + 5000, 100), 1);
        assert.equal((await q.getJob(queue, later!.id))!.state, 'waiting');
        assert.equal((await q.jobCounts(queue)).waiting, 1);
      });
    });

    it('an idempotency key returns the first job within its window, and a new job after it', async () => {
      await withQueues(async (q) => {
        const queue = queueName('key');
        const [a] = await q.enqueueJobs(queue, [job('one', { key: 'order-7', keyTtlMs: 10_000 })], T0);
        const [b, c] = await q.enqueueJobs(queue, [
          job('two', { key: 'order-7', keyTtlMs: 10_000 }), job('other', { key: 'order-8', keyTtlMs: 10_000 }),
        ], T0 + 9000);
        assert.deepEqual(b, { id: a!.id, created: false });
        assert.equal(c!.created, true);
        assert.equal((await q.getJob(queue, a!.id))!.payload, 'one');
        assert.equal((await q.jobCounts(queue)).waiting, 2);
        // Within one call, the second use of a key names the first.
        const [d, e] = await q.enqueueJobs(queue, [job('x', { key: 'k2' }), job('y', { key: 'k2' })], T0);
        assert.deepEqual(e, { id: d!.id, created: false });
        // Known keys between new jobs: the new ones take the next ids in order, the known name theirs.
        const mixed = await q.enqueueJobs(queue, [
          job('m1', { key: 'm1' }), job('dup', { key: 'order-7' }), job('m2', { key: 'm2' }), job('dup2', { key: 'k2' }), job('m3', { key: 'm3' }),
        ], T0 + 9500);
        assert.deepEqual(mixed.map((m) => m.created), [true, false, true, false, true]);
        assert.deepEqual([mixed[1]!.id, mixed[3]!.id], [a!.id, d!.id]);
        assert.deepEqual([mixed[2]!.id, mixed[4]!.id], [String(Number(mixed[0]!.id) + 1), String(Number(mixed[0]!.id) + 2)]);
        assert.deepEqual(await Promise.all([0, 2, 4].map(async (i) => (await q.getJob(queue, mixed[i]!.id))!.payload)), ['m1', 'm2', 'm3']);
        // The same with options that differ job to job.
        const each = await q.enqueueJobs(queue, [job('e1', { key: 'e1', priority: 1 }), job('dup3', { key: 'm1' }), job('e2', { priority: 2 })], T0 + 9600);
        assert.deepEqual(each.map((m) => m.created), [true, false, true]);
        assert.deepEqual([each[1]!.id, each[0]!.id, each[2]!.id], [mixed[0]!.id, String(Number(mixed[4]!.id) + 1), String(Number(mixed[4]!.id) + 2)]);
        assert.deepEqual([(await q.getJob(queue, each[2]!.id))!.payload, (await q.getJob(queue, each[2]!.id))!.priority], ['e2', 2]);
        // A real clock for the window's end: the engine may expire keys by its own clock (Redis PX).
        const [f] = await q.enqueueJobs(queue, [job('short', { key: 'brief', keyTtlMs: 30 })], Date.now());
        await new Promise((r) => setTimeout(r, 80));
        const [g] = await q.enqueueJobs(queue, [job('again', { key: 'brief', keyTtlMs: 30 })], Date.now());
        assert.equal(g!.created, true);
        assert.notEqual(g!.id, f!.id);
      });
    });

    it('heartbeat extends a current lease and refuses any other, changing nothing', async () => {
      await withQueues(async (q) => {
        const queue = queueName('hb');
        await q.enqueueJobs(queue, [job('p', { timeoutMs: 1000 })], T0);
        const [claimed] = await q.claimJobs(queue, 1, T0);
        assert.equal(await q.heartbeatJob(queue, claimed!.id, claimed!.lease, T0 + 900), T0 + 1900);
        assert.equal((await q.getJob(queue, claimed!.id))!.leaseExpiresAtMs, T0 + 1900);
        assert.equal(await q.heartbeatJob(queue, claimed!.id, 'not-the-lease', T0 + 1000), null);
        assert.equal(await q.heartbeatJob(queue, '424242', claimed!.lease, T0 + 1000), null);
        // Expired (not yet reaped): lost.
        assert.equal(await q.heartbeatJob(queue, claimed!.id, claimed!.lease, T0 + 1900), null);
        assert.equal((await q.getJob(queue, claimed!.id))!.leaseExpiresAtMs, T0 + 1900);
      });
    });

    it('completes once with its result; a stale or second completion records nothing', async () => {
      await withQueues(async (q) => {
        const queue = queueName('done');
        await q.enqueueJobs(queue, [job('p')], T0);
        const [claimed] = await q.claimJobs(queue, 1, T0);
        assert.equal(await q.completeJob(queue, claimed!.id, 'wrong', '"no"', T0 + 1), false);
        assert.equal((await q.getJob(queue, claimed!.id))!.state, 'active');
        assert.equal(await q.completeJob(queue, claimed!.id, claimed!.lease, '{"ok":true}', T0 + 2), true);
        assert.equal(await q.completeJob(queue, claimed!.id, claimed!.lease, '"again"', T0 + 3), false);
        assert.equal(await q.failJob(queue, claimed!.id, claimed!.lease, 'late', 0, T0 + 3), null);
        const record = (await q.getJob(queue, claimed!.id))!;
        assert.equal(record.state, 'completed');
        assert.equal(record.result, '{"ok":true}');
        assert.equal(record.finishedAtMs, T0 + 2);
        assert.equal(record.attempt, 1);
        assert.equal(record.leaseExpiresAtMs, 0, 'a completed job holds no lease');
        assert.deepEqual(await q.jobCounts(queue), { waiting: 0, delayed: 0, active: 0, failed: 0, completed: 1, dead: 0 });
        // A null result reads back as 'null' (Redis stores none for it), with no lease expiry either.
        await q.enqueueJobs(queue, [job('q')], T0);
        const [second] = await q.claimJobs(queue, 1, T0 + 4);
        assert.equal(second!.leaseExpiresAtMs, T0 + 4 + 30_000);
        assert.deepEqual(await q.completeJobs(queue, [{ id: second!.id, lease: second!.lease, result: 'null' }], T0 + 5), [true]);
        const nulled = (await q.getJob(queue, second!.id))!;
        assert.deepEqual([nulled.state, nulled.result, nulled.leaseExpiresAtMs, nulled.finishedAtMs], ['completed', 'null', 0, T0 + 5]);
        assert.equal(await q.completeJob(queue, second!.id, second!.lease, '"again"', T0 + 6), false, 'its old lease is not current');
        assert.equal(await q.heartbeatJob(queue, second!.id, second!.lease, T0 + 6), null);
        assert.equal((await q.getJob(queue, second!.id))!.result, 'null');
      });
    });

    it('completes a batch in one step: a stale lease in it is refused alone, the rest complete with their results', async () => {
      await withQueues(async (q) => {
        const queue = queueName('batch');
        await q.enqueueJobs(queue, [job('a'), job('b'), job('c'), job('d')], T0);
        const [a, b, c, d] = await q.claimJobs(queue, 4, T0);
        // d's lease is lost: it expired and was reaped, and claimed again (attempt 2, a new lease).
        assert.equal(await q.reapJobs(queue, T0 + 30_000, 0, 10), 4);
        await q.promoteJobs(queue, T0 + 100_000, 10);
        const again = await q.claimJobs(queue, 4, T0 + 100_000);
        assert.equal(again.length, 4);
        const byId = new Map(again.map((j) => [j.id, j]));
        const outcomes = await q.completeJobs(queue, [
          { id: a!.id, lease: byId.get(a!.id)!.lease, result: '"ra"' },
          { id: b!.id, lease: byId.get(b!.id)!.lease, result: '"rb"' },
          { id: d!.id, lease: d!.lease, result: '"stale"' },
          { id: c!.id, lease: byId.get(c!.id)!.lease, result: '{"n":3}' },
          { id: a!.id, lease: byId.get(a!.id)!.lease, result: '"twice"' },
          { id: '424242', lease: 'x', result: 'null' },
          // Leases no claim gives (empty, with white space, another job's lease after it) and ids that are not ids.
          { id: d!.id, lease: '', result: 'null' },
          { id: d!.id, lease: `${byId.get(d!.id)!.lease} ${byId.get(d!.id)!.lease}`, result: 'null' },
          { id: `${d!.id} ${byId.get(d!.id)!.lease}`, lease: byId.get(d!.id)!.lease, result: 'null' },
          { id: 'd', lease: byId.get(d!.id)!.lease, result: 'null' },
        ], T0 + 100_001);
        assert.deepEqual(outcomes, [true, true, false, true, false, false, false, false, false, false]);
        assert.equal((await q.getJob(queue, a!.id))!.result, '"ra"');
        assert.equal((await q.getJob(queue, c!.id))!.result, '{"n":3}');
        const stale = (await q.getJob(queue, d!.id))!;
        assert.equal(stale.state, 'active');
        assert.equal(stale.result, null);
        assert.equal(stale.attempt, 2);
        assert.deepEqual(await q.jobCounts(queue), { waiting: 0, delayed: 0, active: 1, failed: 0, completed: 3, dead: 0 });
        assert.deepEqual(await q.completeJobs(queue, [], T0 + 100_002), []);
      });
    });

    it('a failed attempt retries after an exponential, jittered backoff, then the job goes dead', async () => {
      await withQueues(async (q) => {
        const queue = queueName('fail');
        await q.enqueueJobs(queue, [job('p', { maxAttempts: 3, backoffMs: 1000, backoffMaxMs: 3000 })], T0);
        let now = T0;
        const delays: number[] = [];
        for (const [attempt, jitter] of [[1, 0], [2, 0.5]] as const) {
          const [claimed] = await q.claimJobs(queue, 1, now);
          assert.equal(claimed!.attempt, attempt);
          const outcome = await q.failJob(queue, claimed!.id, claimed!.lease, `boom ${attempt}`, jitter, now);
          const delay = jobBackoffMs(attempt, 1000, 3000, jitter);
          delays.push(delay);
          assert.deepEqual(outcome, { state: 'failed', runAtMs: now + delay });
          const record = (await q.getJob(queue, claimed!.id))!;
          assert.equal(record.state, 'failed');
          assert.equal(record.error, `boom ${attempt}`);
          assert.equal((await q.jobCounts(queue)).failed, 1);
          assert.deepEqual(await q.claimJobs(queue, 1, now + delay - 1), []);
          now += delay;
        }
        assert.deepEqual(delays, [500, 1500]);
        const [last] = await q.claimJobs(queue, 1, now);
        assert.equal(last!.attempt, 3);
        assert.deepEqual(await q.failJob(queue, last!.id, last!.lease, 'boom 3', 0.3, now), { state: 'dead', runAtMs: 0 });
        const record = (await q.getJob(queue, last!.id))!;
        assert.equal(record.state, 'dead');
        assert.equal(record.error, 'boom 3');
        assert.deepEqual(await q.jobCounts(queue), { waiting: 0, delayed: 0, active: 0, failed: 0, completed: 0, dead: 1 });
        assert.deepEqual(await q.claimJobs(queue, 1, now + 10 ** 9), []);
      });
    });

    it('reaps an expired lease as a failed attempt; the next worker runs attempt 2; the old lease is refused', async () => {
      await withQueues(async (q) => {
        const queue = queueName('reap');
        await q.enqueueJobs(queue, [job('p', { timeoutMs: 1000, backoffMs: 100, backoffMaxMs: 100 }), job('q', { timeoutMs: 5000 })], T0);
        const [first, other] = await q.claimJobs(queue, 2, T0);
        assert.equal(await q.reapJobs(queue, T0 + 999, 0, 100), 0);
        assert.equal(await q.reapJobs(queue, T0 + 1000, 0, 100), 1);
        const record = (await q.getJob(queue, first!.id))!;
        assert.equal(record.state, 'failed');
        assert.equal(record.error, 'lease expired');
        assert.equal(record.runAtMs, T0 + 1000 + 50);
        assert.equal((await q.getJob(queue, other!.id))!.state, 'active');
        const [again] = await q.claimJobs(queue, 1, T0 + 1050);
        assert.equal(again!.id, first!.id);
        assert.equal(again!.attempt, 2);
        assert.notEqual(again!.lease, first!.lease);
        assert.equal(await q.completeJob(queue, first!.id, first!.lease, '"stale"', T0 + 1060), false);
        assert.equal(await q.heartbeatJob(queue, first!.id, first!.lease, T0 + 1060), null);
        assert.equal(await q.completeJob(queue, again!.id, again!.lease, '"fresh"', T0 + 1070), true);
        assert.equal((await q.getJob(queue, first!.id))!.result, '"fresh"');
      });
    });

    /** Jobs of `queue` finished at the given times: completed (claimed, then completed at t) or dead (maxAttempts 1, failed at t). */
    async function finish(q: Q, queue: string, how: 'completed' | 'dead', times: number[]): Promise<string[]> {
      const ids: string[] = [];
      for (const t of times) {
        const [created] = await q.enqueueJobs(queue, [job(`${how}@${t}`, { maxAttempts: 1 })], T0);
        const [claimed] = await q.claimJobs(queue, 1, t);
        assert.equal(claimed!.id, created!.id);
        if (how === 'completed') assert.equal(await q.completeJob(queue, claimed!.id, claimed!.lease, `"r${t}"`, t), true);
        else assert.deepEqual(await q.failJob(queue, claimed!.id, claimed!.lease, `boom@${t}`, 0, t), { state: 'dead', runAtMs: 0 });
        ids.push(created!.id);
      }
      return ids;
    }

    it('lists dead and completed jobs newest finished first, and waiting ones in claim order', async () => {
      await withQueues(async (q) => {
        const queue = queueName('list');
        const [d1, d2, d3] = await finish(q, queue, 'dead', [T0 + 30, T0 + 10, T0 + 30]);
        const [c1, c2] = await finish(q, queue, 'completed', [T0 + 5, T0 + 6]);
        const dead = await q.listJobs(queue, 'dead', 10);
        // Newest first; equal times by the higher id.
        assert.deepEqual(dead.map((j) => j.id), [d3, d1, d2]);
        assert.deepEqual(dead.map((j) => j.error), ['boom@' + (T0 + 30), 'boom@' + (T0 + 30), 'boom@' + (T0 + 10)]);
        assert.equal(dead[0]!.state, 'dead');
        assert.equal(dead[0]!.finishedAtMs, T0 + 30);
        assert.equal(dead[0]!.attempt, 1);
        assert.deepEqual((await q.listJobs(queue, 'dead', 2)).map((j) => j.id), [d3, d1]);
        const completed = await q.listJobs(queue, 'completed', 10);
        assert.deepEqual(completed.map((j) => j.id), [c2, c1]);
        assert.equal(completed[0]!.result, `"r${T0 + 6}"`);
        const [w1, w2, w3] = await q.enqueueJobs(queue, [job('w1'), job('w2', { priority: 3 }), job('w3')], T0);
        assert.deepEqual((await q.listJobs(queue, 'waiting', 10)).map((j) => j.id), [w2!.id, w1!.id, w3!.id]);
        assert.deepEqual(await q.listJobs(queue, 'failed', 10), []);
        assert.deepEqual(await q.listJobs(queueName('none'), 'dead', 10), []);
      });
    });

    it('retries a dead job with one more attempt allowed, drops one, and refuses jobs that are not dead', async () => {
      await withQueues(async (q) => {
        const queue = queueName('dead-admin');
        const [a, b] = await finish(q, queue, 'dead', [T0 + 1, T0 + 2]);
        const [alive] = await q.enqueueJobs(queue, [job('alive')], T0);
        assert.equal(await q.retryDeadJob(queue, alive!.id, T0 + 3), false, 'a waiting job is not retried');
        assert.equal(await q.dropDeadJob(queue, alive!.id), false, 'a waiting job is not dropped');
        assert.equal(await q.retryDeadJob(queue, '424242', T0 + 3), false);
        assert.equal(await q.dropDeadJob(queue, 'not-an-id'), false);
        assert.equal((await q.getJob(queue, alive!.id))!.state, 'waiting');

        assert.equal(await q.retryDeadJob(queue, a!, T0 + 100), true);
        const revived = (await q.getJob(queue, a!))!;
        assert.equal(revived.state, 'waiting');
        assert.equal(revived.attempt, 1, 'its attempts stay on record');
        assert.equal(revived.maxAttempts, 2);
        assert.equal(revived.finishedAtMs, 0);
        assert.equal(revived.error, `boom@${T0 + 1}`);
        assert.equal(await q.retryDeadJob(queue, a!, T0 + 101), false, 'no longer dead');
        // It goes ahead of later jobs of its priority (it keeps its id).
        const [again] = await q.claimJobs(queue, 1, T0 + 200);
        assert.equal(again!.id, a);
        assert.equal(again!.attempt, 2);
        assert.equal(await q.completeJob(queue, a!, again!.lease, '"second time"', T0 + 201), true);

        assert.equal(await q.dropDeadJob(queue, b!), true);
        assert.equal(await q.getJob(queue, b!), null);
        assert.equal(await q.dropDeadJob(queue, b!), false);
        assert.deepEqual(await q.jobCounts(queue), { waiting: 1, delayed: 0, active: 0, failed: 0, completed: 1, dead: 0 });
      });
    });

    it('retention deletes completed and dead jobs by age and count, oldest first, in bounded steps', async () => {
      await withQueues(async (q) => {
        const queue = queueName('retain');
        const completed = await finish(q, queue, 'completed', [T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5]);
        const dead = await finish(q, queue, 'dead', [T0 + 1, T0 + 2, T0 + 3]);
        const [waiting] = await q.enqueueJobs(queue, [job('still waiting')], T0);
        const off = { completedMaxAgeMs: 0, completedMaxCount: 0, deadMaxAgeMs: 0, deadMaxCount: 0 };
        assert.equal(await q.pruneJobs(queue, off, T0 + 10 ** 9, 100), 0, 'zeros keep everything');

        // Count: keep the newest 2 completed, at most 2 deleted per step.
        const byCount = { ...off, completedMaxCount: 2 };
        assert.equal(await q.pruneJobs(queue, byCount, T0 + 10, 2), 2);
        assert.equal(await q.getJob(queue, completed[0]!), null);
        assert.equal(await q.getJob(queue, completed[1]!), null);
        assert.equal((await q.getJob(queue, completed[2]!))!.state, 'completed');
        assert.equal(await q.pruneJobs(queue, byCount, T0 + 10, 2), 1);
        assert.equal(await q.pruneJobs(queue, byCount, T0 + 10, 2), 0);
        assert.deepEqual((await q.listJobs(queue, 'completed', 10)).map((j) => j.id), [completed[4], completed[3]]);

        // Age: dead jobs that went dead at or before now − 2 ms.
        const byAge = { ...off, deadMaxAgeMs: 2 };
        assert.equal(await q.pruneJobs(queue, byAge, T0 + 3, 100), 1);
        assert.equal(await q.getJob(queue, dead[0]!), null);
        assert.equal(await q.pruneJobs(queue, byAge, T0 + 4, 100), 1);
        assert.equal((await q.getJob(queue, dead[2]!))!.state, 'dead');

        // Both states in one step; what is not finished is never touched.
        const all = { completedMaxAgeMs: 1, completedMaxCount: 0, deadMaxAgeMs: 0, deadMaxCount: 1 };
        assert.equal(await q.pruneJobs(queue, all, T0 + 10 ** 9, 100), 2);
        assert.deepEqual(await q.jobCounts(queue), { waiting: 1, delayed: 0, active: 0, failed: 0, completed: 0, dead: 1 });
        assert.equal((await q.getJob(queue, waiting!.id))!.state, 'waiting');
      });
    });

    it('an idempotency key keeps its window after retention deleted its job', async () => {
      await withQueues(async (q) => {
        const queue = queueName('retain-key');
        const now = Date.now(); // a real clock: the engine may expire keys by its own (Redis PX)
        const [first] = await q.enqueueJobs(queue, [job('once', { key: 'pay-1', keyTtlMs: 60_000 })], now);
        const [claimed] = await q.claimJobs(queue, 1, now);
        assert.equal(await q.completeJob(queue, claimed!.id, claimed!.lease, '"paid"', now), true);
        const retention = { completedMaxAgeMs: 1, completedMaxCount: 0, deadMaxAgeMs: 0, deadMaxCount: 0 };
        assert.equal(await q.pruneJobs(queue, retention, now + 10, 100), 1);
        assert.equal(await q.getJob(queue, first!.id), null);
        // Within the window: the first id, nothing new.
        assert.deepEqual(await q.enqueueJobs(queue, [job('twice', { key: 'pay-1', keyTtlMs: 60_000 })], now + 20), [{ id: first!.id, created: false }]);
        assert.deepEqual(await q.jobCounts(queue), { waiting: 0, delayed: 0, active: 0, failed: 0, completed: 0, dead: 0 });
      });
    });

    it('concurrent claims never hand one job out twice', async () => {
      const engines: Q[] = [];
      if (options.makePair) {
        for (const e of await options.makePair()) engines.push(e as Q);
      } else {
        engines.push((await make()) as Q);
      }
      for (const e of engines) await e.open();
      try {
        const queue = queueName('race');
        await engines[0]!.enqueueJobs(queue, Array.from({ length: 200 }, (_, i) => job(`j${i}`)), T0);
        const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => engines[i % engines.length]!.claimJobs(queue, 7, T0 + 1)));
        const ids = claims.flat().map((j) => j.id);
        assert.equal(ids.length, 200);
        assert.equal(new Set(ids).size, 200);
      } finally {
        for (const e of engines) await e.close();
      }
    });

    if (options.reopenable) {
      const reopenable = options.reopenable;
      it('keeps jobs, leases and results across a close and a reopen', async () => {
        const { engine, reopen } = await reopenable();
        await engine.open();
        const q = engine as Q;
        const queue = queueName('durable');
        const [a, b] = await q.enqueueJobs(queue, [job('a'), job('b', { key: 'kb' })], T0);
        const [claimed] = await q.claimJobs(queue, 1, T0);
        await engine.close();
        const again = (await reopen()) as Q;
        await again.open();
        try {
          assert.equal(await again.completeJob(queue, claimed!.id, claimed!.lease, '"r"', T0 + 1), true);
          assert.equal((await again.getJob(queue, a!.id))!.result, '"r"');
          assert.deepEqual(await again.enqueueJobs(queue, [job('b2', { key: 'kb' })], T0 + 2), [{ id: b!.id, created: false }]);
          assert.deepEqual((await again.claimJobs(queue, 5, T0 + 3)).map((j) => j.id), [b!.id]);
        } finally {
          await again.close();
        }
      });
    }
  });
}
