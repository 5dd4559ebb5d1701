/** SessionSubscriptions (session-subscriptions.ts): the Map subset the core uses, across its one-entry and Map forms. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SessionSubscriptions } from '../../src/core/session-subscriptions.ts';

describe('session subscriptions', () => {
  it('behaves as a Map through one entry, several, and back', () => {
    const s = new SessionSubscriptions<number>();
    assert.equal(s.size, 0);
    assert.equal(s.get('a'), undefined);
    assert.equal(s.delete('a'), false);
    s.set('a', 1);
    s.set('a', 2); // replaces, still one
    assert.equal(s.size, 1);
    assert.equal(s.get('a'), 2);
    assert.equal(s.get('b'), undefined);
    s.set('b', 3);
    s.set('c', 4);
    assert.equal(s.size, 3);
    assert.deepEqual(s.values(), [2, 3, 4]);
    assert.equal(s.delete('b'), true);
    assert.deepEqual([s.get('a'), s.get('b'), s.get('c'), s.size], [2, undefined, 4, 2]);
    s.clear();
    assert.deepEqual([s.size, s.values(), s.get('a')], [0, [], undefined]);
    s.set('d', 5);
    assert.equal(s.delete('x'), false);
    assert.deepEqual(s.values(), [5]);
    assert.equal(s.delete('d'), true);
    assert.equal(s.size, 0);
  });

  it('values() is a copy: deleting while iterating visits every value once', () => {
    const s = new SessionSubscriptions<string>();
    for (const k of ['x', 'y', 'z']) s.set(k, k);
    const seen: string[] = [];
    for (const v of s.values()) { seen.push(v); s.delete(v); }
    assert.deepEqual(seen, ['x', 'y', 'z']);
    assert.equal(s.size, 0);
  });
});
