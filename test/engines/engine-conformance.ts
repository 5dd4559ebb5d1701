/**
 * The engine conformance suite: what every Engine must do, whatever it stores data in.
 * Each engine's integration test calls runEngineConformance once with a factory.
 *
 * The factory gets the retention the suite asserts against and returns an engine that is NOT yet
 * opened (the suite opens it). `reopen` returns a fresh, unopened engine over the
 * same storage — the suite closes the first one before opening it. `cleanup` removes the storage;
 * the suite has closed every engine it opened by then.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AppendSplitError, type CommittedBatch, type Engine, type LogEvent, type RetentionOptions } from '../../src/core/engine.ts';
import { BrigadeError } from '../../src/protocol/index.ts';
import { eventually } from '../helpers/eventually.ts';

export interface ConformanceSubject {
  engine: Engine;
  reopen: () => Promise<Engine>;
  cleanup: () => Promise<void>;
  /**
   * Loses everything stored for `channel` behind the engine's back, as a storage failure would
   * (Redis restarted without persistence, a deleted key; rows deleted from SQLite).
   */
  loseChannel: (channel: string) => Promise<void>;
  /** Makes every later write to `channel` fail inside the store (a key of the wrong type; a trigger that aborts). */
  breakChannel: (channel: string) => Promise<void>;
  /**
   * The engine is atomic per slot, not per call (a Redis Cluster): a call over channels in
   * different slots may reject with AppendSplitError, some requests committed (engine.ts append).
   */
  atomicPerSlot?: boolean;
}

/** Each request's first version, for the tests about numbering. */
async function versionsOf(engine: Engine, requests: Parameters<Engine['append']>[0]): Promise<number[]> {
  return (await engine.append(requests)).map((position) => position.version);
}

/** Small numbers, so both trimming branches (by snapshot count and by retainEvents) are reached. */
export const CONFORMANCE_RETENTION: RetentionOptions = { retainEvents: 5, keepSnapshots: 2 };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function event(text: string, publisher = 'u1', timeMs = 1_700_000_000_000): LogEvent {
  return { payload: encoder.encode(text), publisher, timeMs };
}

function events(prefix: string, from: number, count: number): LogEvent[] {
  return Array.from({ length: count }, (_, i) => event(`${prefix}${from + i}`, `p${(from + i) % 3}`, 1000 + from + i));
}

function texts(list: LogEvent[]): string[] {
  return list.map((e) => decoder.decode(e.payload));
}

/** Compares stored events by value: payloads may come back as Buffer or Uint8Array. */
function assertEventsEqual(actual: LogEvent[], expected: LogEvent[]): void {
  assert.equal(actual.length, expected.length, 'event count');
  for (let i = 0; i < expected.length; i++) {
    assert.deepEqual(Array.from(actual[i].payload), Array.from(expected[i].payload), `payload ${i}`);
    assert.equal(actual[i].publisher, expected[i].publisher, `publisher ${i}`);
    assert.equal(actual[i].timeMs, expected[i].timeMs, `timeMs ${i}`);
  }
}

/** Channel names unique per test, so engines sharing storage across tests (Redis) stay isolated. */
let channelCounter = 0;
function channelName(label: string): string {
  return `conf-${process.pid}-${Date.now().toString(36)}-${channelCounter++}-${label}`;
}

export function runEngineConformance(
  name: string,
  make: (retention: RetentionOptions) => Promise<ConformanceSubject>,
): void {
  describe(`engine conformance: ${name}`, () => {
    let subject: ConformanceSubject;
    let engine: Engine;
    const opened: Engine[] = [];

    beforeEach(async () => {
      subject = await make(CONFORMANCE_RETENTION);
      engine = subject.engine;
      await engine.open();
      opened.push(engine);
    });

    afterEach(async () => {
      for (const e of opened.splice(0)) await e.close().catch(() => undefined);
      await subject.cleanup();
    });

    it('is ready once opened and reports its kind', () => {
      assert.equal(engine.isReady(), true);
      assert.equal(typeof engine.kind, 'string');
      assert.ok(engine.kind.length > 0);
    });

    it('numbers events densely from 0 per channel across appends', async () => {
      const a = channelName('a');
      const b = channelName('b');
      assert.deepEqual(await versionsOf(engine, [{ channel: a, events: events('a', 0, 3) }]), [0]);
      assert.deepEqual(await versionsOf(engine, [{ channel: b, events: events('b', 0, 2) }]), [0]);
      assert.deepEqual(await versionsOf(engine, [{ channel: a, events: events('a', 3, 1) }]), [3]);
      assert.deepEqual(await versionsOf(engine, [{ channel: a, events: events('a', 4, 4) }]), [4]);
      assert.deepEqual(await versionsOf(engine, [{ channel: b, events: events('b', 2, 1) }]), [2]);
      assert.equal((await engine.info(a)).head, 8);
      assert.equal((await engine.info(b)).head, 3);
      assertEventsEqual(await engine.read(a, 0, 100), events('a', 0, 8));
      assertEventsEqual(await engine.read(b, 0, 100), events('b', 0, 3));
    });

    it('returns first versions in request order for a call spanning several channels', async () => {
      const [a, b, c] = [channelName('a'), channelName('b'), channelName('c')];
      await engine.append([{ channel: b, events: events('b', 0, 5) }]);
      await engine.append([{ channel: c, events: events('c', 0, 2) }]);
      const firsts = await versionsOf(engine, [
        { channel: c, events: events('c', 2, 1) },
        { channel: a, events: events('a', 0, 2) },
        { channel: b, events: events('b', 5, 3) },
      ]);
      assert.deepEqual(firsts, [2, 0, 5]);
      assertEventsEqual(await engine.read(a, 0, 10), events('a', 0, 2));
      assertEventsEqual(await engine.read(b, 0, 10), events('b', 0, 8));
      assertEventsEqual(await engine.read(c, 0, 10), events('c', 0, 3));
    });

    it('keeps versions dense when appends to one channel run concurrently', async () => {
      const a = channelName('a');
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => engine.append([{ channel: a, events: events(`w${i}-`, 0, 2) }])),
      );
      const firsts = results.map(([first]) => first.version).sort((x, y) => x - y);
      assert.deepEqual(firsts, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
      assert.equal((await engine.info(a)).head, 20);
      // Each call's two events sit together at its first version.
      const stored = texts(await engine.read(a, 0, 100));
      results.forEach(([{ version: first }], i) => assert.deepEqual(stored.slice(first, first + 2), [`w${i}-0`, `w${i}-1`]));
    });

    it('passes every committed batch to onBatch once, in version order, with its events', async () => {
      const a = channelName('a');
      const b = channelName('b');
      const seen: CommittedBatch[] = [];
      engine.onBatch((batch) => {
        if (batch.channel === a || batch.channel === b) seen.push(batch);
      });
      await engine.append([{ channel: a, events: events('a', 0, 2) }]);
      await engine.append([{ channel: a, events: events('a', 2, 3) }, { channel: b, events: events('b', 0, 1) }]);
      await engine.append([{ channel: a, events: events('a', 5, 1) }]);
      // Engines that deliver through a bus (Redis) may lag the append's resolution a little.
      // "Exactly once" needs a positive signal that nothing else is coming: a marker batch on each
      // channel after them; batches of one channel arrive in version order, so once both markers are
      // here, every earlier batch (or duplicate) is too.
      await engine.append([{ channel: a, events: events('a', 6, 1) }, { channel: b, events: events('b', 1, 1) }]);
      const isMarker = (batch: CommittedBatch) => (batch.channel === a && batch.firstVersion === 6) || (batch.channel === b && batch.firstVersion === 1);
      await eventually(() => seen.filter(isMarker).length === 2, { what: 'both marker batches' });
      assert.equal(seen.filter((batch) => !isMarker(batch)).length, 4, 'each batch exactly once');
      const forA = seen.filter((batch) => batch.channel === a && !isMarker(batch));
      assert.deepEqual(forA.map((batch) => batch.firstVersion), [0, 2, 5]);
      assertEventsEqual(forA[0].events, events('a', 0, 2));
      assertEventsEqual(forA[1].events, events('a', 2, 3));
      assertEventsEqual(forA[2].events, events('a', 5, 1));
      const forB = seen.filter((batch) => batch.channel === b && !isMarker(batch));
      assert.equal(forB.length, 1);
      assert.equal(forB[0].firstVersion, 0);
      assertEventsEqual(forB[0].events, events('b', 0, 1));
    });

    it('reads exactly the requested slice, and fewer events at the head', async () => {
      const a = channelName('a');
      await engine.append([{ channel: a, events: events('a', 0, 10) }]);
      assert.deepEqual(texts(await engine.read(a, 3, 4)), ['a3', 'a4', 'a5', 'a6']);
      assert.deepEqual(texts(await engine.read(a, 0, 1)), ['a0']);
      assert.deepEqual(texts(await engine.read(a, 8, 5)), ['a8', 'a9']);
      assert.deepEqual(await engine.read(a, 10, 5), []);
      assert.deepEqual(await engine.read(a, 25, 5), []);
      assert.deepEqual(await engine.read(channelName('never'), 0, 5), []);
      assertEventsEqual(await engine.read(a, 2, 3), events('a', 2, 3));
    });

    it('reports head 0 and a stable non-zero epoch for a channel never written', async () => {
      const a = channelName('a');
      const before = await engine.info(a);
      assert.equal(before.head, 0);
      assert.equal(before.oldest, 0);
      assert.ok(Number.isInteger(before.epoch) && before.epoch > 0 && before.epoch < 2 ** 32, `epoch ${before.epoch}`);
      assert.equal((await engine.info(a)).epoch, before.epoch, 'info twice');
      await engine.append([{ channel: a, events: events('a', 0, 1) }]);
      const after = await engine.info(a);
      assert.deepEqual(after, { epoch: before.epoch, head: 1, oldest: 0 });
    });

    it('gives a channel first seen through append a non-zero epoch that stays put', async () => {
      const a = channelName('a');
      await engine.append([{ channel: a, events: events('a', 0, 2) }]);
      const first = await engine.info(a);
      assert.ok(first.epoch > 0);
      await engine.append([{ channel: a, events: events('a', 2, 2) }]);
      assert.deepEqual(await engine.info(a), { epoch: first.epoch, head: 4, oldest: 0 });
    });

    it('stores snapshots and finds the newest one at or before a version', async () => {
      const a = channelName('a');
      await engine.append([{ channel: a, events: events('a', 0, 30) }]);
      assert.equal(await engine.getSnapshot(a), null);
      await engine.putSnapshot(a, { version: 20, bytes: encoder.encode('s20'), timeMs: 20 });
      await engine.putSnapshot(a, { version: 25, bytes: encoder.encode('s25'), timeMs: 25 });
      const newest = await engine.getSnapshot(a);
      assert.ok(newest);
      assert.equal(newest.version, 25);
      assert.equal(decoder.decode(newest.bytes), 's25');
      assert.equal(newest.timeMs, 25);
      assert.equal((await engine.getSnapshot(a, 25))?.version, 25);
      assert.equal((await engine.getSnapshot(a, 24))?.version, 20);
      assert.equal(decoder.decode((await engine.getSnapshot(a, 24))!.bytes), 's20');
      assert.equal(await engine.getSnapshot(a, 19), null);
      assert.equal(await engine.getSnapshot(channelName('never')), null);
    });

    it('keeps only the newest keepSnapshots and trims the log behind the oldest kept one', async () => {
      const a = channelName('a');
      await engine.append([{ channel: a, events: events('a', 0, 30) }]);
      for (const version of [10, 20, 25]) {
        await engine.putSnapshot(a, { version, bytes: encoder.encode(`s${version}`), timeMs: version });
      }
      // keepSnapshots 2 keeps 20 and 25; the oldest kept (20) bounds the trim, not 25 - 5.
      assert.equal(await engine.getSnapshot(a, 19), null, 'snapshot 10 dropped');
      assert.equal((await engine.getSnapshot(a, 24))?.version, 20);
      const info = await engine.info(a);
      assert.equal(info.oldest, 20);
      assert.equal(info.head, 30);
      assertEventsEqual(await engine.read(a, 20, 100), events('a', 20, 10));
      assert.deepEqual(texts(await engine.read(a, 25, 2)), ['a25', 'a26']);
    });

    it('keeps retainEvents behind the newest snapshot when that reaches further back', async () => {
      const a = channelName('a');
      await engine.append([{ channel: a, events: events('a', 0, 15) }]);
      await engine.putSnapshot(a, { version: 10, bytes: encoder.encode('s10'), timeMs: 10 });
      await engine.putSnapshot(a, { version: 12, bytes: encoder.encode('s12'), timeMs: 12 });
      // Kept: 10 and 12; min(10, 12 - 5) = 7.
      const info = await engine.info(a);
      assert.equal(info.oldest, 7);
      assertEventsEqual(await engine.read(a, 7, 100), events('a', 7, 8));
      // Appends after trimming keep numbering from the head.
      assert.deepEqual(await versionsOf(engine, [{ channel: a, events: events('a', 15, 2) }]), [15]);
      assertEventsEqual(await engine.read(a, 7, 100), events('a', 7, 10));
      assert.equal((await engine.info(a)).epoch, info.epoch);
    });

    it('survives close and reopen with everything acknowledged and the same epoch', async () => {
      const a = channelName('a');
      const b = channelName('b');
      await engine.append([{ channel: a, events: events('a', 0, 12) }, { channel: b, events: events('b', 0, 3) }]);
      await engine.putSnapshot(a, { version: 8, bytes: encoder.encode('s8'), timeMs: 8 });
      await engine.putSnapshot(a, { version: 11, bytes: encoder.encode('s11'), timeMs: 11 });
      const unwritten = channelName('unwritten');
      const before = { a: await engine.info(a), b: await engine.info(b), unwritten: await engine.info(unwritten) };
      await engine.close();
      assert.equal(engine.isReady(), false);

      const again = await subject.reopen();
      await again.open();
      opened.push(again);
      assert.deepEqual(await again.info(a), before.a);
      assert.deepEqual(await again.info(b), before.b);
      assert.equal((await again.info(unwritten)).epoch, before.unwritten.epoch);
      assertEventsEqual(await again.read(a, before.a.oldest, 100), events('a', before.a.oldest, 12 - before.a.oldest));
      assertEventsEqual(await again.read(b, 0, 100), events('b', 0, 3));
      assert.equal(decoder.decode((await again.getSnapshot(a))!.bytes), 's11');
      assert.equal((await again.getSnapshot(a, 10))?.version, 8);
      assert.deepEqual(await versionsOf(again, [{ channel: a, events: events('a', 12, 1) }]), [12]);
    });

    it('gives every append result and committed batch the epoch of the log it went to', async () => {
      const [a, b] = [channelName('a'), channelName('b')];
      const seen: CommittedBatch[] = [];
      engine.onBatch((batch) => {
        if (batch.channel === a || batch.channel === b) seen.push(batch);
      });
      await engine.append([{ channel: a, events: events('a', 0, 2) }]);
      const positions = await engine.append([{ channel: b, events: events('b', 0, 1) }, { channel: a, events: events('a', 2, 1) }]);
      const [infoA, infoB] = [await engine.info(a), await engine.info(b)];
      assert.deepEqual(positions, [{ version: 0, epoch: infoB.epoch, firsts: [0] }, { version: 2, epoch: infoA.epoch, firsts: [2] }]);
      await eventually(() => seen.length >= 3);
      // Order is promised per channel only.
      const of = (channel: string) => seen.filter((batch) => batch.channel === channel).map((batch) => [batch.firstVersion, batch.epoch]);
      assert.deepEqual(of(a), [[0, infoA.epoch], [2, infoA.epoch]]);
      assert.deepEqual(of(b), [[0, infoB.epoch]]);
    });

    it('commits none of a call\'s requests when one of them fails in the store', async () => {
      const [a, b] = [channelName('a'), channelName('broken')];
      await engine.append([{ channel: a, events: events('a', 0, 2) }]);
      const seen: CommittedBatch[] = [];
      engine.onBatch((batch) => {
        if (batch.channel === a || batch.channel === b) seen.push(batch);
      });
      await subject.breakChannel(b);
      const err = await engine.append([{ channel: a, events: events('a', 2, 3) }, { channel: b, events: events('b', 0, 1) }])
        .then(() => null, (e: unknown) => e);
      assert.ok(err instanceof BrigadeError && err.code === 'UNAVAILABLE', `rejected with UNAVAILABLE: ${String(err)}`);
      // Atomic per slot: a and b in different slots commit apart, and the error says which did.
      const split = err instanceof AppendSplitError;
      assert.ok(!split || subject.atomicPerSlot, 'only an engine atomic per slot splits a call');
      if (split) assert.deepEqual(err.committed.map((r) => r?.version ?? null), [2, null]);
      const committed = split ? 3 : 0;
      assert.equal((await engine.info(a)).head, 2 + committed, split ? 'a\'s own slot committed' : 'the first request was not committed either');
      assertEventsEqual(await engine.read(a, 0, 10), events('a', 0, 2 + committed));
      // Whatever was announced by now would have come: the next append's batch follows it.
      const [next] = await engine.append([{ channel: a, events: events('x', 2 + committed, 1) }]);
      assert.equal(next.version, 2 + committed);
      // Batches of the first append (0, 1) may still be on their way to a shared engine's reader.
      const later = () => seen.filter((batch) => batch.channel === b || batch.firstVersion >= 2);
      await eventually(() => later().length >= (split ? 2 : 1));
      assert.deepEqual(later().map((batch) => [batch.channel, batch.firstVersion, texts(batch.events)]),
        split ? [[a, 2, ['a2', 'a3', 'a4']], [a, 5, ['x5']]] : [[a, 2, ['x2']]]);
    });

    it('starts a lost channel again at version 0 in a new epoch, and says so in results and batches', async () => {
      const a = channelName('a');
      const seen: CommittedBatch[] = [];
      engine.onBatch((batch) => {
        if (batch.channel === a) seen.push(batch);
      });
      await engine.append([{ channel: a, events: events('old', 0, 4) }]);
      await engine.putSnapshot(a, { version: 4, bytes: encoder.encode('old-s4'), timeMs: 4 });
      const before = await engine.info(a);
      await eventually(() => seen.length >= 1);
      await subject.loseChannel(a);

      const after = await engine.info(a);
      assert.notEqual(after.epoch, before.epoch, 'a new epoch');
      assert.ok(after.epoch > 0 && after.epoch < 2 ** 32);
      assert.deepEqual({ head: after.head, oldest: after.oldest }, { head: 0, oldest: 0 });
      assert.equal(await engine.getSnapshot(a), null, 'no snapshot of the lost log');
      assert.deepEqual(await engine.read(a, 0, 10), []);
      const [position] = await engine.append([{ channel: a, events: events('new', 0, 2) }]);
      assert.deepEqual(position, { version: 0, epoch: after.epoch, firsts: [0] });
      assertEventsEqual(await engine.read(a, 0, 10), events('new', 0, 2));
      await eventually(() => seen.some((batch) => batch.epoch === after.epoch && batch.events.length > 0));
      const fresh = seen.filter((batch) => batch.epoch === after.epoch);
      // A shared engine may first announce the new epoch with an empty batch at its head.
      const withEvents = fresh.filter((batch) => batch.events.length > 0);
      assert.deepEqual(withEvents.map((batch) => [batch.firstVersion, texts(batch.events)]), [[0, ['new0', 'new1']]]);
      for (const notice of fresh.filter((batch) => batch.events.length === 0)) assert.ok(notice.firstVersion <= 2);
      assert.ok(seen.every((batch) => batch.epoch === before.epoch || batch.epoch === after.epoch));

      // A snapshot of the lost log must not land in the new one.
      await assert.rejects(engine.putSnapshot(a, { version: 4, epoch: before.epoch, bytes: encoder.encode('stale'), timeMs: 5 }),
        (err: unknown) => err instanceof BrigadeError && err.code === 'UNAVAILABLE');
      assert.equal(await engine.getSnapshot(a), null);
      await engine.putSnapshot(a, { version: 2, epoch: after.epoch, bytes: encoder.encode('new-s2'), timeMs: 6 });
      assert.equal(decoder.decode((await engine.getSnapshot(a))!.bytes), 'new-s2');
    });

    it('commits a stamped publish once: a repeat gets its original version and appends nothing', async () => {
      const [a, b] = [channelName('a'), channelName('b')];
      const seen: CommittedBatch[] = [];
      engine.onBatch((batch) => { if (batch.channel === a) seen.push(batch); });
      const first = await engine.append([{
        channel: a, events: events('x', 0, 3),
        publishes: [{ producer: 'pA', seq: 1, count: 1 }, { producer: 'pA', seq: 2, count: 2 }],
      }]);
      assert.deepEqual(first[0].firsts, [0, 1]);
      // Re-sent with one new publish after them, and another producer's seq 1 on the same channel,
      // and pA's seq 1 on another channel: only the repeats are recognised.
      const again = await engine.append([
        {
          channel: a, events: [...events('x', 0, 3), ...events('y', 0, 1), ...events('z', 0, 1)],
          publishes: [{ producer: 'pA', seq: 1, count: 1 }, { producer: 'pA', seq: 2, count: 2 }, { producer: 'pA', seq: 3, count: 1 }, { producer: 'pB', seq: 1, count: 1 }],
        },
        { channel: b, events: events('b', 0, 1), publishes: [{ producer: 'pA', seq: 1, count: 1 }] },
      ]);
      assert.deepEqual(again.map((r) => [r.version, r.firsts]), [[3, [0, 1, 3, 4]], [0, [0]]]);
      assert.deepEqual(texts(await engine.read(a, 0, 100)), ['x0', 'x1', 'x2', 'y0', 'z0']);
      // The same publish twice in one request: once.
      const twice = await engine.append([{ channel: a, events: events('w', 0, 2), publishes: [{ producer: 'pA', seq: 4, count: 1 }, { producer: 'pA', seq: 4, count: 1 }] }]);
      assert.deepEqual(twice[0].firsts, [5, 5]);
      assert.equal((await engine.info(a)).head, 6);
      // Every node hears each committed event once, and only the new ones.
      await eventually(() => seen.reduce((n, batch) => n + batch.events.length, 0) >= 6);
      assert.deepEqual(seen.flatMap((batch) => texts(batch.events)), ['x0', 'x1', 'x2', 'y0', 'z0', 'w0']);
      assert.deepEqual(seen.map((batch) => batch.firstVersion), [0, 3, 5]);
    });

    it('remembers a producer\'s newest 1024 sequence numbers per channel', async () => {
      const a = channelName('a');
      const n = 1025;
      await engine.append([{ channel: a, events: events('e', 0, n), publishes: Array.from({ length: n }, (_, i) => ({ producer: 'pW', seq: i + 1, count: 1 })) }]);
      const [r] = await engine.append([{
        channel: a, events: events('r', 0, 2),
        publishes: [{ producer: 'pW', seq: 1, count: 1 }, { producer: 'pW', seq: 2, count: 1 }],
      }]);
      assert.deepEqual(r.firsts, [n, 1], 'seq 1 has left the window and is appended again; seq 2 is still known');
    });

    it('keeps each producer\'s window apart when their publishes interleave in one call, repeats and late seqs included', async () => {
      const a = channelName('a');
      const [r] = await engine.append([{
        channel: a, events: events('i', 0, 7),
        publishes: [
          { producer: 'pA', seq: 1, count: 1 }, { producer: 'pB', seq: 1, count: 1 }, { producer: 'pA', seq: 3, count: 1 },
          { producer: 'pB', seq: 2, count: 1 }, { producer: 'pA', seq: 1, count: 1 }, { producer: 'pA', seq: 2, count: 1 },
          { producer: 'pB', seq: 1, count: 1 },
        ],
      }]);
      // pA 1 → 0, pB 1 → 1, pA 3 → 2, pB 2 → 3, pA 1 again, pA 2 (below pA's newest, new) → 4, pB 1 again.
      assert.deepEqual(r.firsts, [0, 1, 2, 3, 0, 4, 1]);
      assert.deepEqual(texts(await engine.read(a, 0, 100)), ['i0', 'i1', 'i2', 'i3', 'i5']);
      const [again] = await engine.append([{
        channel: a, events: events('j', 0, 4),
        publishes: [{ producer: 'pA', seq: 2, count: 1 }, { producer: 'pA', seq: 3, count: 1 }, { producer: 'pB', seq: 2, count: 1 }, { producer: 'pA', seq: 4, count: 1 }],
      }]);
      assert.deepEqual(again.firsts, [4, 2, 3, 5], 'every seq of the first call is remembered, the late one too');
    });

    it('commits one call of 50,000 stamped publishes (a busy tick), each at its own version', async () => {
      const a = channelName('a');
      const n = 50_000;
      const [r] = await engine.append([{
        channel: a, events: Array.from({ length: n }, (_, i) => ({ payload: new Uint8Array([i & 255, i >> 8]), publisher: 'u', timeMs: i })),
        publishes: Array.from({ length: n }, (_, i) => ({ producer: 'pBig', seq: i + 1, count: 1 })),
      }]);
      assert.equal(r.firsts.length, n);
      assert.ok(r.firsts.every((v, i) => v === i), 'publish i at version i');
      assert.equal((await engine.info(a)).head, n);
      const tail = await engine.read(a, n - 2, 10);
      assert.deepEqual(tail.map((e) => [...e.payload]), [[(n - 2) & 255, (n - 2) >> 8], [(n - 1) & 255, (n - 1) >> 8]]);
    });

    it('refuses a whole call whose stamps do not describe its events, committing nothing', async () => {
      const [a, b] = [channelName('a'), channelName('b')];
      for (const publishes of [
        [{ producer: 'p A', seq: 1, count: 1 }],
        [{ producer: 'pA', seq: 0, count: 1 }],
        [{ producer: 'pA', seq: 1, count: 2 }],
      ]) {
        await assert.rejects(engine.append([{ channel: b, events: events('b', 0, 1) }, { channel: a, events: events('a', 0, 1), publishes }]),
          (err: unknown) => err instanceof BrigadeError && err.code === 'INVALID_EVENT', JSON.stringify(publishes));
      }
      assert.equal((await engine.info(a)).head, 0);
      assert.equal((await engine.info(b)).head, 0);
    });

    it('forgets a producer\'s publishes with the log that held them (a lost channel)', async () => {
      const a = channelName('a');
      await engine.append([{ channel: a, events: events('old', 0, 1), publishes: [{ producer: 'pL', seq: 1, count: 1 }] }]);
      await subject.loseChannel(a);
      const [r] = await engine.append([{ channel: a, events: events('old', 0, 1), publishes: [{ producer: 'pL', seq: 1, count: 1 }] }]);
      assert.deepEqual(r.firsts, [0]);
      assert.deepEqual(texts(await engine.read(a, 0, 10)), ['old0'], 'committed again, in the new log');
    });

    it('rejects with UNAVAILABLE after close', async () => {
      const a = channelName('a');
      await engine.append([{ channel: a, events: events('a', 0, 1) }]);
      await engine.close();
      assert.equal(engine.isReady(), false);
      const isUnavailable = (err: unknown): boolean => {
        assert.ok(err instanceof BrigadeError, `expected a BrigadeError, got ${String(err)}`);
        assert.equal(err.code, 'UNAVAILABLE');
        return true;
      };
      await assert.rejects(engine.append([{ channel: a, events: events('a', 1, 1) }]), isUnavailable);
      await assert.rejects(engine.read(a, 0, 10), isUnavailable);
      await assert.rejects(engine.info(a), isUnavailable);
    });
  });
}

