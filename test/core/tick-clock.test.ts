/**
 * The tick clock with a fake clock: the grid, the adaptive interval and its hysteresis, the peers'
 * needs, and the fan-out grace. No timers, no engine: each tick is begin(due) … end(took).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CALM_TICKS, LATE_DECAY, LATE_MARGIN_MS, PEER_FORGET_AFTER_MS, TickClock, type TickClockOptions } from '../../src/core/tick-clock.ts';

function clock(options: Partial<TickClockOptions> = {}, startMs = 1_000_000_003) {
  const time = { ms: startMs };
  const c = new TickClock({ tickMs: 50, maxTickMs: 1600, fanOutGraceMs: 5, ...options }, () => time.ms);
  /** Runs one tick at `due` that did `tookMs` of work; the fake time is left at the tick's end. */
  const tick = (due: number, tookMs: number): number => {
    time.ms = due;
    c.begin(due);
    time.ms = due + tookMs;
    return c.end(tookMs);
  };
  /** Runs `n` ticks in a row, each doing `tookMs`, from `due`; returns the next tick's grid point. */
  const ticks = (n: number, due: number, tookMs: number): number => {
    let next = due;
    for (let i = 0; i < n; i++) next = tick(next, tookMs);
    return next;
  };
  return { c, time, tick, ticks };
}

describe('tick clock', () => {
  it('a node that sleeps between busy ticks keeps its need; one that slept CALM_TICKS of it is back at tickMs', () => {
    const { c, time, tick } = clock();
    const next = tick(1_000_000_050, 300); // work of 300 ms: the need grows to 400
    assert.equal(c.intervalMs, 400);
    c.rest();
    time.ms = next + 100; // a short sleep: not calm
    c.wake();
    assert.equal(c.intervalMs, 400);
    c.rest();
    time.ms += CALM_TICKS * 400; // slept as long as CALM_TICKS calm ticks
    c.wake();
    assert.equal(c.intervalMs, 50);
    assert.equal(c.ownNeedMs, 50);
  });

  it('puts ticks on multiples of the interval since the epoch, never before the earliest time asked', () => {
    const { c, time } = clock({}, 1_000_000_003);
    assert.equal(c.nextDue(), 1_000_000_050);
    assert.equal(c.nextDue(time.ms + 50), 1_000_000_100);
    time.ms = 1_000_000_100;
    assert.equal(c.nextDue(), 1_000_000_100, 'a grid point now is due now');
    assert.equal(c.nextDue(1_000_000_000), 1_000_000_100, 'never in the past');
  });

  it('after a calm tick, ticks again one interval later on the grid', () => {
    const { c, tick } = clock();
    const next = tick(1_000_000_050, 3);
    assert.equal(next, 1_000_000_100);
    assert.equal(c.intervalMs, 50);
  });

  it('skips to the next grid point after now when a tick ran past its successor', () => {
    const { c, tick } = clock({ maxTickMs: 50 });
    // At the cap the interval cannot grow: the 130 ms of work ends at …180, so …200 is next.
    const next = tick(1_000_000_050, 130);
    assert.equal(c.intervalMs, 50);
    assert.equal(next, 1_000_000_200);
  });

  it('doubles its own need at once until it covers the work, on the longer grid', () => {
    const { c, tick } = clock();
    const next = tick(1_000_000_050, 130);
    assert.equal(c.ownNeedMs, 200, '50 → 100 → 200 covers 130 ms');
    assert.equal(c.intervalMs, 200);
    assert.equal(next % 200, 0, 'on the 200 ms grid');
    assert.ok(next >= 1_000_000_050 + 200);
  });

  it('makes maxTickMs itself the last step, not the doubling past it', () => {
    const { c, tick } = clock({ maxTickMs: 300 });
    tick(1_000_000_050, 250);
    assert.equal(c.ownNeedMs, 300, '50 → 100 → 200 → 300 (capped), not 400');
    tick(c.nextDue(), 5000);
    assert.equal(c.intervalMs, 300, 'however long the work');
  });

  it(`halves only after ${CALM_TICKS} calm ticks in a row, and a busy tick between restarts the count`, () => {
    const { c, tick, ticks } = clock();
    let next = tick(1_000_000_050, 350); // → 400
    assert.equal(c.intervalMs, 400);
    next = ticks(CALM_TICKS - 1, next, 10);
    assert.equal(c.intervalMs, 400, `${CALM_TICKS - 1} calm ticks are not enough`);
    next = tick(next, 200); // half the interval: not calm (over 30%), not over it
    assert.equal(c.intervalMs, 400);
    next = ticks(CALM_TICKS - 1, next, 10);
    assert.equal(c.intervalMs, 400, 'the count started again after the busy tick');
    next = tick(next, 10);
    assert.equal(c.intervalMs, 200, `the ${CALM_TICKS}th calm tick in a row halves it`);
    next = ticks(CALM_TICKS, next, 10);
    assert.equal(c.intervalMs, 100, 'one level per run of calm ticks');
    ticks(CALM_TICKS * 3, next, 1);
    assert.equal(c.intervalMs, 50, 'never below tickMs');
  });

  it('comes down from maxTickMs to the largest level below it', () => {
    const { c, tick, ticks } = clock({ maxTickMs: 300 });
    const next = tick(1_000_000_050, 1000);
    assert.equal(c.intervalMs, 300);
    ticks(CALM_TICKS, next, 10);
    assert.equal(c.intervalMs, 200);
  });

  it('follows the longest need a peer says, at most maxTickMs, and its own when that is longer', () => {
    const { c, time, tick } = clock();
    c.peersSaid(new Map([['a', 100], ['b', 400]]));
    assert.equal(c.intervalMs, 50, 'from the end of the running tick on');
    let next = tick(1_000_000_050, 1);
    assert.equal(c.intervalMs, 400);
    assert.equal(c.ownNeedMs, 50, 'its own need is unchanged');
    assert.equal(next % 400, 0, 'on the peer\'s grid');
    c.peersSaid(new Map([['a', 6400]]), time.ms);
    next = tick(next, 1);
    assert.equal(c.intervalMs, 1600, 'capped at its own maxTickMs');
    c.peersSaid(new Map([['a', 100]]), next); // heard during the next tick
    next = tick(next, 1);
    assert.equal(c.intervalMs, 100, 'followed down at once when the peer needs less');
    tick(next, 700);
    assert.equal(c.intervalMs, 800, 'its own need, when longer than the peers\'');
  });

  it('drops a peer missing from what the peers said at once', () => {
    const { c, time, tick } = clock();
    c.peersSaid(new Map([['a', 400]]));
    let next = tick(1_000_000_050, 1);
    assert.equal(c.intervalMs, 400);
    c.peersSaid(new Map(), time.ms);
    next = tick(next, 1);
    assert.equal(c.intervalMs, 50);
  });

  it('forgets a peer not heard from for two of its intervals and a second', () => {
    const { c, time, tick } = clock();
    const heardAt = 1_000_000_003;
    c.peersSaid(new Map([['a', 400]]), heardAt);
    let next = tick(1_000_000_050, 1);
    assert.equal(c.intervalMs, 400);
    const forgetAt = heardAt + 2 * 400 + PEER_FORGET_AFTER_MS;
    while (next < forgetAt) next = tick(next, 1);
    assert.ok(time.ms > forgetAt - 400);
    assert.equal(c.intervalMs, 400, 'still remembered up to the last tick before it is forgotten');
    next = tick(next, 1);
    assert.ok(time.ms > forgetAt);
    assert.equal(c.intervalMs, 50, 'forgotten');
    assert.equal(c.peersNeedMs(), 0);
  });

  it('waits fanOutGraceMs when batches arrive early, longer when they come late, and lets that decay', () => {
    const { c, time, tick } = clock({ tickMs: 400, maxTickMs: 400, fanOutGraceMs: 5 });
    const due = 1_000_000_400;
    time.ms = due;
    c.begin(due);
    c.batchArrived(due + 1);
    assert.equal(c.graceMs(), 5, 'the floor: a batch 1 ms late needs no more');
    c.batchArrived(due + 60);
    assert.equal(c.graceMs(), 60 + LATE_MARGIN_MS, 'the latest arrival and a margin');
    c.batchArrived(due + 30);
    assert.equal(c.graceMs(), 60 + LATE_MARGIN_MS, 'an earlier one does not lower it');
    let next = c.end(1);
    // Calm ticks: the lateness decays by LATE_DECAY per tick, back to the floor.
    next = tick(next, 1);
    assert.equal(c.graceMs(), 60 * LATE_DECAY + LATE_MARGIN_MS);
    for (let i = 0; i < 40; i++) next = tick(next, 1);
    assert.equal(c.graceMs(), 5);
  });

  it('caps the grace at a quarter of the interval, and ignores batches from another tick', () => {
    const { c } = clock({ tickMs: 400, maxTickMs: 400, fanOutGraceMs: 5 });
    const due = 1_000_000_400;
    c.begin(due);
    c.batchArrived(due - 10);
    c.batchArrived(due + 200);
    c.batchArrived(due + 390);
    assert.equal(c.graceMs(), 5, 'before the grid point or half an interval after it: another tick\'s');
    c.batchArrived(due + 190);
    assert.equal(c.graceMs(), 100, 'a quarter of 400 ms');
  });

  it('never waits less than fanOutGraceMs, even when it is over a quarter of the interval', () => {
    const { c } = clock({ tickMs: 40, maxTickMs: 40, fanOutGraceMs: 15 });
    c.begin(1_000_000_040);
    assert.equal(c.graceMs(), 15);
    c.batchArrived(1_000_000_059);
    assert.equal(c.graceMs(), 15);
  });
});
