/**
 * Several nodes over one real Redis: any client on any node; every node applies every batch in
 * the same order, so canvases are byte-identical at the same version everywhere.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient, BrigadeError } from '../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { codec, identity, prng, randomEdit, serverPixels, viewer } from '../helpers/place-client.ts';
import { metric } from '../helpers/metrics.ts';
import { eventually } from '../helpers/eventually.ts';

const common = ['--tick-ms', '20', '--place-png-min-interval-ms', '0', '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0', '--identity-secret', 'shared-secret-for-tests-0123456789'];

describe('nodes over Redis', () => {
  let redis: RedisServer;
  before(async () => { redis = await startRedis({ appendonly: true }); });
  after(async () => { await redis.destroy(); });

  it('two node processes: edits on one reach viewers on the other; canvases are byte-identical', async () => {
    const prefix = ['--redis', redis.url, '--redis-prefix', 'two:'];
    const a = await startServer([...common, ...prefix]);
    const b = await startServer([...common, ...prefix]);
    const token = await identity(a.url);
    const editorA = new BrigadeClient(a.wsUrl, { token, WebSocket: WebSocket as never });
    const editorB = new BrigadeClient(b.wsUrl, { token, WebSocket: WebSocket as never });
    const onA = viewer(a.wsUrl);
    const onB = viewer(b.wsUrl);
    try {
      await editorA.ready();
      await editorB.ready();
      const rand = prng(3);
      const versions = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 ? editorA : editorB).publish('place:main', randomEdit(rand))));
      assert.deepEqual([...versions].sort((x, y) => x - y), Array.from({ length: 400 }, (_, i) => i), 'dense versions across nodes');
      await onA.untilVersion(400);
      await onB.untilVersion(400);
      const [pa, pb] = [await serverPixels(a.url), await serverPixels(b.url)];
      assert.equal(pa.version, 400);
      assert.equal(pb.version, 400);
      assert.equal(Buffer.compare(pa.pixels, pb.pixels), 0, 'node canvases are byte-identical');
      assert.equal(Buffer.compare(onA.pixels, pa.pixels), 0);
      assert.equal(Buffer.compare(onB.pixels, pa.pixels), 0);
    } finally {
      for (const c of [editorA, editorB]) c.close();
      onA.close();
      onB.close();
      await a.stop();
      await b.stop();
      a.cleanup();
      b.cleanup();
    }
  });

  it("nodes tick on one wall-clock grid: a tick's edits from two nodes reach a viewer in one frame", async () => {
    const tickMs = 1000; // 800 ms of slack after the publish: on a loaded 2-core machine a 500 ms tick let one edit slip into the next tick
    const args = [...common.filter((a, i) => a !== '--tick-ms' && common[i - 1] !== '--tick-ms'),
      '--tick-ms', String(tickMs), '--fan-out-grace-ms', '60', '--redis', redis.url, '--redis-prefix', 'grid:'];
    const a = await startServer(args);
    const b = await startServer(args);
    const token = await identity(a.url);
    const editorA = new BrigadeClient(a.wsUrl, { token, WebSocket: WebSocket as never });
    const editorB = new BrigadeClient(b.wsUrl, { token, WebSocket: WebSocket as never });
    const onB = viewer(b.wsUrl);
    try {
      await editorA.ready();
      await editorB.ready();
      await onB.untilVersion(0);
      const rand = prng(11);
      const rounds = 4;
      for (let r = 1; r <= rounds; r++) {
        // Publish both 200 ms into a grid interval, so they cannot fall on either side of a tick.
        const into = Date.now() % tickMs;
        await new Promise((res) => setTimeout(res, (200 - into + tickMs) % tickMs));
        await Promise.all([editorA.publish('place:main', randomEdit(rand)), editorB.publish('place:main', randomEdit(rand))]);
        await onB.untilVersion(2 * r);
      }
      // Each tick, A's batch (through Redis) and B's own went out together. Unaligned ticks, or a
      // fan-out that does not wait for the other node, send them as two frames.
      assert.deepEqual(onB.batchSizes, Array.from({ length: rounds }, () => 2), `frames on B: ${onB.batchSizes.join(',')}`);
      const pb = await serverPixels(b.url);
      assert.equal(Buffer.compare(onB.pixels, pb.pixels), 0);
      assert.ok(await metric(b.url, 'brigade_fan_out_grace_ms') >= 60, 'B waited at least --fan-out-grace-ms');
      assert.equal(await metric(b.url, 'brigade_tick_interval_ms'), tickMs);
    } finally {
      for (const c of [editorA, editorB]) c.close();
      onB.close();
      await a.stop();
      await b.stop();
      a.cleanup();
      b.cleanup();
    }
  });

  it('a place cooldown holds across nodes: an edit on one starts it on every other', async () => {
    const prefix = ['--redis', redis.url, '--redis-prefix', 'cool:', '--place-cooldown-ms', '60000'];
    const a = await startServer([...common, ...prefix]);
    const b = await startServer([...common, ...prefix]);
    const token = await identity(a.url);
    const onA = new BrigadeClient(a.wsUrl, { token, WebSocket: WebSocket as never });
    const onB = new BrigadeClient(b.wsUrl, { token, WebSocket: WebSocket as never });
    const someoneElse = new BrigadeClient(b.wsUrl, { token: await identity(b.url), WebSocket: WebSocket as never });
    const cooldown = (e: unknown) => e instanceof BrigadeError && e.code === 'COOLDOWN' && e.retryAfterMs > 50_000 && e.retryAfterMs <= 60_000;
    try {
      await Promise.all([onA.ready(), onB.ready(), someoneElse.ready()]);
      assert.equal(await onA.publish('place:main', codec.encode(1, 1, 1)), 0);
      await assert.rejects(onB.publish('place:main', codec.encode(2, 2, 2)), cooldown, 'the same user on the other node is held');
      await assert.rejects(onB.publish('place:main', codec.encode(3, 3, 3)), cooldown, 'and stays held there');
      await assert.rejects(onA.publish('place:main', codec.encode(4, 4, 4)), cooldown, 'as on the first node');
      assert.equal(await someoneElse.publish('place:main', codec.encode(5, 5, 5)), 1, 'another user is not');
      await eventually(async () => (await serverPixels(b.url)).version >= 2, { what: 'node B to reach version 2' });
      const { version, pixels } = await serverPixels(b.url);
      assert.equal(version, 2, 'nothing refused was appended');
      assert.equal(pixels[2 * 1000 + 2], 0, 'the refused pixel is untouched');
      assert.equal(pixels[5 * 1000 + 5], 5);
    } finally {
      for (const c of [onA, onB, someoneElse]) c.close();
      await a.stop();
      await b.stop();
      a.cleanup();
      b.cleanup();
    }
  });

  it('a node unloads a channel nobody watches and, loading it again, misses nothing written meanwhile', async () => {
    // Place alone: the test counts loaded channels, and the inbox keeps its world-view loaded.
    const prefix = ['--redis', redis.url, '--redis-prefix', 'idle:', '--channel-idle-ms', '150', '--apps', 'place'];
    const a = await startServer([...common, ...prefix]);
    const b = await startServer([...common, ...prefix]);
    const editor = new BrigadeClient(a.wsUrl, { token: await identity(a.url), WebSocket: WebSocket as never });
    const first = viewer(b.wsUrl);
    let again: ReturnType<typeof viewer> | undefined;
    let resumed: ReturnType<typeof viewer> | undefined;
    try {
      await editor.ready();
      const rand = prng(5);
      await Promise.all(Array.from({ length: 100 }, () => editor.publish('place:main', randomEdit(rand))));
      await first.untilVersion(100);
      const leftAt = first.sub.version;
      const saved = first.pixels.slice();
      assert.ok(await metric(b.url, 'brigade_channels_loaded') >= 1, 'B holds the channel while watched');
      first.close();
      // Only /metrics from here on: a snapshot request would load the channel again.
      await eventually(async () => await metric(b.url, 'brigade_channels_loaded') === 0, { what: 'B unloads place:main' });
      assert.ok(await metric(b.url, 'brigade_channels_unloaded_total') >= 1);
      // Written while B does not hold (or watch) the channel.
      await Promise.all(Array.from({ length: 150 }, () => editor.publish('place:main', randomEdit(rand))));
      again = viewer(b.wsUrl);
      resumed = viewer(b.wsUrl, { from: { mode: 'version', version: leftAt } });
      resumed.pixels = saved;
      await again.untilVersion(250);
      await resumed.untilVersion(250);
      assert.equal(resumed.snapshots, 0, 'catch-up from the engine, not a snapshot');
      assert.equal(resumed.eventsReceived, 150, 'exactly the 150 events written meanwhile');
      // Live again: B watches the channel's log from its new head.
      await Promise.all(Array.from({ length: 50 }, () => editor.publish('place:main', randomEdit(rand))));
      await again.untilVersion(300);
      await resumed.untilVersion(300);
      const [pa, pb] = [await serverPixels(a.url), await serverPixels(b.url)];
      assert.equal(pa.version, 300);
      assert.equal(pb.version, 300);
      assert.equal(Buffer.compare(pb.pixels, pa.pixels), 0, "B's canvas equals A's");
      assert.equal(Buffer.compare(again.pixels, pa.pixels), 0, 'a new viewer on B converges');
      assert.equal(Buffer.compare(resumed.pixels, pa.pixels), 0, 'a resumed viewer on B converges');
    } finally {
      editor.close();
      for (const v of [first, again, resumed]) v?.close();
      await a.stop();
      await b.stop();
      a.cleanup();
      b.cleanup();
    }
  });

  it('--workers 2 runs two processes on one port that converge', async () => {
    const server = await startServer([...common, '--redis', redis.url, '--redis-prefix', 'workers:', '--workers', '2']);
    const clients: BrigadeClient[] = [];
    const viewers = Array.from({ length: 6 }, () => viewer(server.wsUrl));
    try {
      await eventually(() => server.logs.filter((l) => l.includes('brigade listening')).length >= 2, { what: 'two workers to listen' });
      const pids = new Set(server.logs.filter((l) => l.includes('brigade listening')).map((l) => JSON.parse(l).pid));
      assert.equal(pids.size, 2, 'two worker processes listen');
      const token = await identity(server.url);
      for (let i = 0; i < 6; i++) clients.push(new BrigadeClient(server.wsUrl, { token, WebSocket: WebSocket as never }));
      await Promise.all(clients.map((c) => c.ready()));
      const rand = prng(4);
      await Promise.all(clients.flatMap((c) => Array.from({ length: 50 }, () => c.publish('place:main', randomEdit(rand)))));
      for (const v of viewers) await v.untilVersion(300);
      for (const v of viewers) assert.equal(Buffer.compare(v.pixels, viewers[0].pixels), 0, 'every viewer converges');
      const { version, pixels } = await serverPixels(server.url);
      assert.equal(version, 300);
      assert.equal(Buffer.compare(pixels, viewers[0].pixels), 0);
    } finally {
      for (const c of clients) c.close();
      for (const v of viewers) v.close();
      assert.equal(await server.stop(), 0, 'the primary stops its workers and exits cleanly');
      server.cleanup();
    }
  });
});
