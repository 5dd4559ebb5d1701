/**
 * `brigade autoscale --print` against two real nodes on a real Redis, started by the test: one
 * JSON line per interval on stdout with the per-node figures, their sums and the desired count;
 * idle nodes ask for minNodes, connection churn asks for maxNodes; a dead node is reported
 * unhealthy; nothing is started or stopped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { metric } from '../helpers/metrics.ts';
import { churn, startAutoscaler } from './autoscaler.ts';
import { eventually } from '../helpers/eventually.ts';

describe('brigade autoscale --print', () => {
  let redis: RedisServer;
  let nodes: ServerProcess[] = [];
  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1].map(() => startServer(['--redis', redis.url, '--place-canvases', 'main:16x16'])));
  });
  after(async () => {
    for (const n of nodes) { await n.stop(); n.cleanup(); }
    await redis.destroy();
  });

  it('prints the figures and the desired count for two nodes', async () => {
    const [a, b] = nodes;
    const policy = {
      connectsPerSecond: 0.5, messagesPerSecond: 1_000_000, minNodes: 1, maxNodes: 4,
      // A 1 s probe timeout: a loaded machine can stall a healthy node's answer past a few hundred ms.
      cooldownMs: 0, intervalMs: 1000, health: { timeoutMs: 1000, failuresBeforeReplace: 2 },
      nodes: [a.url, b.url + '/'],
      // A worker pool: --print only prints its count (the command is never run).
      workers: [{ queue: 'print-q', command: ['never-run'], jobsPerWorker: 5, maxWorkers: 4 }],
    };
    const scaler = startAutoscaler(policy, ['--print', '--status-file', 'status.json']);
    try {
      // Idle: no load, so the two listed nodes are more than needed: minNodes.
      const idle = await eventually(() => scaler.lines[0], { what: 'an idle line', timeoutMs: 15_000, intervalMs: 100 });
      assert.deepEqual(idle.nodes.map((n: any) => [n.url, n.healthy]), [[a.url, true], [b.url, true]]);
      assert.equal(idle.current, 2);
      assert.deepEqual(idle.sums, { connections: 0, connectsPerSecond: 0, messagesPerSecond: 0 });
      assert.equal(idle.desired, 1);
      assert.equal(idle.action, 'down');
      assert.deepEqual([idle.workers[0].pool, idle.workers[0].current, idle.workers[0].desired, idle.workers[0].reason], ['print-q', 0, 0, 'no node reported the queue']);

      // 12 jobs on the queue (both nodes read it from the same Redis): ceil(12 / 5) = 3 workers.
      const producerKey = readFileSync(join(a.dataDir, 'jobs-producer-key'), 'utf8').trim();
      const enqueued = await fetch(`${a.url}/api/jobs/print-q`, {
        method: 'POST', headers: { Authorization: `Bearer ${producerKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(Array.from({ length: 12 }, (_, i) => ({ payload: i }))),
      });
      assert.equal(enqueued.status, 201);
      const withJobs = await eventually(() => scaler.lines.find((l) => l.workers[0].jobs === 12), { what: 'a line with the queue', timeoutMs: 15_000, intervalMs: 100 });
      assert.deepEqual([withJobs.workers[0].current, withJobs.workers[0].desired, withJobs.workers[0].action], [0, 3, 'up']);
      assert.equal(scaler.lines[scaler.lines.indexOf(withJobs) + 1]?.workers[0].current ?? 3, 3, 'current follows the printed count');

      // 20 connects on each node within one 10 s window: at least 40/11 ≈ 3.6/s against 0.5/s
      // per node, i.e. 8 nodes' worth, clamped to maxNodes.
      await Promise.all([churn(a.url, 20), churn(b.url, 20)]);
      const loaded = await eventually(() => scaler.lines.find((l) => l.desired === 4), { what: 'a line with the load', timeoutMs: 15_000, intervalMs: 100 });
      assert.equal(loaded.action, 'up');
      const perNode = loaded.nodes.map((n: any) => n.figures.connectsPerSecond);
      assert.ok(perNode.every((v: number) => v > 0), `both nodes counted: ${perNode}`);
      assert.ok(Math.abs(loaded.sums.connectsPerSecond - perNode[0] - perNode[1]) < 1e-9, 'sums are the per-node sums');
      assert.equal(loaded.formula, Math.min(4, Math.max(1, Math.ceil(loaded.sums.connectsPerSecond / 0.5))));
      // The figures are the nodes' own gauges (the windows are means, so they only move slowly).
      assert.ok(await metric(a.url, 'brigade_connects_total') >= 20);

      // A node that dies is reported unhealthy, with the reason; the rest still counts.
      await b.kill();
      const dead = await eventually(() => scaler.lines.find((l) => l.nodes[1].healthy === false), { what: 'a line with the dead node', timeoutMs: 15_000, intervalMs: 100 });
      assert.match(dead.nodes[1].error, /127\.0\.0\.1/);
      assert.equal(dead.nodes[1].figures, null);
      assert.equal(dead.nodes[0].healthy, true);
      assert.equal(dead.sums.connectsPerSecond, dead.nodes[0].figures.connectsPerSecond);
      assert.deepEqual([dead.nodes[1].healthFailures, dead.nodes[1].replace], [1, false]);
      const replace = await eventually(() => scaler.lines.find((l) => l.nodes[1].replace), { what: 'the replace cue', timeoutMs: 15_000, intervalMs: 100 });
      assert.equal(replace.nodes[1].healthFailures, 2);
      assert.equal(replace.nodes[0].replace, false);

      const status = JSON.parse(readFileSync(join(scaler.dir, 'status.json'), 'utf8'));
      assert.equal(status.mode, 'print');
      assert.ok(typeof status.desired === 'number' && status.nodes.length === 2);

      scaler.proc.kill('SIGTERM');
      assert.equal(await scaler.exited, 0);
      assert.ok(scaler.lines.every((l) => 'desired' in l && 'sums' in l && Array.isArray(l.nodes)), 'stdout holds only decision lines');
      assert.match(scaler.stderr(), /autoscale starting \(print\)/, 'the log goes to stderr');
      assert.equal(a.proc.exitCode, null, 'the watched node was left alone');
    } finally {
      await scaler.destroy();
    }
  });
});
