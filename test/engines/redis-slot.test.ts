/**
 * keySlot against the slots the cluster specification gives and against ioredis's own
 * dependency (cluster-key-slot, which routes its commands): the engine groups a tick by the slot
 * ioredis will send each script to, so the two must agree.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { keySlot } from '../../src/engines/redis-slot.ts';

// Resolved through ioredis, whose dependency it is (Brigade does not depend on it directly).
const requireFromIoredis = createRequire(createRequire(import.meta.url).resolve('ioredis'));
const referenceSlot = requireFromIoredis('cluster-key-slot') as (key: string) => number;

describe('keySlot', () => {
  it('gives the slots the cluster specification lists', () => {
    assert.equal(keySlot('123456789'), 0x31c3 % 16384); // CRC16/XMODEM check value
    assert.equal(keySlot('foo'), 12182);
    assert.equal(keySlot('bar'), 5061);
    assert.equal(keySlot(''), 0);
  });

  it('hashes only the first non-empty hash tag', () => {
    assert.equal(keySlot('user:{1000}:a'), keySlot('1000'));
    assert.equal(keySlot('p:{room/1}:log'), keySlot('x{room/1}y:meta'));
    assert.equal(keySlot('a{}b'), keySlot('a{}b'));
    assert.notEqual(keySlot('a{}b{c}'), keySlot('c')); // an empty first tag: the whole key counts
    assert.equal(keySlot('{a}{b}'), keySlot('a'));
  });

  it('agrees with the slot ioredis routes by, non-ASCII names included', () => {
    for (let i = 0; i < 2000; i++) {
      const key = i % 3 === 0 ? `brigade:{chan-${i}-é漢}:log` : i % 3 === 1 ? `k${i}` : `x{${i}}y{z}`;
      assert.equal(keySlot(key), referenceSlot(key), key);
    }
  });
});
