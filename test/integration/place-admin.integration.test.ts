/**
 * Admin erase and rollback on a real server: both are written as ordinary edits in the log, so a
 * live viewer sees them, and both need the admin token.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { startServer } from '../helpers/server-process.ts';
import { codec, serverPixels, viewer } from '../helpers/place-client.ts';

async function user(baseUrl: string, wsUrl: string): Promise<{ id: string; client: BrigadeClient }> {
  const { userId, token } = await (await fetch(`${baseUrl}/api/identity`, { method: 'POST' })).json() as { userId: string; token: string };
  const client = new BrigadeClient(wsUrl, { token, WebSocket: WebSocket as never });
  await client.ready();
  return { id: userId, client };
}

describe('place admin', () => {
  it('rollback undoes one user since a time, keeps later edits by others; erase clears a rectangle; live viewers see both', async () => {
    const server = await startServer(['--tick-ms', '20', '--place-png-min-interval-ms', '0']);
    const alice = await user(server.url, server.wsUrl);
    const bob = await user(server.url, server.wsUrl);
    const watcher = viewer(server.wsUrl);
    const post = (path: string, body: unknown, token = server.adminToken) => fetch(`${server.url}/api/place/main/admin/${path}`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const px = (p: Uint8Array, x: number, y: number) => p[y * 1000 + x];
    try {
      await alice.client.publish('place:main', codec.encode(5, 5, 2));
      await bob.client.publish('place:main', codec.encode(6, 6, 3));
      await new Promise((r) => setTimeout(r, 20));
      const since = Date.now();
      await new Promise((r) => setTimeout(r, 20));
      await alice.client.publish('place:main', codec.encode(5, 5, 7));
      await alice.client.publish('place:main', codec.encode(6, 6, 8));
      await alice.client.publish('place:main', codec.encode(7, 7, 8));
      await bob.client.publish('place:main', codec.encode(7, 7, 9));

      assert.equal((await post('rollback', { userId: alice.id, sinceMs: since }, 'wrong')).status, 401);
      const res = await post('rollback', { userId: alice.id, sinceMs: since });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const body = JSON.parse(text) as { edits: number };
      assert.equal(body.edits, 2, 'two pixels restored: (5,5) and (6,6); (7,7) was overwritten by bob');
      let srv = await serverPixels(server.url);
      assert.equal(px(srv.pixels, 5, 5), 2, 'alice\'s earlier colour is back');
      assert.equal(px(srv.pixels, 6, 6), 3, 'bob\'s colour under alice\'s edit is back');
      assert.equal(px(srv.pixels, 7, 7), 9, 'bob\'s later edit is kept');
      await watcher.untilVersion(srv.version);
      assert.equal(Buffer.compare(watcher.pixels, srv.pixels), 0, 'the live viewer saw the rollback');

      assert.equal((await post('erase', { x: 4, y: 4, width: 4, height: 4 }, '')).status, 401);
      assert.equal((await post('erase', { x: 998, y: 0, width: 5, height: 1 })).status, 400);
      const erase = await post('erase', { x: 4, y: 4, width: 4, height: 4, colour: 0 });
      assert.equal(erase.status, 200, await erase.text());
      srv = await serverPixels(server.url);
      for (let y = 4; y < 8; y++) for (let x = 4; x < 8; x++) assert.equal(px(srv.pixels, x, y), 0);
      await watcher.untilVersion(srv.version);
      assert.equal(Buffer.compare(watcher.pixels, srv.pixels), 0, 'the live viewer saw the erase');
    } finally {
      alice.client.close();
      bob.client.close();
      watcher.close();
      await server.stop();
      server.cleanup();
    }
  });
});
