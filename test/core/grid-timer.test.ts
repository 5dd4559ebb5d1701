/**
 * The core's grid timer (src/core/grid-timer.ts), always-on and on demand, with the real clock. No
 * timing is asserted: "nothing ran" is only concluded after an always-on timer of the same
 * interval has run several times meanwhile (the positive signal that grid points went by).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { everyOnGrid, type GridTimer } from '../../src/core/grid-timer.ts';

const INTERVAL_MS = 5;

function fail(err: unknown): never {
  throw err;
}

/** Resolves after an always-on timer of the same interval has run `n` more times. */
function gridPoints(n: number): Promise<void> {
  return new Promise((resolve) => {
    let runs = 0;
    const t: GridTimer = everyOnGrid(INTERVAL_MS, () => {
      if (++runs === n) {
        void t.stop();
        resolve();
      }
    }, fail);
  });
}

describe('grid timer', () => {
  it('always on: runs on multiples of its interval, never two at once, and stop() waits for a run', async () => {
    const dues: number[] = [];
    let inRun = 0;
    let maxInRun = 0;
    let release: () => void = () => {};
    const t = everyOnGrid(INTERVAL_MS, async (due) => {
      dues.push(due);
      maxInRun = Math.max(maxInRun, ++inRun);
      // Each run outlasts several grid points: the next must wait for it.
      await new Promise<void>((resolve) => { release = resolve; setTimeout(resolve, 3 * INTERVAL_MS); });
      inRun--;
    }, fail);
    await gridPoints(30);
    const stopped = t.stop();
    release();
    await stopped;
    assert.equal(inRun, 0, 'stop() waited for the run in progress');
    const count = dues.length;
    assert.ok(count >= 2, `ran ${count} times`);
    assert.equal(maxInRun, 1);
    for (const d of dues) assert.equal(d % INTERVAL_MS, 0, `${d} is a grid point`);
    for (let i = 1; i < count; i++) assert.ok(dues[i] > dues[i - 1]);
    await gridPoints(5);
    assert.equal(dues.length, count, 'nothing after stop');
  });

  it('on demand: sleeps until woken, runs once per wake at a grid point, and once more when woken during a run', async () => {
    const dues: number[] = [];
    let wakeInRun = false;
    const t = everyOnGrid(INTERVAL_MS, (due) => {
      dues.push(due);
      if (wakeInRun) {
        wakeInRun = false;
        t.wake();
      }
    }, fail, true);
    await gridPoints(5);
    assert.equal(dues.length, 0, 'no run without a wake');

    t.wake();
    t.wake(); // a second wake before the run asks for nothing more
    await gridPoints(5);
    assert.equal(dues.length, 1, 'one run for the wakes before it');
    assert.equal(dues[0] % INTERVAL_MS, 0);

    wakeInRun = true;
    t.wake();
    await gridPoints(8);
    assert.equal(dues.length, 3, 'the wake during the run made exactly one more run');
    assert.ok(dues[2] > dues[1], 'after it, at a later grid point');

    await t.stop();
    t.wake();
    await gridPoints(5);
    assert.equal(dues.length, 3, 'a wake after stop runs nothing');
  });

  it('on demand: a wake during an async run waits for it to end (no overlap)', async () => {
    let inRun = 0;
    let maxInRun = 0;
    let runs = 0;
    const t = everyOnGrid(INTERVAL_MS, async () => {
      runs++;
      maxInRun = Math.max(maxInRun, ++inRun);
      if (runs === 1) t.wake();
      await new Promise((resolve) => setTimeout(resolve, 2 * INTERVAL_MS));
      inRun--;
    }, fail, true);
    t.wake();
    await gridPoints(20);
    await t.stop();
    assert.equal(runs, 2);
    assert.equal(maxInRun, 1);
  });
});
