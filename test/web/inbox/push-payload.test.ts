// The /inbox service worker's reading of a push (web/inbox/push-payload.ts) against what the node
// sends (src/apps/inbox/push.ts builds it inline: this is the shape the integration test asserts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notificationData, notificationTag, parsePushPayload } from '../../../web/inbox/push-payload.ts';

const id = '0123456789abcdef';

test('the node\'s payloads are read as they are sent', () => {
  assert.deepEqual(parsePushPayload(JSON.stringify({ kind: 'message', id, seq: 7, title: 'Match tonight' })), { kind: 'message', id, seq: 7, title: 'Match tonight' });
  assert.deepEqual(parsePushPayload(JSON.stringify({ kind: 'edit', id, seq: 9, title: '', extra: 1 })), { kind: 'edit', id, seq: 9, title: '' });
  assert.equal(notificationTag(id), `inbox:${id}`);
});

test('anything else is not a payload (the worker then shows a generic notification)', () => {
  for (const text of ['', 'not json', 'null', '[]', '"x"', JSON.stringify({ kind: 'recall', id, seq: 1, title: 't' }),
    JSON.stringify({ kind: 'message', id: 'ABCDEF0123456789', seq: 1, title: 't' }), JSON.stringify({ kind: 'message', id, seq: 0, title: 't' }),
    JSON.stringify({ kind: 'message', id, seq: 1.5, title: 't' }), JSON.stringify({ kind: 'message', id, seq: 1 })]) {
    assert.equal(parsePushPayload(text), null, text);
  }
});

test('notification data: ours, or null', () => {
  assert.deepEqual(notificationData({ id, seq: 3, kind: 'edit' }), { id, seq: 3, kind: 'edit' });
  assert.deepEqual(notificationData({ id, seq: 3 }), { id, seq: 3, kind: 'message' });
  for (const d of [null, undefined, 'x', { id: 'nope', seq: 1 }, { id }]) assert.equal(notificationData(d), null);
});
