/**
 * `brigade autoscale` in local mode, end to end with real processes: a real Redis, the real CLI
 * starting real `brigade serve` nodes, real WebSocket clients. Connection churn on the first node
 * brings up more nodes; when it stops, the fleet goes back to one after the cool-down; a node
 * frozen with SIGSTOP (its /healthz times out) is replaced and SIGKILLed; a node killed with
 * SIGKILL is restarted; SIGTERM stops everything. Nodes are discovered through GET /status.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { alive, churn, startAutoscaler, type Autoscaler } from './autoscaler.ts';
import { eventually } from '../helpers/eventually.ts';

describe('brigade autoscale (local mode)', () => {
  let redis: RedisServer;
  before(async () => { redis = await startRedis(); });
  after(async () => { await redis.destroy(); });

  it('scales up on connects/s, back down after the cool-down, replaces an unhealthy node, restarts a killed one', async () => {
    const cooldownMs = 1500;
    const scaler = startAutoscaler({
      connectsPerSecond: 1, messagesPerSecond: 100_000, minNodes: 1, maxNodes: 3,
      cooldownMs, scaleDownCooldownMs: 2000, intervalMs: 400,
      health: { timeoutMs: 300, failuresBeforeReplace: 2 },
      local: { redis: redis.url, data: 'data', stopTimeoutMs: 1500, restartDelayMs: 200, forwardLogs: false, args: ['--place-canvases', 'main:16x16'] },
      status: { port: 0, file: 'status.json' },
    });
    const seen = new Set<number>(); // every node PID, so none outlives the test
    try {
      const statusPort = (await eventually(() => scaler.lines.find((l) => l.msg === 'autoscale status listening'), { what: 'the status port', timeoutMs: 15_000, intervalMs: 100 }))!.port as number;
      const status = async () => {
        const s = await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json() as any;
        for (const n of s.nodes ?? []) seen.add(n.pid);
        return s;
      };
      const running = async () => (await status()).nodes.filter((n: any) => n.state === 'running');

      // minNodes at once.
      const [first] = await eventually(async () => { const r = await running(); return r.length === 1 && r; }, { what: 'the first node', timeoutMs: 20_000, intervalMs: 100 });
      assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'a real node answers');

      // Churn: 30 connects in a 10 s window is 3/s against a target of 1/s per node.
      await churn(first.url, 30);
      const more = await eventually(async () => { const r = await running(); return r.length >= 2 && r; }, { what: 'a second node', timeoutMs: 20_000, intervalMs: 100 });
      const up = scaler.lines.find((l) => l.msg === 'autoscale decision' && l.action === 'up')!;
      assert.ok(up.sums.connectsPerSecond > 1, `scaled on connects/s: ${JSON.stringify(up.sums)}`);
      assert.equal(up.desired, Math.min(3, Math.ceil(up.sums.connectsPerSecond / 1)));
      assert.equal(up.current, 1);
      assert.ok(Array.isArray(up.nodes) && up.nodes[0].figures.connectsPerSecond > 0, 'the decision logs per-node figures');
      const second = more.find((n: any) => n.pid !== first.pid);
      assert.equal((await fetch(`${second.url}/readyz`)).status, 200, 'the new node is a ready Brigade node on the same Redis');

      // Load stops: the 10 s window empties, then the scale-down cool-down, then back to one.
      const one = await eventually(async () => {
        const s = await status();
        return s.nodes.length === 1 && s.nodes[0].state === 'running' && s;
      }, { what: 'back to one node', timeoutMs: 30_000, intervalMs: 100 });
      // On a loaded machine it may have gone up to 3 and come down a step at a time: the last step is to 1.
      const downs = scaler.lines.filter((l) => l.msg === 'autoscale decision' && l.action === 'down');
      assert.equal(downs[downs.length - 1].desired, 1);
      assert.ok(downs[0].time - up.time >= 2000, 'no scale-down before scaleDownCooldownMs after the scale-up');
      const stopped = [...seen].filter((pid) => pid !== one.nodes[0].pid);
      assert.ok(stopped.length >= 1);
      await eventually(() => stopped.every((pid) => !alive(pid)), { what: 'stopped nodes to exit', timeoutMs: 10_000, intervalMs: 100 });
      const scaleDownExits = one.events.filter((e: any) => e.event === 'exit' && e.reason === 'scale down');
      assert.ok(scaleDownExits.length >= 1 && scaleDownExits.every((e: any) => e.code === 0), 'graceful stops exit 0');

      // A frozen node: /healthz times out twice → replaced; it ignores SIGTERM while stopped → SIGKILL.
      const frozen = one.nodes[0].pid as number;
      process.kill(frozen, 'SIGSTOP');
      const replacement = await eventually(async () => {
        const r = await running();
        return r.length === 1 && r[0].pid !== frozen && r[0];
      }, { what: 'a replacement node', timeoutMs: 20_000, intervalMs: 100 });
      await eventually(() => !alive(frozen), { what: 'the frozen node to be killed', timeoutMs: 10_000, intervalMs: 100 });
      const events = (await status()).events as any[];
      assert.ok(events.some((e) => e.event === 'replace' && e.pid === frozen && /health checks failed/.test(e.reason)));
      assert.ok(events.some((e) => e.event === 'kill' && e.pid === frozen));
      assert.ok(events.some((e) => e.event === 'exit' && e.pid === frozen && e.signal === 'SIGKILL'));
      assert.equal((await fetch(`${replacement.url}/healthz`)).status, 200);

      // A node that dies by itself is restarted.
      process.kill(replacement.pid, 'SIGKILL');
      const restarted = await eventually(async () => {
        const r = await running();
        return r.length === 1 && r[0].pid !== replacement.pid && r[0];
      }, { what: 'a restarted node', timeoutMs: 20_000, intervalMs: 100 });
      assert.ok((await status()).events.some((e: any) => e.event === 'exit' && e.pid === replacement.pid && e.reason === 'exited by itself'));

      // The status file says the same.
      const file = JSON.parse(readFileSync(join(scaler.dir, 'status.json'), 'utf8'));
      assert.equal(file.mode, 'local');
      assert.ok(file.nodes.some((n: any) => n.pid === restarted.pid));

      // SIGTERM: every node stopped, exit 0.
      scaler.proc.kill('SIGTERM');
      assert.equal(await scaler.exited, 0);
      for (const pid of seen) assert.equal(alive(pid), false, `node ${pid} left running`);
    } finally {
      await scaler.destroy();
      for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
