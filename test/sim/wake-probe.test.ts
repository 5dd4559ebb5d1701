import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarise, WakeProbe } from '../../src/sim/wake-probe.ts';

test('wake probe: a thread sleeping 1 ms samples its lateness until stopped', async () => {
  const probe = new WakeProbe(1);
  await new Promise((r) => setTimeout(r, 300));
  const w = await probe.stop();
  assert.equal(w.sleepMs, 1);
  // ~300 wake-ups at most (each sleeps 1 ms); at least a few even on a loaded machine.
  assert.ok(w.samples >= 10 && w.samples <= 400, JSON.stringify(w));
  assert.ok(w.min! <= w.p50! && w.p50! <= w.p99! && w.p99! <= w.max!, JSON.stringify(w));
});

test('wake probe: the summary counts the late wake-ups past 2 and 5 ms and reads quantiles by nearest rank (Histogram, as every latency of a report)', () => {
  const late = [0.1, 0.1, 0.2, 0.3, 2.5, 6].sort((a, b) => a - b);
  const w = summarise(late, 1);
  assert.equal(w.samples, 6);
  assert.equal(w.over2Ms, 2);
  assert.equal(w.over5Ms, 1);
  assert.equal(w.p50, 0.2);
  assert.equal(w.max, 6);
  assert.equal(w.min, 0.1);
});

test('wake probe: a path of k wake-ups collects k times the lateness when every wake-up is as late', () => {
  const w = summarise(new Array(50).fill(0.5), 1);
  assert.deepEqual(w.pathP99, { 2: 1, 3: 1.5, 4: 2 });
  // With a 2 % tail of 10 ms, a 4-wake-up path meets it in ~8 % of its draws: its p99 holds one.
  const tail = summarise([...new Array(98).fill(0.1), 10, 10].sort((a, b) => a - b), 1);
  assert.equal(tail.p99, 10);
  assert.ok(tail.pathP99[4]! >= 10 && tail.pathP99[4]! < 20, JSON.stringify(tail.pathP99));
});
