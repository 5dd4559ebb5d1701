/**
 * place against a real server process, with real WebSocket clients through the SDK.
 */
import '../../src/apps/place/errors.ts'; // a client names an app's codes once it registers the app's block
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient, BrigadeError } from '../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { codec, identity, prng, randomEdit, serverPixels, viewer } from '../helpers/place-client.ts';
import { metric } from '../helpers/metrics.ts';
import { eventually } from '../helpers/eventually.ts';

const fast = ['--tick-ms', '20', '--place-png-min-interval-ms', '0', '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0'];

describe('place over a real server', () => {
  let server: ServerProcess;
  let editor: BrigadeClient;

  before(async () => {
    server = await startServer(fast);
    editor = new BrigadeClient(server.wsUrl, { token: await identity(server.url), WebSocket: WebSocket as never });
    await editor.ready();
  });
  after(async () => {
    editor.close();
    await server.stop();
    server.cleanup();
  });

  async function publishMany(n: number, seed: number): Promise<number[]> {
    const rand = prng(seed);
    return Promise.all(Array.from({ length: n }, () => editor.publish('place:main', randomEdit(rand))));
  }

  it('two clients see identical canvases, equal to the server snapshot', async () => {
    const a = viewer(server.wsUrl);
    const b = viewer(server.wsUrl);
    try {
      const versions = await publishMany(500, 1);
      const head = Math.max(...versions) + 1;
      assert.deepEqual([...versions].sort((x, y) => x - y), Array.from({ length: 500 }, (_, i) => versions.reduce((m, v) => Math.min(m, v)) + i), 'acknowledged versions are dense');
      await a.untilVersion(head);
      await b.untilVersion(head);
      assert.equal(Buffer.compare(a.pixels, b.pixels), 0, 'viewers agree');
      const srv = await serverPixels(server.url);
      assert.equal(srv.version, head);
      assert.equal(Buffer.compare(a.pixels, srv.pixels), 0, 'viewers equal the server');
    } finally {
      a.close();
      b.close();
    }
  });

  it('a client away for N edits catches up with exactly those N events', async () => {
    const a = viewer(server.wsUrl);
    await a.untilVersion((await serverPixels(server.url)).version);
    const leftAt = a.sub.version;
    const saved = a.pixels.slice();
    a.close();
    const n = 321;
    const versions = await publishMany(n, 2);
    const head = Math.max(...versions) + 1;
    assert.equal(head - leftAt, n);
    const b = viewer(server.wsUrl, { from: { mode: 'version', version: leftAt, epoch: a.sub.epoch } });
    b.pixels = saved;
    try {
      await b.untilVersion(head);
      assert.equal(b.snapshots, 0, `caught up from the log, not a snapshot (left at ${leftAt}, epoch ${a.sub.epoch}, head ${head}, b epoch ${b.sub.epoch})`);
      assert.equal(b.eventsReceived, n, 'exactly the missed events');
      const srv = await serverPixels(server.url);
      assert.equal(srv.version, head);
      assert.equal(Buffer.compare(b.pixels, srv.pixels), 0);
    } finally {
      b.close();
    }
  });

  it('refuses bad edits with typed errors and changes nothing', async () => {
    const before = await serverPixels(server.url);
    const expectCode = async (payload: Uint8Array, code: string) => {
      await assert.rejects(editor.publish('place:main', payload), (err: unknown) => err instanceof BrigadeError && err.code === code);
    };
    await expectCode(codec.encode(1000 > 1023 ? 0 : 1023, 5, 1), 'PLACE_OUT_OF_BOUNDS');
    await expectCode(codec.encode(5, 1010, 1), 'PLACE_OUT_OF_BOUNDS');
    await expectCode(new Uint8Array([1, 2]), 'PLACE_BAD_EDIT');
    await expectCode(new Uint8Array(4), 'EVENT_TOO_LARGE');
    await assert.rejects(editor.publish('place:nope', codec.encode(1, 1, 1)), (e: unknown) => e instanceof BrigadeError && e.code === 'UNKNOWN_CHANNEL');
    await assert.rejects(editor.publish('chat:x', codec.encode(1, 1, 1)), (e: unknown) => e instanceof BrigadeError && e.code === 'UNKNOWN_CHANNEL');
    // Anonymous and forged tokens cannot edit.
    const anon = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
    const forged = new BrigadeClient(server.wsUrl, { token: 'mallory.1.AAAA', WebSocket: WebSocket as never });
    const forgedErrors: string[] = [];
    forged.on('error', (e) => forgedErrors.push(e.code));
    try {
      await assert.rejects(anon.publish('place:main', codec.encode(1, 1, 1)).catch(async (e) => {
        if (e.code === 'DISCONNECTED') { await anon.ready(); return anon.publish('place:main', codec.encode(1, 1, 1)); }
        throw e;
      }), (e: unknown) => e instanceof BrigadeError && e.code === 'AUTH_REQUIRED');
      await forged.ready();
      await assert.rejects(forged.publish('place:main', codec.encode(1, 1, 1)), (e: unknown) => e instanceof BrigadeError && e.code === 'AUTH_REQUIRED');
      assert.ok(forgedErrors.includes('INVALID_TOKEN'), `forged token reported: ${forgedErrors}`);
    } finally {
      anon.close();
      forged.close();
    }
    const afterBad = await serverPixels(server.url);
    assert.equal(afterBad.version, before.version, 'no version consumed');
    assert.equal(Buffer.compare(afterBad.pixels, before.pixels), 0);
  });

  it('subscribing from a version ahead of the head is refused', async () => {
    const { version } = await serverPixels(server.url);
    const errors: BrigadeError[] = [];
    const c = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
    c.subscribe('place:main', { onBatch() {}, onError: (e) => errors.push(e) }, { mode: 'version', version: version + 10 });
    try {
      await eventually(() => errors.length > 0, { what: 'the subscription to be refused' });
      assert.equal(errors[0]?.code, 'VERSION_AHEAD');
      assert.match(errors[0].message, new RegExp(`head ${version}`));
    } finally {
      c.close();
    }
  });

  it('cooldown refuses a second edit with retryAfterMs', async () => {
    const s = await startServer(['--place-cooldown-ms', '60000']);
    const c = new BrigadeClient(s.wsUrl, { token: await identity(s.url), WebSocket: WebSocket as never });
    try {
      await c.ready();
      assert.equal(await c.publish('place:main', codec.encode(1, 1, 1)), 0);
      await assert.rejects(c.publish('place:main', codec.encode(2, 2, 2)), (e: unknown) =>
        e instanceof BrigadeError && e.code === 'COOLDOWN' && e.retryAfterMs > 50_000 && e.retryAfterMs <= 60_000);
      assert.equal((await serverPixels(s.url)).version, 1);
    } finally {
      c.close();
      await s.stop();
      s.cleanup();
    }
  });

  it('limits publishes per IP address with RATE_LIMITED and retryAfterMs', async () => {
    const s = await startServer(['--publish-per-second-per-ip', '1', '--publish-burst-per-ip', '3']);
    const c = new BrigadeClient(s.wsUrl, { token: await identity(s.url), WebSocket: WebSocket as never });
    try {
      await c.ready();
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => c.publish('place:main', codec.encode(i, 0, 1))));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const limited = results.filter((r) => r.status === 'rejected' && (r.reason as BrigadeError).code === 'RATE_LIMITED' && (r.reason as BrigadeError).retryAfterMs > 0);
      assert.equal(ok, 3, 'the burst goes through');
      assert.equal(limited.length, 3, 'the rest are refused with RATE_LIMITED');
      // The session looked its address up when the limit first needed it (Sink.peerAddress), not at the upgrade.
      assert.match((limited[0] as PromiseRejectedResult).reason.message, /from 127\.0\.0\.1;/);
      assert.equal((await serverPixels(s.url)).version, 3, 'refused publishes consumed no version');
    } finally {
      c.close();
      await s.stop();
      s.cleanup();
    }
  });

  it('exports the metrics operators need, and they move', async () => {
    const names = [
      'brigade_connections', 'brigade_connects_total', 'brigade_connects_per_second', 'brigade_events_in_total',
      'brigade_frames_out_total', 'brigade_bytes_out_total', 'brigade_behind_total', 'brigade_resumes_total',
      'brigade_batch_events_count', 'brigade_tick_duration_seconds_count', 'brigade_tick_interval_ms',
    ];
    for (const n of names) assert.ok(Number.isFinite(await metric(server.url, n)), n);
    assert.ok(await metric(server.url, 'brigade_events_in_total') > 500);
    assert.ok(await metric(server.url, 'brigade_frames_out_total') > 0);
    assert.ok(await metric(server.url, 'brigade_tick_duration_seconds_count') > 0);
    assert.ok(await metric(server.url, 'brigade_connections') >= 1, 'the editor is connected');
    // Open descriptors are read off the event loop; the per-handle gauges, which cost a step per
    // socket on the event loop at every scrape, are not exported.
    assert.ok(await metric(server.url, 'brigade_process_process_open_fds') >= 3, 'open descriptors counted');
    await assert.rejects(metric(server.url, 'brigade_process_nodejs_active_handles_total'), /not exported/);
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
  });
});
