/**
 * The hub's tick over a shared engine (a real redis-server): nodes tick on a shared wall-clock
 * grid, at the longest interval any of them says it needs (told through the engine's membership
 * set, not the log), and a node's fan-out waits as long as other nodes' batches of the same tick
 * have lately taken to arrive. The other node is a second hub, or a bare RedisEngine appending or
 * joining as a busy, slow or dead node would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { PlaceChannelType, DEFAULT_PALETTE } from '../../src/apps/place/index.ts';
import { Hub } from '../../src/core/index.ts';
import { SubscribeMode, decodeServerFrame, encodeClientFrame } from '../../src/protocol/index.ts';
import { TICK_NEEDS_SET, tickNeedMember } from '../../src/core/tick-needs.ts';
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
  const place = placeType();
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
  /** One edit from the other node. */
  const appendFromOther = () =>
    other.append([{ channel, events: [{ payload: codec.encode(n++ % 100, 0, 1), publisher: 'other', timeMs: Date.now() }] }]);
  /** A second hub over the same redis, as another node would run. */
  const otherHub = (nodeId: string, otherOptions: Record<string, number>) =>
    new Hub({ engine: other, types: [placeType()], logger: quiet, nodeId, options: { publishPerSecondPerIp: 0, ...otherOptions } });
  /**
   * Keeps this node's tick running (an idle node's tick sleeps: hub.ts): the other node appends an
   * edit every 20 ms, which this node fans out. Returns the stop.
   */
  const keepBusy = () => {
    const timer = setInterval(() => void appendFromOther().catch(() => undefined), 20);
    return () => clearInterval(timer);
  };
  const close = async () => {
    await hub.stop();
    await mine.close();
    await other.close();
  };
  return { hub, other, otherHub, appendFromOther, keepBusy, close };
}

function placeType(): PlaceChannelType {
  return new PlaceChannelType({ canvases: { main: { width: 100, height: 100, palette: [...DEFAULT_PALETTE] } }, cooldownMs: 0 });
}

/** Waits until `ms` past the next multiple of `grid` in wall-clock time. */
const atGridPlus = (grid: number, ms: number) => new Promise((r) => setTimeout(r, (ms - (Date.now() % grid) + grid) % grid || grid));

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('hub over redis: the tick', () => {
  it('ticks at the longest interval another node needs, told through membership, and at its own again once that node stops', async () => {
    const { hub, other, otherHub, keepBusy, close } = await nodes({ tickMs: 50, maxTickMs: 1600, fanOutGraceMs: 5 });
    const slow = otherHub('slow-node', { tickMs: 400, maxTickMs: 1600, fanOutGraceMs: 5 });
    const idle = keepBusy();
    try {
      await until('the node ticks every 50 ms', () => hub.stats.currentTickMs === 50, 5000);
      // The other node needs 400 ms (its own tickMs): it says so in the membership set, nothing
      // in the log, and this node follows, so their ticks stay aligned.
      slow.start();
      await until('the node ticks every 400 ms', () => hub.stats.currentTickMs === 400, 10_000);
      assert.ok((await other.members(TICK_NEEDS_SET)).includes(tickNeedMember('slow-node', 400)), 'the slow node\'s need is in the set');
      // A node that stops leaves the set, and is forgotten at this node's next read.
      await slow.stop();
      assert.ok(!(await other.members(TICK_NEEDS_SET)).includes(tickNeedMember('slow-node', 400)), 'the stopped node left the set');
      await until('the node is back at 50 ms', () => hub.stats.currentTickMs === 50, 5000);
    } finally {
      idle();
      await slow.stop();
      await close();
    }
  });

  it('sleeps with nothing to do, and fans out another node\'s batch that comes after a long idle', async () => {
    const { hub, appendFromOther, close } = await nodes({ tickMs: 50, maxTickMs: 400, fanOutGraceMs: 5 });
    try {
      const frames: Uint8Array[] = [];
      const session = hub.connect({ bufferedAmount: 0, send: (f: Uint8Array) => void frames.push(f) }, { userId: '', ip: '1' });
      session.handleFrame(encodeClientFrame({ kind: 'subscribe', requestId: 1, channel, mode: SubscribeMode.HEAD as 0, fromVersion: 0, epoch: 0 }));
      const batches = () => frames.map((f) => decodeServerFrame(f)).filter((f) => f.kind === 'batch');
      for (let round = 0; round < 2; round++) {
        await until('the idle tick sleeps', () => !hub.ticking, 5000);
        await new Promise((r) => setTimeout(r, 600)); // twelve intervals, and past a tick-needs read
        assert.equal(hub.ticking, false, 'nothing woke it');
        await appendFromOther();
        await until(`the subscriber gets round ${round}'s batch`, () => batches().length === round + 1, 5000);
      }
    } finally {
      await close();
    }
  });

  it('never goes past its own maxTickMs, and forgets a node that dies once its need expires', async () => {
    const { hub, other, keepBusy, close } = await nodes({ tickMs: 50, maxTickMs: 1600, fanOutGraceMs: 5 });
    const idle = keepBusy();
    try {
      await until('the node ticks every 50 ms', () => hub.stats.currentTickMs === 50, 5000);
      // A node that said it needs 6400 ms and then died: it never re-joins, so its member expires.
      await other.join(TICK_NEEDS_SET, tickNeedMember('dead-node', 6400), 2500);
      await until('the node is capped at its maxTickMs', () => hub.stats.currentTickMs === 1600, 5000);
      await until('the dead node is forgotten', () => hub.stats.currentTickMs === 50, 10_000);
    } finally {
      idle();
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
        await appendFromOther();
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
