/**
 * The embedded engine's JobQueues (core/engine.ts): jobs in the engine's SQLite file. Each call is
 * atomic (one statement, or its own transaction: a savepoint when the engine runs it inside the
 * group commit of its event-loop turn, group-commit.ts), so a step commits whole or not at all and
 * survives a restart of the process.
 *
 *   jobs        one row per job; `state` as JobState. Its indexes are partial, one per state that
 *               is queried (waiting: claim order; delayed and failed: run_at_ms; active: lease
 *               expiry; completed, dead: finished_ms), so a row is in at most one of them and a step
 *               (enqueue, claim, completion) rewrites one or two index entries, not four: ~half the
 *               WAL pages per job (docs/benchmarks-jobs.md, Follow-up 7). A query uses one of them
 *               only when its WHERE holds the index's state term word for word, so every statement
 *               names its state as a literal, never a bound parameter (prepareJobStatements).
 *   job_queues  queue → the next id
 *   job_keys    (queue, key) → job id until expires_ms (idempotent enqueue)
 *
 * The file's `PRAGMA user_version` is the schema's version (JOBS_SCHEMA_VERSION): a file written
 * before it (version 0: four full indexes with `state` in each key) is migrated when it is opened,
 * in one transaction: the old indexes dropped, the partial ones built from the rows.
 */
import { leasePrefix } from './lease-prefix.ts';
import { BOUND } from './sqlite-bound.ts';
import type { Database as SqliteDatabase, Statement, Transaction } from 'better-sqlite3';
import {
  JOB_STATES, jobBackoffMs,
  type ClaimedJob, type EnqueuedJob, type FailOutcome, type JobCompletion, type JobCounts, type JobRecord, type JobRetention, type JobState, type NewJob,
} from '../core/engine.ts';

/** The schema version this code writes (the file's user_version). 0: the first schema, full indexes. */
export const JOBS_SCHEMA_VERSION = 1;

/** The due jobs' state term: the partial index's WHERE and every query on it, word for word. */
const DUE = `state IN ('delayed', 'failed')`;

export const JOBS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS jobs (
    queue TEXT NOT NULL, id INTEGER NOT NULL, state TEXT NOT NULL, payload TEXT NOT NULL,
    priority INTEGER NOT NULL, run_at_ms INTEGER NOT NULL, attempt INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
    backoff_ms INTEGER NOT NULL, backoff_max_ms INTEGER NOT NULL, timeout_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, lease TEXT, lease_expires_ms INTEGER NOT NULL DEFAULT 0,
    finished_ms INTEGER NOT NULL DEFAULT 0, result TEXT, error TEXT,
    PRIMARY KEY (queue, id)
  );
  CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (queue, priority DESC, id) WHERE state = 'waiting';
  CREATE INDEX IF NOT EXISTS jobs_due_at ON jobs (queue, run_at_ms, id) WHERE ${DUE};
  CREATE INDEX IF NOT EXISTS jobs_active ON jobs (queue, lease_expires_ms, id) WHERE state = 'active';
  CREATE INDEX IF NOT EXISTS jobs_completed ON jobs (queue, finished_ms, id) WHERE state = 'completed';
  CREATE INDEX IF NOT EXISTS jobs_dead ON jobs (queue, finished_ms, id) WHERE state = 'dead';
  CREATE TABLE IF NOT EXISTS job_queues (queue TEXT PRIMARY KEY, next_id INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS job_keys (
    queue TEXT NOT NULL, key TEXT NOT NULL, id INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue, key)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS job_keys_expiry ON job_keys (queue, expires_ms);
`;

/** Version 0's indexes on jobs (each keyed by queue, state, …), dropped by the migration. */
const VERSION_0_INDEXES = ['jobs_ready', 'jobs_due', 'jobs_leases', 'jobs_finished'];

/**
 * Creates the jobs tables, or brings a file written by an older version up to JOBS_SCHEMA_VERSION:
 * one IMMEDIATE transaction, so a crash midway leaves the old schema whole. A file of a newer
 * version is left as it is.
 */
export function openJobsSchema(db: SqliteDatabase): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version < 1) for (const name of VERSION_0_INDEXES) db.exec(`DROP INDEX IF EXISTS ${name}`);
    db.exec(JOBS_SCHEMA);
    if (version < JOBS_SCHEMA_VERSION) db.pragma(`user_version = ${JOBS_SCHEMA_VERSION}`);
  }).immediate();
}

/** The state term each state's queries carry (its partial index's WHERE, or one that implies it). */
function stateTerm(state: JobState): string {
  return state === 'delayed' || state === 'failed' ? `${DUE} AND state = '${state}'` : `state = '${state}'`;
}

/** The finished states retention prunes. */
type FinishedState = 'completed' | 'dead';

/**
 * Every statement of EmbeddedJobs, prepared on `db` (exported so a test can check each one's query
 * plan: each reads the jobs table through an index).
 */
export function prepareJobStatements(db: SqliteDatabase) {
  const listOrder: Record<JobState, string> = {
    waiting: 'priority DESC, id', delayed: 'run_at_ms, id', failed: 'run_at_ms, id', active: 'lease_expires_ms, id',
    completed: 'finished_ms DESC, id DESC', dead: 'finished_ms DESC, id DESC',
  };
  const perState = <S extends JobState>(states: readonly S[], sql: (state: S) => string) =>
    Object.fromEntries(states.map((state) => [state, db.prepare(sql(state))])) as Record<S, Statement<any[], any>>;
  const finished: FinishedState[] = ['completed', 'dead'];
  return {
    nextId: db.prepare(`INSERT INTO job_queues (queue, next_id) VALUES (?, 2)
      ON CONFLICT (queue) DO UPDATE SET next_id = next_id + 1 RETURNING next_id - 1 AS id`),
    keyGet: db.prepare('SELECT id FROM job_keys WHERE queue = ? AND key = ? AND expires_ms > ?'),
    keyPut: db.prepare('INSERT OR REPLACE INTO job_keys (queue, key, id, expires_ms) VALUES (?, ?, ?, ?)'),
    keyExpired: db.prepare(`SELECT key FROM job_keys WHERE queue = ? AND expires_ms <= ? LIMIT ${BOUND}`).pluck(),
    keyDelete: db.prepare('DELETE FROM job_keys WHERE queue = ? AND key = ?'),
    insert: db.prepare(`INSERT INTO jobs (queue, id, state, payload, priority, run_at_ms, attempt, max_attempts,
      backoff_ms, backoff_max_ms, timeout_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`),
    promote: db.prepare(`UPDATE jobs SET state = 'waiting' WHERE queue = ? AND id IN (
      SELECT id FROM jobs WHERE queue = ? AND ${DUE} AND run_at_ms <= ? ORDER BY run_at_ms LIMIT ${BOUND})`),
    ready: db.prepare(`SELECT id, payload, attempt, max_attempts, timeout_ms FROM jobs
      WHERE queue = ? AND state = 'waiting' ORDER BY priority DESC, id LIMIT ${BOUND}`),
    take: db.prepare(`UPDATE jobs SET state = 'active', attempt = attempt + 1, lease = ?, lease_expires_ms = ?
      WHERE queue = ? AND id = ?`),
    get: db.prepare('SELECT * FROM jobs WHERE queue = ? AND id = ?'),
    heartbeat: db.prepare(`UPDATE jobs SET lease_expires_ms = ? + timeout_ms
      WHERE queue = ? AND id = ? AND state = 'active' AND lease = ? AND lease_expires_ms > ? RETURNING lease_expires_ms`),
    complete: db.prepare(`UPDATE jobs SET state = 'completed', result = ?, finished_ms = ?, lease = NULL, lease_expires_ms = 0
      WHERE queue = ? AND id = ? AND state = 'active' AND lease = ? AND lease_expires_ms > ?`),
    current: db.prepare(`SELECT attempt, max_attempts, backoff_ms, backoff_max_ms FROM jobs
      WHERE queue = ? AND id = ? AND state = 'active' AND lease = ? AND lease_expires_ms > ?`),
    retry: db.prepare(`UPDATE jobs SET state = 'failed', run_at_ms = ?, error = ?, lease = NULL, lease_expires_ms = 0
      WHERE queue = ? AND id = ?`),
    bury: db.prepare(`UPDATE jobs SET state = 'dead', finished_ms = ?, error = ?, lease = NULL, lease_expires_ms = 0
      WHERE queue = ? AND id = ?`),
    expired: db.prepare(`SELECT id, lease FROM jobs WHERE queue = ? AND state = 'active' AND lease_expires_ms <= ?
      ORDER BY lease_expires_ms LIMIT ${BOUND}`),
    // One count per state, each through its state's index (a GROUP BY state would read every row of
    // the queue); the queue is bound once per state.
    counts: db.prepare(`SELECT ${JOB_STATES.map((state) =>
      `(SELECT COUNT(*) FROM jobs WHERE queue = ? AND ${stateTerm(state)}) AS ${state}`).join(', ')}`),
    queues: db.prepare('SELECT queue FROM job_queues ORDER BY queue'),
    list: perState(JOB_STATES, (state) =>
      `SELECT * FROM jobs WHERE queue = ? AND ${stateTerm(state)} ORDER BY ${listOrder[state]} LIMIT ${BOUND}`),
    countIn: perState(finished, (state) => `SELECT COUNT(*) AS n FROM jobs WHERE queue = ? AND ${stateTerm(state)}`),
    pruneOldest: perState(finished, (state) => `DELETE FROM jobs WHERE queue = ? AND id IN (
      SELECT id FROM jobs WHERE queue = ? AND ${stateTerm(state)} ORDER BY finished_ms, id LIMIT ${BOUND})`),
    pruneBefore: perState(finished, (state) => `DELETE FROM jobs WHERE queue = ? AND id IN (
      SELECT id FROM jobs WHERE queue = ? AND ${stateTerm(state)} AND finished_ms <= ? ORDER BY finished_ms, id LIMIT ${BOUND})`),
    revive: db.prepare(`UPDATE jobs SET state = 'waiting', run_at_ms = ?, finished_ms = 0, max_attempts = MAX(max_attempts, attempt + 1)
      WHERE queue = ? AND id = ? AND state = 'dead'`),
    drop: db.prepare(`DELETE FROM jobs WHERE queue = ? AND id = ? AND state = 'dead'`),
  };
}

interface JobRow {
  id: number; state: JobState; payload: string; priority: number; run_at_ms: number; attempt: number;
  max_attempts: number; backoff_ms: number; backoff_max_ms: number; timeout_ms: number; created_ms: number;
  lease: string | null; lease_expires_ms: number; finished_ms: number; result: string | null; error: string | null;
}

/** Expired keys a keyed enqueue deletes beyond twice the keys it adds. */
const KEY_PRUNE_SLACK = 16;

export function newLease(): string {
  return leasePrefix();
}

export class EmbeddedJobs {
  private readonly s: ReturnType<typeof prepareJobStatements>;
  private readonly enqueueTx: Transaction<(queue: string, jobs: NewJob[], nowMs: number) => EnqueuedJob[]>;
  private readonly claimTx: Transaction<(queue: string, max: number, nowMs: number) => ClaimedJob[]>;
  private readonly failTx: Transaction<(queue: string, id: number, lease: string, error: string, jitter: number, nowMs: number) => FailOutcome | null>;
  private readonly reapTx: Transaction<(queue: string, nowMs: number, jitter: number, limit: number) => number>;
  private readonly pruneTx: Transaction<(queue: string, retention: JobRetention, nowMs: number, limit: number) => number>;

  constructor(db: SqliteDatabase) {
    openJobsSchema(db);
    this.s = prepareJobStatements(db);
    this.enqueueTx = db.transaction((queue, jobs, nowMs) => this.enqueueIn(queue, jobs, nowMs));
    this.claimTx = db.transaction((queue, max, nowMs) => this.claimIn(queue, max, nowMs));
    this.failTx = db.transaction((queue, id, lease, error, jitter, nowMs) => this.failIn(queue, id, lease, error, jitter, nowMs, nowMs));
    this.reapTx = db.transaction((queue, nowMs, jitter, limit) => {
      const rows = this.s.expired.all(queue, nowMs, limit) as { id: number; lease: string }[];
      // The reaper fails leases that have expired: no expiry bound.
      for (const row of rows) this.failIn(queue, row.id, row.lease, 'lease expired', jitter, nowMs, Number.MIN_SAFE_INTEGER);
      return rows.length;
    });
    this.pruneTx = db.transaction((queue, retention, nowMs, limit) => {
      // Keys past their window go too (Redis expires its own): a bounded batch, not counted.
      this.pruneKeys(queue, nowMs, limit);
      return this.pruneIn(queue, 'completed', retention.completedMaxAgeMs, retention.completedMaxCount, nowMs, limit)
        + this.pruneIn(queue, 'dead', retention.deadMaxAgeMs, retention.deadMaxCount, nowMs, limit);
    });
  }

  enqueue(queue: string, jobs: NewJob[], nowMs: number): EnqueuedJob[] {
    return this.enqueueTx(queue, jobs, nowMs);
  }

  claim(queue: string, max: number, nowMs: number): ClaimedJob[] {
    return this.claimTx(queue, max, nowMs);
  }

  heartbeat(queue: string, id: string, lease: string, nowMs: number): number | null {
    const n = idOf(id);
    if (n === null) return null;
    const row = this.s.heartbeat.get(nowMs, queue, n, lease, nowMs) as { lease_expires_ms: number } | undefined;
    return row ? row.lease_expires_ms : null;
  }

  complete(queue: string, id: string, lease: string, result: string, nowMs: number): boolean {
    const n = idOf(id);
    if (n === null) return false;
    return this.s.complete.run(result, nowMs, queue, n, lease, nowMs).changes > 0;
  }

  /** Each as complete(), in one transaction (the caller's: the group commit's). */
  completeMany(queue: string, items: readonly JobCompletion[], nowMs: number): boolean[] {
    return items.map((item) => this.complete(queue, item.id, item.lease, item.result, nowMs));
  }

  fail(queue: string, id: string, lease: string, error: string, jitter: number, nowMs: number): FailOutcome | null {
    const n = idOf(id);
    if (n === null) return null;
    return this.failTx(queue, n, lease, error, jitter, nowMs);
  }

  promote(queue: string, nowMs: number, limit: number): number {
    return this.s.promote.run(queue, queue, nowMs, limit).changes;
  }

  reap(queue: string, nowMs: number, jitter: number, limit: number): number {
    return this.reapTx(queue, nowMs, jitter, limit);
  }

  get(queue: string, id: string): JobRecord | null {
    const n = idOf(id);
    if (n === null) return null;
    const row = this.s.get.get(queue, n) as JobRow | undefined;
    return row ? recordOf(queue, row) : null;
  }

  counts(queue: string): JobCounts {
    return this.s.counts.get(JOB_STATES.map(() => queue)) as JobCounts;
  }

  list(queue: string, state: JobState, limit: number): JobRecord[] {
    const statement = this.s.list[state] as Statement<any[], any> | undefined;
    return statement ? (statement.all(queue, limit) as JobRow[]).map((row) => recordOf(queue, row)) : [];
  }

  prune(queue: string, retention: JobRetention, nowMs: number, limit: number): number {
    return this.pruneTx(queue, retention, nowMs, limit);
  }

  retryDead(queue: string, id: string, nowMs: number): boolean {
    const n = idOf(id);
    return n !== null && this.s.revive.run(nowMs, queue, n).changes > 0;
  }

  dropDead(queue: string, id: string): boolean {
    const n = idOf(id);
    return n !== null && this.s.drop.run(queue, n).changes > 0;
  }

  queueNames(): string[] {
    return (this.s.queues.all() as { queue: string }[]).map((r) => r.queue);
  }

  private enqueueIn(queue: string, jobs: NewJob[], nowMs: number): EnqueuedJob[] {
    // A few expired keys go with each keyed enqueue (more than it adds, so the table keeps pace with
    // no retention pass), the rest in the retention pass: never one long delete in a request.
    let keyed = 0;
    for (const j of jobs) if (j.key !== undefined) keyed++;
    if (keyed > 0) this.pruneKeys(queue, nowMs, 2 * keyed + KEY_PRUNE_SLACK);
    const out: EnqueuedJob[] = [];
    for (const job of jobs) {
      if (job.key !== undefined) {
        const existing = this.s.keyGet.get(queue, job.key, nowMs) as { id: number } | undefined;
        if (existing) {
          out.push({ id: String(existing.id), created: false });
          continue;
        }
      }
      const { id } = this.s.nextId.get(queue) as { id: number };
      const state: JobState = job.runAtMs > nowMs ? 'delayed' : 'waiting';
      this.s.insert.run(queue, id, state, job.payload, job.priority, job.runAtMs, job.maxAttempts,
        job.backoffMs, job.backoffMaxMs, job.timeoutMs, nowMs);
      if (job.key !== undefined) this.s.keyPut.run(queue, job.key, id, nowMs + (job.keyTtlMs ?? 86_400_000));
      out.push({ id: String(id), created: true });
    }
    return out;
  }

  private claimIn(queue: string, max: number, nowMs: number): ClaimedJob[] {
    this.s.promote.run(queue, queue, nowMs, Math.max(max, 100));
    const rows = this.s.ready.all(queue, max) as Pick<JobRow, 'id' | 'payload' | 'attempt' | 'max_attempts' | 'timeout_ms'>[];
    // One random prefix per claim, job i's lease "<prefix>.<i>" (as on Redis): a lease is still
    // unguessable, and a claim of 100 makes one random draw, not 100 (randomBytes was a sixth of
    // the node's busy samples in the throughput run).
    const prefix = rows.length > 0 ? newLease() : '';
    return rows.map((row, i) => {
      const lease = `${prefix}.${i + 1}`;
      const leaseExpiresAtMs = nowMs + row.timeout_ms;
      this.s.take.run(lease, leaseExpiresAtMs, queue, row.id);
      return {
        id: String(row.id), payload: row.payload, attempt: row.attempt + 1, maxAttempts: row.max_attempts,
        lease, leaseExpiresAtMs, timeoutMs: row.timeout_ms,
      };
    });
  }

  /**
   * Deletes up to `limit` of the queue's keys past their window, through the expiry index. (A
   * `DELETE … WHERE key IN (SELECT … LIMIT ?)` took 0.9 ms with nothing to delete among 100,000 keys,
   * and without the index 11-18 ms: once a second in the retention pass, and on every keyed enqueue.)
   */
  private pruneKeys(queue: string, nowMs: number, limit: number): void {
    for (const key of this.s.keyExpired.all(queue, nowMs, limit) as string[]) this.s.keyDelete.run(queue, key);
  }

  /** Deletes up to `limit` jobs of `state`: first the oldest beyond `maxCount`, then those finished `maxAgeMs` ago or earlier. */
  private pruneIn(queue: string, state: FinishedState, maxAgeMs: number, maxCount: number, nowMs: number, limit: number): number {
    let removed = 0;
    if (maxCount > 0) {
      const { n } = this.s.countIn[state].get(queue) as { n: number };
      if (n > maxCount) removed += this.s.pruneOldest[state].run(queue, queue, Math.min(n - maxCount, limit)).changes;
    }
    if (maxAgeMs > 0 && removed < limit) removed += this.s.pruneBefore[state].run(queue, queue, nowMs - maxAgeMs, limit - removed).changes;
    return removed;
  }

  /** `liveAfterMs`: the lease must expire after this (nowMs for an ack; MIN_SAFE_INTEGER for the reaper). */
  private failIn(queue: string, id: number, lease: string, error: string, jitter: number, nowMs: number, liveAfterMs: number): FailOutcome | null {
    const row = this.s.current.get(queue, id, lease, liveAfterMs) as
      Pick<JobRow, 'attempt' | 'max_attempts' | 'backoff_ms' | 'backoff_max_ms'> | undefined;
    if (!row) return null;
    if (row.attempt >= row.max_attempts) {
      this.s.bury.run(nowMs, error, queue, id);
      return { state: 'dead', runAtMs: 0 };
    }
    const runAtMs = nowMs + jobBackoffMs(row.attempt, row.backoff_ms, row.backoff_max_ms, jitter);
    this.s.retry.run(runAtMs, error, queue, id);
    return { state: 'failed', runAtMs };
  }
}

function idOf(id: string): number | null {
  return /^[1-9][0-9]{0,14}$/.test(id) ? Number(id) : null;
}

function recordOf(queue: string, row: JobRow): JobRecord {
  return {
    queue, id: String(row.id), state: row.state, payload: row.payload, priority: row.priority, runAtMs: row.run_at_ms,
    attempt: row.attempt, maxAttempts: row.max_attempts, backoffMs: row.backoff_ms, backoffMaxMs: row.backoff_max_ms,
    timeoutMs: row.timeout_ms, createdAtMs: row.created_ms, leaseExpiresAtMs: row.lease_expires_ms,
    finishedAtMs: row.finished_ms, result: row.result, error: row.error,
  };
}
