/**
 * Longer Opus frames (`--choir-frame-ms 60`, the seed's client's frame) in a real `brigade serve`,
 * sharded (one codec shard) and unsharded (`--choir-owner-codec 1`): the join reply tells the page
 * its frame (2,880 samples) and its frames per message (2, about 100 ms); singer 1's 440 Hz, sung in
 * 60 ms packets two to a message, is in singer 2's mixes at the sung positions and never in singer
 * 1's own; a 20 ms packet (it decodes to 960 samples) and a position that is a multiple of 960 but
 * not of 2,880 are refused, typed, and add nothing. A server refuses a frame size Opus and
 * WebCodecs do not share, and a buffer the frame does not divide, before it listens.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import '../../../src/apps/choir/errors.ts';
import { decodeFramesReply, encodeFrames } from '../../../src/apps/choir/wire.ts';
import { goertzel, tone } from '../../../src/apps/choir/dsp.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';

const require = createRequire(import.meta.url);
interface Opus { encode(b: Buffer): Buffer; decode(b: Buffer): Buffer }
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (r: number, c: number) => Opus };
const F = 2880; // 60 ms

interface Joined { singer: number; key: string; clock: number; frameSamples: number; framesPerMessage: number }
const codeOf = async (p: Promise<unknown>) => { try { await p; return null; } catch (e) { return (e as { code?: string }).code; } };
const servers: ServerProcess[] = [];
const clients: BrigadeClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) { await s.stop(); s.cleanup(); }
});

for (const mode of ['sharded', 'unsharded'] as const) {
  describe(`choir with 60 ms frames (${mode})`, () => {
    it('mixes, refusals and the join reply follow the room\'s frame', async () => {
      // The unsharded server also keeps V8's allocation-site pretenuring (--choir-pretenuring 1).
      const server = await startServer(['--apps', 'choir', '--choir-frame-ms', '60', '--choir-buffer-ms', '8040', '--choir-ahead-ms', '1000',
        ...(mode === 'sharded' ? ['--choir-shards', '1'] : ['--choir-owner-codec', '1', '--choir-pretenuring', '1'])]);
      servers.push(server);
      const pretenuringOff = server.logs.some((l) => l.includes('allocation-site pretenuring is off'));
      assert.equal(pretenuringOff, mode === 'sharded', 'choir turns V8\'s allocation-site pretenuring off unless --choir-pretenuring 1, and says so');
      const join = async (delayMs: number) => {
        const client = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
        clients.push(client);
        await client.ready();
        return { client, j: await client.request<Joined>('choir.join', { room: 'r60', delayMs }), codec: new OpusEncoder(48_000, 1) };
      };
      type Who = Awaited<ReturnType<typeof join>>;
      const a = await join(0);
      const b = await join(300);
      assert.equal(a.j.frameSamples, F, 'the join reply carries the room\'s frame');
      assert.equal(a.j.framesPerMessage, 2, 'about 100 ms a message: two 60 ms frames');
      const frames = async (who: Who, writePos: number, readPos: number, packets: Uint8Array[]) =>
        decodeFramesReply(await who.client.request<Uint8Array>('choir.frame', encodeFrames({ singer: who.j.singer, key: who.j.key, writePos, readPos, packets })));
      const framesIn = async () => Number(/brigade_choir_frames_total\{room="r60"[^}]*\} (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
      const sing = (codec: Opus, n: number, from: number, samples = F) =>
        Array.from({ length: n }, (_, i) => new Uint8Array(codec.encode(Buffer.from(tone(440, samples, 0.5, from + i * samples).buffer))));
      const { startedAt } = await a.client.request<{ startedAt: number }>('choir.start', { singer: a.j.singer, key: a.j.key });
      assert.equal(startedAt % F, 0, 'the song starts on a 60 ms frame boundary');
      await new Promise((r) => setTimeout(r, 1500));
      const { clock } = await frames(a, -1, -1, [new Uint8Array(0)]);
      const W = Math.floor((clock - 48_000) / F) * F;
      assert.ok(W >= startedAt);

      // Bad input first: nothing of it is added.
      // (A's 20 ms packets come from an encoder of their own: an encoder that changes its frame size ramps its next frame in.)
      assert.equal(await codeOf(frames(a, W, -1, sing(new OpusEncoder(48_000, 1), 2, W, 960))), 'CHOIR_BAD_OPUS', 'a 20 ms packet decodes to 960 samples, not a 60 ms frame');
      assert.equal(await codeOf(frames(a, W + 960, -1, sing(new OpusEncoder(48_000, 1), 2, W + 960))), 'CHOIR_BAD_FRAME', 'a write position that is not a multiple of 2,880');
      assert.equal(await framesIn(), 0, 'the refused messages added nothing');

      // A sings 0.6 s of 440 Hz, two 60 ms frames a message, reading its own mixes of the same positions.
      let ownMax = 0;
      for (let k = 0; k < 10; k += 2) {
        const at = W + k * F;
        const r = await frames(a, at, at, sing(a.codec, 2, at));
        assert.deepEqual(r.voices, ['added', 'added']);
        for (const m of r.mixes) {
          const out = a.codec.decode(Buffer.from(m));
          assert.equal(out.length, 2 * F, 'a mix is a 60 ms packet');
          ownMax = Math.max(ownMax, goertzel(new Int16Array(out.buffer, out.byteOffset, F), 440));
        }
      }
      assert.equal(await framesIn(), 10);
      assert.ok(ownMax < 0.02, `A never hears its own tone (max ${ownMax})`);
      // B reads from two frames before W to two after the tone, two frames a message, and hears the tone where it was sung.
      const heard: Int16Array[] = [];
      for (let k = -2; k < 12; k += 2) {
        const r = await frames(b, -1, W + k * F, [new Uint8Array(0), new Uint8Array(0)]);
        for (const m of r.mixes) { const out = b.codec.decode(Buffer.from(m)); heard.push(new Int16Array(out.buffer, out.byteOffset, F).slice()); }
      }
      const stream = new Int16Array(heard.length * F);
      heard.forEach((m, i) => stream.set(m, i * F));
      const expected = 2 * F;
      let at = -1;
      for (let i = 0; i + 240 <= stream.length; i += 48) if (goertzel(stream.subarray(i, i + 240), 440) > 0.2) { at = i; break; }
      assert.ok(Math.abs(at - expected) <= 960, `the tone starts at ${at}, expected ${expected} ± 960 samples (20 ms: two Opus passes add ~13 ms)`);
      assert.ok(goertzel(stream.subarray(expected + F, expected + 9 * F), 440) > 0.35, 'the tone all through');
      assert.ok(goertzel(stream.subarray(0, expected - 960), 440) < 0.02, 'silence before it');
      assert.ok(goertzel(stream.subarray(expected + 10 * F + 960), 440) < 0.02, 'silence after it');
    });
  });
}

describe('choir frame size options', () => {
  it('refuses a frame size it does not serve, and a buffer the frame does not divide, before it listens (exit 2 / an error naming the flags)', () => {
    const cli = fileURLToPath(new URL('../../../bin/brigade.js', import.meta.url));
    const data = mkdtempSync(joinPath(tmpdir(), 'brigade-choir-frame-'));
    try {
      const run = (extra: string[]) => spawnSync(process.execPath, [cli, 'serve', '--port', '0', '--data', data, '--apps', 'choir', ...extra], { encoding: 'utf8', timeout: 30_000 });
      const bad = run(['--choir-frame-ms', '30']);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /--choir-frame-ms\): 20, 40, 60/);
      const odd = run(['--choir-frame-ms', '60', '--choir-buffer-ms', '8020']);
      assert.notEqual(odd.status, 0);
      assert.match(odd.stderr, /--choir-buffer-ms \(8020\) must be a multiple of --choir-frame-ms \(60\)/);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
