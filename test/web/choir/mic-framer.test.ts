/**
 * The page's microphone framing (web/choir/mic-framer.ts): whole frames by label; after the clock
 * estimate moves, labels only go forward: a backward jump drops what was labelled already (no
 * position is labelled twice, no frame sent again), a forward jump leaves a gap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MicFramer } from '../../../web/choir/mic-framer.ts';

const F = 960;
const QUANTUM = 128;

/**
 * Captures `total` samples (each sample's value: its capture index) in render quanta, labelled
 * capture index + shift, the shift moving by `by` at capture index `at` (a multiple of the quantum); returns the frames.
 */
function capture(total: number, shift: number, jumps: { at: number; by: number }[], framer?: (f: MicFramer) => void) {
  const frames: { label: number; pcm: Float32Array }[] = [];
  const m = new MicFramer(F, (label, pcm) => frames.push({ label, pcm }));
  framer?.(m);
  let s = shift;
  for (let c = 0; c < total; c += QUANTUM) {
    for (const j of jumps) if (j.at >= c && j.at < c + QUANTUM) s += j.by; // the page's shifts reach the worklet between quanta
    const mono = Float32Array.from({ length: QUANTUM }, (_, i) => c + i + 1); // +1: 0 means "nothing captured"
    m.push(c + s, mono);
  }
  return frames;
}

/** label → the capture index sung there (−1: a gap), over every frame; fails if a label comes twice. */
function byLabel(frames: { label: number; pcm: Float32Array }[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const f of frames) for (let i = 0; i < F; i++) {
    assert.ok(!out.has(f.label + i), `label ${f.label + i} sent twice (frames ${frames.filter((g) => g.label === f.label).length} at ${f.label})`);
    out.set(f.label + i, f.pcm[i] - 1);
  }
  return out;
}

test('steady: consecutive whole frames, each sample at its label', () => {
  const frames = capture(10 * F, 5 * F + 100, []);
  // The first frame starts mid-frame (its first 100 samples silent); the last is not whole yet.
  assert.deepEqual(frames.map((f) => f.label), [...Array(10).keys()].map((k) => (5 + k) * F));
  const m = byLabel(frames);
  assert.equal(m.get(6 * F), 6 * F - 5 * F - 100);
});

test('a backward jump within a frame drops the overlap: nothing labelled twice', () => {
  const frames = capture(10 * F, 0, [{ at: 3 * F + 448, by: -300 }]);
  const labels = frames.map((f) => f.label);
  assert.deepEqual(labels, [...new Set(labels)].sort((a, b) => a - b), 'labels strictly increase');
  const m = byLabel(frames);
  // Up to 3F+512 as captured; the next 300 captured samples are dropped; then on at 3F+512.
  assert.equal(m.get(3 * F + 447), 3 * F + 447);
  assert.equal(m.get(3 * F + 448), 3 * F + 448 + 300);
});

test('a backward jump across a frame boundary does not send the frame before again', () => {
  const frames = capture(10 * F, 0, [{ at: 4 * F + 128, by: -700 }]);
  const labels = frames.map((f) => f.label);
  assert.deepEqual(labels, [...new Set(labels)].sort((a, b) => a - b), `labels strictly increase: ${labels.join(',')}`);
  const m = byLabel(frames);
  assert.equal(m.get(4 * F + 127), 4 * F + 127);
  assert.equal(m.get(4 * F + 128), 4 * F + 128 + 700, 'the audio goes on where the labels were, after the overlap');
  assert.equal(m.get(3 * F), 3 * F, 'the frame before keeps what was sung there');
});

test('a forward jump leaves a gap: the frame in progress goes out with silence past the jump', () => {
  const frames = capture(10 * F, 0, [{ at: 2 * F + 256, by: 1500 }]);
  const m = byLabel(frames);
  assert.equal(m.get(2 * F + 255), 2 * F + 255);
  assert.equal(m.get(2 * F + 256), -1, 'nothing captured there');
  assert.equal(m.get(2 * F + 256 + 1500), 2 * F + 256);
});

test('reset: a new room\'s positions (lower) are taken again', () => {
  const frames: { label: number; pcm: Float32Array }[] = [];
  const m = new MicFramer(F, (label, pcm) => frames.push({ label, pcm }));
  m.push(50 * F, new Float32Array(F).fill(0.5));
  m.push(F, new Float32Array(F).fill(0.25));
  assert.deepEqual(frames.map((f) => f.label), [50 * F], 'lower labels are the past until reset');
  m.reset();
  m.push(F, new Float32Array(F).fill(0.25));
  assert.deepEqual(frames.map((f) => f.label), [50 * F, F]);
});
