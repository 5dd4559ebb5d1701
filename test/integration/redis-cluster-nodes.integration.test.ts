/**
 * Two `brigade serve` processes on a real 3-primary Redis Cluster (--redis-cluster): place edits
 * published on one node reach viewers on the other over 24 canvases whose channels are spread over
 * every shard, each viewer with every edit of its canvas once and in order. Then the start refused on a cluster that is not fully covered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { BrigadeClient, type Subscription } from '../../src/sdk/index.ts';
import { makeEditCodec } from '../../src/apps/place/edit-codec.ts';
import { keySlot } from '../../src/engines/redis-slot.ts';
import { startServer } from '../helpers/server-process.ts';
import { startRedisCluster, type RedisClusterDeployment } from '../helpers/redis-cluster.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { identity, prng } from '../helpers/place-client.ts';
import { eventually } from '../helpers/eventually.ts';

const CANVASES = 24;
const SIDE = 16;
const EDITS_PER_CANVAS = 40;
const codec = makeEditCodec(SIDE, SIDE, 16);
const common = ['--tick-ms', '20', '--place-png-min-interval-ms', '0', '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0',
  '--identity-secret', 'shared-secret-for-tests-0123456789',
  '--place-canvases', Array.from({ length: CANVASES }, (_, i) => `c${i}:${SIDE}x${SIDE}`).join(',')];

describe('nodes over a Redis Cluster', () => {
  let cluster: RedisClusterDeployment;
  before(async () => { cluster = await startRedisCluster({ primaries: 3 }); });
  after(async () => { await cluster.destroy(); });

  it('edits on one node reach viewers on the other over 24 canvases spread over three shards', async () => {
    const shards = new Set<number>();
    for (let i = 0; i < CANVASES; i++) shards.add(await cluster.primaryPortOf(keySlot(`place:c${i}`)));
    assert.equal(shards.size, 3, 'the canvases live on every shard');
    const args = [...common, '--redis-cluster', cluster.nodeList, '--redis-prefix', 'nodes:'];
    const a = await startServer(args);
    const b = await startServer(args);
    const editor = new BrigadeClient(a.wsUrl, { token: await identity(a.url), WebSocket: WebSocket as never });
    const watcher = new BrigadeClient(b.wsUrl, { WebSocket: WebSocket as never });
    try {
      // Each node says which primaries it uses, in its log and in brigade_redis_primary.
      const primaries = [...shards].sort().map((port) => `127.0.0.1:${port}`).join(',');
      for (const n of [a, b]) {
        assert.ok(n.logs.some((l) => l.includes('"msg":"redis cluster in use"') && l.includes(`"primaries":"${primaries}"`)), 'the primaries logged');
        assert.match(await (await fetch(`${n.url}/metrics`)).text(), new RegExp(`^brigade_redis_primary\\{address="${primaries.replaceAll('.', '\\.')}"[^}]*\\} 1$`, 'm'));
      }
      const got: number[][] = Array.from({ length: CANVASES }, () => []);
      const subs: Subscription[] = [];
      for (let i = 0; i < CANVASES; i++) {
        subs.push(watcher.subscribe(`place:c${i}`, {
          onBatch(first, events) {
            events.forEach((_, j) => got[i].push(first + j));
          },
          onSnapshot() {},
        }));
      }
      await editor.ready();
      await eventually(() => subs.every((s) => s.synced), { what: 'every viewer subscribed' });
      const rand = prng(5);
      const sent = await Promise.all(Array.from({ length: CANVASES * EDITS_PER_CANVAS }, (_, k) => {
        const canvas = k % CANVASES;
        return editor.publish(`place:c${canvas}`, codec.encode(Math.floor(rand() * SIDE), Math.floor(rand() * SIDE), 1 + Math.floor(rand() * 15)));
      }));
      assert.equal(sent.length, CANVASES * EDITS_PER_CANVAS);
      await eventually(() => got.every((versions) => versions.length >= EDITS_PER_CANVAS), {
        what: () => `every canvas's ${EDITS_PER_CANVAS} edits on node B (short: ${got.map((v) => v.length).join(',')})`,
      });
      for (let i = 0; i < CANVASES; i++) {
        assert.deepEqual(got[i], Array.from({ length: EDITS_PER_CANVAS }, (_, v) => v), `canvas c${i}: every version once, in order`);
      }
    } finally {
      editor.close();
      watcher.close();
      await a.stop();
      await b.stop();
      a.cleanup();
      b.cleanup();
    }
  });

  it('refuses to start on a cluster that is not fully covered: exit 2, REDIS_CLUSTER_DOWN', async () => {
    const lone = await startRedis({ extraArgs: ['--cluster-enabled', 'yes'] });
    try {
      const cli = fileURLToPath(new URL('../../bin/brigade.js', import.meta.url));
      const run = spawnSync(process.execPath, [cli, 'serve', '--port', '0', '--redis-cluster', `127.0.0.1:${lone.port}`], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /REDIS_CLUSTER_DOWN: .*cluster_state:fail, 0 of 16384 slots ok/);
    } finally {
      await lone.destroy();
    }
  });
});
