/**
 * place's cooldown outlives a restart on the embedded engine: the user's claim is a row of the
 * engine's SQLite file (src/engines/embedded-claims.ts), not only the node's memory. Real server
 * processes, one data directory.
 */
import '../../src/apps/place/errors.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { BrigadeClient, BrigadeError } from '../../src/sdk/index.ts';
import { startServer } from '../helpers/server-process.ts';
import { codec, identity } from '../helpers/place-client.ts';

const COOLDOWN_MS = 600_000;

describe('place cooldown across a restart (embedded engine)', () => {
  it('a second edit by the same user after the restart, within the cooldown, is refused COOLDOWN with retryAfterMs', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'brigade-cooldown-'));
    const args = ['--place-cooldown-ms', String(COOLDOWN_MS), '--tick-ms', '20'];
    try {
      const first = await startServer(args, { dataDir });
      const token = await identity(first.url);
      const before = new BrigadeClient(first.wsUrl, { token, WebSocket: WebSocket as never });
      await before.ready();
      assert.ok((await before.publish('place:main', codec.encode(1, 1, 1))) >= 0, 'the first edit is acknowledged');
      before.close();
      await first.stop();

      const second = await startServer(args, { dataDir });
      try {
        const after = new BrigadeClient(second.wsUrl, { token, WebSocket: WebSocket as never });
        await after.ready();
        const refused = await after.publish('place:main', codec.encode(2, 2, 2)).then(
          () => assert.fail('the second edit was acknowledged: the cooldown was forgotten'),
          (err: unknown) => err as BrigadeError,
        );
        assert.ok(refused instanceof BrigadeError);
        assert.equal(refused.code, 'COOLDOWN');
        assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= COOLDOWN_MS, `retryAfterMs ${refused.retryAfterMs}`);
        const other = new BrigadeClient(second.wsUrl, { token: await identity(second.url), WebSocket: WebSocket as never });
        await other.ready();
        assert.ok((await other.publish('place:main', codec.encode(3, 3, 3))) >= 0, 'another user may edit');
        other.close();
        after.close();
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
