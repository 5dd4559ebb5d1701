/**
 * The level a singer hears is the level sung, never twice it (docs/choir.md "Codec state follows
 * the packets", "One voice per position"), in a real `brigade serve --choir-shards 1` (both
 * singers on one shard, so batches queue on both of its RPC lanes). Singer A encodes bursts of
 * 440 Hz at 0.5 with one Opus encoder, frame after frame, as a page does; the test chooses which
 * packets it sends, with which stamps. Singer B (muted) reads the stretch afterwards and decodes
 * every mix in order with its own decoder; the loudest 5 ms window of 440 Hz in what B hears must
 * be the level sung (one Opus pass reads 0.55 for it), within the codec's tolerance:
 *
 * - all frames pipelined (many requests in flight, over both lanes), with eight more singers
 *   sending at the same time, and B reading overlapping spans twice;
 * - every frame sent twice with the same stamp (a resend);
 * - stamps going back three frames, as after a backward jump of the page's clock estimate: the
 *   later frames replace the earlier ones at the same positions (the server never sums one
 *   singer's two writes at a position), and B hears what came later;
 * - packets the page encoded but did not send (the second frame of a burst): the server's decoder
 *   restarts instead of decoding the next packet against a state the encoder never had (before,
 *   that packet came out at 0.88-0.92: "a tone twice as loud");
 * - a second song in the same room, started while A's tone sounds: the frames between the songs
 *   were never sent, and the decoder restarts.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import '../../../src/apps/choir/errors.ts';
import { decodeReply, encodeFrame } from '../../../src/apps/choir/wire.ts';
import { goertzel } from '../../../src/apps/choir/dsp.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';

const require = createRequire(import.meta.url);
interface Opus { encode(b: Buffer): Buffer; decode(b: Buffer): Buffer; setBitrate(b: number): void; applyEncoderCTL(c: number, v: number): void }
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (r: number, c: number) => Opus };
const F = 960;
const RATE = 48_000;
/** Frames per burst period (1 s) and tone frames at its start (300 ms), as the e2e tests' microphone. */
const PERIOD = 50;
const BURST = 15;
const SUNG = 0.5;
/** One Opus pass of a 0.5 tone reads 0.55 in 5 ms Goertzel windows; two passes (A's and B's) about the same. */
const MAX_LEVEL = 0.66;
const MIN_LEVEL = 0.42;

let server: ServerProcess;
const clients: BrigadeClient[] = [];
before(async () => {
  server = await startServer(['--apps', 'choir', '--choir-shards', '1', '--choir-max-singers', '12', '--choir-buffer-ms', '12000', '--choir-ahead-ms', '1000', '--max-frames-per-second', '5000']);
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
  server.cleanup();
});

interface Joined { singer: number; key: string; shard: number; clock: number }
interface Reply { clock: number; voice?: string; opus: Uint8Array }

async function join(room: string, delayMs: number) {
  const client = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
  clients.push(client);
  await client.ready();
  const j = await client.request<Joined>('choir.join', { room, delayMs });
  const send = async (writePos: number, readPos: number, opus: Uint8Array): Promise<Reply> =>
    decodeReply(await client.request<Uint8Array>('choir.frame', encodeFrame({ singer: j.singer, key: j.key, writePos, readPos, opus }), { timeoutMs: 20_000 }));
  return { client, j, send };
}
type Singer = Awaited<ReturnType<typeof join>>;

/** The bursts by position: 440 Hz at SUNG for BURST frames of every PERIOD, from position `p0` (phase from p0). */
function burstFrame(p0: number, k: number): Int16Array {
  const out = new Int16Array(F);
  if (((k % PERIOD) + PERIOD) % PERIOD >= BURST) return out;
  for (let i = 0; i < F; i++) out[i] = Math.round(SUNG * 32767 * Math.sin((2 * Math.PI * 440 * (k * F + i)) / RATE));
  return out;
}

/** A page's encoder: every frame is encoded, in order, whether it is sent or not. */
function encoder() {
  const e = new OpusEncoder(RATE, 1);
  e.setBitrate(64_000);
  e.applyEncoderCTL(4010, 5);
  return (pcm: Int16Array) => new Uint8Array(e.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength)));
}

/** Runs `fn` over `items` with at most `inFlight` at once, starting them in order. */
async function pipelined<T, R>(items: T[], inFlight: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]); }
  }));
  return out;
}

/** Starts a song (A leads) and waits until `frames` frames from its start lie behind the room's clock. */
async function song(a: Singer, frames: number): Promise<number> {
  const { startedAt } = await a.client.request<{ startedAt: number }>('choir.start', { singer: a.j.singer, key: a.j.key });
  for (;;) {
    const { clock } = await a.send(-1, -1, new Uint8Array(0));
    if (clock >= startedAt + frames * F) return startedAt;
    await new Promise((r) => setTimeout(r, Math.max(20, (startedAt + frames * F - clock) / 48)));
  }
}

/** B reads [from, from + frames·F) (in order, `inFlight` at once), decoding every mix with one decoder; the heard stream by position. */
async function hear(b: Singer, from: number, frames: number, inFlight = 1): Promise<Int16Array> {
  const decoder = new OpusEncoder(RATE, 1);
  const stream = new Int16Array(frames * F);
  const replies = await pipelined([...Array(frames).keys()], inFlight, (k) => b.send(-1, from + k * F, new Uint8Array(0)));
  replies.forEach((r, k) => {
    const pcm = decoder.decode(Buffer.from(r.opus));
    stream.set(new Int16Array(pcm.buffer, pcm.byteOffset, F), k * F);
  });
  return stream;
}

/** The loudest 5 ms window of 440 Hz (every 1 ms). */
function peak(pcm: Int16Array): number {
  let m = 0;
  for (let at = 0; at + 240 <= pcm.length; at += 48) m = Math.max(m, goertzel(pcm.subarray(at, at + 240), 440));
  return m;
}

function assertLevel(heard: Int16Array, what: string): void {
  const level = peak(heard);
  assert.ok(level >= MIN_LEVEL && level <= MAX_LEVEL, `${what}: B hears A's 0.5 tone at ${level.toFixed(3)} (expected ${MIN_LEVEL}..${MAX_LEVEL}, as sung)`);
}

describe('choir: one voice is heard at the level it was sung', () => {
  it('all frames pipelined over both lanes with eight more singers sending, B reading overlapping spans', async () => {
    const a = await join('lv1', 0);
    const b = await join('lv1', 1000);
    const others = await Promise.all(Array.from({ length: 8 }, (_, i) => join('lv1', 100 + i * 10)));
    const N = 2 * PERIOD;
    const p0 = await song(a, N);
    const enc = encoder();
    const packets = [...Array(N).keys()].map((k) => enc(burstFrame(p0, k)));
    const silence = encoder()(new Int16Array(F));
    const load = Promise.all(others.map((o) => pipelined([...Array(N).keys()], 4, (k) => o.send(p0 + k * F, p0 + k * F, silence))));
    const replies = await pipelined([...Array(N).keys()], 12, (k) => a.send(p0 + k * F, -1, packets[k]));
    await load;
    assert.ok(replies.every((r) => r.voice === 'added' || r.voice === 'late'), 'every frame of A added');
    assertLevel(await hear(b, p0, N, 8), 'pipelined');
    // Reading spans that overlap (a reader re-aimed backwards): each mix is what the buffer holds, once.
    const twice = [...Array(N).keys()].flatMap((k) => [k, Math.max(0, k - 2)]);
    const decoder = new OpusEncoder(RATE, 1);
    let level = 0;
    for (const k of twice) {
      const r = await b.send(-1, p0 + k * F, new Uint8Array(0));
      const pcm = decoder.decode(Buffer.from(r.opus));
      level = Math.max(level, peak(new Int16Array(pcm.buffer, pcm.byteOffset, F)));
    }
    assert.ok(level <= MAX_LEVEL, `overlapping reads: at most the level sung (${level.toFixed(3)})`);
  });

  it('a frame sent twice with the same stamp is added once', async () => {
    const a = await join('lv2', 0);
    const b = await join('lv2', 1000);
    const N = 2 * PERIOD;
    const p0 = await song(a, N);
    const enc = encoder();
    for (let k = 0; k < N; k++) {
      const packet = enc(burstFrame(p0, k));
      await Promise.all([a.send(p0 + k * F, -1, packet), a.send(p0 + k * F, -1, packet)]);
    }
    assertLevel(await hear(b, p0, N), 'resent');
  });

  it('stamps that go back (the clock estimate jumped backwards): later writes replace earlier ones, never summed', async () => {
    const a = await join('lv3', 0);
    const b = await join('lv3', 1000);
    const N = 2 * PERIOD;
    const p0 = await song(a, N);
    const enc = encoder();
    // Frames 0..17 at their positions; then the stamps jump back 4 frames: frame k (k ≥ 18) is
    // stamped at k − 4, its audio the next the encoder takes. Position 14 held the burst's last
    // tone frame; it is written again with frame 18's silence.
    for (let k = 0; k < N; k++) await a.send(p0 + (k < 18 ? k : k - 4) * F, -1, enc(burstFrame(p0, k)));
    const heard = await hear(b, p0, N);
    assertLevel(heard, 'stamps going back');
    // B's stream at k·F + 312 + j is buffer position p0 + k·F + j (two codec delays, one undone by the stamps).
    const rewritten = heard.subarray(14 * F + 450, 15 * F + 200);
    assert.ok(peak(rewritten) < 0.1, `position 14 holds the later frame (silence), not the sum with the tone written first (${peak(rewritten).toFixed(3)})`);
  });

  it('packets the page did not send: the decoder restarts instead of mis-predicting the next ones', async () => {
    const a = await join('lv4', 0);
    const b = await join('lv4', 1000);
    const N = 2 * PERIOD;
    const p0 = await song(a, N);
    const enc = encoder();
    // The second frame of each burst is encoded but not sent (muted, outside the song as the page
    // knew it, a lost request): a decoder that goes on from the first frame's state decodes the
    // third at 0.88-0.92.
    for (let k = 0; k < N; k++) {
      const packet = enc(burstFrame(p0, k));
      if (k % PERIOD === 1) continue;
      await a.send(p0 + k * F, -1, packet);
    }
    assertLevel(await hear(b, p0, N), 'a packet not sent');
  });

  it('a second song started while the tone sounds: the frames between the songs were never decoded', async () => {
    const a = await join('lv5', 0);
    const b = await join('lv5', 1000);
    const enc = encoder();
    // Song 1: frame 0 only (the first frame of a burst).
    const p1 = await song(a, 2);
    await a.send(p1, -1, enc(burstFrame(p1, 0)));
    await a.client.request('choir.stop', { singer: a.j.singer, key: a.j.key });
    // Between the songs the page encodes frame 1 and sends it without voice; song 2 begins with frame 2.
    enc(burstFrame(p1, 1));
    const N = PERIOD;
    const p2 = await song(a, N);
    for (let k = 2; k < N; k++) await a.send(p2 + (k - 2) * F, -1, enc(burstFrame(p1, k)));
    assertLevel(await hear(b, p2, N - 2), 'the second song');
  });
});
