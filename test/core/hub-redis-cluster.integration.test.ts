/**
 * The hub over the Redis engine on a real Redis Cluster: a tick whose channels live in different
 * slots is one script per slot, so one slot can fail while another commits (AppendSplitError).
 * The hub then acknowledges what committed and refuses only what did not.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { PlaceChannelType, DEFAULT_PALETTE } from '../../src/apps/place/index.ts';
import { Hub } from '../../src/core/index.ts';
import { RedisEngine } from '../../src/engines/index.ts';
import { channelKeys } from '../../src/engines/redis-keys.ts';
import { keySlot } from '../../src/engines/redis-slot.ts';
import { parseHostPorts } from '../../src/engines/redis-target.ts';
import { decodeServerFrame, encodeClientFrame, type ServerFrame } from '../../src/protocol/index.ts';
import { startRedisCluster } from '../helpers/redis-cluster.ts';
import { eventually } from '../helpers/eventually.ts';

const cluster = await startRedisCluster({ primaries: 3 });
after(() => cluster.destroy());
const nodes = parseHostPorts(cluster.nodeList, 'redisCluster');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

class RecordingSink {
  frames: Uint8Array[] = [];
  bufferedAmount = 0;
  send(frame: Uint8Array): void { this.frames.push(frame); }
  decoded(): ServerFrame[] { return this.frames.map((f) => decodeServerFrame(f)); }
}

describe('hub over a redis cluster', () => {
  it('acknowledges the channels whose slot committed and refuses only the one whose slot failed, in one tick', async () => {
    const [good, bad] = ['place:a', 'place:b'];
    assert.notEqual(keySlot(good), keySlot(bad));
    const prefix = `hub-split-${process.pid}:`;
    const engine = new RedisEngine({ target: { kind: 'cluster', nodes }, prefix, retention: { retainEvents: 1000, keepSnapshots: 2 }, logger: quiet });
    await engine.open();
    const canvas = { width: 10, height: 10, palette: [...DEFAULT_PALETTE] };
    const place = new PlaceChannelType({ canvases: { a: canvas, b: canvas }, cooldownMs: 0 });
    const hub = new Hub({ engine, types: [place], logger: quiet, options: { tickMs: 100, publishPerSecondPerIp: 0 } });
    hub.start();
    const sink = new RecordingSink();
    const editor = hub.connect(sink, { userId: 'u1', ip: '1' });
    let requestId = 0;
    const publish = (channel: string) => editor.handleFrame(encodeClientFrame({
      kind: 'publish', requestId: ++requestId, channel, payload: place.canvas(channel)!.codec.encode(1, 1, 2),
    }));
    const answer = (id: number) => sink.decoded().find((f) => (f.kind === 'ack' || f.kind === 'error') && f.requestId === id);
    try {
      publish(good);
      publish(bad);
      await eventually(() => answer(1) && answer(2));
      assert.deepEqual([answer(1), answer(2)].map((f) => f?.kind), ['ack', 'ack']);
      // b's slot now refuses every write (a key of the wrong type); a's does not.
      const admin = new Cluster(nodes, { lazyConnect: true });
      await admin.connect();
      await admin.set(channelKeys(prefix, bad).meta, 'not a hash');
      admin.disconnect();
      publish(good); // 3
      publish(bad); // 4, same tick
      await eventually(() => answer(3) && answer(4));
      const [ok, refused] = [answer(3)!, answer(4)!];
      assert.ok(ok.kind === 'ack' && ok.version === 1, `a's publish acknowledged at version 1: ${JSON.stringify(ok)}`);
      assert.ok(refused.kind === 'error' && refused.code === 'UNAVAILABLE', `b's refused: ${JSON.stringify(refused)}`);
      assert.equal((await engine.info(good)).head, 2);
    } finally {
      await hub.stop();
      await engine.close();
    }
  });
});
