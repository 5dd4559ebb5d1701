/**
 * The choir app in a real `brigade serve` with two codec shards: two simulated singers in Node
 * with their own Opus codecs (real 20 ms packets of synthesised tones) over the SDK's requests.
 * Singer 1's 440 Hz tone is found (Goertzel) in the mix singer 2 receives at the position it was
 * sung at (within 20 ms: the two Opus encode/decode passes add ~13 ms), and never in singer 1's
 * own mix; singer 2's 660 Hz is in singer 1's mix and not in its own. Typed refusals: a frame
 * ahead of the buffer's end or before its start, an oversize packet, garbage Opus (the next frame
 * is fine), a third singer in a room of two. Metrics on /metrics.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import '../../../src/apps/choir/errors.ts';
import { decodeFramesReply, decodeReply, encodeFrame, encodeFrames } from '../../../src/apps/choir/wire.ts';
import { goertzel, tone } from '../../../src/apps/choir/dsp.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';

const require = createRequire(import.meta.url);
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (r: number, c: number) => { encode(b: Buffer): Buffer; decode(b: Buffer): Buffer } };
const F = 960;
/** The room buffer: long enough that the first test's ~90 sequential round trips stay inside it on a loaded machine (a 4 s buffer did not). */
const BUFFER_S = 8;

let server: ServerProcess;
const clients: BrigadeClient[] = [];
before(async () => {
  server = await startServer(['--apps', 'choir', '--choir-shards', '2', '--choir-max-singers', '2', '--choir-buffer-ms', String(BUFFER_S * 1000), '--choir-ahead-ms', '1000']);
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
  server.cleanup();
});

interface Joined { singer: number; key: string; shard: number; clock: number }
class SimSinger {
  codec = new OpusEncoder(48_000, 1);
  constructor(readonly client: BrigadeClient, readonly j: Joined) {}
  /** Sends one frame (PCM encoded here, or raw bytes); returns the decoded mix and the server's clock. */
  async frame(writePos: number, readPos: number, pcm: Int16Array | null, raw?: Uint8Array): Promise<{ mix: Int16Array | null; clock: number }> {
    const opus = raw ?? (pcm ? new Uint8Array(this.codec.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength))) : new Uint8Array(0));
    const body = encodeFrame({ singer: this.j.singer, key: this.j.key, writePos, readPos, opus });
    const reply = decodeReply(await this.client.request<Uint8Array>('choir.frame', body));
    if (reply.opus.length === 0) return { mix: null, clock: reply.clock };
    // The shard's first thread coded it (docs/choir.md "Shard restarts": a restart moves the epoch).
    assert.equal(reply.codecEpoch, 1, 'a mix carries its codec epoch');
    const out = this.codec.decode(Buffer.from(reply.opus));
    return { mix: new Int16Array(out.buffer, out.byteOffset, out.length / 2).slice(), clock: reply.clock };
  }
}

async function join(room: string, delayMs: number): Promise<SimSinger> {
  const client = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
  clients.push(client);
  await client.ready();
  return new SimSinger(client, await client.request<Joined>('choir.join', { room, delayMs }));
}

const codeOf = async (p: Promise<unknown>) => { try { await p; return null; } catch (e) { return (e as { code?: string }).code; } };

/** The first sample where the tone's amplitude (5 ms windows) passes `level`, or -1. */
function onset(stream: Int16Array, hz: number, level: number): number {
  for (let at = 0; at + 240 <= stream.length; at += 48) if (goertzel(stream.subarray(at, at + 240), hz) > level) return at;
  return -1;
}

describe('choir over a real server', () => {
  it('singer 1\'s tone is in singer 2\'s mix at the sung offset and not in singer 1\'s own; and the other way round', async () => {
    const s1 = await join('r1', 0);
    const s2 = await join('r1', 500);
    assert.notEqual(s1.j.shard, s2.j.shard, 'the two singers are pinned to different shards');
    // Voices are added only during a song: singer 1 leads and starts it; singer 2 may not.
    assert.equal(await codeOf(s2.client.request('choir.start', { singer: s2.j.singer, key: s2.j.key })), 'CHOIR_NOT_LEADER');
    const { startedAt } = await s1.client.request<{ startedAt: number }>('choir.start', { singer: s1.j.singer, key: s1.j.key });
    await new Promise((r) => setTimeout(r, 1500)); // the room's clock starts at 0 when it is created
    const { clock } = await s1.frame(-1, -1, null);
    const P0 = Math.floor((clock - 48_000) / F) * F; // one second behind the clock
    assert.ok(P0 >= startedAt, `P0 ${P0} is in the song (from ${startedAt})`);
    const SUNG = 25; // 0.5 s of 440 Hz
    let own1Max = 0;
    for (let k = 0; k < SUNG + 5; k++) {
      const W = P0 + k * F;
      const { mix } = await s1.frame(W, W, k < SUNG ? tone(440, F, 0.5, W) : new Int16Array(F));
      own1Max = Math.max(own1Max, goertzel(mix!, 440));
    }
    // Singer 2 listens from 10 frames before P0 and sings 660 Hz at what it hears.
    const heard2: Int16Array[] = [];
    for (let k = -10; k < SUNG + 10; k++) {
      const R = P0 + k * F;
      const { mix } = await s2.frame(R, R, tone(660, F, 0.4, R));
      heard2.push(mix!);
    }
    const stream2 = new Int16Array(heard2.length * F);
    heard2.forEach((m, i) => stream2.set(m, i * F));
    const expected = 10 * F; // P0 in singer 2's stream
    const at = onset(stream2, 440, 0.2);
    assert.ok(at >= 0, 'singer 2 hears the 440 Hz tone');
    assert.ok(Math.abs(at - expected) <= F, `the tone starts at ${at}, expected ${expected} ± ${F} samples (20 ms)`);
    const middle = stream2.subarray(expected + 5 * F, expected + 20 * F);
    assert.ok(goertzel(middle, 440) > 0.35, `the tone at ~0.5 in the middle (got ${goertzel(middle, 440)})`);
    assert.ok(goertzel(stream2.subarray(0, 9 * F), 440) < 0.02, 'silence before it');
    assert.ok(goertzel(stream2.subarray(expected + (SUNG + 2) * F), 440) < 0.02, 'silence after it');
    assert.ok(goertzel(middle, 660) < 0.05, 'singer 2 does not hear its own 660 Hz');
    assert.ok(own1Max < 0.02, `singer 1 never heard its own tone (max ${own1Max})`);
    // Singer 1 reads the same stretch again: singer 2's voice is there, its own is not.
    const again: Int16Array[] = [];
    for (let k = 5; k < 20; k++) again.push((await s1.frame(-1, P0 + k * F, null)).mix!);
    const stream1 = new Int16Array(again.length * F);
    again.forEach((m, i) => stream1.set(m, i * F));
    assert.ok(goertzel(stream1, 440) < 0.03, `singer 1's mix has no 440 Hz (${goertzel(stream1, 440)})`);
    assert.ok(goertzel(stream1, 660) > 0.25, `singer 1 hears singer 2's 660 Hz (${goertzel(stream1, 660)})`);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /brigade_choir_singers\{room="r1"[^}]*\} 2\n/);
    assert.match(metrics, /brigade_choir_frames_total\{room="r1"[^}]*\} 75\n/, '30 frames of singer 1 and 45 of singer 2');
    assert.match(metrics, /brigade_choir_shard_queue_depth\{shard="1"[^}]*\} \d+\n/);
    // Both shards have worked: their threads' CPU (from /proc/thread-self/stat) is counted, above zero.
    for (const shard of ['0', '1']) assert.match(metrics, new RegExp(`brigade_choir_shard_cpu_seconds_total\\{shard="${shard}"[^}]*\\} 0?\\.?[0-9.e-]*[1-9]`));
    assert.match(metrics, /brigade_choir_late_frames_total\{room="r1"[^}]*\} \d+\n/);
    assert.match(metrics, /brigade_choir_frames_outside_song_total\{room="r1"[^}]*\} 0\n/, 'every frame was in the song');
    assert.match(metrics, /brigade_choir_mix_deadline_misses_total\{room="r1"[^}]*\} \d+\n/);
  });

  it('several frames in one message: each added at its position, a mix for each; a bad frame anywhere refuses the message and adds none of it', async () => {
    const a = await join('r5', 0);
    const b = await join('r5', 300);
    assert.equal((a.j as Joined & { framesPerMessage?: number }).framesPerMessage, 5, 'the join reply tells the page its frames per message');
    await a.client.request('choir.start', { singer: a.j.singer, key: a.j.key });
    await new Promise((r) => setTimeout(r, 1200));
    const { clock } = await a.frame(-1, -1, null);
    const W = Math.floor((clock - 48_000) / F) * F;
    const frames = async (who: SimSinger, writePos: number, readPos: number, packets: Uint8Array[]) =>
      decodeFramesReply(await who.client.request<Uint8Array>('choir.frame', encodeFrames({ singer: who.j.singer, key: who.j.key, writePos, readPos, packets })));
    const framesIn = async () => Number(/brigade_choir_frames_total\{room="r5"[^}]*\} (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
    const sung = (n: number, from: number) => Array.from({ length: n }, (_, i) => new Uint8Array(a.codec.encode(Buffer.from(tone(440, F, 0.5, from + i * F).buffer))));

    // A sings 10 frames of 440 Hz in two messages of 5; no mix asked.
    for (const at of [W, W + 5 * F]) {
      const r = await frames(a, at, -1, sung(5, at));
      assert.deepEqual(r.voices, ['added', 'added', 'added', 'added', 'added']);
      assert.deepEqual(r.mixes.map((m) => m.length), [0, 0, 0, 0, 0], 'no mix asked, none sent');
      assert.equal(r.song?.stoppedAt, null);
    }
    assert.equal(await framesIn(), 10);
    // B reads them back in one message of 10, sending nothing: ten mixes, in order, each its frame of the tone.
    const r = await frames(b, -1, W, Array.from({ length: 10 }, () => new Uint8Array(0)));
    assert.equal(r.readPos, W);
    assert.deepEqual(r.voices, new Array(10).fill('none'));
    assert.equal(r.mixes.length, 10);
    assert.equal(r.codecEpoch, 1);
    const heard = r.mixes.map((m) => { const out = b.codec.decode(Buffer.from(m)); return new Int16Array(out.buffer, out.byteOffset, out.length / 2).slice(); });
    for (let i = 2; i < 10; i++) assert.ok(goertzel(heard[i], 440) > 0.3, `mix ${i} carries A's tone (${goertzel(heard[i], 440)})`);

    // Bad input: the message is refused, typed, and none of its frames is added.
    const next = W + 10 * F;
    const garbage = new Uint8Array([0xff, 0xff, 0xff, 1, 2, 3, 0xff]);
    assert.equal(await codeOf(frames(a, next, -1, [...sung(2, next), garbage, ...sung(2, next + 3 * F)])), 'CHOIR_BAD_OPUS');
    assert.equal(await codeOf(frames(a, next, -1, [...sung(4, next), new Uint8Array(1300)])), 'CHOIR_FRAME_TOO_LARGE');
    assert.equal(await codeOf(frames(a, next, -1, Array.from({ length: 31 }, () => new Uint8Array(0)))), 'CHOIR_FRAME_TOO_LARGE', 'more than --choir-max-frames-per-message (30)');
    // The last of 10 frames past the buffer's end (1 s ahead of the clock), the first inside it.
    const now = (await a.frame(-1, -1, null)).clock;
    const edge = Math.floor((now + 48_000) / F) * F - F;
    assert.equal(await codeOf(frames(a, edge, -1, sung(10, edge))), 'CHOIR_FRAME_AHEAD');
    // Mixes asked past it: refused before any is read (B's reads would make A's next frames late) or any codec work goes out.
    assert.equal(await codeOf(frames(b, -1, edge, Array.from({ length: 10 }, () => new Uint8Array(0)))), 'CHOIR_FRAME_AHEAD');
    const body = encodeFrames({ singer: a.j.singer, key: a.j.key, writePos: next, readPos: -1, packets: sung(3, next) });
    assert.equal(await codeOf(a.client.request('choir.frame', body.subarray(0, body.length - 1))), 'CHOIR_BAD_FRAME', 'a packet cut short');
    assert.equal(await framesIn(), 10, 'nothing of a refused message was added');
    // And the singer goes on: the next message is added whole, its decoder started afresh; not
    // late: no refused message read anything.
    assert.deepEqual((await frames(a, next, -1, sung(5, next))).voices, ['added', 'added', 'added', 'added', 'added']);
    assert.equal(await framesIn(), 15);
  });

  it('refuses bad frames with typed errors, and the singer goes on', async () => {
    const a = await join('r2', 0);
    await join('r2', 100);
    assert.equal(await codeOf(join('r2', 200)), 'CHOIR_ROOM_FULL');
    await a.client.request('choir.start', { singer: a.j.singer, key: a.j.key });
    await new Promise((r) => setTimeout(r, 1000));
    let { clock } = await a.frame(-1, -1, null);
    const W = Math.floor((clock - 24_000) / F) * F;
    assert.equal(await codeOf(a.frame(W + 2 * 48_000, -1, tone(440, F))), 'CHOIR_FRAME_AHEAD');
    assert.equal(await codeOf(a.frame(W, -1, null, new Uint8Array(1300))), 'CHOIR_FRAME_TOO_LARGE');
    assert.equal(await codeOf(a.frame(W, -1, null, new Uint8Array([0xff, 0xff, 0xff, 1, 2, 3, 0xff]))), 'CHOIR_BAD_OPUS');
    assert.equal(await codeOf(a.frame(W + 7, -1, tone(440, F))), 'CHOIR_BAD_FRAME');
    assert.equal(await codeOf(a.client.request('choir.frame', new Uint8Array(5))), 'CHOIR_BAD_FRAME');
    assert.equal(await codeOf(a.client.request('choir.frame', encodeFrame({ singer: a.j.singer, key: '0000000000000000', writePos: -1, readPos: -1, opus: new Uint8Array(0) }))), 'CHOIR_NOT_A_SINGER');
    const ok = await a.frame(W, W, tone(440, F));
    assert.equal(ok.mix!.length, F, 'the frame after the garbage is handled');
    // before the buffer's start: BUFFER_S buffer, 1 s ahead → BUFFER_S − 1 s behind the clock is gone
    clock = ok.clock;
    const gone = (BUFFER_S - 1) * 48_000;
    if (clock < gone + 24_000) { await new Promise((r) => setTimeout(r, (gone + 24_000 - clock) / 48 + 50)); clock = (await a.frame(-1, -1, null)).clock; }
    const old = Math.floor((clock - gone - 0.2 * 48_000) / F) * F;
    assert.equal(await codeOf(a.frame(old, -1, tone(440, F))), 'CHOIR_FRAME_TOO_OLD');
    assert.equal(await codeOf(a.frame(-1, old, null)), 'CHOIR_FRAME_TOO_OLD');
  });

  it('a rejoin replaces the singer it was (in a full room too, and keeps the lead); a malformed replaces is refused, nothing changed', async () => {
    const lead = await join('r3', 0);
    const other = await join('r3', 100);
    const state = () => other.client.request<{ leader: number; singers: { id: number }[] }>('choir.state', { room: 'r3' });
    assert.equal(await codeOf(other.client.request('choir.join', { room: 'r3', delayMs: 0, replaces: { singer: 'x', key: 1 } })), 'INVALID_REQUEST');
    assert.equal(await codeOf(other.client.request('choir.join', { room: 'r3', delayMs: 0, replaces: 7 })), 'INVALID_REQUEST');
    // Refused before anything changes: a new room is not made.
    assert.equal(await codeOf(other.client.request('choir.join', { room: 'r3-new', delayMs: 0, replaces: 'x' })), 'INVALID_REQUEST');
    assert.equal(await codeOf(other.client.request('choir.join', { room: 'r3-new', delayMs: 0, take: 'yes' })), 'INVALID_REQUEST');
    assert.equal(await codeOf(other.client.request('choir.state', { room: 'r3-new' })), 'CHOIR_BAD_ROOM');
    // A wrong key replaces no one: the room is full, so the join is refused.
    assert.equal(await codeOf(other.client.request('choir.join', { room: 'r3', delayMs: 0, replaces: { singer: lead.j.singer, key: '0000000000000000' } })), 'CHOIR_ROOM_FULL');
    assert.deepEqual((await state()).singers.map((x) => x.id).sort(), [lead.j.singer, other.j.singer].sort());
    const again = await other.client.request<Joined & { replaced: number | null; leader: number }>('choir.join', { room: 'r3', delayMs: 0, replaces: { singer: lead.j.singer, key: lead.j.key } });
    assert.equal(again.replaced, lead.j.singer);
    assert.equal(again.leader, again.singer, 'the lead passes to the singer who replaced the leader');
    const after = await state();
    assert.deepEqual(after.singers.map((x) => x.id).sort(), [again.singer, other.j.singer].sort());
    assert.equal(await codeOf(lead.frame(-1, -1, null)), 'CHOIR_NOT_A_SINGER', 'the replaced singer is gone');
    // A singer who is not here (a node that restarted) replaces no one: a fresh join.
    const fresh = await other.client.request<{ replaced: number | null }>('choir.join', { room: 'r3b', delayMs: 0, replaces: { singer: 999_999, key: 'ffffffffffffffff' } });
    assert.equal(fresh.replaced, null);
  });
});
