/**
 * A stop always ends: a node whose Redis froze (SIGSTOP: the socket stays open, nothing answers)
 * cannot flush its tick or close its engine, and SIGTERM must still end the process, past
 * --shutdown-timeout-ms, with exit 1 and the step it was stuck at. Without the deadline it waited on
 * Redis for ever (and a test stopping it hung with it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { startServer } from '../helpers/server-process.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { codec, identity } from '../helpers/place-client.ts';

describe('shutdown deadline', () => {
  it('a node whose Redis is frozen still exits on SIGTERM, with 1 and the stuck step', async () => {
    const redis = await startRedis();
    const node = await startServer(['--redis', redis.url, '--apps', 'place', '--shutdown-timeout-ms', '1500', '--tick-ms', '20']);
    let frozen = false;
    try {
      const client = new BrigadeClient(node.wsUrl, { token: await identity(node.url), WebSocket: WebSocket as never, reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
      await client.ready();
      // One acknowledged edit first: the node really runs on this Redis.
      await client.publish('place:main', codec.encode(1, 1, 3));
      process.kill(redis.pid, 'SIGSTOP');
      frozen = true;
      // An edit the node accepts and cannot append: its tick is now waiting on Redis.
      client.publish('place:main', codec.encode(2, 2, 4)).catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
      const code = await node.stop();
      assert.equal(code, 1, 'a shutdown past its deadline exits 1');
      assert.match(node.logs.join('\n'), /shutting down/, 'the shutdown began');
      assert.match(node.stderr(), /shutdown did not finish in 1500 ms: stuck at "(flush the tick|close the clients|stop the apps|close the engine)"/, 'it names the step it was stuck at');
      client.close();
    } finally {
      if (frozen) process.kill(redis.pid, 'SIGCONT');
      await node.kill().catch(() => {});
      node.cleanup();
      await redis.destroy();
    }
  });

  it('--shutdown-timeout-ms out of range is refused at start with exit 2', async () => {
    await assert.rejects(startServer(['--shutdown-timeout-ms', '5']), /shutdownTimeoutMs must be a whole number of milliseconds from 100/);
  });
});
