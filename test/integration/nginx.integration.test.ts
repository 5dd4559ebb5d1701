/**
 * Two Brigade nodes over one real Redis behind a real nginx running deploy/nginx/brigade.conf:
 * WebSockets upgrade through it and spread over both nodes, every client converges, snapshots are
 * micro-cached (HIT within the second, one upstream request per burst, fresh again after edits),
 * /metrics stays private, and a node stopped with SIGTERM hands its clients to the other one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { startNginx, type Nginx } from '../helpers/nginx.ts';
import { metric } from '../helpers/metrics.ts';
import { identity, prng, randomEdit, serverPixels, viewer, type Viewer } from '../helpers/place-client.ts';
import { eventually } from '../helpers/eventually.ts';

const nodeArgs = (redisUrl: string): string[] => [
  '--redis', redisUrl, '--redis-prefix', 'nginx:', '--trust-proxy',
  '--identity-secret', 'shared-secret-for-tests-0123456789',
  '--tick-ms', '20', '--place-png-min-interval-ms', '0',
  '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0',
];

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

describe('nodes behind nginx (deploy/nginx/brigade.conf)', () => {
  let redis: RedisServer;
  let nodes: ServerProcess[] = [];
  let nginx: Nginx;
  const clients: BrigadeClient[] = [];
  const viewers: Viewer[] = [];
  /** Edits acknowledged so far: the canvas's head version. */
  let head = 0;

  before(async () => {
    redis = await startRedis({ appendonly: true });
    nodes = await Promise.all([startServer(nodeArgs(redis.url)), startServer(nodeArgs(redis.url))]);
    nginx = await startNginx({ nodes: nodes.map((n) => `127.0.0.1:${n.port}`) });
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const v of viewers) v.close();
    await nginx?.destroy();
    for (const n of nodes) {
      await n.stop();
      n.cleanup();
    }
    await redis?.destroy();
  });

  async function publishThroughNginx(editors: BrigadeClient[], count: number, seed: number): Promise<number[]> {
    const rand = prng(seed);
    const versions = await Promise.all(Array.from({ length: count }, (_, i) => editors[i % editors.length].publish('place:main', randomEdit(rand))));
    head += count;
    return versions;
  }

  it('WebSocket clients through nginx land on both nodes and converge to the same canvas', async () => {
    const token = await identity(nginx.url);
    const editors = [0, 1].map(() => new BrigadeClient(nginx.wsUrl, { token, WebSocket: WebSocket as never }));
    clients.push(...editors);
    for (let i = 0; i < 6; i++) viewers.push(viewer(nginx.wsUrl));
    await Promise.all([...editors.map((c) => c.ready()), ...viewers.map((v) => v.client.ready())]);

    const perNode = await Promise.all(nodes.map((n) => metric(n.url, 'brigade_connections')));
    assert.ok(perNode.every((c) => c > 0), `both nodes hold connections (got ${perNode.join(', ')})`);
    assert.equal(perNode[0] + perNode[1], editors.length + viewers.length, 'every connection went through nginx to a node');

    const versions = await publishThroughNginx(editors, 300, 11);
    assert.deepEqual([...versions].sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i), 'dense versions across nodes');
    for (const v of viewers) await v.untilVersion(head);
    const [pa, pb] = await Promise.all(nodes.map((n) => serverPixels(n.url)));
    assert.equal(pa.version, head);
    assert.equal(pb.version, head);
    assert.equal(Buffer.compare(pa.pixels, pb.pixels), 0, 'node canvases are byte-identical');
    for (const v of viewers) assert.equal(Buffer.compare(v.pixels, pa.pixels), 0, 'every viewer holds the nodes\' canvas');
  });

  it('snapshot.png and snapshot.bin through nginx carry X-Brigade-Version and are cached (HIT within the second)', async () => {
    for (const file of ['snapshot.png', 'snapshot.bin']) {
      const url = `${nginx.url}/api/place/main/${file}`;
      // Two fetches back to back; the second is a HIT unless a slow machine let the 1 s lapse
      // between them, so try a few pairs rather than assert on time.
      let first = await get(url);
      let second = await get(url);
      for (let attempt = 0; attempt < 20 && second.headers.get('x-cache-status') !== 'HIT'; attempt++) {
        first = await get(url);
        second = await get(url);
      }
      for (const r of [first, second]) {
        assert.equal(r.status, 200);
        assert.match(r.headers.get('x-brigade-version') ?? '', /^\d+$/, `${file}: X-Brigade-Version`);
        const etag = `"${r.headers.get('x-brigade-epoch')}-${r.headers.get('x-brigade-version')}"`;
        assert.equal(r.headers.get('etag'), etag, `${file}: ETag names epoch and version`);
        assert.equal(r.headers.get('cache-control'), 'public, max-age=1', `${file}: the node's Cache-Control passes through`);
      }
      assert.equal(second.headers.get('x-cache-status'), 'HIT', `${file}: a second fetch within the second is served by nginx's cache`);
      if (file === 'snapshot.png') {
        assert.equal(second.headers.get('content-type'), 'image/png');
        assert.equal(second.body.subarray(1, 4).toString('latin1'), 'PNG');
      }
      if (first.headers.get('x-brigade-version') === second.headers.get('x-brigade-version')) {
        assert.equal(Buffer.compare(first.body, second.body), 0, `${file}: the cached copy is the node's bytes`);
      }
      // nginx answers a matching If-None-Match itself.
      const notModified = await get(url, { 'If-None-Match': second.headers.get('etag')! });
      assert.ok(notModified.status === 304 || notModified.status === 200, `${file}: conditional GET answered ${notModified.status}`);
      if (notModified.headers.get('etag') === second.headers.get('etag')) assert.equal(notModified.status, 304);
    }
  });

  it('a burst of requests for an uncached snapshot reaches a node once (proxy_cache_lock)', async () => {
    // A query string makes a fresh cache key; the nodes ignore it.
    const url = `${nginx.url}/api/place/main/snapshot.bin?burst=${randomBytes(6).toString('hex')}`;
    const replies = await Promise.all(Array.from({ length: 20 }, () => get(url)));
    const statuses = replies.map((r) => r.headers.get('x-cache-status'));
    assert.ok(replies.every((r) => r.status === 200));
    assert.equal(statuses.filter((s) => s === 'MISS').length, 1, `one request went to a node, the rest waited for it: ${statuses.join(' ')}`);
    assert.ok(replies.every((r) => Buffer.compare(r.body, replies[0].body) === 0), 'every reply carries the same bytes');
  });

  it('the cached snapshot catches up with new edits (stale for about a second, never stuck)', async () => {
    const token = await identity(nginx.url);
    const editor = new BrigadeClient(nginx.wsUrl, { token, WebSocket: WebSocket as never });
    clients.push(editor);
    await editor.ready();
    const before = await get(`${nginx.url}/api/place/main/snapshot.png`);
    await publishThroughNginx([editor], 20, 12);
    assert.ok(Number(before.headers.get('x-brigade-version')) < head);
    await eventually(async () => {
      const r = await get(`${nginx.url}/api/place/main/snapshot.png`);
      return Number(r.headers.get('x-brigade-version')) === head;
    }, { what: `snapshot.png through nginx at version ${head}` });
    for (const v of viewers) await v.untilVersion(head);
  });

  it('/metrics is not published through nginx; /healthz and /readyz are', async () => {
    assert.equal((await get(`${nginx.url}/metrics`)).status, 403);
    assert.equal((await get(`${nginx.url}/healthz`)).status, 200);
    const ready = await get(`${nginx.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(JSON.parse(ready.body.toString()).engine, 'redis');
  });

  it('a node stopped with SIGTERM: its clients reconnect through nginx to the other node and converge', async () => {
    const [gone, left] = nodes;
    const onGone = await metric(gone.url, 'brigade_connections');
    assert.ok(onGone > 0);
    assert.equal(await gone.stop(), 0, 'the node drains and exits cleanly');
    const everyone = clients.length + viewers.length;
    await eventually(async () => (await metric(left.url, 'brigade_connections')) === everyone
      && clients.every((c) => c.connected) && viewers.every((v) => v.client.connected), { what: 'every client connected to the remaining node' });
    // New connections go to the node that is left (nginx skips the one that refuses).
    const late = viewer(nginx.wsUrl);
    viewers.push(late);
    await late.client.ready();
    await publishThroughNginx(clients.slice(0, 2), 100, 13);
    for (const v of viewers) await v.untilVersion(head);
    const { version, pixels } = await serverPixels(left.url);
    assert.equal(version, head);
    for (const v of viewers) assert.equal(Buffer.compare(v.pixels, pixels), 0, 'every viewer converges after the failover');
  });
});
