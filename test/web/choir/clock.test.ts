/** The page's room-clock estimate (web/choir/clock.ts): best round trip wins, hysteresis, a sliding window. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClockSync } from '../../../web/choir/clock.ts';

const RATE = 48_000;

/** A reply whose way out took `outMs` and way back `backMs`, with the true offset `offset` (room − local). */
function reply(offset: number, localFrameSent: number, outMs: number, backMs: number) {
  const roomClock = localFrameSent + offset + (outMs * RATE) / 1000;
  return { rttMs: outMs + backMs, roomClock, localFrame: localFrameSent + ((outMs + backMs) * RATE) / 1000 };
}

test('a symmetric round trip gives the offset exactly; an asymmetric one is off by less than half of it', () => {
  const c = new ClockSync(RATE);
  assert.equal(c.offset, null);
  assert.equal(c.add(reply(-10_000, 50_000, 2, 2)), -10_000);
  const d = new ClockSync(RATE);
  const got = d.add(reply(-10_000, 50_000, 1, 9)); // the way back took longer
  assert.ok(Math.abs(got - -10_000) <= (10 / 2) * 48, `off by ${got + 10_000} samples`);
});

test('the reply with the smallest round trip wins; a slower one does not move the estimate', () => {
  const c = new ClockSync(RATE);
  c.add(reply(5000, 0, 20, 2)); // slow and lopsided: off by 9 ms
  assert.equal(c.add(reply(5000, 48_000, 1, 1)), 5000);
  assert.equal(c.add(reply(5000, 96_000, 30, 1)), 5000, 'a slow lopsided reply is ignored');
  assert.equal(c.minRttMs, 2);
});

test('a change under the hysteresis keeps the offset; a bigger one moves it', () => {
  const c = new ClockSync(RATE, 3, 48);
  c.add(reply(1000, 0, 1, 1));
  // The window (3) forgets the first reply; the new best says 1020: within 48 samples, kept.
  for (let i = 1; i <= 3; i++) c.add(reply(1020, i * 960, 1, 1));
  assert.equal(c.offset, 1000);
  // Drift past the hysteresis: it follows.
  for (let i = 4; i <= 6; i++) c.add(reply(1100, i * 960, 1, 1));
  assert.equal(c.offset, 1100);
});
