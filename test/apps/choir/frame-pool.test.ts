/**
 * The owner's pool of 20 ms PCM frames (frame-pool.ts): a frame given back is handed out again,
 * and only a whole, unshared 960-sample frame is taken back (never a view into a larger buffer,
 * whose other bytes someone else still holds, nor shared memory).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FramePool } from '../../../src/apps/choir/frame-pool.ts';
import { FRAME_SAMPLES } from '../../../src/apps/choir/room.ts';

describe('choir frame pool', () => {
  it('hands a given-back frame out again instead of a new one', () => {
    const pool = new FramePool();
    const a = pool.take();
    assert.equal(a.length, FRAME_SAMPLES);
    pool.give(a);
    assert.equal(pool.size, 1);
    assert.equal(pool.take(), a);
    assert.notEqual(pool.take(), a, 'an empty pool makes a new frame');
  });

  it('takes back only whole, unshared frames', () => {
    const pool = new FramePool();
    pool.give(null);
    pool.give(new Int16Array(FRAME_SAMPLES - 1));
    pool.give(new Int16Array(new ArrayBuffer(FRAME_SAMPLES * 4), 0, FRAME_SAMPLES)); // a view into a larger buffer
    pool.give(new Int16Array(new ArrayBuffer(FRAME_SAMPLES * 4), FRAME_SAMPLES * 2, FRAME_SAMPLES));
    pool.give(new Int16Array(new SharedArrayBuffer(FRAME_SAMPLES * 2)));
    assert.equal(pool.size, 0);
    pool.give(new Int16Array(FRAME_SAMPLES)); // whole, but not placed as the pool places its frames (rpc.ts PCM_FRAME_OFFSET)
    assert.equal(pool.size, 0);
    pool.give(new FramePool().take());
    assert.equal(pool.size, 1);
  });

  it('keeps frames of each size apart (a 60 ms room\'s 2,880-sample frames beside 20 ms ones)', () => {
    const pool = new FramePool();
    const small = pool.take();
    const large = pool.take(2880);
    assert.equal(large.length, 2880);
    pool.give(large);
    pool.give(small);
    assert.equal(pool.size, 2);
    assert.equal(pool.take(), small, 'a 20 ms frame for a 20 ms take');
    assert.equal(pool.take(2880), large, 'a 60 ms frame for a 60 ms take');
    assert.notEqual(pool.take(2880), large, 'none left of that size: a new one');
  });
});
