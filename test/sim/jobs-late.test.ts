/**
 * The push run's grouping of late pick-ups into episodes (src/sim/jobs-runs.ts lateEpisodes): one
 * stall shows as one episode, and whether it reached one worker process or several says where it was.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lateEpisodes } from '../../src/sim/jobs-runs.ts';

describe('lateEpisodes', () => {
  it('groups late jobs enqueued less than 20 ms apart, counts the workers each reached, and their phase in the second', () => {
    const base = 1_700_000_000_000; // a whole second
    const l = lateEpisodes([
      // worker 0: a stall at 0.120 s (with worker 1) and one of its own at 1.950 s
      [[base + 120, 9], [base + 131, 7], [base + 1950, 30]],
      // worker 1: the same stall at 0.120 s, then one at 2.125 s
      [[base + 125, 12], [base + 2125, 6]],
    ]);
    assert.equal(l.jobs, 5);
    assert.equal(l.episodes, 3);
    assert.equal(l.severalWorkers, 1);
    assert.equal(l.oneWorker, 2);
    // Starts at 120, 1950, 2125: spacings 1830 and 175, median (upper) 1830.
    assert.equal(l.medianSpacingMs, 1830);
    assert.deepEqual(l.bySecondPhase, [0, 4, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(l.worst[0], { atMs: base + 1950, phaseMs: 950, lengthMs: 0, jobs: 1, maxMs: 30, workers: 1 });
    assert.deepEqual(l.worst[1], { atMs: base + 120, phaseMs: 120, lengthMs: 11, jobs: 3, maxMs: 12, workers: 2 });
  });

  it('has no episodes when nothing was late', () => {
    const l = lateEpisodes([[], []]);
    assert.deepEqual([l.jobs, l.episodes, l.medianSpacingMs, l.worst.length], [0, 0, null, 0]);
  });
});
