/**
 * A client that stops reading is paused with BEHIND once its unsent bytes pass the limit; the
 * node's memory for it stays bounded, fast clients keep their pace, and when it reads again it
 * resumes from the version it was given and converges.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server-process.ts';
import { serverPixels, viewer } from '../helpers/place-client.ts';
import { metric, rssBytes } from '../helpers/metrics.ts';

const limit = 64 * 1024;

async function erase(baseUrl: string, token: string, colour: number): Promise<void> {
  const res = await fetch(`${baseUrl}/api/place/main/admin/erase`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ x: 0, y: 0, width: 1000, height: 1000, colour }),
  });
  assert.equal(res.status, 200, await res.text());
}

describe('backpressure', () => {
  it('pauses a client that never reads, keeps memory bounded and fast clients current', async (t) => {
    const server = await startServer(['--tick-ms', '20', '--max-buffered-bytes', String(limit), '--place-png-min-interval-ms', '0', '--max-pending-per-channel', '2000000']);
    const fast = viewer(server.wsUrl);
    const slow = viewer(server.wsUrl);
    const t0 = Date.now();
    const lap = (what: string) => t.diagnostic(`${what} at ${Date.now() - t0} ms`);
    try {
      await fast.untilVersion(0);
      await slow.untilVersion(0);
      const rssBefore = await rssBytes(server.proc.pid!);
      // Stop reading: the kernel buffers fill, then the node's send buffer for this connection.
      const socket = (slow.client as unknown as { socket: { _socket: { pause(): void; resume(): void } } }).socket._socket;
      socket.pause();

      // 3 million edits, 9 MB of batches: far more than the kernel buffers can absorb.
      for (const colour of [1, 2, 3]) {
        await erase(server.url, server.adminToken, colour);
        const { version } = await serverPixels(server.url);
        await fast.untilVersion(version, 60_000);
        lap(`erase ${colour} seen by the fast client`);
      }
      const { version: head, pixels } = await serverPixels(server.url);
      assert.equal(head, 3_000_000);
      assert.equal(Buffer.compare(fast.pixels, pixels), 0, 'the fast client kept up and converged');
      assert.ok(slow.sub.version < head, 'the slow client did not get everything');

      assert.ok(await metric(server.url, 'brigade_behind_total') >= 1, 'the slow client was sent BEHIND');
      const buffered = await metric(server.url, 'brigade_connection_buffered_bytes_max');
      // One frame is at most maxEventsPerFrame (16,384) edits of 3 bytes plus a header.
      assert.ok(buffered <= limit + 16_384 * 3 + 64, `unsent bytes for one connection stay bounded: ${buffered}`);
      // RSS mostly reflects the 3 million admin edits themselves; the bound that matters is the
      // per-connection one above. Reported for the record.
      t.diagnostic(`server RSS grew by ${((await rssBytes(server.proc.pid!)) - rssBefore) >> 20} MiB during 3M edits`);

      // Reading again: the client handles BEHIND, resumes from its version and converges.
      socket.resume();
      await slow.untilVersion(head, 60_000);
      lap('slow client converged');
      assert.equal(Buffer.compare(slow.pixels, pixels), 0, 'the slow client converged after resuming');
      assert.ok(slow.behind >= 1);
      assert.ok(await metric(server.url, 'brigade_resumes_total') >= 1);
    } finally {
      fast.close();
      slow.close();
      await server.stop();
      lap('server stopped');
      server.cleanup();
    }
  });
});
