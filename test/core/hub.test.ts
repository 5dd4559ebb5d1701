/**
 * The hub over a real embedded engine (SQLite file): batching per tick, one encoding shared by
 * every subscriber, dense acknowledged versions, backpressure, snapshot + tail on reload.
 * Sinks here record frames instead of writing to sockets; the integration tests use real sockets.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hub, type ChannelType, type Session } from '../../src/core/index.ts';
import { loggedTypeDue } from '../../src/core/publish.ts';
import { EmbeddedEngine } from '../../src/engines/index.ts';
import { PlaceChannelType, DEFAULT_PALETTE, type CanvasState } from '../../src/apps/place/index.ts';
import { SubscribeMode, decodeServerFrame, encodeClientFrame, type ServerFrame } from '../../src/protocol/index.ts';
import { eventually } from '../helpers/eventually.ts';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function setup(dir = mkdtempSync(join(tmpdir(), 'brigade-hub-')), options: Record<string, number> = {}, now?: () => number) {
  dirs.push(dir);
  const engine = new EmbeddedEngine({ path: join(dir, 'db.sqlite'), retention: { retainEvents: 1000, keepSnapshots: 2 } });
  const place = new PlaceChannelType({ canvases: { main: { width: 100, height: 100, palette: [...DEFAULT_PALETTE] } }, cooldownMs: 0 });
  const hub = new Hub({ engine, types: [place], options: { tickMs: 5, publishPerSecondPerIp: 0, ...options }, now });
  return { dir, engine, place, hub };
}

class RecordingSink {
  frames: Uint8Array[] = [];
  bufferedAmount = 0;
  send(frame: Uint8Array): void { this.frames.push(frame); }
  decoded(): ServerFrame[] { return this.frames.map((f) => decodeServerFrame(f)); }
}

const edit = (place: PlaceChannelType, x: number, y: number, c: number) => place.canvas('place:main')!.codec.encode(x, y, c);
function subscribe(session: Session, mode: number = SubscribeMode.HEAD, fromVersion = 0) {
  session.handleFrame(encodeClientFrame({ kind: 'subscribe', requestId: 1, channel: 'place:main', mode: mode as 0, fromVersion, epoch: 0 }));
}
function publish(session: Session, requestId: number, payload: Uint8Array) {
  session.handleFrame(encodeClientFrame({ kind: 'publish', requestId, channel: 'place:main', payload }));
}

describe('hub', () => {
  it('a session connected without an address asks its sink once, when first needed; a given address is kept', () => {
    const { hub } = setup();
    let asked = 0;
    const sink = Object.assign(new RecordingSink(), { peerAddress: () => { asked++; return '10.1.2.3'; } });
    const lazy = hub.connect(sink, { userId: '' });
    assert.equal(asked, 0, 'nothing looked up at connect');
    assert.equal(lazy.publisher.ip, '10.1.2.3');
    assert.equal(lazy.ip, '10.1.2.3');
    assert.equal(asked, 1, 'looked up once');
    assert.equal(hub.connect(new RecordingSink(), { userId: '' }).ip, '', 'no address and no way to look it up');
    const given = hub.connect(sink, { userId: 'u', ip: '192.0.2.7' });
    assert.equal(given.ip, '192.0.2.7');
    assert.equal(asked, 1, 'a given address is not looked up');
  });

  it('batches a tick\'s publishes into one frame, encoded once for every subscriber, with dense ACKs', async () => {
    const { engine, place, hub } = setup(undefined, { tickMs: 50 });
    await engine.open();
    hub.start();
    const viewers = Array.from({ length: 3 }, () => new RecordingSink());
    const sessions = viewers.map((s) => hub.connect(s, { userId: '', ip: '1' }));
    sessions.forEach((s) => subscribe(s));
    await eventually(() => viewers.every((v) => v.decoded().some((f) => f.kind === 'subscribed')), { intervalMs: 2 });
    const editorSink = new RecordingSink();
    const editor = hub.connect(editorSink, { userId: 'u1', ip: '2' });
    for (let i = 0; i < 100; i++) publish(editor, i + 1, edit(place, i % 100, 0, 1 + (i % 15)));
    await eventually(() => editorSink.frames.length === 100, { intervalMs: 2 });
    const acks = editorSink.decoded().map((f) => (f.kind === 'ack' ? f.version : -1)).sort((a, b) => a - b);
    assert.deepEqual(acks, Array.from({ length: 100 }, (_, i) => i));
    await eventually(() => viewers.every((v) => v.frames.length === 2), { intervalMs: 2 });
    const batches = viewers.map((v) => v.frames[1]);
    assert.ok(batches.every((b) => b === batches[0]), 'the very same bytes go to every subscriber');
    const f = decodeServerFrame(batches[0]);
    assert.equal(f.kind, 'batch');
    assert.equal(f.kind === 'batch' && f.events.length, 100, 'one batch for the whole tick');
    assert.equal(hub.stats.batches, 1);
    await hub.stop();
    await engine.close();
  });

  it('sleeps with nothing to do, and a publish after a long idle is acknowledged and delivered, every time', async () => {
    const { engine, place, hub } = setup(undefined, { tickMs: 20 });
    await engine.open();
    hub.start();
    const viewer = new RecordingSink();
    subscribe(hub.connect(viewer, { userId: '', ip: '1' }));
    await eventually(() => viewer.decoded().some((f) => f.kind === 'subscribed'), { intervalMs: 2 });
    const editorSink = new RecordingSink();
    const editor = hub.connect(editorSink, { userId: 'u1', ip: '2' });
    for (let round = 0; round < 3; round++) {
      // Idle: the tick found nothing to do and armed no timer.
      await eventually(() => !hub.ticking, { what: 'the idle tick sleeps', intervalMs: 2 });
      await new Promise((r) => setTimeout(r, 200)); // ten intervals with no tick at all
      assert.equal(hub.ticking, false, 'nothing woke it');
      publish(editor, round + 1, edit(place, round, 0, 2));
      await eventually(() => editorSink.frames.length === round + 1, { what: `the publish of round ${round} is acknowledged`, intervalMs: 2 });
      const ack = editorSink.decoded()[round];
      assert.equal(ack.kind === 'ack' && ack.version, round);
      await eventually(() => viewer.decoded().filter((f) => f.kind === 'batch').length === round + 1, { what: `the viewer gets round ${round}'s batch`, intervalMs: 2 });
    }
    const batches = viewer.decoded().filter((f) => f.kind === 'batch');
    assert.deepEqual(batches.map((b) => b.kind === 'batch' && b.firstVersion), [0, 1, 2]);
    await hub.stop();
    await engine.close();
  });

  it('sends BEHIND at the next version to a connection over its byte limit and stops sending to it', async () => {
    const { engine, place, hub } = setup(undefined, { maxBufferedBytes: 1000 });
    await engine.open();
    hub.start();
    const slow = new RecordingSink();
    const fast = new RecordingSink();
    const slowSession = hub.connect(slow, { userId: '', ip: '1' });
    subscribe(slowSession);
    subscribe(hub.connect(fast, { userId: '', ip: '1' }));
    const editor = hub.connect(new RecordingSink(), { userId: 'u', ip: '2' });
    await eventually(() => slow.frames.length === 1 && fast.frames.length === 1, { intervalMs: 2 });
    publish(editor, 1, edit(place, 1, 1, 1));
    await eventually(() => slow.frames.length === 2 && fast.frames.length === 2, { intervalMs: 2 });
    slow.bufferedAmount = 999; // the client stopped reading
    publish(editor, 2, edit(place, 2, 2, 2));
    await eventually(() => fast.frames.length === 3, { intervalMs: 2 });
    publish(editor, 3, edit(place, 3, 3, 3));
    await eventually(() => fast.frames.length === 4, { intervalMs: 2 });
    const slowFrames = slow.decoded();
    assert.equal(slowFrames.length, 3);
    assert.deepEqual(slowFrames[2], { kind: 'behind', channel: 'place:main', version: 1 });
    assert.equal(hub.stats.behindTotal, 1);
    // Drained: resubscribing from the BEHIND version replays exactly what it missed.
    slow.bufferedAmount = 0;
    subscribe(slowSession, SubscribeMode.FROM_VERSION, 1);
    await eventually(() => slow.frames.length === 6, { intervalMs: 2 });
    const resumed = slow.decoded().slice(3);
    assert.equal(resumed[0].kind, 'subscribed');
    // The same per-tick frames live subscribers got, replayed from the ring: versions 1 and 2.
    assert.deepEqual(resumed.slice(1).map((f) => (f.kind === 'batch' ? [f.firstVersion, f.events.length] : f.kind)), [[1, 1], [2, 1]]);
    assert.equal(hub.stats.resumesTotal, 1);
    await hub.stop();
    await engine.close();
  });

  it('stores a snapshot every N events; a new hub loads snapshot + tail equal to the full replay', async () => {
    const first = setup(undefined, { snapshotEvery: 50 });
    await first.engine.open();
    first.hub.start();
    const rand = (() => { let a = 1; return () => ((a = (a * 48271) % 2147483647) / 2147483647); })();
    const payloads = Array.from({ length: 237 }, () => edit(first.place, Math.floor(rand() * 100), Math.floor(rand() * 100), Math.floor(rand() * 16)));
    for (let i = 0; i < payloads.length; i += 40) await first.hub.publishInternal('place:main', payloads.slice(i, i + 40), 'u');
    const live = (await first.hub.view<CanvasState>('place:main')).state.pixels.slice();
    await first.hub.stop();
    await first.engine.close();

    const second = setup(first.dir);
    await second.engine.open();
    const snap = await second.engine.getSnapshot('place:main');
    assert.ok(snap && snap.version >= 200, `a snapshot was stored (at ${snap?.version})`);
    const view = await second.hub.view<CanvasState>('place:main');
    assert.equal(view.version, 237);
    const replay = second.place.init('place:main');
    payloads.forEach((p, i) => second.place.apply(replay, p, i));
    assert.deepEqual(view.state.pixels, replay.pixels);
    assert.deepEqual(view.state.pixels, live);
    await second.engine.close();
  });

  it('unloads a channel idle for channelIdleMs and loads it again, state and versions intact, on next use', async () => {
    const clock = { ms: 1_000_000 };
    const { engine, place, hub } = setup(undefined, { channelIdleMs: 60_000 }, () => clock.ms);
    await engine.open();
    hub.start();
    const viewer = new RecordingSink();
    const viewerSession = hub.connect(viewer, { userId: '', ip: '1' });
    subscribe(viewerSession);
    const editorSink = new RecordingSink();
    const editor = hub.connect(editorSink, { userId: 'u', ip: '2' });
    await eventually(() => viewer.frames.length === 1, { intervalMs: 2 });
    for (let i = 0; i < 5; i++) publish(editor, i + 1, edit(place, i, 7, 3));
    await eventually(() => editorSink.frames.length === 5 && viewer.frames.length === 2, { intervalMs: 2 });
    const before = await hub.view<CanvasState>('place:main');
    const pixelsBefore = before.state.pixels.slice();

    // Subscribed: never unloaded, however long.
    assert.equal(hub.unloadIdleChannels(), 0);
    clock.ms += 3_600_000;
    assert.equal(hub.unloadIdleChannels(), 0);
    assert.equal(hub.stats.channelsLoaded, 1);

    hub.disconnect(viewerSession);
    assert.equal(hub.unloadIdleChannels(), 0, 'idle from now on');
    clock.ms += 59_999;
    assert.equal(hub.unloadIdleChannels(), 0, 'not yet idle for 60 s');
    clock.ms += 1;
    assert.equal(hub.unloadIdleChannels(), 1);
    assert.equal(hub.stats.channelsLoaded, 0);
    assert.equal(hub.stats.channelsUnloadedTotal, 1);

    // A new subscriber from version 0 gets every event (read back from the engine) and then live ones.
    const again = new RecordingSink();
    subscribe(hub.connect(again, { userId: '', ip: '3' }), SubscribeMode.FROM_VERSION, 0);
    await eventually(() => again.decoded().some((f) => f.kind === 'batch'), { intervalMs: 2 });
    assert.equal(hub.stats.channelsLoaded, 1);
    const after = await hub.view<CanvasState>('place:main');
    assert.notEqual(after.state, before.state, 'a new state object: the channel was loaded again');
    assert.equal(after.version, 5);
    assert.deepEqual(after.state.pixels, pixelsBefore);
    publish(editor, 6, edit(place, 9, 9, 4));
    await eventually(() => again.decoded().filter((f) => f.kind === 'batch').length === 2, { intervalMs: 2 });
    const versions = again.decoded().flatMap((f) => (f.kind === 'batch' ? [[f.firstVersion, f.events.length]] : []));
    assert.deepEqual(versions, [[0, 5], [5, 1]], 'catch-up from the engine, then the live batch, with no gap');
    const ack = editorSink.decoded().at(-1);
    assert.deepEqual(ack && ack.kind === 'ack' ? ack.version : -1, 5);
    await hub.stop();
    await engine.close();
  });

  it('keeps a channel loaded while events for it wait for the tick, and acknowledges them', async () => {
    const clock = { ms: 1_000_000 };
    // A tick far away: the published events stay pending while the sweep runs.
    const { engine, place, hub } = setup(undefined, { channelIdleMs: 1000, tickMs: 60_000, maxTickMs: 60_000 }, () => clock.ms);
    await engine.open();
    await hub.view('place:main');
    hub.start();
    const editorSink = new RecordingSink();
    const editor = hub.connect(editorSink, { userId: 'u', ip: '2' });
    publish(editor, 1, edit(place, 1, 1, 1));
    await eventually(() => hub.stats.eventsIn === 1, { intervalMs: 2 });
    hub.unloadIdleChannels();
    clock.ms += 10_000;
    assert.equal(hub.unloadIdleChannels(), 0);
    await hub.stop(); // flushes the pending event
    assert.deepEqual(editorSink.decoded(), [{ kind: 'ack', requestId: 1, version: 0 }]);
    assert.equal(hub.stats.channelsLoaded, 1);
    await engine.close();
  });

  it('a view asked to include a version it lacks waits until that write is applied, and past its bound returns the state as is', async () => {
    const { engine, place, hub } = setup();
    await engine.open();
    hub.start();
    const head = (await hub.view('place:main')).version;
    let settled = false;
    const waiting = hub.view<CanvasState>('place:main', head + 1).then((v) => { settled = true; return v; });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'nothing written yet: the view waits');
    const first = await hub.publishInternal('place:main', [edit(place, 7, 7, 3)], 'admin');
    const view = await waiting;
    assert.ok(view.version >= first + 1, `the view includes the write (version ${view.version}, write at ${first})`);
    assert.equal(view.state.pixels[7 * 100 + 7], 3, 'and its state has it');
    // A version nobody writes: the view gives up after its bound and returns what it has.
    const stale = await hub.view<CanvasState>('place:main', view.version + 5);
    assert.equal(stale.version, view.version);
    await hub.stop();
    await engine.close();
  });

  it('unloads idle channels on its own timer', async () => {
    const { engine, hub } = setup(undefined, { channelIdleMs: 20 });
    await engine.open();
    hub.start();
    await hub.view('place:main');
    assert.equal(hub.stats.channelsLoaded, 1);
    await eventually(() => hub.stats.channelsUnloadedTotal === 1, { intervalMs: 2 });
    assert.equal(hub.stats.channelsLoaded, 0);
    await hub.stop();
    await engine.close();
  });
});

/** A logged type counting its events, with its own tick interval when `tickMs` is given. */
function counterType(prefix: string, tickMs?: number, ephemeral = false): ChannelType<{ n: number }> {
  return {
    prefix, eventSize: 0, maxEventBytes: 16, tickMs, ephemeral,
    exists: () => true,
    init: () => ({ n: 0 }),
    apply: (s) => { s.n++; },
    encodeSnapshot: (s) => new Uint8Array([s.n & 0xff]),
    decodeSnapshot: (_c, b) => ({ n: b[0] }),
    validate: () => null,
  };
}

describe('a logged type\'s own tickMs', () => {
  it('appends a slower type only on the ticks whose grid point crosses a multiple of its tickMs, a plain type every tick', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brigade-hub-'));
    dirs.push(dir);
    const engine = new EmbeddedEngine({ path: join(dir, 'db.sqlite'), retention: { retainEvents: 1000, keepSnapshots: 2 } });
    const coreTickMs = 10;
    const slowTickMs = 4 * coreTickMs;
    const hub = new Hub({ engine, types: [counterType('fast:'), counterType('slow:', slowTickMs)], options: { tickMs: coreTickMs, maxTickMs: coreTickMs, publishPerSecondPerIp: 0 } });
    await engine.open();
    // Every append, with the grid point of the tick that made it (the hub's tick clock; read-only here).
    const appends: { dueMs: number; channels: string[] }[] = [];
    const append = engine.append.bind(engine);
    engine.append = (requests) => {
      appends.push({ dueMs: (hub as any).clock.dueMs, channels: requests.map((r) => r.channel).sort() });
      return append(requests);
    };
    // Each channel gets its next publish as soon as its last one is acknowledged, so both always
    // have events waiting: the fast one is appended on every tick, and every tick appends.
    let running = true;
    const acks = { 'fast:a': [] as number[], 'slow:a': [] as number[] };
    const sink = {
      bufferedAmount: 0,
      send(frame: Uint8Array) {
        const f = decodeServerFrame(frame);
        assert.equal(f.kind, 'ack');
        if (f.kind !== 'ack') return;
        const channel = f.requestId % 2 === 0 ? 'fast:a' : 'slow:a';
        acks[channel].push(f.version);
        if (running) send(channel);
      },
    };
    const session = hub.connect(sink, { userId: 'u', ip: '1' });
    // Even request ids publish on the fast channel, odd ones on the slow one.
    const nextId = { 'fast:a': 0, 'slow:a': -1 };
    const sent = { 'fast:a': 0, 'slow:a': 0 };
    const send = (channel: 'fast:a' | 'slow:a') => {
      const requestId = (nextId[channel] += 2);
      sent[channel]++;
      session.handleFrame(encodeClientFrame({ kind: 'publish', requestId, channel, payload: new Uint8Array([1]) }));
    };
    hub.start();
    send('fast:a');
    send('slow:a');
    await eventually(() => acks['fast:a'].length >= 24);
    running = false;
    send('slow:a'); // still waiting at stop: the last tick appends every channel
    await hub.stop();
    await engine.close();

    // Versions: dense and in order on both channels, every publish acknowledged.
    assert.deepEqual(acks['fast:a'], acks['fast:a'].map((_, i) => i));
    assert.deepEqual(acks['slow:a'], acks['slow:a'].map((_, i) => i));
    const ticks = appends.slice(0, -1); // the last one is stop's flush
    assert.ok(ticks.every((a) => a.channels.includes('fast:a')), 'the fast type goes out on every tick');
    const slowTicks = ticks.filter((a) => a.channels.includes('slow:a'));
    // How many of each depends on how late the timers fired (a late tick may skip grid points);
    // which ticks carry the slow type does not.
    assert.ok(slowTicks.length >= 1 && slowTicks.length < ticks.length, `slow appended on ${slowTicks.length} of ${ticks.length} ticks`);
    // Exactly on the ticks that cross a multiple of its tickMs (the first tick has no previous one).
    for (let i = 1; i < ticks.length; i++) {
      const crosses = Math.floor(ticks[i].dueMs / slowTickMs) > Math.floor(ticks[i - 1].dueMs / slowTickMs);
      assert.equal(ticks[i].channels.includes('slow:a'), crosses, `tick due at ${ticks[i].dueMs} (previous ${ticks[i - 1].dueMs})`);
    }
    assert.ok(appends.at(-1)!.channels.includes('slow:a'), 'stop appends what was still waiting, due or not');
    assert.deepEqual([acks['fast:a'].length, acks['slow:a'].length], [sent['fast:a'], sent['slow:a']], 'every publish acknowledged');
  });

  it('refuses a logged type whose tickMs is not a multiple of the core\'s; an ephemeral type may have any', () => {
    const engine = new EmbeddedEngine({ path: ':memory:', retention: { retainEvents: 1000, keepSnapshots: 2 } });
    assert.throws(() => new Hub({ engine, types: [counterType('slow:', 15)], options: { tickMs: 10 } }), /multiple of the core's tickMs \(10 ms\)/);
    assert.doesNotThrow(() => new Hub({ engine, types: [counterType('slow:', 40), counterType('voice:', 15, true)], options: { tickMs: 10 } }));
  });

  it('loggedTypeDue: due on the ticks that cross a multiple of the type\'s tickMs; on every tick without one', () => {
    assert.equal(loggedTypeDue(undefined, 10, 20, 10), true);
    assert.equal(loggedTypeDue(40, 10, 30, 20), false);
    assert.equal(loggedTypeDue(40, 10, 40, 30), true);
    assert.equal(loggedTypeDue(40, 10, 50, 30), true, 'a skipped grid point still counts');
    assert.equal(loggedTypeDue(40, 10, 80, 40), true, 'the adaptive interval may cross one per tick');
  });
});

describe('CoreApi.sendEphemeral', () => {
  it('sends an ephemeral channel\'s events to its subscribers at once, in version order; false (nothing sent) when not loaded, logged, or events wait for its tick', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brigade-hub-'));
    dirs.push(dir);
    const engine = new EmbeddedEngine({ path: join(dir, 'db.sqlite'), retention: { retainEvents: 1000, keepSnapshots: 2 } });
    // A long core tick: anything sent before it fires was sent by sendEphemeral itself.
    const hub = new Hub({ engine, types: [counterType('log:'), counterType('eph:', 60_000, true)], options: { tickMs: 50, publishPerSecondPerIp: 0 } });
    await engine.open();
    hub.start();
    const sink = new RecordingSink();
    const session = hub.connect(sink, { userId: 'u', ip: '1' });
    const p = (n: number) => new Uint8Array([n]);
    assert.equal(hub.sendEphemeral('eph:a', [p(1)], 'srv'), false, 'not loaded here: nothing sent');
    await hub.view('log:a');
    assert.equal(hub.sendEphemeral('log:a', [p(1)], 'srv'), false, 'a logged channel goes through its log');
    session.handleFrame(encodeClientFrame({ kind: 'subscribe', requestId: 1, channel: 'eph:a', mode: SubscribeMode.HEAD as 0, fromVersion: 0, epoch: 0 }));
    await eventually(() => sink.decoded().some((f) => f.kind === 'subscribed'));
    const before = sink.frames.length;
    assert.equal(hub.sendEphemeral('eph:a', [p(1), p(2)], 'srv'), true);
    assert.equal(hub.sendEphemeral('eph:a', [p(3)], 'srv'), true);
    const batches = sink.decoded().slice(before).filter((f) => f.kind === 'batch');
    assert.deepEqual(batches.map((f) => f.kind === 'batch' && [f.firstVersion, f.events.map((e) => e[0])]), [[0, [1, 2]], [2, [3]]], 'sent synchronously, versions dense');
    assert.equal((await hub.view<{ n: number }>('eph:a')).state.n, 3, 'folded into the channel like a tick\'s events');
    // An event waiting for the channel's (60 s) tick must go first: sendEphemeral declines.
    void hub.publishInternal('eph:a', [p(4)], 'srv');
    await eventually(() => ((hub as any).registry.get('eph:a')?.pendingCount ?? 0) > 0, { intervalMs: 1 });
    assert.equal(hub.sendEphemeral('eph:a', [p(5)], 'srv'), false, 'behind a pending event: nothing sent');
    assert.equal(sink.decoded().slice(before).filter((f) => f.kind === 'batch').length, 2);
    await hub.stop();
    await engine.close();
  });
});
