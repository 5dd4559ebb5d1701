/**
 * `brigade autoscale` scaling job workers on queue depth, end to end with real processes: the real
 * CLI starts a real `brigade serve` node (jobs app, embedded engine) and, for the policy's worker
 * pool, real worker processes (fixtures/jobs-worker.ts, the SDK) pointed at that node. No worker
 * while the queue is empty; a backlog enqueued over HTTP brings up maxWorkers, which run it all;
 * once it is done they are stopped gracefully (SIGTERM, exit 0) back to minWorkers (0).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { alive, startAutoscaler, type Autoscaler } from './autoscaler.ts';
import { eventually } from '../helpers/eventually.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const workerScript = fileURLToPath(new URL('./fixtures/jobs-worker.ts', import.meta.url));
const PRODUCER = 'producer-key-for-tests';
const JOBS = 120;

describe('brigade autoscale: job workers on queue depth', () => {
  let scaler: Autoscaler | null = null;
  const seen = new Set<number>(); // every worker and node PID, so none outlives the test
  after(async () => {
    await scaler?.destroy();
    for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('starts workers for a backlog, up to maxWorkers, and stops them when it is done', async () => {
    scaler = startAutoscaler({
      connectsPerSecond: 1000, messagesPerSecond: 1_000_000, minNodes: 1, maxNodes: 1,
      cooldownMs: 500, scaleDownCooldownMs: 1500, intervalMs: 300, health: { timeoutMs: 300, failuresBeforeReplace: 5 },
      local: { data: 'data', forwardLogs: false, stopTimeoutMs: 5000, args: ['--apps', 'jobs', '--jobs-producer-key', PRODUCER, '--jobs-tick-ms', '50'] },
      workers: [{
        name: 'backlog-pool', queue: 'backlog', command: [process.execPath, '--import', 'tsx', workerScript], cwd: repoRoot,
        minWorkers: 0, maxWorkers: 3, jobsPerWorker: 10, env: { JOB_MS: '100', CONCURRENCY: '2' }, stopTimeoutMs: 10_000, forwardLogs: false,
      }],
      status: { port: 0 },
    });
    const statusPort = (await eventually(() => scaler!.lines.find((l) => l.msg === 'autoscale status listening'), { what: 'the status port', timeoutMs: 15_000, intervalMs: 100 }))!.port as number;
    const status = async () => {
      const s = await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json() as any;
      for (const n of s.nodes ?? []) seen.add(n.pid);
      for (const w of s.workers?.[0]?.workers ?? []) seen.add(w.pid);
      return s;
    };
    const node = await eventually(async () => (await status()).nodes.find((n: any) => n.state === 'running'), { what: 'the node', timeoutMs: 20_000, intervalMs: 100 });
    const pool = async () => (await status()).workers[0];

    // An empty (unknown) queue: rounds pass, no worker.
    await eventually(() => scaler!.lines.filter((l) => l.msg === 'autoscale workers decision').length >= 2, { what: 'two worker decisions', timeoutMs: 10_000, intervalMs: 100 });
    assert.deepEqual([(await pool()).wanted, (await pool()).workers.length], [0, 0]);

    const res = await fetch(`${node.url}/api/jobs/backlog`, {
      method: 'POST', headers: { Authorization: `Bearer ${PRODUCER}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(Array.from({ length: JOBS }, (_, i) => ({ payload: i }))),
    });
    assert.equal(res.status, 201);

    // 120 jobs ÷ 10 per worker is 12 workers' worth: maxWorkers (3).
    const three = await eventually(async () => { const p = await pool(); return p.workers.filter((w: any) => w.state === 'running').length === 3 && p; },
      { what: 'three workers', timeoutMs: 20_000, intervalMs: 100 });
    assert.ok(three.workers.every((w: any) => alive(w.pid) && w.url === node.url), 'real processes, pointed at the node');
    // The log comes over another pipe than the status: it may trail it.
    const up = (await eventually(() => scaler!.lines.find((l) => l.msg === 'autoscale workers decision' && l.action === 'up'), { what: 'the up decision logged', timeoutMs: 10_000, intervalMs: 100 }))!;
    assert.equal(up.pool, 'backlog-pool');
    assert.ok(up.jobs >= 30, `scaled on depth: ${up.jobs} jobs`);
    assert.equal(up.desired, 3);

    const counts = async () => (await (await fetch(`${node.url}/api/jobs/backlog`)).json() as any).counts;
    await eventually(async () => (await counts()).completed === JOBS, { what: 'every job completed', timeoutMs: 60_000, intervalMs: 200 });
    const by = new Set<string>();
    for (let id = 1; id <= JOBS; id += 7) {
      const job = await (await fetch(`${node.url}/api/jobs/backlog/${id}`)).json() as any;
      assert.equal(job.state, 'completed');
      by.add(job.result.by);
    }
    assert.ok(by.size >= 2, `the pool's workers shared the backlog: ${[...by].join(', ')}`);

    // Done: back to minWorkers (0), each worker stopped with SIGTERM and exiting 0.
    const idle = await eventually(async () => { const p = await pool(); return p.wanted === 0 && p.workers.length === 0 && p; },
      { what: 'no workers left', timeoutMs: 30_000, intervalMs: 100 });
    const exits = idle.events.filter((e: any) => e.event === 'exit');
    assert.ok(exits.length >= 3 && exits.every((e: any) => e.reason === 'scale down' && e.code === 0), JSON.stringify(exits));
    assert.ok(three.workers.every((w: any) => !alive(w.pid)));
    const downs = () => scaler!.lines.filter((l) => l.msg === 'autoscale workers decision' && l.action === 'down');
    await eventually(() => downs().some((l) => l.desired === 0), { what: 'the scale-down to 0 logged', timeoutMs: 10_000, intervalMs: 100 });
    const down = downs();
    assert.equal(down[down.length - 1].desired, 0);
    assert.ok(Date.parse(down[0].at) - Date.parse(up.at) >= 1500, 'no scale-down before scaleDownCooldownMs after the scale-up');
    assert.deepEqual(await counts(), { waiting: 0, delayed: 0, active: 0, failed: 0, completed: JOBS, dead: 0 });
  });
});
