/**
 * The embedded jobs schema (src/engines/embedded-jobs.ts): a file written by the first schema
 * (version 0, four full indexes keyed by state) is migrated at open and its jobs, in every state,
 * keep running; and every statement reads the jobs table through an index.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { EmbeddedEngine } from '../../src/engines/index.ts';
import { JOBS_SCHEMA_VERSION, openJobsSchema, prepareJobStatements } from '../../src/engines/embedded-jobs.ts';

/** The jobs tables exactly as version 0 created them (user_version left at 0). */
const VERSION_0_SCHEMA = `
  CREATE TABLE IF NOT EXISTS jobs (
    queue TEXT NOT NULL, id INTEGER NOT NULL, state TEXT NOT NULL, payload TEXT NOT NULL,
    priority INTEGER NOT NULL, run_at_ms INTEGER NOT NULL, attempt INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
    backoff_ms INTEGER NOT NULL, backoff_max_ms INTEGER NOT NULL, timeout_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, lease TEXT, lease_expires_ms INTEGER NOT NULL DEFAULT 0,
    finished_ms INTEGER NOT NULL DEFAULT 0, result TEXT, error TEXT,
    PRIMARY KEY (queue, id)
  );
  CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, state, priority DESC, id);
  CREATE INDEX IF NOT EXISTS jobs_due ON jobs (queue, state, run_at_ms);
  CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (queue, state, lease_expires_ms);
  CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (queue, state, finished_ms, id);
  CREATE TABLE IF NOT EXISTS job_queues (queue TEXT PRIMARY KEY, next_id INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS job_keys (
    queue TEXT NOT NULL, key TEXT NOT NULL, id INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue, key)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS job_keys_expiry ON job_keys (queue, expires_ms);
`;

const T = 1_700_000_000_000;
const retention = { retainEvents: 100, keepSnapshots: 2 };

function tempDir(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-jobs-schema-'));
  return { path: join(dir, 'brigade.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a version-0 file holding queue `mig`: two waiting, one delayed, one failed, two active (one lease expired), one completed, one dead. */
function writeVersion0(path: string): void {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(VERSION_0_SCHEMA);
    const insert = db.prepare(`INSERT INTO jobs (queue, id, state, payload, priority, run_at_ms, attempt, max_attempts,
      backoff_ms, backoff_max_ms, timeout_ms, created_ms, lease, lease_expires_ms, finished_ms, result, error)
      VALUES ('mig', ?, ?, ?, ?, ?, ?, 3, 1000, 1000, 30000, ?, ?, ?, ?, ?, ?)`);
    // id, state, payload, priority, run_at_ms, attempt, created_ms, lease, lease_expires_ms, finished_ms, result, error
    insert.run(1, 'waiting', '"p1"', 0, T - 10, 0, T - 10, null, 0, 0, null, null);
    insert.run(2, 'waiting', '"p2"', 5, T - 10, 0, T - 10, null, 0, 0, null, null);
    insert.run(3, 'delayed', '"p3"', 0, T + 1000, 0, T - 10, null, 0, 0, null, null);
    insert.run(4, 'failed', '"p4"', 0, T + 500, 1, T - 10, null, 0, 0, null, 'boom');
    insert.run(5, 'active', '"p5"', 0, T - 10, 1, T - 10, 'L5', T + 30_000, 0, null, null);
    insert.run(6, 'active', '"p6"', 0, T - 10, 1, T - 10, 'L6', T - 1, 0, null, null);
    insert.run(7, 'completed', '"p7"', 0, T - 10, 1, T - 10, null, 0, T - 100, '"r7"', null);
    insert.run(8, 'dead', '"p8"', 0, T - 10, 3, T - 10, null, 0, T - 50, null, 'gone');
    db.prepare(`INSERT INTO job_queues (queue, next_id) VALUES ('mig', 9)`).run();
    db.prepare(`INSERT INTO job_keys (queue, key, id, expires_ms) VALUES ('mig', 'k1', 1, ?)`).run(T + 86_400_000);
  } finally {
    db.close();
  }
}

function inspect(path: string): { version: number; indexes: string[] } {
  const db = new Database(path, { readonly: true });
  try {
    return {
      version: db.pragma('user_version', { simple: true }) as number,
      indexes: db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL ORDER BY name`).pluck().all() as string[],
    };
  } finally {
    db.close();
  }
}

const NEW_INDEXES = ['jobs_active', 'jobs_completed', 'jobs_dead', 'jobs_due_at', 'jobs_waiting'];

describe('embedded jobs schema', () => {
  it('migrates a version-0 file at open: its jobs in every state are kept, counted, listed and run', async () => {
    const { path, cleanup } = tempDir();
    try {
      writeVersion0(path);
      assert.deepEqual(inspect(path), { version: 0, indexes: ['jobs_due', 'jobs_finished', 'jobs_leases', 'jobs_ready'] });

      let engine = new EmbeddedEngine({ path, retention });
      await engine.open();
      assert.deepEqual(await engine.jobCounts('mig'), { waiting: 2, delayed: 1, active: 2, failed: 1, completed: 1, dead: 1 });
      const listed = async (state: Parameters<EmbeddedEngine['listJobs']>[1]) => (await engine.listJobs('mig', state, 10)).map((j) => j.id);
      assert.deepEqual(await listed('waiting'), ['2', '1']);
      assert.deepEqual(await listed('delayed'), ['3']);
      assert.deepEqual(await listed('failed'), ['4']);
      assert.deepEqual(await listed('active'), ['6', '5']);
      assert.deepEqual(await listed('completed'), ['7']);
      assert.deepEqual(await listed('dead'), ['8']);
      const seven = await engine.getJob('mig', '7');
      assert.equal(seven?.result, '"r7"');
      assert.equal(seven?.finishedAtMs, T - 100);

      // The key still names its job; a new job takes the next id.
      const job = { payload: '"p9"', runAtMs: T, priority: 0, maxAttempts: 3, backoffMs: 1000, backoffMaxMs: 1000, timeoutMs: 30_000 };
      assert.deepEqual(await engine.enqueueJobs('mig', [{ ...job, key: 'k1' }, job], T), [{ id: '1', created: false }, { id: '9', created: true }]);
      // Waiting jobs are claimed in their order; the live lease completes; the expired one is reaped.
      assert.deepEqual((await engine.claimJobs('mig', 10, T)).map((c) => [c.id, c.attempt]), [['2', 1], ['1', 1], ['9', 1]]);
      assert.equal(await engine.completeJob('mig', '5', 'L5', '"r5"', T), true);
      assert.equal(await engine.completeJob('mig', '6', 'L6', '"r6"', T), false);
      assert.equal(await engine.reapJobs('mig', T, 0, 10), 1);
      assert.equal((await engine.getJob('mig', '6'))?.state, 'failed');
      // Once due, the delayed and failed jobs (the reaped one among them) are promoted and claimed.
      assert.deepEqual((await engine.claimJobs('mig', 10, T + 1000)).map((c) => [c.id, c.attempt]), [['3', 1], ['4', 2], ['6', 2]]);
      // The dead job runs again with one more attempt allowed.
      assert.equal(await engine.retryDeadJob('mig', '8', T + 1000), true);
      const [eight] = await engine.claimJobs('mig', 10, T + 1000);
      assert.deepEqual([eight?.id, eight?.attempt, eight?.maxAttempts], ['8', 4, 4]);
      // Retention: the oldest completed job (7) goes past a count of 1.
      assert.equal(await engine.pruneJobs('mig', { completedMaxAgeMs: 0, completedMaxCount: 1, deadMaxAgeMs: 0, deadMaxCount: 0 }, T + 1000, 100), 1);
      assert.equal(await engine.getJob('mig', '7'), null);
      assert.deepEqual(await engine.jobCounts('mig'), { waiting: 0, delayed: 0, active: 7, failed: 0, completed: 1, dead: 0 });
      await engine.close();
      assert.deepEqual(inspect(path), { version: JOBS_SCHEMA_VERSION, indexes: NEW_INDEXES });

      // A second open finds the new version: nothing to migrate, the jobs as they were.
      engine = new EmbeddedEngine({ path, retention });
      await engine.open();
      assert.deepEqual(await engine.jobCounts('mig'), { waiting: 0, delayed: 0, active: 7, failed: 0, completed: 1, dead: 0 });
      assert.deepEqual((await engine.listJobs('mig', 'active', 10)).map((j) => j.id), ['1', '2', '9', '3', '4', '6', '8']);
      await engine.close();
      assert.deepEqual(inspect(path), { version: JOBS_SCHEMA_VERSION, indexes: NEW_INDEXES });
    } finally {
      cleanup();
    }
  });

  it('reads the jobs table through an index in every statement', () => {
    const { path, cleanup } = tempDir();
    const db = new Database(path);
    try {
      openJobsSchema(db);
      const statements: [string, Statement<unknown[], unknown>][] = [];
      for (const [name, value] of Object.entries(prepareJobStatements(db))) {
        if (typeof (value as Statement).source === 'string') statements.push([name, value as Statement<unknown[], unknown>]);
        else for (const [state, s] of Object.entries(value as Record<string, Statement<unknown[], unknown>>)) statements.push([`${name}.${state}`, s]);
      }
      const plans = new Map<string, string[]>();
      for (const [name, statement] of statements) {
        const params = (statement.source.match(/\?/g) ?? []).length;
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${statement.source}`).all(...new Array(params).fill(null)) as { detail: string }[];
        plans.set(name, plan.map((row) => row.detail));
      }
      assert.equal(plans.size, 32);
      for (const [name, details] of plans) {
        for (const detail of details) {
          // Every read of a table is a SEARCH (an index range), never a whole-table SCAN; only the list of queue names reads all of job_queues.
          if (name !== 'queues') assert.doesNotMatch(detail, /^SCAN (jobs|job_keys|job_queues)\b/, `${name}: ${detail}`);
        }
      }
      const uses = (name: string, index: string) =>
        assert.ok(plans.get(name)!.some((d) => d.includes(`INDEX ${index} `)), `${name} uses ${index}: ${plans.get(name)!.join(' | ')}`);
      uses('ready', 'jobs_waiting');
      uses('promote', 'jobs_due_at');
      uses('expired', 'jobs_active');
      for (const [state, index] of [['waiting', 'jobs_waiting'], ['delayed', 'jobs_due_at'], ['failed', 'jobs_due_at'], ['active', 'jobs_active'], ['completed', 'jobs_completed'], ['dead', 'jobs_dead']]) {
        uses(`list.${state}`, index!);
        uses('counts', index!);
      }
      for (const state of ['completed', 'dead']) {
        for (const name of ['countIn', 'pruneOldest', 'pruneBefore']) uses(`${name}.${state}`, `jobs_${state}`);
      }
      // No statement sorts in a temporary b-tree: each reads its rows in the order it returns them.
      for (const [name, details] of plans) assert.ok(!details.some((d) => d.includes('TEMP B-TREE')), `${name}: ${details.join(' | ')}`);
      // No bare `LIMIT ?` / `OFFSET ?`: SQLite plans those with the bound value and prepares the
      // statement again whenever it is bound (every run under better-sqlite3); src/engines/sqlite-bound.ts.
      for (const [name, statement] of statements) assert.doesNotMatch(statement.source, /\b(LIMIT|OFFSET)\s+\?/, name);
    } finally {
      db.close();
      cleanup();
    }
  });

  it('binds no LIMIT or OFFSET as a bare parameter anywhere in src (each would re-prepare its statement on every run)', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts')) {
          readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
            // SQL text only: a comment may quote the form it warns about.
            if (/\b(LIMIT|OFFSET)\s+\?/.test(line) && !/^\s*(\*|\/\/)/.test(line)) offenders.push(`${path}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    walk(fileURLToPath(new URL('../../src', import.meta.url)));
    assert.deepEqual(offenders, []);
  });
});
