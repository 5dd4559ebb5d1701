/**
 * HeldMessages (src/apps/inbox/held.ts): what a connected device holds, kept ordered by each
 * message's publish seq whatever order the messages arrive in, looked up by that seq.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeldMessages } from '../../../src/apps/inbox/held.ts';

test('held messages: appends, inserts out of order, updates, deletes, lists ids oldest publish first', () => {
  const h = new HeldMessages();
  assert.equal(h.size, 0);
  assert.equal(h.seqOf(5), -1);
  h.set(5, 5, 'a');
  h.set(9, 9, 'c');
  // A scheduled message published at 7 comes due after 9 was delivered: it goes between them.
  h.set(7, 12, 'b');
  h.set(1, 3, 'z');
  assert.equal(h.size, 4);
  assert.deepEqual(h.ids(), ['z', 'a', 'b', 'c']);
  assert.equal(h.seqOf(7), 12);
  assert.equal(h.seqOf(6), -1);
  assert.equal(h.seqOf(10), -1);
  // An edit moves the seq it is held at, not its place.
  h.set(5, 14, 'a');
  assert.equal(h.seqOf(5), 14);
  assert.deepEqual(h.ids(), ['z', 'a', 'b', 'c']);
  assert.deepEqual([...h.entries()], [[1, [3, 'z']], [5, [14, 'a']], [7, [12, 'b']], [9, [9, 'c']]]);
  h.delete(7);
  h.delete(8); // not held: nothing changes
  assert.deepEqual(h.ids(), ['z', 'a', 'c']);
  assert.equal(h.seqOf(7), -1);
  h.delete(1);
  h.delete(9);
  assert.deepEqual(h.ids(), ['a']);
  // entries() is a copy: clearing does not empty it.
  const before = h.entries();
  h.clear();
  assert.equal(h.size, 0);
  assert.deepEqual([...before], [[5, [14, 'a']]]);
});

test('held messages: many, in random order, agree with a Map', () => {
  const h = new HeldMessages();
  const m = new Map<number, number>();
  let x = 12345;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 2000; i++) {
    const created = Math.floor(rnd() * 500);
    const r = rnd();
    if (r < 0.6) {
      h.set(created, created + i, `m${created}`);
      m.set(created, created + i);
    } else if (r < 0.8) {
      h.delete(created);
      m.delete(created);
    }
    assert.equal(h.seqOf(created), m.get(created) ?? -1);
  }
  assert.equal(h.size, m.size);
  assert.deepEqual(h.ids(), [...m.keys()].sort((a, b) => a - b).map((c) => `m${c}`));
});
