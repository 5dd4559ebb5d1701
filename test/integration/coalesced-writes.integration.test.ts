/**
 * Answers coalesced (issue 21): what one connection is sent in one event-loop iteration — a tick's
 * ACKs and the batch that carries the same events — leaves in one socket write, not one per frame.
 * Counted by the node itself (brigade_socket_writes_total), over a real server and client.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { metric } from '../helpers/metrics.ts';
import { codec, identity } from '../helpers/place-client.ts';
import { startServer } from '../helpers/server-process.ts';

it('a tick\'s 50 ACKs and its batch reach a publishing subscriber in a handful of writes, not 51', async () => {
  const server = await startServer(['--tick-ms', '200', '--publish-per-second-per-ip', '0']);
  const client = new BrigadeClient(server.wsUrl, { token: await identity(server.url), WebSocket: WebSocket as never });
  try {
    await client.ready();
    let received = 0;
    const sub = client.subscribe('place:main', { onBatch(_first, events) { received += events.length; } }, { mode: 'head' });
    await eventually(() => sub.synced, { what: 'subscribed' });
    const before = await metric(server.url, 'brigade_socket_writes_total');
    const versions = await Promise.all(Array.from({ length: 50 }, (_, i) => client.publish('place:main', codec.encode(i, 7, 3))));
    await eventually(() => received >= 50, { what: 'the batch with the 50 edits' });
    const writes = await metric(server.url, 'brigade_socket_writes_total') - before;
    assert.equal(new Set(versions).size, 50);
    // The 50 publishes may straddle a tick (two ticks: two writes of ACKs and batch each, at most).
    assert.ok(writes >= 1 && writes <= 6, `${writes} writes carried 50 ACKs and a batch of 50 events`);
  } finally {
    client.close();
    await server.stop();
    server.cleanup();
  }
});
