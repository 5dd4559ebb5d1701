/**
 * The Redis engine against a real redis-server (test/helpers/redis-server.ts): the shared
 * conformance suite, then what only a shared engine must do — several engines on one Redis, an
 * outage and recovery, and Redis work per tick that does not grow with the events.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { CommittedBatch, LogEvent, RetentionOptions } from '../../src/core/engine.ts';
import { RedisEngine } from '../../src/engines/index.ts';
import type { RedisEngineOptions } from '../../src/engines/redis-engine.ts';
import { packEvents } from '../../src/engines/redis-event-codec.ts';
import { channelKeys, producerKey as producerKeyOf } from '../../src/engines/redis-keys.ts';
import { BrigadeError } from '../../src/protocol/index.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { runAbilitiesConformance } from './abilities-conformance.ts';
import { runEngineConformance } from './engine-conformance.ts';
import { runJobsConformance } from './jobs-conformance.ts';
import { eventually } from '../helpers/eventually.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const quiet = { warn: () => undefined };

const shared = await startRedis();
after(() => shared.destroy());

function freshPrefix(label: string): string {
  return `test-${label}-${randomBytes(4).toString('hex')}:`;
}

function engineOn(server: RedisServer, prefix: string, extra: Partial<RedisEngineOptions> = {}): RedisEngine {
  return new RedisEngine({
    url: server.url, prefix, retention: { retainEvents: 100, keepSnapshots: 2 }, logger: quiet, ...extra,
  });
}

async function deleteKeys(server: RedisServer, prefix: string): Promise<void> {
  const admin = new Redis(server.url, { lazyConnect: true });
  await admin.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}

/** A plain connection to `server`, for changing keys behind the engines' backs. */
async function withAdmin<T>(server: RedisServer, use: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = new Redis(server.url, { lazyConnect: true });
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    admin.disconnect();
  }
}

runEngineConformance('redis', async (retention: RetentionOptions) => {
  const prefix = freshPrefix('conf');
  return {
    engine: new RedisEngine({ url: shared.url, prefix, retention, logger: quiet }),
    reopen: async () => new RedisEngine({ url: shared.url, prefix, retention, logger: quiet }),
    cleanup: () => deleteKeys(shared, prefix),
    loseChannel: (channel) => withAdmin(shared, async (admin) => {
      const keys = channelKeys(prefix, channel);
      await admin.del(keys.meta, keys.log, keys.snaps, keys.snap);
    }),
    breakChannel: (channel) => withAdmin(shared, async (admin) => {
      await admin.set(channelKeys(prefix, channel).meta, 'not a hash');
    }),
  };
});

const abilityPrefixes: string[] = [];
function abilityEngine(prefix: string): RedisEngine {
  if (!abilityPrefixes.includes(prefix)) abilityPrefixes.push(prefix);
  return engineOn(shared, prefix);
}
runAbilitiesConformance('redis', async () => abilityEngine(freshPrefix('abil')), {
  makePair: async () => {
    const prefix = freshPrefix('abil-pair');
    return [abilityEngine(prefix), abilityEngine(prefix)];
  },
  cleanup: async () => {
    for (const prefix of abilityPrefixes.splice(0)) await deleteKeys(shared, prefix);
  },
});

const jobPrefixes: string[] = [];
function jobEngine(prefix: string): RedisEngine {
  if (!jobPrefixes.includes(prefix)) jobPrefixes.push(prefix);
  return engineOn(shared, prefix);
}
runJobsConformance('redis', async () => jobEngine(freshPrefix('jobs')), {
  makePair: async () => {
    const prefix = freshPrefix('jobs-pair');
    return [jobEngine(prefix), jobEngine(prefix)];
  },
  reopenable: async () => {
    const prefix = freshPrefix('jobs-durable');
    return { engine: jobEngine(prefix), reopen: async () => jobEngine(prefix) };
  },
  cleanup: async () => {
    for (const prefix of jobPrefixes.splice(0)) await deleteKeys(shared, prefix);
  },
});

function texted(texts: string[], publisher = 'u', timeMs = 1): LogEvent[] {
  return texts.map((text) => ({ payload: encoder.encode(text), publisher, timeMs }));
}

function textsOf(events: LogEvent[]): string[] {
  return events.map((event) => decoder.decode(event.payload));
}

interface Seen {
  firstVersion: number;
  texts: string[];
}

function record(engine: RedisEngine, channel: string): Seen[] {
  const seen: Seen[] = [];
  engine.onBatch((batch: CommittedBatch) => {
    if (batch.channel === channel) seen.push({ firstVersion: batch.firstVersion, texts: textsOf(batch.events) });
  });
  return seen;
}

function eventCount(seen: Seen[]): number {
  return seen.reduce((sum, batch) => sum + batch.texts.length, 0);
}

/**
 * Makes the channel's log look like a promoted replica's that lacked its batches from `version` on:
 * the stream rebuilt without them (so its last id is lower too) and the head back at `version`.
 */
async function loseBatchesFrom(admin: Redis, prefix: string, channel: string, version: number): Promise<void> {
  const keys = channelKeys(prefix, channel);
  const kept = (await admin.xrangeBuffer(keys.log, '-', '+')).filter(([id]) => Number(id.toString().split('-')[0]) < version);
  await admin.del(keys.log);
  for (const [id, fields] of kept) await admin.xadd(keys.log, id, ...fields);
  await admin.hset(keys.meta, 'head', version);
}

/** Batches follow each other without gap or overlap, from version 0. */
function assertDense(seen: Seen[], what: string): void {
  let next = 0;
  for (const batch of seen) {
    assert.equal(batch.firstVersion, next, `${what}: batch at ${batch.firstVersion}, expected ${next}`);
    next += batch.texts.length;
  }
}

function isUnavailable(err: unknown): boolean {
  assert.ok(err instanceof BrigadeError, `expected a BrigadeError, got ${String(err)}`);
  assert.equal(err.code, 'UNAVAILABLE');
  return true;
}

/** Calls per command name since the server started, from INFO commandstats. */
async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match) calls.set(match[1], Number(match[2]));
  }
  return calls;
}

/**
 * Commands run between two INFO commandstats readings, leaving out the test's and the reader's
 * own (XREAD, CLIENT UNBLOCK, and the HMGETs of its periodic epoch check).
 */
function callsBetween(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, count] of after) {
    if (name === 'info' || name === 'xread' || name === 'hget' || name === 'hmget' || name.startsWith('client')) continue;
    const d = count - (before.get(name) ?? 0);
    if (d > 0) delta[name] = d;
  }
  return delta;
}

describe('redis engine', () => {
  const opened: RedisEngine[] = [];
  const open = async (engine: RedisEngine): Promise<RedisEngine> => {
    opened.push(engine);
    await engine.open();
    return engine;
  };
  after(async () => {
    for (const engine of opened) await engine.close().catch(() => undefined);
  });

  it('gives dense versions to appends from two engines and shows both the same batches in the same order', async () => {
    const prefix = freshPrefix('two');
    const a = await open(engineOn(shared, prefix));
    const b = await open(engineOn(shared, prefix));
    const channel = 'shared-channel';
    const seenA = record(a, channel);
    const seenB = record(b, channel);
    await a.info(channel);
    await b.info(channel);

    const acked: Seen[] = [];
    const appendFrom = async (engine: RedisEngine, name: string, i: number, size: number): Promise<void> => {
      const texts = Array.from({ length: size }, (_, j) => `${name}${i}-${j}`);
      const [{ version: firstVersion }] = await engine.append([{ channel, events: texted(texts) }]);
      acked.push({ firstVersion, texts });
    };
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => appendFrom(a, 'a', i, 3)),
      ...Array.from({ length: 20 }, (_, i) => appendFrom(b, 'b', i, 2)),
    ]);
    acked.sort((x, y) => x.firstVersion - y.firstVersion);
    assertDense(acked, 'acknowledged');
    assert.equal((await a.info(channel)).head, 100);

    await eventually(() => eventCount(seenA) >= 100 && eventCount(seenB) >= 100, { what: 'both engines see 100 events' });
    assert.deepEqual(seenA, acked, 'engine a saw every batch once, in version order');
    assert.deepEqual(seenB, acked, 'engine b saw every batch once, in version order');
    assert.deepEqual(textsOf(await b.read(channel, 0, 1000)), acked.flatMap((batch) => batch.texts));
  });

  it('keeps no tick need in the log, and reads and delivers entries an earlier version wrote with one', async () => {
    const prefix = freshPrefix('tick');
    const a = await open(engineOn(shared, prefix));
    const b = await open(engineOn(shared, prefix));
    const channel = 'tick-channel';
    const got: CommittedBatch[] = [];
    b.onBatch((batch) => { if (batch.channel === channel) got.push(batch); });
    await b.info(channel);
    await a.append([{ channel, events: texted(['new']) }]);
    const keys = channelKeys(prefix, channel);
    const admin = new Redis(shared.url);
    try {
      const entries = await admin.xrange(keys.log, '-', '+');
      assert.equal(entries.length, 1);
      const names = entries[0][1].filter((_, i) => i % 2 === 0);
      assert.ok(!names.includes('t') && !names.includes('o'), `no tick need or node id in the entry: ${names}`);
      // An entry as the earlier append script wrote it: the node's tick need ('t') and id ('o') beside the events.
      await admin.xadd(keys.log, '1-1', 'n', '1', 'd', packEvents(texted(['old'])), 't', '400', 'o', 'abc');
      await admin.hset(keys.meta, 'head', 2);
    } finally {
      admin.disconnect();
    }
    await eventually(() => got.length >= 2, { what: 'b sees both batches' });
    assert.deepEqual(got.map((batch) => [batch.firstVersion, textsOf(batch.events)]), [[0, ['new']], [1, ['old']]]);
    assert.deepEqual(textsOf(await a.read(channel, 0, 10)), ['new', 'old']);
  });

  it('delivers another engine\'s batches to an engine from the head it read on', async () => {
    const prefix = freshPrefix('late');
    const writer = await open(engineOn(shared, prefix));
    const channel = 'late-channel';
    await writer.append([{ channel, events: texted(['x0', 'x1', 'x2']) }]);
    const late = await open(engineOn(shared, prefix));
    const seen = record(late, channel);
    assert.equal((await late.info(channel)).head, 3);
    await writer.append([{ channel, events: texted(['x3']) }]);
    await writer.append([{ channel, events: texted(['x4', 'x5']) }]);
    await eventually(() => eventCount(seen) >= 3, { what: 'the late engine sees 3 events' });
    assert.deepEqual(seen, [{ firstVersion: 3, texts: ['x3'] }, { firstVersion: 4, texts: ['x4', 'x5'] }]);
  });

  it('adds a channel watched while its reader is blocked to the reader at once', async () => {
    const prefix = freshPrefix('join');
    // A block longer than the test's wait: only interrupting the blocked XREAD delivers in time.
    const reader = await open(engineOn(shared, prefix, { readBlockMs: 600_000 }));
    const writer = await open(engineOn(shared, prefix));
    const first = record(reader, 'first');
    const second = record(reader, 'second');
    await reader.info('first');
    await writer.append([{ channel: 'first', events: texted(['f0']) }]);
    await eventually(() => first.length === 1, { what: 'the first channel delivered', timeoutMs: 10_000 });
    await reader.info('second'); // the reader is blocked on 'first' alone by now
    await writer.append([{ channel: 'second', events: texted(['s0']) }]);
    await eventually(() => second.length === 1, { what: 'the second channel delivered', timeoutMs: 10_000 });
    assert.deepEqual(second, [{ firstVersion: 0, texts: ['s0'] }]);
  });

  it('stops delivering a released channel, and delivers it again from its head once it is used again', async () => {
    const prefix = freshPrefix('release');
    const reader = await open(engineOn(shared, prefix));
    const writer = await open(engineOn(shared, prefix));
    const released = record(reader, 'released');
    const kept = record(reader, 'kept');
    await reader.info('released');
    await reader.info('kept');
    assert.equal(reader.watchedChannels(), 2);
    await writer.append([{ channel: 'released', events: texted(['r0']) }]);
    await eventually(() => released.length === 1, { what: 'the channel delivered while watched', timeoutMs: 10_000 });

    reader.releaseChannel('released');
    assert.equal(reader.watchedChannels(), 1);
    // Appended before 'kept': had 'released' still been read, its entry would come no later.
    await writer.append([{ channel: 'released', events: texted(['r1']) }]);
    await writer.append([{ channel: 'kept', events: texted(['k0']) }]);
    await eventually(() => kept.length === 1, { what: 'the kept channel delivered', timeoutMs: 10_000 });
    assert.deepEqual(released, [{ firstVersion: 0, texts: ['r0'] }], 'nothing of the released channel after its release');

    assert.equal((await reader.info('released')).head, 2);
    assert.equal(reader.watchedChannels(), 2);
    await writer.append([{ channel: 'released', events: texted(['r2']) }]);
    await eventually(() => released.length === 2, { what: 'the channel delivered again', timeoutMs: 10_000 });
    assert.deepEqual(released[1], { firstVersion: 2, texts: ['r2'] }, 'from the head it was used again at, not from where it was released');
  });

  it('runs one script per append call (one tick), whatever the number of events or channels', async () => {
    const server = await startRedis();
    const admin = new Redis(server.url);
    try {
      const engine = await open(engineOn(server, freshPrefix('count')));
      // The first call on a connection sends the script's source (EVAL); later ones its hash.
      await engine.append([{ channel: 'c', events: texted(['warm-up']) }]);
      const measure = async (requests: Array<{ channel: string; size: number }>): Promise<Record<string, number>> => {
        const before = await commandCalls(admin);
        await engine.append(requests.map(({ channel, size }) => ({
          channel, events: texted(Array.from({ length: size }, (_, i) => `e${i}`)),
        })));
        return callsBetween(before, await commandCalls(admin));
      };
      const one = await measure([{ channel: 'c', size: 1 }]);
      const many = await measure([{ channel: 'c', size: 10_000 }]);
      const three = await measure([{ channel: 'c', size: 1 }, { channel: 'd', size: 5_000 }, { channel: 'e', size: 2 }]);
      const scripts = (delta: Record<string, number>): number => (delta.evalsha ?? 0) + (delta.eval ?? 0);
      assert.equal(scripts(one), 1, `1 event: ${JSON.stringify(one)}`);
      assert.equal(scripts(many), 1, `10,000 events: ${JSON.stringify(many)}`);
      assert.equal(scripts(three), 1, `3 channels: ${JSON.stringify(three)}`);
      assert.deepEqual(many, one, 'the same Redis commands for 1 and for 10,000 events');
      assert.equal((await engine.info('c')).head, 10_003);
      assert.deepEqual(textsOf(await engine.read('c', 2 + 9_998, 5)), ['e9998', 'e9999', 'e0']);
    } finally {
      admin.disconnect();
      await server.destroy();
    }
  });

  it('tells a watching engine when a channel\'s log is lost, after a restart without persistence and after a deleted key', async () => {
    const server = await startRedis();
    try {
      const prefix = freshPrefix('epoch');
      const a = await open(engineOn(server, prefix));
      // b only watches: it learns of the new epoch from its own checks, not from an append.
      const b = await open(engineOn(server, prefix, { epochCheckMs: 100 }));
      const channel = 'epoch-channel';
      const seen: CommittedBatch[] = [];
      b.onBatch((batch) => {
        if (batch.channel === channel) seen.push(batch);
      });
      await a.append([{ channel, events: texted(['a0', 'a1', 'a2']) }]);
      const first = await b.info(channel);
      assert.equal(first.head, 3);

      await server.kill();
      await server.restart(); // no AOF, no RDB: empty
      await eventually(() => a.isReady() && b.isReady(), { what: 'both engines reconnect', timeoutMs: 60_000 });
      await eventually(() => seen.some((batch) => batch.epoch !== first.epoch), { what: 'b announces the new epoch' });
      const notice = seen.find((batch) => batch.epoch !== first.epoch)!;
      assert.deepEqual({ firstVersion: notice.firstVersion, events: notice.events.length }, { firstVersion: 0, events: 0 });
      const second = await a.info(channel);
      assert.equal(second.epoch, notice.epoch, 'the epoch b announced is the one the log has');
      const [position] = await a.append([{ channel, events: texted(['n0', 'n1']) }]);
      assert.deepEqual(position, { version: 0, epoch: second.epoch, firsts: [0] });
      await eventually(() => seen.some((batch) => batch.epoch === second.epoch && batch.events.length > 0), { what: 'b delivers the new log' });
      const fresh = seen.filter((batch) => batch.epoch === second.epoch && batch.events.length > 0);
      assert.deepEqual(fresh.map((batch) => [batch.firstVersion, textsOf(batch.events)]), [[0, ['n0', 'n1']]]);

      // Deleted while everyone stays connected: found by b's periodic check.
      await withAdmin(server, async (admin) => {
        const keys = channelKeys(prefix, channel);
        await admin.del(keys.meta, keys.log);
      });
      await eventually(() => seen.some((batch) => batch.epoch !== first.epoch && batch.epoch !== second.epoch), { what: 'b announces a third epoch' });
      const third = seen[seen.length - 1];
      assert.deepEqual({ firstVersion: third.firstVersion, events: third.events.length }, { firstVersion: 0, events: 0 });
      assert.equal((await a.info(channel)).epoch, third.epoch);
    } finally {
      await server.destroy();
    }
  });

  it('moves a channel whose log went back below what was delivered (a failover that lost batches) to a new epoch, keeping publishes once', async () => {
    const prefix = freshPrefix('back');
    const a = await open(engineOn(shared, prefix));
    // b only watches: it finds the roll-back through its own check.
    const b = await open(engineOn(shared, prefix, { epochCheckMs: 100 }));
    const channel = 'rolled';
    const seenB: CommittedBatch[] = [];
    b.onBatch((batch) => { if (batch.channel === channel) seenB.push(batch); });
    const stamped = [{ producer: 'p1', seq: 1, count: 2 }];
    const [first] = await a.append([{ channel, events: texted(['a0', 'a1']), publishes: stamped }]);
    await b.info(channel);
    const [lost] = await a.append([{ channel, events: texted(['a2', 'a3', 'a4']), publishes: [{ producer: 'p1', seq: 2, count: 3 }] }]);
    assert.equal(lost.version, 2);
    await eventually(() => seenB.reduce((n, x) => n + x.events.length, 0) >= 3, { what: 'b to deliver the batch about to be lost' });
    // What a replica that lacked the last batch looks like once promoted: same epoch, head back at 2.
    await withAdmin(shared, async (admin) => {
      await loseBatchesFrom(admin, prefix, channel, 2);
      await admin.hdel(producerKeyOf(prefix, channel, 'p1'), '2');
    });
    await eventually(() => seenB.some((x) => x.epoch !== first.epoch), { what: 'b to announce a new epoch' });
    const announced = seenB.find((x) => x.epoch !== first.epoch)!;
    assert.deepEqual({ firstVersion: announced.firstVersion, events: announced.events.length }, { firstVersion: 2, events: 0 }, 'at the head the log has');
    const info = await a.info(channel);
    assert.deepEqual({ epoch: info.epoch, head: info.head }, { epoch: announced.epoch, head: 2 });
    // A publish that survived is still found by its stamp across the new epoch; the lost one is appended anew.
    const [again] = await a.append([{ channel, events: texted(['a0', 'a1']), publishes: stamped }]);
    assert.deepEqual({ firsts: again.firsts, epoch: again.epoch }, { firsts: [0], epoch: announced.epoch });
    const [redo] = await a.append([{ channel, events: texted(['a2', 'a3', 'a4']), publishes: [{ producer: 'p1', seq: 2, count: 3 }] }]);
    assert.deepEqual(redo.firsts, [2]);
    assert.deepEqual(textsOf(await a.read(channel, 0, 10)), ['a0', 'a1', 'a2', 'a3', 'a4']);
  });

  it('an engine that appends finds the roll-back itself, before writing over versions it delivered', async () => {
    const prefix = freshPrefix('back-append');
    const a = await open(engineOn(shared, prefix, { epochCheckMs: 60_000 }));
    const channel = 'rolled';
    const seen: CommittedBatch[] = [];
    a.onBatch((batch) => { if (batch.channel === channel) seen.push(batch); });
    const [first] = await a.append([{ channel, events: texted(['x0', 'x1', 'x2']) }]);
    await eventually(() => seen.length >= 1, { what: 'the batch delivered' });
    await withAdmin(shared, (admin) => loseBatchesFrom(admin, prefix, channel, 0));
    const [next] = await a.append([{ channel, events: texted(['y0']) }]);
    assert.equal(next.version, 0);
    assert.notEqual(next.epoch, first.epoch, 'version 0 now means another event: a new epoch says so');
  });

  it('rejects with UNAVAILABLE while Redis is down (OUTCOME_UNKNOWN for the call in flight) and loses nothing acknowledged across a crash', async () => {
    const server = await startRedis({ appendonly: true });
    try {
      const prefix = freshPrefix('outage');
      const a = await open(engineOn(server, prefix));
      const b = await open(engineOn(server, prefix));
      const channel = 'outage-channel';
      const seenB = record(b, channel);
      await b.info(channel);

      const acked: Seen[] = [];
      const failures: unknown[] = [];
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const texts = [`w${i}-0`, `w${i}-1`];
          try {
            const [{ version: firstVersion }] = await a.append([{ channel, events: texted(texts) }]);
            acked.push({ firstVersion, texts });
          } catch (err) {
            failures.push(err);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
      })();
      await eventually(() => acked.length >= 20, { what: '20 acknowledged appends' });
      await server.kill();
      await eventually(() => !a.isReady(), { what: 'the engine notices the outage' });
      await eventually(() => failures.length > 0, { what: 'the writer sees appends refused' });
      writing = false;
      await writer;
      // The call in flight when Redis died is in doubt (OUTCOME_UNKNOWN); every later one is refused.
      for (const err of failures) {
        assert.ok(err instanceof BrigadeError && (err.code === 'UNAVAILABLE' || err.code === 'OUTCOME_UNKNOWN'), String(err));
      }
      assert.ok(failures.filter((err) => (err as BrigadeError).code === 'OUTCOME_UNKNOWN').length <= 1, 'at most the call in flight is in doubt');
      await assert.rejects(a.append([{ channel, events: texted(['refused']) }]), isUnavailable);
      await assert.rejects(a.info(channel), isUnavailable);
      await assert.rejects(b.read(channel, 0, 10), isUnavailable);

      await server.restart();
      await eventually(() => a.isReady() && b.isReady(), { what: 'both engines reconnect', timeoutMs: 60_000 });
      const head = (await a.info(channel)).head;
      const last = acked[acked.length - 1];
      // An append in flight at the crash may have committed without being acknowledged.
      assert.ok(head >= last.firstVersion + 2, `head ${head} lost acknowledged events`);
      const stored = textsOf(await a.read(channel, 0, head));
      assert.equal(stored.length, head, 'no gaps in the log');
      for (const batch of acked) {
        assert.deepEqual(stored.slice(batch.firstVersion, batch.firstVersion + 2), batch.texts, `batch at ${batch.firstVersion}`);
      }
      assert.deepEqual((await a.append([{ channel, events: texted(['after']) }])).map((p) => p.version), [head]);
      await eventually(() => eventCount(seenB) >= head + 1, { what: 'the reader resumes after the restart' });
      assertDense(seenB, 'engine b');
      assert.deepEqual(seenB.flatMap((batch) => batch.texts), [...stored, 'after'], 'each batch once, in order');
    } finally {
      await server.destroy();
    }
  });

  it('takes a claim once across engines until it expires, and refuses claims with UNAVAILABLE while Redis is down', async () => {
    const server = await startRedis();
    try {
      const prefix = freshPrefix('claims');
      const a = await open(engineOn(server, prefix));
      const b = await open(engineOn(server, prefix));
      assert.equal(await a.claim('cooldown:alice', 60_000), 0, 'free: taken');
      const left = await b.claim('cooldown:alice', 60_000);
      assert.ok(left > 55_000 && left <= 60_000, `held by the other engine for about a minute more (${left} ms)`);
      assert.ok((await a.claim('cooldown:alice', 60_000)) > 0, 'and by its own');
      assert.equal(await b.claim('cooldown:bob', 60_000), 0, 'another key is free');
      assert.equal(await a.claim('short', 40), 0);
      assert.ok((await b.claim('short', 40)) > 0);
      // Free again once it expired: a claim that finds it held changes nothing, so trying until one takes it is safe.
      await eventually(async () => (await b.claim('short', 40)) === 0, { what: 'the 40 ms claim to expire and be taken again' });
      await assert.rejects(a.claim('x', 0), RangeError);
      await assert.rejects(a.claim('x', Number.NaN), RangeError);
      await server.kill();
      await eventually(() => !a.isReady(), { what: 'the engine notices the outage' });
      await assert.rejects(a.claim('cooldown:carol', 60_000), isUnavailable);
    } finally {
      await server.destroy();
    }
  });

  it('rejects open with UNAVAILABLE when Redis cannot be reached', async () => {
    const server = await startRedis();
    const url = server.url;
    await server.destroy();
    const engine = new RedisEngine({ url, retention: { retainEvents: 1, keepSnapshots: 1 }, logger: quiet });
    await assert.rejects(engine.open(), isUnavailable);
    assert.equal(engine.isReady(), false);
    await engine.close();
  });

  it('refuses a batch it cannot encode before sending anything', async () => {
    const engine = await open(engineOn(shared, freshPrefix('bad')));
    await engine.append([{ channel: 'a', events: texted(['a0']) }]);
    const bad = { payload: { not: 'bytes' } as unknown as Uint8Array, publisher: '', timeMs: 2 };
    await assert.rejects(engine.append([
      { channel: 'a', events: texted(['a1']) },
      { channel: 'b', events: [bad] },
    ]), isUnavailable);
    assert.equal((await engine.info('a')).head, 1);
    assert.equal((await engine.info('b')).head, 0);
  });

  it('logs a throwing onBatch handler and still serves the others', async () => {
    const warnings: string[] = [];
    const engine = await open(engineOn(shared, freshPrefix('throw'), { logger: { warn: (_obj, msg) => warnings.push(msg) } }));
    engine.onBatch(() => {
      throw new Error('subscriber bug');
    });
    const seen = record(engine, 'a');
    await engine.append([{ channel: 'a', events: texted(['x']) }]);
    await engine.append([{ channel: 'a', events: texted(['y']) }]);
    await eventually(() => seen.length >= 2, { what: 'both batches delivered' });
    assert.deepEqual(seen, [{ firstVersion: 0, texts: ['x'] }, { firstVersion: 1, texts: ['y'] }]);
    assert.equal(warnings.filter((msg) => msg === 'onBatch handler threw').length, 2);
  });

  it('lets an abandoned membership set expire and closes the direct-message connection', async () => {
    const prefix = freshPrefix('abandon');
    const engine = await open(engineOn(shared, prefix));
    const admin = new Redis(shared.url);
    try {
      // A long TTL to read the key's expiry on a loaded machine, then a short one to see it go.
      await engine.join('room', 'm', 60_000);
      const key = `${prefix}{room}:members`;
      const ttl = await admin.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `the key expires with its member (pttl ${ttl})`);
      await engine.join('room', 'm', 150);
      await eventually(async () => (await admin.exists(key)) === 0, { what: 'the abandoned set key to disappear' });
      const dmClients = async (): Promise<number> =>
        (await admin.client('LIST') as string).split('\n').filter((line) => line.includes('name=brigade-engine-dm')).length;
      const before = await dmClients();
      engine.receive('someone', () => undefined);
      await eventually(async () => (await dmClients()) > before, { what: 'the subscriber connection to open on receive()' });
      await engine.close();
      await eventually(async () => (await dmClients()) <= before, { what: 'close() to close the subscriber connection' });
    } finally {
      admin.disconnect();
    }
  });

  it('keeps publishers, times and binary payloads intact, and reads across batch boundaries', async () => {
    const engine = await open(engineOn(shared, freshPrefix('bytes')));
    const events: LogEvent[] = [
      { payload: new Uint8Array([0, 255, 10, 13]), publisher: 'ünïcødé 👋', timeMs: 1_700_000_000_123 },
      { payload: new Uint8Array(0), publisher: '', timeMs: 0 },
      { payload: new Uint8Array(70_000).fill(7), publisher: 'admin', timeMs: 2.5 },
    ];
    await engine.append([{ channel: 'bin', events: events.slice(0, 2) }]);
    await engine.append([{ channel: 'bin', events: events.slice(2) }]);
    const back = await engine.read('bin', 1, 2);
    assert.equal(back.length, 2);
    for (const [i, event] of back.entries()) {
      assert.deepEqual(Array.from(event.payload), Array.from(events[i + 1].payload));
      assert.equal(event.publisher, events[i + 1].publisher);
      assert.equal(event.timeMs, events[i + 1].timeMs);
    }
    assert.equal((await engine.read('bin', 0, 1))[0].publisher, 'ünïcødé 👋');
  });
});
