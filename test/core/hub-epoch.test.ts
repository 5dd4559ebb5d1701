/**
 * The hub when a channel's log is replaced by a new epoch (a real redis-server loses it: a restart
 * without persistence, a deleted key): it reloads the channel and sends each subscriber a SNAPSHOT
 * at the new position, whether it learns of the epoch from the engine's announcement, a batch or
 * its own append's result; late batches of the lost epoch are never applied. And a SUBSCRIBE with
 * a stale epoch gets a snapshot even when its version is past the head (embedded engine).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { PlaceChannelType, DEFAULT_PALETTE, type CanvasState } from '../../src/apps/place/index.ts';
import { Hub, type Session } from '../../src/core/index.ts';
import type { Engine } from '../../src/core/engine.ts';
import { EmbeddedEngine, RedisEngine } from '../../src/engines/index.ts';
import { channelKeys } from '../../src/engines/redis-keys.ts';
import { SubscribeMode, decodeServerFrame, encodeClientFrame, type ServerFrame } from '../../src/protocol/index.ts';
import { startRedis } from '../helpers/redis-server.ts';

const redis = await startRedis();
after(() => redis.destroy());

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const channel = 'place:main';

class RecordingSink {
  frames: Uint8Array[] = [];
  bufferedAmount = 0;
  send(frame: Uint8Array): void { this.frames.push(frame); }
  decoded(): ServerFrame[] { return this.frames.map((f) => decodeServerFrame(f)); }
}

function placeType(): PlaceChannelType {
  return new PlaceChannelType({ canvases: { main: { width: 10, height: 10, palette: [...DEFAULT_PALETTE] } }, cooldownMs: 0 });
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function subscribe(session: Session, requestId: number, mode: number, fromVersion = 0, epoch = 0): void {
  session.handleFrame(encodeClientFrame({ kind: 'subscribe', requestId, channel, mode: mode as 0, fromVersion, epoch }));
}

function publish(session: Session, requestId: number, payload: Uint8Array): void {
  session.handleFrame(encodeClientFrame({ kind: 'publish', requestId, channel, payload }));
}

/**
 * What a client holding these frames has: replays SNAPSHOT and BATCH frames by the protocol's
 * rules (a snapshot replaces everything; a batch applies from the version held).
 */
function clientState(type: PlaceChannelType, frames: ServerFrame[]): { epoch: number; version: number; pixels: number[] } {
  let state: CanvasState = type.init(channel);
  let version = 0;
  let epoch = 0;
  for (const f of frames) {
    if (f.kind === 'subscribed' && epoch === 0) epoch = f.epoch;
    if (f.kind === 'snapshot') {
      state = type.decodeSnapshot(channel, f.state);
      version = f.version;
      epoch = f.epoch;
    }
    if (f.kind === 'batch') {
      assert.ok(f.firstVersion <= version, `no gap: batch at ${f.firstVersion}, client at ${version}`);
      for (let i = version - f.firstVersion; i < f.events.length; i++) type.apply(state, f.events[i], f.firstVersion + i);
      version = Math.max(version, f.firstVersion + f.events.length);
    }
  }
  return { epoch, version, pixels: [...state.pixels] };
}

async function redisNode(options: { epochCheckMs: number }) {
  const prefix = `hub-epoch-${randomBytes(4).toString('hex')}:`;
  const type = placeType();
  const engine = new RedisEngine({
    url: redis.url, prefix, retention: { retainEvents: 1000, keepSnapshots: 2 }, logger: quiet, epochCheckMs: options.epochCheckMs,
  });
  await engine.open();
  const hub = new Hub({ engine, types: [type], logger: quiet, options: { tickMs: 10, fanOutGraceMs: 2, publishPerSecondPerIp: 0 } });
  hub.start();
  const loseChannel = async () => {
    const admin = new Redis(redis.url);
    try {
      const keys = channelKeys(prefix, channel);
      await admin.del(keys.meta, keys.log, keys.snaps, keys.snap);
    } finally {
      admin.disconnect();
    }
  };
  const close = async () => {
    await hub.stop();
    await engine.close();
  };
  return { type, engine, hub, loseChannel, close };
}

const codec = (type: PlaceChannelType) => type.canvas(channel)!.codec;

describe('hub: a channel whose log starts a new epoch', () => {
  it('reloads it when the engine announces the new epoch, and every subscriber gets a SNAPSHOT at the new position', async () => {
    const node = await redisNode({ epochCheckMs: 50 });
    try {
      const { hub, type } = node;
      const viewers = [new RecordingSink(), new RecordingSink()];
      const sessions = viewers.map((sink) => hub.connect(sink, { userId: '', ip: '1' }));
      sessions.forEach((s, i) => subscribe(s, 1, i === 0 ? SubscribeMode.HEAD : SubscribeMode.SNAPSHOT));
      const editor = hub.connect(new RecordingSink(), { userId: 'u', ip: '2' });
      for (let i = 0; i < 3; i++) publish(editor, i + 1, codec(type).encode(i, 0, 5));
      await until('the viewers have version 3', () => viewers.every((v) => clientState(type, v.decoded()).version === 3));
      const before = await hub.view(channel);

      await node.loseChannel();
      await until('the hub reloads', () => hub.stats.epochChangesTotal === 1);
      await until('each viewer gets the new epoch', () => viewers.every((v) => clientState(type, v.decoded()).epoch !== before.epoch));
      const after = await hub.view(channel);
      assert.notEqual(after.epoch, before.epoch);
      assert.equal(after.version, 0);
      assert.equal((await node.engine.info(channel)).epoch, after.epoch, 'the hub folds the log the engine has');
      for (const v of viewers) {
        const frames = v.decoded();
        const reset = [...frames].reverse().find((f) => f.kind === 'snapshot');
        assert.ok(reset && reset.kind === 'snapshot');
        assert.deepEqual({ epoch: reset.epoch, version: reset.version }, { epoch: after.epoch, version: 0 });
        assert.deepEqual(clientState(type, frames).pixels, [...(after.state as CanvasState).pixels], 'the old pixels are gone');
      }

      // Live again in the new epoch: a publish reaches them as a batch from version 0.
      publish(editor, 10, codec(type).encode(7, 7, 3));
      await until('the viewers have the new edit', () => viewers.every((v) => clientState(type, v.decoded()).version === 1));
      const now = await hub.view(channel);
      for (const v of viewers) assert.deepEqual(clientState(type, v.decoded()), { epoch: now.epoch, version: 1, pixels: [...(now.state as CanvasState).pixels] });
      assert.equal(hub.stats.epochChangesTotal, 1);
    } finally {
      await node.close();
    }
  });

  it('reloads it when its own append\'s result names a new epoch, and acknowledges the publish at its version there', async () => {
    // The reader's own checks are far apart: the append's result is what tells the hub.
    const node = await redisNode({ epochCheckMs: 60_000 });
    try {
      const { hub, type } = node;
      const viewer = new RecordingSink();
      subscribe(hub.connect(viewer, { userId: '', ip: '1' }), 1, SubscribeMode.HEAD);
      const editorSink = new RecordingSink();
      const editor = hub.connect(editorSink, { userId: 'u', ip: '2' });
      for (let i = 0; i < 4; i++) publish(editor, i + 1, codec(type).encode(i, 1, 2));
      await until('the viewer has version 4', () => clientState(type, viewer.decoded()).version === 4);
      const before = await hub.view(channel);

      await node.loseChannel();
      publish(editor, 20, codec(type).encode(9, 9, 4));
      await until('the publish is acknowledged', () => editorSink.decoded().some((f) => f.kind === 'ack' && f.requestId === 20));
      const ack = editorSink.decoded().find((f) => f.kind === 'ack' && f.requestId === 20);
      assert.ok(ack && ack.kind === 'ack');
      assert.equal(ack.version, 0, 'the first event of the new log');
      await until('the hub reloads', () => hub.stats.epochChangesTotal === 1);
      await until('the viewer holds the new log', () => {
        const s = clientState(type, viewer.decoded());
        return s.epoch !== before.epoch && s.version === 1;
      });
      const after = await hub.view(channel);
      assert.equal(after.version, 1);
      assert.deepEqual(clientState(type, viewer.decoded()), { epoch: after.epoch, version: 1, pixels: [...(after.state as CanvasState).pixels] });
      const state = after.state as CanvasState;
      assert.equal(state.pixels[9 * 10 + 9], 4, 'the new edit is there');
      assert.equal(state.pixels[1 * 10 + 0], 0, 'the lost ones are not');
    } finally {
      await node.close();
    }
  });
});

describe('hub: subscribing with a stale epoch', () => {
  it('answers a stale epoch with a SNAPSHOT even when the version is past the head; the same epoch past the head is VERSION_AHEAD', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brigade-hub-epoch-'));
    const engine: Engine = new EmbeddedEngine({ path: join(dir, 'db.sqlite'), retention: { retainEvents: 1000, keepSnapshots: 2 } });
    await engine.open();
    const type = placeType();
    const hub = new Hub({ engine, types: [type], logger: quiet, options: { tickMs: 5, publishPerSecondPerIp: 0 } });
    hub.start();
    try {
      await hub.publishInternal(channel, [codec(type).encode(1, 1, 1), codec(type).encode(2, 2, 2)], 'admin');
      const { epoch, version } = await hub.view(channel);
      assert.equal(version, 2);
      const stale = epoch === 1 ? 2 : epoch - 1;

      const sink = new RecordingSink();
      const session = hub.connect(sink, { userId: '', ip: '1' });
      subscribe(session, 1, SubscribeMode.FROM_VERSION, 500, stale);
      await until('a snapshot', () => sink.decoded().some((f) => f.kind === 'snapshot'));
      const frames = sink.decoded();
      assert.deepEqual(frames.map((f) => f.kind), ['subscribed', 'snapshot']);
      const snap = frames[1];
      assert.ok(snap.kind === 'snapshot');
      assert.deepEqual({ epoch: snap.epoch, version: snap.version }, { epoch, version: 2 });

      const other = new RecordingSink();
      subscribe(hub.connect(other, { userId: '', ip: '1' }), 2, SubscribeMode.FROM_VERSION, 500, epoch);
      await until('an answer', () => other.frames.length > 0);
      const refused = other.decoded()[0];
      assert.ok(refused.kind === 'error');
      assert.equal(refused.code, 'VERSION_AHEAD');
    } finally {
      await hub.stop();
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
