/**
 * The page's room-clock estimate (web/choir/clock.ts): best round trip wins, hysteresis, a sliding
 * window; kept against wall time and mapped to audio frames at each use, so a slip of the audio
 * clock against wall time is in the offset at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClockSync } from '../../../web/choir/clock.ts';

const RATE = 48_000;
const S = RATE / 1000; // samples per ms

/**
 * A page whose room clock is wall time (performance.now(), in samples) + `roomMinusWall`, and whose
 * audio clock is wall time + `audioMinusWall` (it falls behind when the audio thread drops buffers).
 */
class Page {
  audioMinusWall = 0;
  constructor(public roomMinusWall: number, readonly clock = new ClockSync(RATE)) {}
  /** A reply received at wall `arrivedMs` that took `outMs` out and `backMs` back. */
  reply(arrivedMs: number, outMs: number, backMs: number): void {
    const roomClock = (arrivedMs - backMs) * S + this.roomMinusWall;
    this.clock.add({ rttMs: outMs + backMs, roomClock, arrivedMs });
  }
  localFrame(perfMs: number): number {
    return perfMs * S + this.audioMinusWall;
  }
  /** The offset the page uses at `perfMs`, and the true one (room − local audio frame). */
  offsetAt(perfMs: number): { used: number; truth: number } {
    return { used: this.clock.offsetFor(this.localFrame(perfMs), perfMs)!, truth: this.roomMinusWall - this.audioMinusWall };
  }
  /** The page's room clock at `perfMs` through its audio clock (what the e2e test compares across pages). */
  roomClockAt(perfMs: number): number {
    return this.localFrame(perfMs) + this.offsetAt(perfMs).used;
  }
}

test('a symmetric round trip gives the offset exactly; an asymmetric one is off by less than half of it', () => {
  const p = new Page(-10_000);
  assert.equal(p.clock.offset, null);
  assert.equal(p.clock.offsetFor(0, 0), null, 'no reply yet');
  p.reply(1000, 2, 2);
  assert.equal(p.offsetAt(1000).used, -10_000);
  const q = new Page(-10_000);
  q.reply(1000, 1, 9); // the way back took longer
  const got = q.offsetAt(1000).used;
  assert.ok(Math.abs(got - -10_000) <= (10 / 2) * S, `off by ${got + 10_000} samples`);
});

test('the reply with the smallest round trip wins; a slower one does not move the estimate', () => {
  const p = new Page(5000);
  p.reply(0, 20, 2); // slow and lopsided: off by 9 ms
  p.reply(1000, 1, 1);
  assert.equal(p.offsetAt(1000).used, 5000);
  p.reply(2000, 30, 1);
  assert.equal(p.offsetAt(2000).used, 5000, 'a slow lopsided reply is ignored');
  assert.equal(p.clock.minRttMs, 2);
  assert.equal(p.clock.lastRttMs, 31);
});

test('a change under the hysteresis keeps the offset; a bigger one moves it', () => {
  const p = new Page(1000, new ClockSync(RATE, 3, 48));
  p.reply(0, 1, 1);
  assert.equal(p.offsetAt(0).used, 1000);
  // The window (3) forgets the first reply; the new best says 1020: within 48 samples, kept.
  p.roomMinusWall = 1020;
  for (let i = 1; i <= 3; i++) p.reply(i * 20, 1, 1);
  assert.equal(p.offsetAt(60).used, 1000);
  // Drift past the hysteresis: it follows.
  p.roomMinusWall = 1100;
  for (let i = 4; i <= 6; i++) p.reply(i * 20, 1, 1);
  assert.equal(p.offsetAt(120).used, 1100);
  // The audio clock's jitter against wall time under the hysteresis moves nothing either.
  p.audioMinusWall = -30;
  assert.equal(p.offsetAt(140).used, 1100);
});

test('the audio clock slipping against wall time is in the offset at its next use, not 5 s later', () => {
  // Measured in headless Chromium on a loaded 2-core machine: the audio clock fell behind
  // performance.now() by one 10 ms buffer at a time. Here it slips nine times within 200 ms, right
  // after the reply with the best round trip of the window (2 ms; every later one takes 4 ms), so
  // that reply stays the best for the window's 5 s. Before, the estimate was kept in audio frames
  // and carried the slip that long: 90 ms off (measured with the old ClockSync on these samples).
  const a = new Page(1_000_000), b = new Page(1_000_000);
  a.reply(0, 1, 1); b.reply(0, 1, 1);
  for (let t = 20; t <= 3000; t += 20) {
    if (t >= 1000 && t < 1180) a.audioMinusWall -= 10 * S;
    a.reply(t, 2, 2); b.reply(t, 2, 2);
    const { used, truth } = a.offsetAt(t);
    assert.equal(used, truth, `at ${t} ms the offset follows the audio clock (slipped ${-a.audioMinusWall / S} ms)`);
  }
  assert.equal(a.audioMinusWall, -90 * S);
  assert.equal(a.clock.minRttMs, 2, 'the best reply is still the one from before the slips');
  // Both pages' room clocks agree at one instant, as the e2e test checks.
  assert.equal(a.roomClockAt(3010), b.roomClockAt(3010));
  assert.equal(a.clock.roomClockAt(3010), 3010 * S + 1_000_000, 'the wall estimate never saw the slips');
});

test('a slip between two uses shows until the next use maps it afresh', () => {
  const p = new Page(0);
  p.reply(0, 1, 1);
  assert.equal(p.offsetAt(0).used, 0);
  p.audioMinusWall = -480; // one dropped 10 ms buffer
  assert.equal(p.clock.offset, 0, 'the offset in use moves only when used');
  assert.equal(p.offsetAt(20).used, 480);
});
