import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { RetentionOptions } from '../../src/core/engine.ts';
import { EmbeddedEngine } from '../../src/engines/index.ts';
import { BrigadeError } from '../../src/protocol/index.ts';
import { runAbilitiesConformance } from './abilities-conformance.ts';
import { runEngineConformance } from './engine-conformance.ts';
import { runJobsConformance } from './jobs-conformance.ts';
import { appendUntilKilled, assertAcknowledgedKept } from './crash-run.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function tempDb(): { path: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-embedded-'));
  return { path: join(dir, 'nested', 'brigade.db'), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** A second connection to the engine's file, changing it behind the engine's back. */
function tamper(path: string, change: (db: Database.Database) => void): void {
  const db = new Database(path);
  try {
    change(db);
  } finally {
    db.close();
  }
}

let brokenCount = 0;
runEngineConformance('embedded', async (retention: RetentionOptions) => {
  const { path, cleanup } = tempDb();
  return {
    engine: new EmbeddedEngine({ path, retention }),
    reopen: async () => new EmbeddedEngine({ path, retention }),
    cleanup,
    loseChannel: async (channel) => tamper(path, (db) => {
      for (const table of ['channels', 'events', 'snapshots']) {
        db.prepare(`DELETE FROM ${table} WHERE ${table === 'channels' ? 'name' : 'channel'} = ?`).run(channel);
      }
    }),
    breakChannel: async (channel) => tamper(path, (db) => {
      const name = `broken_${brokenCount++}`;
      db.exec(`CREATE TRIGGER ${name} BEFORE INSERT ON events WHEN NEW.channel = '${channel.replace(/'/g, "''")}'
        BEGIN SELECT RAISE(ABORT, 'broken by the test'); END`);
    }),
  };
});

// One process: no second engine shares the in-memory abilities, so the cross-instance cases skip.
const abilityDbs: Array<() => Promise<void>> = [];
runAbilitiesConformance('embedded', async () => {
  const { path, cleanup } = tempDb();
  abilityDbs.push(cleanup);
  return new EmbeddedEngine({ path, retention: { retainEvents: 100, keepSnapshots: 2 } });
}, {
  cleanup: async () => {
    for (const cleanup of abilityDbs.splice(0)) await cleanup();
  },
});

const jobDbs: Array<() => Promise<void>> = [];
function jobsDb(): string {
  const { path, cleanup } = tempDb();
  jobDbs.push(cleanup);
  return path;
}
runJobsConformance('embedded', async () => new EmbeddedEngine({ path: jobsDb(), retention: { retainEvents: 100, keepSnapshots: 2 } }), {
  reopenable: async () => {
    const path = jobsDb();
    const retention = { retainEvents: 100, keepSnapshots: 2 };
    return { engine: new EmbeddedEngine({ path, retention }), reopen: async () => new EmbeddedEngine({ path, retention }) };
  },
  cleanup: async () => {
    for (const cleanup of jobDbs.splice(0)) await cleanup();
  },
});

describe('embedded engine', () => {
  const retention = { retainEvents: 100, keepSnapshots: 2 };

  it('deletes idempotency keys past their window a bounded batch at a time: a few per keyed enqueue, the rest in the retention pass', async () => {
    const { path, cleanup } = tempDb();
    const engine = new EmbeddedEngine({ path, retention });
    await engine.open();
    const reader = new Database(path, { readonly: true });
    try {
      const keys = (queue: string) => (reader.prepare('SELECT COUNT(*) AS n FROM job_keys WHERE queue = ?').get(queue) as { n: number }).n;
      const T = 1_000_000;
      const keyed = (n: number, prefix: string, ttl: number) => Array.from({ length: n }, (_, i) => ({
        payload: '1', runAtMs: T, priority: 0, maxAttempts: 1, backoffMs: 1000, backoffMaxMs: 1000, timeoutMs: 30_000, key: `${prefix}${i}`, keyTtlMs: ttl,
      }));
      await engine.enqueueJobs('a', keyed(100, 'old-', 10), T);
      await engine.enqueueJobs('b', keyed(30, 'old-', 10), T);
      assert.equal(keys('a'), 100);
      // Past the window: one keyed enqueue to `a` deletes 2 × 1 + 16 of a's expired keys, none of b's.
      const [fresh] = await engine.enqueueJobs('a', keyed(1, 'new-', 60_000), T + 100);
      assert.equal(fresh!.created, true);
      assert.equal(keys('a'), 100 - 18 + 1);
      assert.equal(keys('b'), 30);
      // An expired key, deleted or not, names no job: the same key makes a new one.
      const [again] = await engine.enqueueJobs('a', keyed(1, 'old-', 60_000), T + 100);
      assert.equal(again!.created, true);
      assert.equal(keys('a'), 83 - 18 + 1);
      // The retention pass deletes up to its limit of them (keys are not counted as pruned jobs).
      const none = { completedMaxAgeMs: 0, completedMaxCount: 0, deadMaxAgeMs: 0, deadMaxCount: 0 };
      assert.equal(await engine.pruneJobs('a', none, T + 100, 50), 0);
      assert.equal(keys('a'), 66 - 50);
      assert.equal(await engine.pruneJobs('a', none, T + 100, 50), 0);
      // What is left: the two live keys.
      assert.deepEqual(reader.prepare('SELECT key FROM job_keys WHERE queue = ? ORDER BY key').pluck().all('a'), ['new-0', 'old-0']);
    } finally {
      reader.close();
      await engine.close();
      await cleanup();
    }
  });

  it('keeps a claim across a close and a reopen of its file', async () => {
    const { path, cleanup } = tempDb();
    try {
      const first = new EmbeddedEngine({ path, retention });
      await first.open();
      assert.equal(await first.claim('cooldown:alice', 60_000), 0);
      await first.close();
      const second = new EmbeddedEngine({ path, retention });
      await second.open();
      const left = await second.claim('cooldown:alice', 60_000);
      assert.ok(left > 0 && left <= 60_000, `still held after the reopen: ${left} ms left`);
      assert.equal(await second.claim('cooldown:bob', 60_000), 0);
      await second.close();
    } finally {
      await cleanup();
    }
  });

  it('commits the claims and held claims of one turn in one transaction, each settled only once committed', async () => {
    const { path, cleanup } = tempDb();
    const engine = new EmbeddedEngine({ path, retention });
    await engine.open();
    const reader = new Database(path, { readonly: true });
    const rows = (table: string) => (reader.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    try {
      const writes = (engine as unknown as { writes: { commits: number } }).writes;
      const before = writes.commits;
      // Ten rooms renewed at once, as a choir node does, with a cooldown claim and a release beside them.
      const held = Array.from({ length: 10 }, (_, i) => engine.holdClaim(`room:${i}`, 'node-a', 5_000));
      const cooldown = engine.claim('cooldown:alice', 60_000);
      const released = engine.releaseClaim('room:9', 'node-a');
      assert.equal(rows('held_claims'), 0, 'nothing written before the turn ends');
      const results = await Promise.all(held);
      assert.ok(results.every((r) => r.holder === 'node-a'));
      assert.equal(await cooldown, 0);
      assert.equal(await released, true, 'the release ran after the hold asked before it, in the same transaction');
      assert.equal(writes.commits - before, 1, 'one commit for the turn');
      assert.equal(rows('held_claims'), 9, 'committed: another connection sees them');
      assert.equal(rows('claims'), 1);
      // Another holder is refused, in a turn of its own.
      const other = await engine.holdClaim('room:0', 'node-b', 5_000);
      assert.equal(other.holder, 'node-a');
      assert.equal(writes.commits - before, 2);
    } finally {
      reader.close();
      await engine.close();
      await cleanup();
    }
  });

  it('writes every event of an append, in order, whatever its size against the 64-row INSERT (1, 63, 64, 65, 200), repeats skipped', async () => {
    const { path, cleanup } = tempDb();
    const engine = new EmbeddedEngine({ path, retention: { retainEvents: 10_000, keepSnapshots: 2 } });
    await engine.open();
    try {
      let seq = 0;
      let expected: string[] = [];
      for (const n of [1, 63, 64, 65, 200]) {
        const events = Array.from({ length: n }, (_, i) => ({ payload: encoder.encode(`${n}-${i}`), publisher: `u${i % 3}`, timeMs: 1000 + i }));
        const publishes = events.map(() => ({ producer: 'node-t', seq: ++seq, count: 1 }));
        // The first publish of each call is sent again in the next call: a repeat, not a row.
        const repeat = seq > n ? [{ producer: 'node-t', seq: seq - n, count: 1 }] : [];
        const repeatEvents = repeat.length ? [{ payload: encoder.encode('again'), publisher: 'u0', timeMs: 1 }] : [];
        const [r] = await engine.append([{ channel: 'rows', events: [...repeatEvents, ...events], publishes: [...repeat, ...publishes] }]);
        assert.equal(r.version, expected.length);
        expected = expected.concat(events.map((e) => decoder.decode(e.payload)));
      }
      const read = await engine.read('rows', 0, 10_000);
      assert.deepEqual(read.map((e) => decoder.decode(e.payload)), expected);
      assert.equal(read[70].publisher, `u${(70 - 1 - 63) % 3}`);
      assert.equal((await engine.info('rows')).head, 393);
    } finally {
      await engine.close();
      await cleanup();
    }
  });

  it('a call failing on its 70th row commits none of its rows, and the next call starts clean', async () => {
    const { path, cleanup } = tempDb();
    const engine = new EmbeddedEngine({ path, retention });
    await engine.open();
    try {
      const ev = (s: string) => ({ payload: encoder.encode(s), publisher: '', timeMs: 1 });
      const events = Array.from({ length: 100 }, (_, i) => (i === 69 ? { payload: { not: 'bytes' } as unknown as Uint8Array, publisher: '', timeMs: 1 } : ev(`x${i}`)));
      await assert.rejects(engine.append([{ channel: 'c', events }]), (err: unknown) => err instanceof BrigadeError && err.code === 'UNAVAILABLE');
      const [r] = await engine.append([{ channel: 'c', events: [ev('y0'), ev('y1')] }]);
      assert.equal(r.version, 0);
      assert.deepEqual((await engine.read('c', 0, 1000)).map((e) => decoder.decode(e.payload)), ['y0', 'y1']);
      assert.equal((await engine.info('c')).head, 2);
    } finally {
      await engine.close();
      await cleanup();
    }
  });

  it('commits nothing from a call when one of its requests fails', async () => {
    const { path, cleanup } = tempDb();
    const engine = new EmbeddedEngine({ path, retention });
    await engine.open();
    try {
      await engine.append([{ channel: 'a', events: [{ payload: encoder.encode('a0'), publisher: '', timeMs: 1 }] }]);
      const seen: number[] = [];
      engine.onBatch((batch) => seen.push(batch.firstVersion));
      const bad = { payload: { not: 'bytes' } as unknown as Uint8Array, publisher: '', timeMs: 2 };
      await assert.rejects(
        engine.append([
          { channel: 'a', events: [{ payload: encoder.encode('a1'), publisher: '', timeMs: 2 }] },
          { channel: 'b', events: [bad] },
        ]),
        (err: unknown) => err instanceof BrigadeError && err.code === 'UNAVAILABLE',
      );
      assert.deepEqual(seen, [], 'no batch announced');
      assert.equal((await engine.info('a')).head, 1);
      assert.equal((await engine.info('b')).head, 0);
      assert.equal((await engine.read('a', 0, 10)).length, 1);
      assert.deepEqual((await engine.append([{ channel: 'a', events: [{ payload: encoder.encode('a1'), publisher: '', timeMs: 3 }] }]))[0].version, 1);
    } finally {
      await engine.close();
      await cleanup();
    }
  });

  it('logs a throwing onBatch handler and still serves the others', async () => {
    const { path, cleanup } = tempDb();
    const warnings: string[] = [];
    const engine = new EmbeddedEngine({ path, retention, logger: { warn: (_obj, msg) => warnings.push(msg) } });
    await engine.open();
    try {
      const seen: number[] = [];
      engine.onBatch(() => {
        throw new Error('subscriber bug');
      });
      engine.onBatch((batch) => seen.push(batch.firstVersion));
      assert.deepEqual((await engine.append([{ channel: 'a', events: [{ payload: encoder.encode('x'), publisher: '', timeMs: 1 }] }])).map((p) => p.version), [0]);
      assert.deepEqual((await engine.append([{ channel: 'a', events: [{ payload: encoder.encode('y'), publisher: '', timeMs: 1 }] }])).map((p) => p.version), [1]);
      assert.deepEqual(seen, [0, 1]);
      assert.equal(warnings.length, 2);
    } finally {
      await engine.close();
      await cleanup();
    }
  });

  it('appends 10,000 events in one call as one batch', async () => {
    const { path, cleanup } = tempDb();
    const engine = new EmbeddedEngine({ path, retention });
    await engine.open();
    try {
      const events = Array.from({ length: 10_000 }, (_, i) => ({ payload: encoder.encode(`e${i}`), publisher: 'u', timeMs: i }));
      assert.deepEqual((await engine.append([{ channel: 'big', events }])).map((p) => p.version), [0]);
      assert.equal((await engine.info('big')).head, 10_000);
      assert.equal(decoder.decode((await engine.read('big', 9_999, 1))[0].payload), 'e9999');
    } finally {
      await engine.close();
      await cleanup();
    }
  });

  it('runs SQLite with synchronous FULL by default, NORMAL when asked; refuses another value', async () => {
    const levels: Record<string, number> = {};
    for (const synchronous of [undefined, 'full', 'normal'] as const) {
      const { path, cleanup } = tempDb();
      const engine = new EmbeddedEngine({ path, retention, synchronous });
      try {
        await engine.open();
        const db = (engine as unknown as { db: Database.Database }).db;
        levels[synchronous ?? 'default'] = db.pragma('synchronous', { simple: true }) as number;
      } finally {
        await engine.close();
        await cleanup();
      }
    }
    // SQLite's numbers: 1 NORMAL, 2 FULL.
    assert.deepEqual(levels, { default: 2, full: 2, normal: 1 });
    const { path, cleanup } = tempDb();
    try {
      await assert.rejects(new EmbeddedEngine({ path, retention, synchronous: 'off' as never }).open(), (err: unknown) => err instanceof BrigadeError && err.code === 'UNAVAILABLE');
    } finally {
      await cleanup();
    }
  });

  for (const synchronous of ['full', 'normal'] as const) it(`keeps every acknowledged event when the process is SIGKILLed mid-stream (synchronous ${synchronous})`, async () => {
    const { path, cleanup } = tempDb();
    try {
      const run = await appendUntilKilled(path, [synchronous], (acked) => acked.length >= 300);
      assert.ok(run.acknowledged.length >= 300,
        `only ${run.acknowledged.length} acknowledged before the deadline (first after ${run.firstLineMs} ms, last after ${run.lastLineMs} ms): ${run.stderr}`);
      await assertAcknowledgedKept(path, run.acknowledged);
    } finally {
      await cleanup();
    }
  });
});
