/**
 * The click loopback detector (web/choir/latency.ts) on synthetic recordings: clicks delayed,
 * attenuated, smeared and noisy are found at their latency; silence, noise, a 440 Hz tone and clicks
 * at inconsistent delays are not taken for a latency.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLICK_TIMES_MS, clickShape, measureLoopback } from '../../../web/choir/latency.ts';

const RATE = 48_000;
const click = clickShape(RATE);
const START = 10_000; // local frame of the first click, and of the recording's start
const at = CLICK_TIMES_MS.map((t) => START + (t * RATE) / 1000);
const LENGTH = at[at.length - 1] - START + RATE / 2;

/** A seeded generator, so the noise is the same every run. */
function random(seed: number) {
  return () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** The recording of `at` clicks each heard `delays[i]` samples late at `gain`, through a 3-tap smear, plus noise. */
function recording(delays: number[], gain: number, noise: number, extra?: (i: number) => number): Float32Array {
  const out = new Float32Array(LENGTH);
  const rnd = random(7);
  for (let i = 0; i < LENGTH; i++) out[i] = noise * rnd() + (extra ? extra(i) : 0);
  at.forEach((c, k) => {
    if (delays[k] < 0) return;
    for (let j = 0; j < click.length; j++) {
      const p = c - START + delays[k] + j;
      if (p + 2 < LENGTH) { out[p] += gain * 0.5 * click[j]; out[p + 1] += gain * 0.3 * click[j]; out[p + 2] += gain * 0.2 * click[j]; }
    }
  });
  return out;
}

test('clicks heard 87.5 ms late, quiet and noisy, give that latency', () => {
  const r = measureLoopback(recording([4200, 4200, 4200, 4200, 4200], 0.1, 0.01), START, at, click, { sampleRate: RATE });
  assert.equal(r.heard, true, JSON.stringify(r));
  if (!r.heard) return;
  assert.ok(Math.abs(r.latencySamples - 4200) <= 2, `latency ${r.latencySamples}`);
  assert.equal(r.clicksHeard, 5);
});

test('three clicks of five are enough; the median ignores one outlier', () => {
  const r = measureLoopback(recording([3000, -1, 3001, 9000, 2999], 0.2, 0.005), START, at, click, { sampleRate: RATE });
  assert.equal(r.heard, true, JSON.stringify(r));
  if (r.heard) assert.ok(Math.abs(r.latencySamples - 3000) <= 2 && r.clicksHeard === 3, JSON.stringify(r));
});

test('silence, noise, a 440 Hz tone, or clicks that do not agree: not heard', () => {
  const none = [-1, -1, -1, -1, -1];
  for (const [what, rec] of [
    ['silence', new Float32Array(LENGTH)],
    ['noise', recording(none, 0, 0.2)],
    ['a 440 Hz tone', recording(none, 0, 0, (i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / RATE))],
    ['clicks at scattered delays', recording([1000, 5000, 9000, 13_000, 17_000], 0.2, 0.005)],
  ] as const) {
    const r = measureLoopback(rec, START, at, click, { sampleRate: RATE });
    assert.equal(r.heard, false, `${what}: ${JSON.stringify(r)}`);
  }
});
