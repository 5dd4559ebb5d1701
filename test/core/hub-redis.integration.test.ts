/**
 * The hub's tick over a shared engine (a real redis-server): nodes tick on a shared wall-clock
 * grid, at the longest interval any of them says it needs (carried in its batches), and a node's
 * fan-out waits as long as other nodes' batches of the same tick have lately taken to arrive.
 * The other node here is a bare RedisEngine appending as a busy or slow node would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { PlaceChannelType, DEFAULT_PALETTE } from '../../src/apps/place/index.ts';
import { Hub } from '../../src/core/index.ts';
import { RedisEngine } from '../../src/engines/index.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { eventually } from '../helpers/eventually.ts';

const redis = await startRedis();
after(() => redis.destroy());

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const channel = 'place:main';

function engine(prefix: string): RedisEngine {
  return new RedisEngine({ url: redis.url, prefix, retention: { retainEvents: 10_000, keepSnapshots: 2 }, logger: quiet });
}

async function nodes(options: Record<string, number>) {
  const prefix = `hub-${randomBytes(4).toString('hex')}:`;
  const place = new PlaceChannelType({ canvases: { main: { width: 100, height: 100, palette: [...DEFAULT_PALETTE] } }, cooldownMs: 0 });
  const mine = engine(prefix);
  const other = engine(prefix);
  await mine.open();
  await other.open();
  const hub = new Hub({ engine: mine, types: [place], logger: quiet, options: { publishPerSecondPerIp: 0, ...options } });
  hub.start();
  await hub.channel(channel); // loaded here: the hub fans out its batches
  await other.info(channel);
  const codec = place.canvas(channel)!.codec;
  let n = 0;
  /** One edit from the other node, saying it ticks every `tickMs`. */
  const appendFromOther = (tickMs: number) =>
    other.append([{ channel, events: [{ payload: codec.encode(n++ % 100, 0, 1), publisher: 'other', timeMs: Date.now() }], tickMs }]);
  const close = async () => {
    await hub.stop();
    await mine.close();
    await other.close();
  };
  return { hub, appendFromOther, close };
}

/** Waits until `ms` past the next multiple of `grid` in wall-clock time. */
const atGridPlus = (grid: number, ms: number) => new Promise((r) => setTimeout(r, (ms - (Date.now() % grid) + grid) % grid || grid));

describe('hub over redis: the tick', () => {
  it('ticks at the longest interval another node says it needs, and at its own again once that node needs less or goes quiet', async () => {
    const { hub, appendFromOther, close } = await nodes({ tickMs: 50, maxTickMs: 1600, fanOutGraceMs: 5 });
    /** One step of a wait: the other node publishes an edit saying it needs `ms`, then a pause. */
    const saying = (ms: number) => async () => {
      await appendFromOther(ms);
      await new Promise((r) => setTimeout(r, 100));
    };
    try {
      await eventually(() => hub.stats.currentTickMs === 50, { what: 'the idle node ticks every 50 ms', timeoutMs: 5000 });
      // The other node's batches say 400 ms: this node follows, so their ticks stay aligned.
      await eventually(async () => { if (hub.stats.currentTickMs === 400) return true; await saying(400)(); return false; }, { what: 'the node ticks every 400 ms', timeoutMs: 10_000 });
      // It never goes past its own maxTickMs, whatever a peer says.
      await eventually(async () => { if (hub.stats.currentTickMs === 1600) return true; await saying(6400)(); return false; }, { what: 'the node is capped at its maxTickMs', timeoutMs: 10_000 });
      // A node that says it needs less again is followed down at once.
      await eventually(async () => { if (hub.stats.currentTickMs === 50) return true; await saying(50)(); return false; }, { what: 'the node is back at 50 ms', timeoutMs: 5000 });
      // And one that stops publishing stops counting two of its ticks (and a second) later.
      await eventually(async () => { if (hub.stats.currentTickMs === 400) return true; await saying(400)(); return false; }, { what: 'the node ticks every 400 ms again', timeoutMs: 10_000 });
      await eventually(() => hub.stats.currentTickMs === 50, { what: 'the silent node is forgotten', timeoutMs: 5000 });
    } finally {
      await close();
    }
  });

  it('waits longer before fanning out when the other nodes\' batches of a tick arrive late', async () => {
    const tickMs = 400;
    const { hub, appendFromOther, close } = await nodes({ tickMs, maxTickMs: tickMs, fanOutGraceMs: 5 });
    try {
      await eventually(() => hub.stats.currentTickMs === tickMs, { what: 'the node ticks every 400 ms', timeoutMs: 5000 });
      assert.ok(hub.graceMs() < 20, `an idle node waits about fanOutGraceMs, got ${hub.graceMs()}`);
      // The other node appends 60 ms after each grid point, as a busy node would.
      let last = 0;
      for (let i = 0; i < 6; i++) {
        await atGridPlus(tickMs, 60);
        [last] = await appendFromOther(tickMs);
      }
      // The hub applies a batch after noting how late it came: once it holds the last one, it has noted them all.
      await eventually(async () => (await hub.channel(channel)).head > last, { what: 'the last batch to reach the hub' });
      const grace = hub.graceMs();
      assert.ok(grace >= 50 && grace <= tickMs / 4, `the fan-out waits for batches 60 ms late, within a quarter tick: ${grace}`);
    } finally {
      await close();
    }
  });
});
