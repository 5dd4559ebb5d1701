import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextPollAt, sleepUntilSlotMs, slotPeriodMs, type SlotInput } from '../../src/sdk/slots.ts';

const base: SlotInput = { groupOffsetMs: 0, index: 0, count: 4, separationMs: 250, nowMs: 10_000, clockOffsetMs: 0 };

/** Simulates `count` workers, each polling at its slot then working `work(i, n)` ms; returns the server-clock arrivals. */
function simulate(count: number, separationMs: number, polls: number, work: (worker: number, n: number) => number,
  clockOffsets: number[] = []): number[] {
  const arrivals: number[] = [];
  for (let w = 0; w < count; w++) {
    const offset = clockOffsets[w] ?? 0;
    let local = 1_000 + w * 37; // workers start at unrelated times
    for (let n = 0; n < polls; n++) {
      const at = nextPollAt({ groupOffsetMs: 40, index: w, count, separationMs, nowMs: local, clockOffsetMs: offset });
      arrivals.push(at + offset);
      local = at + work(w, n);
    }
  }
  return arrivals.sort((a, b) => a - b);
}

describe('slot polling', () => {
  it('waits for the worker\'s own slot in each period', () => {
    assert.equal(slotPeriodMs(4, 250), 1000);
    assert.equal(nextPollAt(base), 10_000);
    assert.equal(nextPollAt({ ...base, nowMs: 10_001 }), 11_000);
    assert.equal(nextPollAt({ ...base, index: 2, nowMs: 10_001 }), 10_500);
    assert.equal(nextPollAt({ ...base, index: 3, groupOffsetMs: 30, nowMs: 10_900 }), 11_780);
    assert.equal(sleepUntilSlotMs({ ...base, index: 1, nowMs: 10_100 }), 150);
  });

  it('corrects for the clock offset and the latency to the server', () => {
    // The server is 300 ms ahead: its 11,000 is the worker's 10,700.
    assert.equal(nextPollAt({ ...base, nowMs: 10_001, clockOffsetMs: 300 }), 10_700);
    // Sent 20 ms early, it arrives on the slot.
    assert.equal(nextPollAt({ ...base, index: 1, nowMs: 10_100, latencyMs: 20 }), 10_230);
  });

  it('rebalances when the count changes: the period and the slot follow', () => {
    assert.equal(nextPollAt({ ...base, index: 1, count: 2, nowMs: 10_300 }), 10_750);
    assert.equal(nextPollAt({ ...base, index: 2, count: 3, nowMs: 10_300 }), 11_000);
    // An index past a shrunk count is clamped, never out of the period.
    assert.ok(nextPollAt({ ...base, index: 9, count: 2, nowMs: 10_300 }) < 10_300 + 500);
  });

  it('N workers with varying job times arrive one per separation, gaps never shorter', () => {
    for (const count of [2, 10, 50]) {
      let seed = count;
      const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const arrivals = simulate(count, 250, 20, () => Math.floor(rand() * 3000), Array.from({ length: count }, () => Math.floor(rand() * 400 - 200)));
      const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
      assert.ok(gaps.every((g) => g === 0 || g >= 250), `count ${count}: a gap below the separation: ${Math.min(...gaps.filter((g) => g > 0))}`);
      // Distinct slots: no two workers ever share an arrival instant.
      assert.equal(new Set(arrivals).size, arrivals.length, `count ${count}: two polls on one slot`);
    }
  });
});
