/**
 * A codec shard restart tells the client (docs/choir.md "Shard restarts"), with real worker threads
 * and the test-only `exit` fault: a singer's shard thread dies between two of their frames (nothing
 * of theirs in flight, so no frame of theirs fails and no mix number is missed), the next frame is
 * coded by a new thread with a fresh codec state, and the frame result's codec epoch says so. The
 * client side is the page's own logic (web/choir/packet-sequence.ts) over a real libopus decoder:
 * on the new epoch it restarts its mix decoder, and the tone in the mixes reads at the level sent
 * right after the restart, where a decoder that went on reads it at about twice that (checked in
 * the same run, so the test shows what it guards). The other way: the page's encoder goes on, and
 * the shard's fresh decoder, joining the page's packets in the middle, is never loud: it fades in
 * over a few frames, then reads the level sung (why the page does not restart its encoder: see the doc).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, it } from 'node:test';
import { goertzel, tone } from '../../../src/apps/choir/dsp.ts';
import { ShardPool } from '../../../src/apps/choir/shards.ts';
import { PacketSequence } from '../../../web/choir/packet-sequence.ts';

const require = createRequire(import.meta.url);
interface Opus { encode(b: Buffer): Buffer; decode(b: Buffer): Buffer; setBitrate(b: number): void; applyEncoderCTL(c: number, v: number): void }
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (r: number, c: number) => Opus };
const opus = () => { const c = new OpusEncoder(48_000, 1); c.setBitrate(64_000); c.applyEncoderCTL(4010, 5); return c; };

const F = 960;
/** Bursts of 440 Hz at 0.5: 15 frames (300 ms) of every 50, as the e2e tests' microphone. */
const signal = (k: number) => (k % 50 < 15 ? tone(440, F, 0.5, k * F) : new Int16Array(F));
/** One Opus pass of a 0.5 tone reads 0.54-0.55 in 5 ms windows (choir-levels.integration.test.ts's bounds). */
const MAX_LEVEL = 0.66;
const MIN_LEVEL = 0.42;
/** The frame the new thread codes first: inside the second burst, where a decoder that goes on reads ~1.15. */
const RESTART_AT = 52;
const FRAMES = 66;
/** Frames a fresh decoder takes to read a tone it joins in the middle at the level sung (the shard's, after the restart). */
const FADE_IN_FRAMES = 5;

const peak = (pcm: Int16Array) => {
  let m = 0;
  for (let at = 0; at + 240 <= pcm.length; at += 48) m = Math.max(m, goertzel(pcm.subarray(at, at + 240), 440));
  return m;
};
const int16 = (b: Buffer) => new Int16Array(b.buffer, b.byteOffset, b.length >> 1);

let pool: ShardPool;
before(() => { pool = new ShardPool({ count: 1, bitrate: 64_000, complexity: 5, timeoutMs: 600, testFaults: true }); });
after(async () => { await pool.close(); });

it('a shard restart moves the singer\'s codec epoch; the client restarts its mix decoder and hears the level sent', async () => {
  const singer = 1;
  pool.pin(singer);
  const pageEncoder = opus(); // the page's microphone encoder: goes on across the restart
  const mixes = new PacketSequence();
  let pageDecoder = opus(); // restarted as the page restarts it
  const goingOn = opus(); // a decoder that is never restarted: what the page did before
  let restarts = 0;
  const epochs: number[] = [];
  const heard: number[] = [], heardGoingOn: number[] = [], voice: number[] = [];
  for (let k = 0; k < FRAMES; k++) {
    if (k === RESTART_AT) {
      // The thread dies between this singer's frames: the fault's own request fails, typed.
      await assert.rejects(pool.call(0, 'exit', singer, new Uint8Array(0)), { code: 'CHOIR_SHARD_UNAVAILABLE' });
      assert.equal(pool.figures()[0].restarts, 1, 'the shard was restarted');
    }
    const n = mixes.take();
    const done = await pool.frame(singer, new Uint8Array(pageEncoder.encode(Buffer.from(signal(k).buffer))), signal(k));
    epochs.push(done.epoch);
    if (!mixes.follows(n, done.epoch)) { pageDecoder = opus(); restarts++; }
    const packet = Buffer.from(done.opus!);
    heard.push(peak(int16(pageDecoder.decode(packet))));
    heardGoingOn.push(peak(int16(goingOn.decode(packet))));
    voice.push(peak(done.pcm!));
  }
  assert.deepEqual([...new Set(epochs.slice(0, RESTART_AT))], [1], 'one epoch before the restart');
  assert.deepEqual([...new Set(epochs.slice(RESTART_AT))], [2], 'the next epoch after it');
  assert.deepEqual(pool.epochs(), [2]);
  assert.equal(restarts, 2, 'the client restarted its decoder for the first mix and for the new epoch, no more');
  // The codec's 6.5 ms delay spills each burst's first and last frames over their neighbours: those are not judged.
  for (let k = 0; k < FRAMES; k++) {
    const what = `frame ${k} (${k < RESTART_AT ? 'before' : 'after'} the restart)`;
    if (k % 50 >= 1 && k % 50 < 15) {
      assert.ok(heard[k] >= MIN_LEVEL && heard[k] <= MAX_LEVEL, `${what}: the mix's 0.5 tone heard at ${heard[k].toFixed(3)} (expected ${MIN_LEVEL}..${MAX_LEVEL})`);
      // The shard's decoder is fresh after the restart, the page's encoder goes on: the voice is never
      // loud; its first frames fade in (measured 0.11, 0.26, 0.36, 0.43 …), then it reads as sung.
      const fading = k >= RESTART_AT && k < RESTART_AT + FADE_IN_FRAMES;
      assert.ok(voice[k] <= MAX_LEVEL && (fading || voice[k] >= MIN_LEVEL), `${what}: the voice decoded in the shard at ${voice[k].toFixed(3)}`);
    } else if (k % 50 > 15) {
      assert.ok(heard[k] < 0.05, `${what}: silence heard as silence (${heard[k].toFixed(3)})`);
    }
  }
  const loud = Math.max(...heardGoingOn.slice(RESTART_AT));
  assert.ok(loud > MAX_LEVEL, `a decoder that went on across the restart reads the tone loud (${loud.toFixed(3)}): what the epoch is for`);
  pool.unpin(singer);
});
