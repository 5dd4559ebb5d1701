/**
 * Hostile input against a live node: 100,000 random and mutated frames over several connections,
 * protocol-error closes, text frames and oversize frames. The node keeps serving everyone else and
 * nothing changes (the fuzzing connections are anonymous, so no valid edit can slip through).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient, BrigadeError } from '../../src/sdk/index.ts';
import { ServerKind, decodeServerFrame, encodeClientFrame, SubscribeMode, type ClientFrame } from '../../src/protocol/index.ts';
import { startServer } from '../helpers/server-process.ts';
import { codec, identity, prng, serverPixels } from '../helpers/place-client.ts';
import { metric } from '../helpers/metrics.ts';

const FRAMES = 100_000;
const CONNECTIONS = 4;

function seedFrames(rand: () => number): Uint8Array[] {
  const frames: ClientFrame[] = [
    { kind: 'subscribe', requestId: 1, channel: 'place:main', mode: SubscribeMode.FROM_VERSION, fromVersion: 0, epoch: 0 },
    { kind: 'subscribe', requestId: 2, channel: 'place:main', mode: SubscribeMode.SNAPSHOT, fromVersion: 0, epoch: 7 },
    { kind: 'unsubscribe', requestId: 3, channel: 'place:main' },
    { kind: 'publish', requestId: 4, channel: 'place:main', payload: codec.encode(10, 20, 3) },
    { kind: 'publish', requestId: 5, channel: 'place:other', payload: new Uint8Array([1, 2, 3]) },
  ];
  return frames.map((f) => encodeClientFrame(f)).concat([new Uint8Array(Array.from({ length: 20 }, () => Math.floor(rand() * 256)))]);
}

function mutate(seed: Uint8Array, rand: () => number): Uint8Array {
  const r = rand();
  if (r < 0.15) return Uint8Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
  let b = seed.slice();
  if (r < 0.35) return b.subarray(0, Math.floor(rand() * b.length));
  if (r < 0.5) {
    const extra = Uint8Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256));
    const out = new Uint8Array(b.length + extra.length);
    out.set(b);
    out.set(extra, b.length);
    return out;
  }
  const flips = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < flips && b.length > 0; i++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
  if (rand() < 0.1 && b.length > 0) b[0] = Math.floor(rand() * 256);
  return b;
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('live fuzz', () => {
  it(`a node survives ${FRAMES} random and mutated frames and keeps serving others`, async (t) => {
    const server = await startServer(['--tick-ms', '20', '--max-frames-per-second', '0', '--max-protocol-errors', '1000000', '--place-png-min-interval-ms', '0']);
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (FUZZ_SEED=${seed} reproduces)`);
    const rand = prng(seed);
    try {
      const honest = new BrigadeClient(server.wsUrl, { token: await identity(server.url), WebSocket: WebSocket as never });
      await honest.ready();
      const before = await serverPixels(server.url);

      const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => open(server.wsUrl)));
      const kinds = new Map<number, number>();
      let undecodable = 0;
      for (const ws of sockets) {
        ws.on('message', (data: Buffer) => {
          try {
            const f = decodeServerFrame(data);
            kinds.set(data[0], (kinds.get(data[0]) ?? 0) + 1);
            if (f.kind === 'error') assert.ok(f.message.length > 0);
          } catch {
            undecodable++;
          }
        });
      }
      const seeds = seedFrames(rand);
      for (let i = 0; i < FRAMES; i++) {
        const ws = sockets[i % CONNECTIONS];
        ws.send(mutate(seeds[Math.floor(rand() * seeds.length)], rand));
        if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
      }
      // A round trip per connection proves the node has read everything sent before it.
      await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
        ws.ping();
        ws.once('pong', () => resolve());
      })));

      assert.equal(undecodable, 0, 'every server frame decodes');
      assert.ok((kinds.get(ServerKind.ERROR) ?? 0) > 1000, 'malformed frames were answered with typed errors');
      assert.ok(await metric(server.url, 'brigade_protocol_errors_total') > 1000);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);

      // Everyone else is still served: an honest edit round-trips.
      const v = await honest.publish('place:main', codec.encode(500, 500, 9));
      assert.equal(v, before.version, 'fuzzing consumed no version: anonymous publishes are refused');
      const after = await serverPixels(server.url);
      assert.equal(after.version, before.version + 1);
      assert.equal(after.pixels[500 * 1000 + 500], 9);
      for (const ws of sockets) ws.terminate();
      honest.close();
    } finally {
      await server.stop();
      server.cleanup();
    }
  });

  it('closes with documented codes: 4400 after too many malformed frames, 1009 for oversize frames; text frames are refused', async () => {
    const server = await startServer(['--max-protocol-errors', '5', '--max-frame-bytes', '1024']);
    try {
      const bad = await open(server.wsUrl);
      const closed = new Promise<number>((r) => bad.once('close', (code) => r(code)));
      for (let i = 0; i < 10; i++) bad.send(new Uint8Array([0x7f, i]));
      assert.equal(await closed, 4400);

      const big = await open(server.wsUrl);
      const closedBig = new Promise<number>((r) => big.once('close', (code) => r(code)));
      big.on('error', () => {});
      big.send(new Uint8Array(2048));
      assert.equal(await closedBig, 1009);

      const text = await open(server.wsUrl);
      const reply = new Promise<Buffer>((r) => text.once('message', (d: Buffer) => r(d)));
      text.send('{"type":"hello"}');
      const f = decodeServerFrame(await reply);
      assert.equal(f.kind, 'error');
      assert.equal(f.kind === 'error' && f.code, 'TEXT_NOT_SUPPORTED');
      text.terminate();

      const c = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
      await assert.rejects(c.ready().then(() => c.publish('place:main', codec.encode(1, 1, 1))), (e: unknown) => e instanceof BrigadeError && e.code === 'AUTH_REQUIRED');
      c.close();
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
});
