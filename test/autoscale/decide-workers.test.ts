/**
 * Worker pools scaled on queue depth: the decision (formula, clamp, minWorkers 0, hysteresis,
 * cool-downs, an unreported queue), a queue's depth over several nodes, the per-queue gauges read
 * from what prom-client writes, and the policy's `workers` section refused field by field.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { depthOf } from '../../src/autoscale/agent.ts';
import { decideWorkers, type QueueDepth, type WorkerDecisionInput } from '../../src/autoscale/decide.ts';
import { parsePolicy, PolicyError } from '../../src/autoscale/policy.ts';
import { queueDepthsOf, ScrapeError } from '../../src/autoscale/scrape.ts';

const pool = { minWorkers: 0, maxWorkers: 4, jobsPerWorker: 10 };
const policy = { scaleDownBelow: 0.8, cooldownMs: 1000, scaleDownCooldownMs: 5000 };
const at = (current: number, depth: QueueDepth | null, extra: Partial<WorkerDecisionInput> = {}) =>
  decideWorkers({ now: 100_000, current, depth, lastChangeAt: null, pool, policy, ...extra });

describe('decideWorkers', () => {
  it('wants ceil((waiting + active) ÷ jobsPerWorker) workers, within min and max', () => {
    const d = at(1, { waiting: 21, active: 4 });
    assert.deepEqual([d.jobs, d.load, d.formula, d.desired, d.action], [25, 2.5, 3, 3, 'up']);
    assert.deepEqual([at(0, { waiting: 1, active: 0 }).desired, at(0, { waiting: 1, active: 0 }).action], [1, 'up']);
    const capped = at(2, { waiting: 1000, active: 0 });
    assert.deepEqual([capped.formula, capped.desired], [4, 4]);
    assert.deepEqual([at(0, { waiting: 0, active: 0 }).desired, at(0, { waiting: 0, active: 0 }).action], [0, 'hold']);
    const withMin = at(0, { waiting: 0, active: 0 }, { pool: { ...pool, minWorkers: 2 } });
    assert.deepEqual([withMin.desired, withMin.action], [2, 'up']);
    assert.match(withMin.reason, /below minWorkers/);
    const above = at(6, { waiting: 100, active: 0 });
    assert.deepEqual([above.desired, above.action], [4, 'down']);
  });

  it('active jobs count: busy workers are not stopped while the waiting line is empty', () => {
    const d = at(3, { waiting: 0, active: 30 });
    assert.deepEqual([d.desired, d.action], [3, 'hold']);
  });

  it('scales down only below scaleDownBelow of the target, after scaleDownCooldownMs', () => {
    // 24 jobs: formula 3, but 24 / (10 × 0.8) = 3 → hold at 3 rather than flap.
    assert.equal(at(3, { waiting: 24, active: 0 }).action, 'hold');
    assert.deepEqual([at(3, { waiting: 0, active: 0 }).desired, at(3, { waiting: 0, active: 0 }).action], [0, 'down']);
    // 25 jobs at 4 workers: needs ceil(25 / 8) = 4 → hold.
    assert.equal(at(4, { waiting: 25, active: 0 }).action, 'hold');
    const cooling = at(3, { waiting: 0, active: 0 }, { lastChangeAt: 100_000 - 4000 });
    assert.deepEqual([cooling.desired, cooling.action], [3, 'hold']);
    assert.match(cooling.reason, /cooling down \(1000 ms left\)/);
    assert.equal(at(3, { waiting: 0, active: 0 }, { lastChangeAt: 100_000 - 5000 }).action, 'down');
  });

  it('scales up only after cooldownMs', () => {
    const d = at(1, { waiting: 40, active: 0 }, { lastChangeAt: 100_000 - 500 });
    assert.deepEqual([d.desired, d.action], [1, 'hold']);
    assert.equal(at(1, { waiting: 40, active: 0 }, { lastChangeAt: 100_000 - 1000 }).desired, 4);
  });

  it('holds when no node reported the queue, except to come back within min and max', () => {
    const d = at(2, null);
    assert.deepEqual([d.jobs, d.desired, d.action], [null, 2, 'hold']);
    assert.deepEqual([at(0, null, { pool: { ...pool, minWorkers: 1 } }).desired, at(0, null, { pool: { ...pool, minWorkers: 1 } }).action], [1, 'up']);
    assert.equal(at(9, null).desired, 4);
  });
});

describe('queue depth from /metrics', () => {
  it('reads the jobs gauges per queue from what prom-client writes, beside default labels', async () => {
    const registry = new client.Registry();
    registry.setDefaultLabels({ node: 'n1' });
    const gauge = (name: string) => new client.Gauge({ name, help: 'h', labelNames: ['queue'], registers: [registry] });
    const waiting = gauge('brigade_jobs_waiting');
    const active = gauge('brigade_jobs_active');
    gauge('brigade_jobs_delayed').set({ queue: 'mail' }, 99);
    waiting.set({ queue: 'mail' }, 12);
    active.set({ queue: 'mail' }, 3);
    waiting.set({ queue: 'img.resize-2' }, 0);
    const depths = queueDepthsOf(await registry.metrics());
    assert.deepEqual(Object.fromEntries(depths), { mail: { waiting: 12, active: 3 }, 'img.resize-2': { waiting: 0, active: 0 } });
    assert.equal(queueDepthsOf('brigade_connections 3\n').size, 0, 'a node without jobs: no queues');
    assert.throws(() => queueDepthsOf('brigade_jobs_waiting{queue="mail"} -1\n'), (err) => err instanceof ScrapeError && err.code === 'BAD_METRICS');
  });

  it('takes the largest depth over the nodes that reported the queue', () => {
    const a = new Map([['mail', { waiting: 5, active: 2 }]]);
    const b = new Map([['mail', { waiting: 7, active: 1 }], ['other', { waiting: 1, active: 0 }]]);
    assert.deepEqual(depthOf('mail', [a, b]), { waiting: 7, active: 2 });
    assert.deepEqual(depthOf('other', [a, b]), { waiting: 1, active: 0 });
    assert.equal(depthOf('none', [a, b]), null);
  });
});

describe('policy: workers', () => {
  const ok = { connectsPerSecond: 50, messagesPerSecond: 2000 };
  const pool = { queue: 'mail', command: ['node', 'worker.js'], jobsPerWorker: 20 };
  const refused = (workers: unknown, field: string, pattern: RegExp) => assert.throws(() => parsePolicy({ ...ok, workers }, 'local', 'p.json'), (err: unknown) => {
    assert.ok(err instanceof PolicyError, String(err));
    assert.equal(err.field, field);
    assert.match(err.message, pattern);
    return true;
  });

  it('fills the defaults', () => {
    const [p] = parsePolicy({ ...ok, workers: [pool] }, 'local').workers;
    assert.deepEqual(p, {
      name: 'mail', queue: 'mail', command: ['node', 'worker.js'], cwd: '', minWorkers: 0, maxWorkers: 1, jobsPerWorker: 20,
      env: {}, stopTimeoutMs: 15_000, restartDelayMs: 1000, forwardLogs: true,
    });
    assert.deepEqual(parsePolicy(ok, 'local').workers, []);
  });

  it('refuses each bad field by name', () => {
    refused({}, 'workers', /list of worker pools/);
    refused([{ ...pool, queue: 'has space' }], 'workers[0].queue', /queue name/);
    refused([{ ...pool, command: undefined }], 'workers[0].command', /is required/);
    refused([{ ...pool, command: [] }], 'workers[0].command', /must not be empty/);
    refused([{ ...pool, jobsPerWorker: 0 }], 'workers[0].jobsPerWorker', /must be > 0/);
    refused([{ ...pool, jobsPerWorker: undefined }], 'workers[0].jobsPerWorker', /is required \(a target/);
    refused([{ ...pool, minWorkers: 3, maxWorkers: 2 }], 'workers[0].maxWorkers', /must be >= minWorkers \(3\)/);
    refused([{ ...pool, maxWorkers: 5000 }], 'workers[0].maxWorkers', /integer from 1 to 1000/);
    refused([{ ...pool, env: { A: 1 } }], 'workers[0].env.A', /must be a string/);
    refused([{ ...pool, concurrency: 4 }], 'workers[0].concurrency', /not a known field/);
    refused([pool, { ...pool }], 'workers[1].name', /unique/);
  });
});
