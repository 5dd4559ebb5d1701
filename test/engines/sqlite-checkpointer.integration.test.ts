/**
 * The embedded engine's WAL checkpoint thread (src/engines/sqlite-checkpointer.ts), on real SQLite
 * files: the thread checkpoints and the engine's connection never does by itself, the WAL stays
 * bounded under a burst, nothing acknowledged is lost to a kill -9 while checkpoints run, and
 * close() stops the thread.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { EmbeddedEngine } from '../../src/engines/index.ts';
import type { EmbeddedEngineOptions } from '../../src/engines/index.ts';
import type { Checkpointer } from '../../src/engines/sqlite-checkpointer.ts';
import { eventually } from '../helpers/eventually.ts';
import { appendUntilKilled, assertAcknowledgedKept } from './crash-run.ts';

const retention = { retainEvents: 1_000_000, keepSnapshots: 1 };
/** SQLite's default page size plus a WAL frame's header. */
const FRAME_BYTES = 4096 + 24;

function tempDb(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-checkpoint-'));
  return { path: join(dir, 'brigade.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const walBytes = (path: string) => (existsSync(path + '-wal') ? statSync(path + '-wal').size : 0);

/** Appends `appends` batches of three 1,500-byte events: about two pages of WAL each. */
async function burst(engine: EmbeddedEngine, appends: number, channel = 'c'): Promise<void> {
  const payload = new Uint8Array(1500).fill(7);
  for (let i = 0; i < appends; i++) {
    await engine.append([{ channel, events: [0, 1, 2].map((j) => ({ payload, publisher: 'p', timeMs: i * 3 + j })) }]);
    // Let the loop turn (as a server's does between requests), so the thread's messages are handled.
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
}

async function withEngine<T>(options: Partial<EmbeddedEngineOptions>, body: (engine: EmbeddedEngine, path: string) => Promise<T>): Promise<T> {
  const { path, cleanup } = tempDb();
  const engine = new EmbeddedEngine({ path, retention, ...options });
  await engine.open();
  try {
    return await body(engine, path);
  } finally {
    await engine.close();
    cleanup();
  }
}

const internals = (engine: EmbeddedEngine) => engine as unknown as { db: SqliteDatabase; checkpointer: Checkpointer | null };

describe('WAL checkpoints (embedded engine)', () => {
  it('inline: SQLite checkpoints inside the commit that passes 1,000 pages, so the WAL file stays near that size', async () => {
    await withEngine({ checkpoint: 'inline' }, async (engine, path) => {
      assert.equal(engine.checkpointStats(), null);
      assert.equal(internals(engine).db.pragma('wal_autocheckpoint', { simple: true }), 1000);
      await burst(engine, 1500);
      assert.ok(walBytes(path) < 1100 * FRAME_BYTES, `WAL ${walBytes(path)} bytes`);
    });
  });

  it('thread: the engine\'s connection never checkpoints; the thread does, and the engine\'s loop finishes a pass so the WAL starts over', async () => {
    // A pass once an hour: until then nothing checkpoints, and the WAL grows past SQLite's 1,000 pages.
    await withEngine({ checkpoint: 'thread', checkpointIntervalMs: 3_600_000 }, async (engine, path) => {
      assert.equal(internals(engine).db.pragma('wal_autocheckpoint', { simple: true }), 0);
      await burst(engine, 1500);
      assert.ok(walBytes(path) > 1500 * FRAME_BYTES, `WAL ${walBytes(path)} bytes: something checkpointed`);
      assert.equal(engine.checkpointStats()!.passes, 0);
    });
    // A pass every 20 ms: the thread copies the frames into the database file.
    await withEngine({ checkpoint: 'thread', checkpointIntervalMs: 20, walRestartBytes: 512 * 1024 }, async (engine, path) => {
      const dbBytesBefore = statSync(path).size;
      await burst(engine, 600);
      const stats = await eventually(() => {
        const s = engine.checkpointStats()!;
        return s.passes > 0 && s.framesCopied > 0 && s.loopFinishes > 0 && s;
      }, { what: () => JSON.stringify(engine.checkpointStats()) });
      assert.equal(stats.errors, 0);
      assert.ok(statSync(path).size > dbBytesBefore, 'pages were copied into the database file');
      // The loop finished a pass: a later write starts the WAL over, so the file holds less than the
      // appends wrote into it (at least two frames each). Written in bursts until it has (a loaded
      // machine's thread may still be copying when the first burst ends), up to 3,000 more appends.
      let written = 600;
      await eventually(async () => {
        if (walBytes(path) < written * 2 * FRAME_BYTES) return true;
        if (written >= 3_600) return true;
        await burst(engine, 200, 'd');
        written += 200;
        return false;
      }, { what: () => `WAL ${walBytes(path)} bytes after ${written} appends`, timeoutMs: 60_000 });
      assert.ok(walBytes(path) < written * 2 * FRAME_BYTES, `WAL ${walBytes(path)} bytes after ${written} appends: never started over`);
    });
  });

  it('thread: the WAL stays within its bound under a write burst (the thread truncates it)', async () => {
    const boundBytes = 1024 * 1024;
    // No finishing pass on the loop before the bound: only the bound keeps the WAL small here.
    await withEngine({ checkpoint: 'thread', checkpointIntervalMs: 10, walBoundBytes: boundBytes, walRestartBytes: boundBytes }, async (engine, path) => {
      await burst(engine, 3000); // ~24 MiB of WAL written
      const stats = await eventually(() => {
        const s = engine.checkpointStats()!;
        return s.truncates + s.loopFinishes > 0 && walBytes(path) <= boundBytes && s;
      }, { what: () => `WAL ${walBytes(path)} bytes, ${JSON.stringify(engine.checkpointStats())}` });
      assert.equal(stats.errors, 0);
      const info = await engine.info('c');
      assert.equal(info.head, 9000, 'every event committed');
    });
  });

  it('close() stops the thread and closes its connection: the engine\'s is the last, so SQLite removes the WAL', async () => {
    const { path, cleanup } = tempDb();
    try {
      const engine = new EmbeddedEngine({ path, retention, checkpointIntervalMs: 20 });
      await engine.open();
      const checkpointer = internals(engine).checkpointer!;
      await burst(engine, 200);
      await eventually(() => engine.checkpointStats()!.passes > 0);
      assert.equal(checkpointer.current().running, true);
      await engine.close();
      assert.equal(checkpointer.current().running, false);
      assert.equal(existsSync(path + '-wal'), false, 'a connection was left open');
      const reopened = new EmbeddedEngine({ path, retention });
      await reopened.open();
      assert.equal((await reopened.info('c')).head, 600);
      await reopened.close();
    } finally {
      cleanup();
    }
  });

  it('goes back to inline checkpoints when the thread dies', async () => {
    const warnings: string[] = [];
    await withEngine({ checkpoint: 'thread', logger: { warn: (_obj, msg) => warnings.push(msg) } }, async (engine) => {
      const worker = (internals(engine).checkpointer as unknown as { worker: { terminate(): Promise<number> } }).worker;
      await worker.terminate();
      await eventually(() => engine.checkpointStats()!.running === false);
      assert.equal(internals(engine).db.pragma('wal_autocheckpoint', { simple: true }), 1000);
      assert.ok(warnings.some((w) => w.includes('inline')), warnings.join('; '));
      await burst(engine, 10);
    });
  });

  for (const synchronous of ['full', 'normal'] as const) it(`keeps every acknowledged event when the process is SIGKILLed while checkpoints run (synchronous ${synchronous})`, async () => {
    const { path, cleanup } = tempDb();
    try {
      // A pass every 2 ms with a 256 KiB bound: the thread checkpoints and truncates all the time.
      const checkpointsSaid = (stderr: string) => Number([...stderr.matchAll(/checkpoints (\d+)/g)].at(-1)?.[1] ?? 0);
      const run = await appendUntilKilled(path, [synchronous, '2'], (acked, stderr) => acked.length >= 300 && checkpointsSaid(stderr) >= 10);
      assert.ok(run.acknowledged.length >= 300 && checkpointsSaid(run.stderr) >= 10,
        `${run.acknowledged.length} acknowledged, ${checkpointsSaid(run.stderr)} checkpoints before the deadline: ${run.stderr.slice(-2000)}`);
      await assertAcknowledgedKept(path, run.acknowledged);
    } finally {
      cleanup();
    }
  });
});
