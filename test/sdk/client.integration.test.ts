/**
 * The SDK against a real server: publish with acknowledgement, and a reconnect after the node
 * restarts that resumes from the last version seen — no gap, no duplicate.
 */
import '../../src/apps/place/errors.ts'; // a client names an app's codes once it registers the app's block
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { WebSocket } from 'ws';
import { BrigadeClient, BrigadeError } from '../../src/sdk/index.ts';
import { startServer } from '../helpers/server-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { codec, identity } from '../helpers/place-client.ts';
import { eventually } from '../helpers/eventually.ts';

describe('SDK', () => {
  it('reconnects after a restart and resumes from its version with no gap and no duplicate', async () => {
    const port = await freePort();
    const args = ['--port', String(port), '--tick-ms', '20', '--publish-per-second-per-ip', '0'];
    let server = await startServer(args);
    const dataDir = server.dataDir;
    const token = await identity(server.url);
    const writer = new BrigadeClient(server.wsUrl, { token, WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
    const reader = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
    const seen: number[] = [];
    const closes: number[] = [];
    reader.on('close', (c) => closes.push(c.code));
    const sub = reader.subscribe('place:main', {
      onBatch(first, events) { for (let i = 0; i < events.length; i++) seen.push(first + i); },
    }, { mode: 'version', version: 0 });
    try {
      await writer.ready();
      const acks: number[] = [];
      for (let i = 0; i < 5; i++) acks.push(await writer.publish('place:main', codec.encode(i, i, 3)));
      await server.stop();
      // Published while the reader is away, by a second writer on the restarted node.
      server = await startServer(args, { dataDir });
      await writer.ready();
      for (let i = 0; i < 7; i++) acks.push(await writer.publish('place:main', codec.encode(10 + i, 1, 5)));
      await eventually(() => sub.version >= 12, { what: 'the reader to resume to version 12' });
      assert.ok(closes.includes(1001), `the reader saw going-away: ${closes}`);
      assert.deepEqual(acks, Array.from({ length: 12 }, (_, i) => i), 'acknowledged versions are dense across the restart');
      assert.deepEqual(seen, acks, 'every version exactly once, in order');
      await assert.rejects(writer.publish('place:main', codec.encode(1001, 0, 1)), (e: unknown) => e instanceof BrigadeError && e.code === 'PLACE_OUT_OF_BOUNDS');
    } finally {
      writer.close();
      reader.close();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
