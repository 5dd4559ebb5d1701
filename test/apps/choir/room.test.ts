import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrigadeError } from '../../../src/protocol/index.ts';
import { clipInt16, FRAME_SAMPLES, Room, SAMPLE_RATE, toInt16 } from '../../../src/apps/choir/room.ts';
import { goertzel, tone } from '../../../src/apps/choir/dsp.ts';

function room(opts: Partial<{ bufferSamples: number; aheadSamples: number; ownWindowSamples: number; maxSingers: number }> = {}) {
  const clock = { now: 10 * SAMPLE_RATE };
  const r = new Room('r', {
    bufferSamples: opts.bufferSamples ?? 60 * SAMPLE_RATE, aheadSamples: opts.aheadSamples ?? SAMPLE_RATE,
    ownWindowSamples: opts.ownWindowSamples ?? 5 * SAMPLE_RATE, maxSingers: opts.maxSingers ?? 8, now: () => clock.now,
  });
  r.song = { startedAt: 0, stoppedAt: null }; // a song running since the room's start: every position is in it
  return { r, clock };
}
const code = (fn: () => unknown) => { try { fn(); } catch (e) { return (e as BrigadeError).code; } return null; };

describe('choir room', () => {
  it('a tone singer A adds at T is in the mix B reads at T, and not in A\'s own mix', () => {
    const { r } = room();
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const b = r.join(2, 'kb', 'B', 4800, 1, 0, 0);
    const T = 9 * SAMPLE_RATE; // one second behind the clock
    r.write(a, T, tone(440, FRAME_SAMPLES, 0.5, T));
    const heardByB = r.read(b, T);
    assert.ok(Math.abs(goertzel(heardByB, 440) - 0.5) < 0.02, `B hears A's 440 Hz at ~0.5 (got ${goertzel(heardByB, 440)})`);
    assert.ok(goertzel(r.read(a, T), 440) < 0.001, 'A does not hear itself');
    assert.ok(goertzel(r.read(b, T + FRAME_SAMPLES), 440) < 0.001, 'nothing in the next frame');
    assert.ok(goertzel(r.read(b, T - FRAME_SAMPLES), 440) < 0.001, 'nothing in the frame before');
  });

  it('mixes by addition at offsets: B hears A and C, A hears only C', () => {
    const { r } = room();
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const b = r.join(2, 'kb', 'B', 0, 1, 0, 0);
    const c = r.join(3, 'kc', 'C', 0, 0.5, 0, 0);
    const T = 9 * SAMPLE_RATE;
    r.write(a, T, tone(440, FRAME_SAMPLES, 0.3, T));
    r.write(c, T, tone(660, FRAME_SAMPLES, 0.4, T)); // gain 0.5 → 0.2
    const mixB = r.read(b, T);
    assert.ok(Math.abs(goertzel(mixB, 440) - 0.3) < 0.02);
    assert.ok(Math.abs(goertzel(mixB, 660) - 0.2) < 0.02);
    const mixA = r.read(a, T);
    assert.ok(goertzel(mixA, 440) < 0.03, 'only leakage of 660');
    assert.ok(Math.abs(goertzel(mixA, 660) - 0.2) < 0.02);
    // offset: a frame written at T + 960 shows up exactly there
    r.write(a, T + FRAME_SAMPLES, tone(880, FRAME_SAMPLES, 0.3));
    assert.ok(goertzel(r.read(b, T), 880) < 0.03, 'only leakage of 440 and 660 at 880');
    assert.ok(goertzel(r.read(b, T + FRAME_SAMPLES), 880) > 0.25);
  });

  it('writing the same frame again replaces the singer\'s earlier one', () => {
    const { r } = room();
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const b = r.join(2, 'kb', 'B', 0, 1, 0, 0);
    const T = 9 * SAMPLE_RATE;
    r.write(a, T, tone(440, FRAME_SAMPLES, 0.5));
    r.write(a, T, tone(440, FRAME_SAMPLES, 0.5));
    assert.ok(Math.abs(goertzel(r.read(b, T), 440) - 0.5) < 0.02);
  });

  it('clips the sum, not the buffer: loud singers saturate, and a singer still hears only the others', () => {
    const { r } = room();
    const singers = [1, 2, 3, 4].map((i) => r.join(i, 'k', `s${i}`, 0, 1, 0, 0));
    const T = 9 * SAMPLE_RATE;
    const full = new Int16Array(FRAME_SAMPLES).fill(30000);
    for (const s of singers) r.write(s, T, full);
    const listener = r.join(9, 'k', 'L', 0, 1, 0, 0);
    const out = r.read(listener, T);
    assert.ok(out.every((v) => v <= 32767 && v > 32000), 'clipped near full scale, no wrap-around');
    const own = r.read(singers[0], T); // 3 others: still over full scale, clipped
    assert.ok(own.every((v) => v > 32000));
    assert.equal(toInt16(-5), -32767);
    assert.equal(toInt16(0.5), 16384);
    // The knee: tanh between 0.9 and 1.375, full scale from there (where tanh is within half a step of 1).
    const knee = (v: number) => Math.sign(v) * Math.round((0.9 + 0.1 * Math.tanh((Math.abs(v) - 0.9) / 0.1)) * 32767);
    for (const v of [0.95, 1, 1.1, 1.2, 1.3, 1.37, 1.374, 1.375, 1.5, 3]) {
      assert.equal(toInt16(v), knee(v), `at ${v}`);
      assert.equal(toInt16(-v), knee(-v), `at ${-v}`);
    }
    for (let v = -2; v <= 2; v += 0.001) assert.ok(toInt16(v + 0.001) >= toInt16(v), `monotonic at ${v}`);
  });

  it('refuses frames before the buffer\'s start or past its end, and unaligned writes', () => {
    const { r, clock } = room({ bufferSamples: 2 * SAMPLE_RATE, aheadSamples: FRAME_SAMPLES * 5 });
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const start = clock.now + FRAME_SAMPLES * 5 - 2 * SAMPLE_RATE;
    assert.equal(code(() => r.write(a, start - FRAME_SAMPLES, tone(440, FRAME_SAMPLES))), 'CHOIR_FRAME_TOO_OLD');
    assert.equal(code(() => r.write(a, start, tone(440, FRAME_SAMPLES))), null);
    assert.equal(code(() => r.write(a, clock.now + 5 * FRAME_SAMPLES, tone(440, FRAME_SAMPLES))), 'CHOIR_FRAME_AHEAD');
    assert.equal(code(() => r.write(a, clock.now + 4 * FRAME_SAMPLES, tone(440, FRAME_SAMPLES))), null);
    assert.equal(code(() => r.write(a, clock.now + 7, tone(440, FRAME_SAMPLES))), 'CHOIR_BAD_FRAME');
    assert.equal(code(() => r.read(a, start - 1)), 'CHOIR_FRAME_TOO_OLD');
  });

  it('the window moves with the clock: old audio is gone when its slots come round again', () => {
    const { r, clock } = room({ bufferSamples: SAMPLE_RATE, aheadSamples: 10 * FRAME_SAMPLES });
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const b = r.join(2, 'kb', 'B', 0, 1, 0, 0);
    const T = clock.now;
    r.write(a, T, tone(440, FRAME_SAMPLES, 0.5));
    clock.now += SAMPLE_RATE; // the slot of T now belongs to T + 1 s
    assert.equal(code(() => r.read(b, T)), 'CHOIR_FRAME_TOO_OLD');
    assert.ok(goertzel(r.read(b, T + SAMPLE_RATE), 440) < 0.001, 'the reused slot was zeroed');
  });

  it('too many singers is a typed refusal; the leader is the first, then the front of the brigade', () => {
    const { r } = room({ maxSingers: 2 });
    r.join(1, 'k', 'A', 9600, 1, 0, 0);
    r.join(2, 'k', 'B', 4800, 1, 0, 0);
    assert.equal(code(() => r.join(3, 'k', 'C', 0, 1, 0, 0)), 'CHOIR_ROOM_FULL');
    assert.equal(r.leader, 1);
    assert.equal(code(() => r.start(2, null)), 'CHOIR_NOT_LEADER');
    r.leave(1);
    assert.equal(r.leader, 2);
  });

  it('start clears the buffer and runs the metronome from the song\'s start; late frames are counted', () => {
    const { r, clock } = room();
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const b = r.join(2, 'kb', 'B', 4800, 1, 0, 0);
    const T = clock.now - SAMPLE_RATE;
    r.write(a, T, tone(440, FRAME_SAMPLES, 0.5));
    const at = r.start(1, 120);
    assert.equal(at % FRAME_SAMPLES, 0);
    assert.ok(goertzel(r.read(b, T), 440) < 0.001, 'cleared');
    assert.ok(goertzel(r.read(b, at, 480), 1000) > 0.05, 'a click on the first beat');
    assert.ok(goertzel(r.read(b, at + 2400, 480), 1000) < 0.01, 'quiet between beats');
    assert.ok(goertzel(r.read(b, at + 24000, 480), 1000) > 0.05, 'a click on the second beat (120 bpm)');
    r.read(b, at, FRAME_SAMPLES);
    assert.equal(r.write(a, at, tone(440, FRAME_SAMPLES)), 'late', 'B (behind A) already read it');
    assert.equal(r.lateFrames, 1);
    assert.equal(r.write(b, at + FRAME_SAMPLES, tone(440, FRAME_SAMPLES)), 'added');
  });

  it('the song gates the voices: nothing is added before it, before its start, or at or past its stop', () => {
    const { r, clock } = room();
    r.song = null;
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const b = r.join(2, 'kb', 'B', SAMPLE_RATE, 1, 0, 0);
    const T = 9 * SAMPLE_RATE;
    assert.equal(r.write(a, T, tone(440, FRAME_SAMPLES, 0.5)), 'outside', 'no song yet');
    assert.ok(goertzel(r.read(b, T), 440) < 0.001, 'not added');
    clock.now += 7; // not on a frame boundary: the song starts at the next one
    const startedAt = r.start(1, null);
    assert.equal(startedAt, 10 * SAMPLE_RATE + FRAME_SAMPLES);
    assert.deepEqual(r.state().song, { startedAt, stoppedAt: null });
    // B, a second behind, sings before the start: not in the song. A sings in it.
    assert.equal(r.write(b, startedAt - FRAME_SAMPLES, tone(660, FRAME_SAMPLES, 0.5)), 'outside');
    assert.equal(r.write(a, startedAt, tone(440, FRAME_SAMPLES, 0.5)), 'added');
    // A frame stamped ahead of the clock, past where the stop will fall, is already in the buffer.
    const ahead = startedAt + 20 * FRAME_SAMPLES;
    assert.equal(r.write(a, ahead, tone(440, FRAME_SAMPLES, 0.5)), 'added');
    clock.now = startedAt + 10 * FRAME_SAMPLES - 5;
    const stoppedAt = r.stop(1);
    assert.equal(stoppedAt, startedAt + 10 * FRAME_SAMPLES, 'the stop falls on the next frame boundary');
    assert.equal(r.stop(1), stoppedAt, 'stopping again changes nothing');
    assert.deepEqual(r.state().song, { startedAt, stoppedAt });
    assert.ok(goertzel(r.read(b, ahead), 440) < 0.001, 'what was added at or past the stop is gone');
    assert.ok(goertzel(r.read(a, ahead), 440) < 0.001, 'and A does not hear the negative of its own voice there');
    // Frames still on their way: the last whole frame before the stop is added, nothing at or past it.
    assert.equal(r.write(a, stoppedAt - FRAME_SAMPLES, tone(440, FRAME_SAMPLES, 0.5)), 'late', 'added, late: B read past it already');
    assert.equal(r.write(a, stoppedAt, tone(440, FRAME_SAMPLES, 0.5)), 'outside');
    assert.equal(r.write(b, stoppedAt + 5 * FRAME_SAMPLES, tone(660, FRAME_SAMPLES, 0.5)), 'outside');
    assert.ok(Math.abs(goertzel(r.read(b, stoppedAt - FRAME_SAMPLES), 440) - 0.5) < 0.02, 'B hears the song up to its stop');
    assert.ok(goertzel(r.read(b, stoppedAt, 4 * FRAME_SAMPLES), 440) < 0.001, 'and nothing after it');
    // B, a second behind, still sings the song after the leader stopped: positions before the stop count.
    clock.now += SAMPLE_RATE / 2;
    assert.equal(r.write(b, stoppedAt - 2 * FRAME_SAMPLES, tone(660, FRAME_SAMPLES, 0.5)), 'added');
    assert.equal(r.framesOutsideSong, 4);
    assert.equal(r.framesIn, 4);
    // A new song: frames of the last one are outside it.
    const next = r.start(1, null);
    assert.equal(r.write(b, stoppedAt - 3 * FRAME_SAMPLES, tone(660, FRAME_SAMPLES, 0.5)), 'outside');
    assert.equal(r.write(a, next, tone(440, FRAME_SAMPLES, 0.5)), 'added');
    assert.equal(r.framesOutsideSong, 5);
  });

  it('late mixes: a message of n mixes answered late counts n misses and adds each stage once per mix, so a sum ÷ the misses is a late mix\'s mean', () => {
    const { r } = room();
    // Five mixes, arrived at 1000 ms: their RPC out at 1010, picked up at 1012, ready at 1042, read at 1045, answered at 1050.
    r.noteLate(5, 1000, 1050, { sentAt: 1010, pickedUpAt: 1012, readyAt: 1042, readAt: 1045 });
    assert.equal(r.deadlineMisses, 5);
    const mean = (k: keyof typeof r.lateSeconds) => (r.lateSeconds[k] / r.deadlineMisses) * 1000;
    const near = (k: keyof typeof r.lateSeconds, ms: number) => assert.ok(Math.abs(mean(k) - ms) < 1e-9, `${k}: ${mean(k)} ms a late mix, not ${ms}`);
    near('queue', 10); near('codec', 35); near('reply', 5); near('shardWake', 2); near('shardWork', 30); near('ownerWake', 3);
    // One frame with no mix asked (counted once), coded in the owner (no RPC stamps): all codec, after a message of 5.
    r.noteLate(1, 2000, 2060);
    assert.equal(r.deadlineMisses, 6);
    near('codec', (35 * 5 + 60) / 6); near('queue', (10 * 5) / 6); near('shardWork', (30 * 5) / 6);
  });
});

describe('the read\'s clipping table', () => {
  it('is toInt16 exactly in the linear part and at full scale, within 1 in the knee, and monotonic', () => {
    let prev = -Infinity, knee = 0;
    for (let v = -2; v <= 2; v += 0.00001) {
      const t = clipInt16(v), exact = toInt16(v);
      if (Math.abs(v) <= 0.9 || Math.abs(v) >= 1.375) assert.equal(t, exact, `at ${v}`);
      else { assert.ok(Math.abs(t - exact) <= 1, `at ${v}: ${t} against ${exact}`); if (t !== exact) knee++; }
      assert.ok(t >= prev, `monotonic at ${v}`);
      prev = t;
    }
    assert.equal(clipInt16(Number.POSITIVE_INFINITY), 32767);
    assert.equal(clipInt16(-1e9), -32767);
    assert.ok(knee < 20_000, `off by one at ${knee} of the knee's steps`);
  });

  it('a room of 60 ms frames (--choir-frame-ms 60): writes whole 2,880-sample frames at their multiples, mixes and takes the own voice out by those frames', () => {
    const F = 2880;
    let now = 10 * SAMPLE_RATE;
    const r = new Room('r60', { bufferSamples: 60 * SAMPLE_RATE, aheadSamples: SAMPLE_RATE, ownWindowSamples: 5 * SAMPLE_RATE, maxSingers: 4, frameSamples: F, now: () => now });
    assert.equal(r.state().frameSamples, F, 'the room state tells the page its frame');
    const a = r.join(1, 'ka', 'A', 0, 1, 0, 0);
    const b = r.join(2, 'kb', 'B', 4800, 1, 0, 0);
    const at = r.start(1, null);
    assert.equal(at % F, 0, `the song starts on a 60 ms frame boundary (${at})`);
    now += 2 * SAMPLE_RATE;
    const T = at + 10 * F;
    assert.equal(code(() => r.write(a, T, tone(440, FRAME_SAMPLES, 0.5))), 'CHOIR_BAD_OPUS', 'a 20 ms frame is not a frame of this room');
    assert.equal(code(() => r.write(a, T + FRAME_SAMPLES, tone(440, F, 0.5))), 'CHOIR_BAD_FRAME', 'a multiple of 960 but not of 2,880');
    assert.equal(r.framesIn, 0, 'the refusals added nothing');
    assert.equal(r.write(a, T, tone(440, F, 0.5, T)), 'added');
    const heard = r.read(b, T, F);
    assert.equal(heard.length, F);
    assert.ok(Math.abs(goertzel(heard, 440) - 0.5) < 0.02, `B hears the whole 60 ms frame (got ${goertzel(heard, 440)})`);
    assert.ok(Math.abs(goertzel(heard.subarray(2 * FRAME_SAMPLES), 440) - 0.5) < 0.02, 'its last 20 ms too');
    assert.ok(goertzel(r.read(a, T, F), 440) < 0.001, 'A does not hear itself, over the whole frame');
    // A read that straddles two frames takes A's voice out of each part it covers.
    r.write(a, T + F, tone(440, F, 0.5, T + F));
    assert.ok(goertzel(r.read(a, T + F / 2, F), 440) < 0.001, 'nor across a frame boundary');
    assert.ok(goertzel(r.read(b, T + 2 * F, F), 440) < 0.001, 'nothing in the frame after');
    const stoppedAt = r.stop(1);
    assert.equal(stoppedAt % F, 0, 'the song stops on a 60 ms frame boundary');
    assert.throws(() => new Room('odd', { bufferSamples: 60 * SAMPLE_RATE + FRAME_SAMPLES, aheadSamples: SAMPLE_RATE, ownWindowSamples: SAMPLE_RATE, maxSingers: 2, frameSamples: F, now: () => 0 }),
      /must divide the buffer/, 'a frame that does not divide the buffer would wrap round its end');
  });
});
