/**
 * The bench's owner budget (src/sim/choir-bench.ts ownerBudget): sharded at 90 % of the codec-only
 * ceiling, what the owner may spend beside the shard, and what it spent split into the transport
 * floor, the room's mix and the rest.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mixUsAt, ownerBudget } from '../../src/sim/choir-bench.ts';

describe('the choir bench\'s owner budget', () => {
  it('at 20 ms frames: a ceiling of 200 singers per core is 100 µs of codec a frame; 90 % allows 111.1 µs, the shard\'s 80 leave the owner 31.1', () => {
    const b = ownerBudget({ shardUsPerFrame: 80, ownerUsPerFrame: 35 }, 200, 20, 9, 8)!;
    assert.equal(b.ceilingUsPerFrame, 100);
    assert.equal(b.serverAllowedUs, 111.111);
    assert.equal(b.ownerBudgetUs, 31.111);
    assert.equal(b.ownerUs, 35);
    assert.equal(b.restUs, 18, 'the owner\'s 35 µs less the floor\'s 9 and the mix\'s 8');
  });

  it('at 60 ms frames a singer sends 16.7 frames a second: a ceiling of 250 per core is 240 µs a frame', () => {
    const b = ownerBudget({ shardUsPerFrame: 240, ownerUsPerFrame: 70 }, 250, 60, 26, 23)!;
    assert.equal(b.ceilingUsPerFrame, 240);
    assert.equal(b.serverAllowedUs, 266.667);
    assert.equal(b.ownerBudgetUs, 26.667);
    assert.equal(b.restUs, 21);
  });

  it('another target, and no split without the floor; nothing without the step\'s figures', () => {
    assert.equal(ownerBudget({ shardUsPerFrame: 80, ownerUsPerFrame: 35 }, 200, 20, null, 8, 0.8)!.serverAllowedUs, 125);
    assert.equal(ownerBudget({ shardUsPerFrame: 80, ownerUsPerFrame: 35 }, 200, 20, null, 8)!.restUs, null);
    assert.equal(ownerBudget({ shardUsPerFrame: null, ownerUsPerFrame: 35 }, 200, 20, 9, 8), null);
    assert.equal(ownerBudget({ shardUsPerFrame: 80, ownerUsPerFrame: 35 }, 0, 20, 9, 8), null);
  });

  it('takes the room\'s mix at the room size measured nearest the run\'s', () => {
    const inner = [{ singersInRoom: 4, usPerSingerFrame: 10 }, { singersInRoom: 16, usPerSingerFrame: 8 }, { singersInRoom: 64, usPerSingerFrame: 7 }];
    assert.equal(mixUsAt(inner, 16), 8);
    assert.equal(mixUsAt(inner, 30), 8);
    assert.equal(mixUsAt(inner, 50), 7);
    assert.equal(mixUsAt(inner, 2), 10);
    assert.equal(mixUsAt([], 16), null);
  });
});
