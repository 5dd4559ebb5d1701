/**
 * Nothing acknowledged is lost: kill -9 the server during a stream of acknowledged edits, restart
 * it on the same data directory (snapshot + tail), and find every acknowledged edit at its version.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { startServer } from '../helpers/server-process.ts';
import { codec, identity, prng, randomEdit, serverPixels } from '../helpers/place-client.ts';
import { eventually } from '../helpers/eventually.ts';

const args = ['--tick-ms', '20', '--snapshot-every', '100', '--place-png-min-interval-ms', '0', '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0'];

/** Every event from version 0 to the head, through a real subscription. */
async function readAll(wsUrl: string, head: number): Promise<Uint8Array[]> {
  const events: Uint8Array[] = [];
  const c = new BrigadeClient(wsUrl, { WebSocket: WebSocket as never });
  const sub = c.subscribe('place:main', {
    onBatch(first, batch) {
      for (let i = 0; i < batch.length; i++) events[first + i] = batch[i].slice();
    },
  }, { mode: 'version', version: 0 });
  await eventually(() => sub.version >= head, { what: `the replay to reach ${head}` }).finally(() => c.close());
  assert.equal(sub.version, head, 'replayed to the head');
  return events;
}

describe('durability', () => {
  it('kill -9 mid-stream loses no acknowledged edit; restart = snapshot + tail', async () => {
    const first = await startServer(args);
    const acked = new Map<number, Uint8Array>();
    let killed = false;
    try {
      const client = new BrigadeClient(first.wsUrl, { token: await identity(first.url), WebSocket: WebSocket as never, reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
      await client.ready();
      const rand = prng(7);
      // Eight writers keep publishes in flight until the kill.
      const writer = async () => {
        while (!killed) {
          const edit = randomEdit(rand);
          try {
            acked.set(await client.publish('place:main', edit), edit);
          } catch (err) {
            assert.equal((err as { code: string }).code, 'DISCONNECTED', 'only the kill may fail a publish');
            return;
          }
        }
      };
      const writers = Array.from({ length: 8 }, writer);
      await eventually(() => acked.size >= 1500, { what: '1,500 acknowledged edits', timeoutMs: 60_000, intervalMs: 5 });
      killed = true;
      await first.kill();
      // The SDK would re-send the unanswered publishes once connected again; closing it fails them.
      client.close();
      await Promise.all(writers);
    } finally {
      await first.kill();
    }
    assert.ok(acked.size >= 1500);

    const second = await startServer(args, { dataDir: first.dataDir });
    try {
      const maxAcked = Math.max(...acked.keys());
      const { version: head, pixels } = await serverPixels(second.url);
      assert.ok(head > maxAcked, `head ${head} covers every acknowledged version (max ${maxAcked})`);
      const events = await readAll(second.wsUrl, head);
      for (const [version, edit] of acked) {
        assert.deepEqual(events[version], edit, `acknowledged edit at version ${version} is in the log`);
      }
      // The restarted state (loaded from a snapshot + tail) equals a full replay of the log.
      const replay = new Uint8Array(1000 * 1000);
      for (const e of events) {
        const { x, y, colour } = codec.decode(e);
        replay[y * 1000 + x] = colour;
      }
      assert.equal(Buffer.compare(replay, pixels), 0, 'snapshot + tail equals full replay');
      const loaded = second.logs.some((l) => l.includes('brigade listening'));
      assert.ok(loaded);
    } finally {
      await second.stop();
      second.cleanup();
    }
  });

  it('SIGTERM flushes the tick, acknowledges what it accepted, and closes clients with 1001', async () => {
    const server = await startServer(args);
    const closes: number[] = [];
    try {
      const client = new BrigadeClient(server.wsUrl, { token: await identity(server.url), WebSocket: WebSocket as never, reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
      client.on('close', (info) => closes.push(info.code));
      await client.ready();
      const rand = prng(9);
      const edits = Array.from({ length: 200 }, () => randomEdit(rand));
      const results = edits.map((e) => client.publish('place:main', e).then((v) => ({ v, e }), (err) => ({ err })));
      await new Promise((r) => setTimeout(r, 5));
      const exitCode = await server.stop();
      assert.equal(exitCode, 0, 'clean exit');
      // Anything still unanswered (it came after the last tick) would be re-sent on reconnect: closing fails it.
      client.close();
      const settled = await Promise.all(results);
      const ok = settled.filter((r): r is { v: number; e: Uint8Array } => 'v' in r);
      assert.ok(ok.length > 0, 'publishes before SIGTERM were acknowledged');
      assert.ok(closes.includes(1001), `clients closed with going-away, saw ${closes}`);
      client.close();
      const again = await startServer(args, { dataDir: server.dataDir });
      try {
        const head = (await serverPixels(again.url)).version;
        const events = await readAll(again.wsUrl, head);
        for (const { v, e } of ok) assert.deepEqual(events[v], e);
      } finally {
        await again.stop();
      }
    } finally {
      await server.kill();
      server.cleanup();
    }
  });
});
