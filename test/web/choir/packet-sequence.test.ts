/** The page's mix packets in sequence (web/choir/packet-sequence.ts): a missed packet or a first one means a restarted decoder. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketSequence } from '../../../web/choir/packet-sequence.ts';

test('the first packet restarts the decoder; consecutive ones follow; one missed (timed out) does not', () => {
  const q = new PacketSequence();
  const [a, b, c, d, e] = [q.take(), q.take(), q.take(), q.take(), q.take()];
  assert.equal(q.follows(a), false, 'the first: a decoder that saw nothing of this encoder');
  assert.equal(q.follows(b), true);
  // c's reply timed out: never decoded.
  assert.equal(q.follows(d), false, 'd after b: c was missed');
  assert.equal(q.follows(e), true);
  assert.equal(c, 3);
});

test('a new codec epoch restarts the decoder though no packet was missed (the server\'s shard restarted)', () => {
  const q = new PacketSequence();
  const [a, b, c, d] = [q.take(), q.take(), q.take(), q.take()];
  assert.equal(q.follows(a, 1), false, 'the first');
  assert.equal(q.follows(b, 1), true, 'same epoch, next number');
  assert.equal(q.follows(c, 2), false, 'the shard restarted: a fresh encoder made c');
  assert.equal(q.follows(d, 2), true, 'and the new epoch goes on');
});
