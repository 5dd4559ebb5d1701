/**
 * The embedded engine: every channel log and snapshot in one SQLite file, for a single process.
 * better-sqlite3 is synchronous, so an append is one transaction that either commits whole or not
 * at all, and handlers run on the same tick as the commit — no other append can interleave.
 *
 * Claims are a SQLite table (embedded-claims.ts), so a claim (place's cooldown) survives a restart.
 * Claims, held claims and job steps asked for in one event-loop turn commit in one transaction
 * (group-commit.ts): one WAL sync per turn, not one per claim.
 *
 * It also has the optional abilities DirectMessages and Membership, kept in memory: there is one
 * process, so nothing needs to be shared or to outlive it (a presence set is rebuilt by re-joins
 * after a restart anyway). Messages go to the handlers on a microtask, never inside sendTo();
 * expired members are dropped lazily, when their set is next read or joined.
 */
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import type {
  AppendRequest, AppendResult, BatchHandler, ChannelInfo, Claims, ClaimedJob, CommittedBatch, DirectMessages, EnqueuedJob, Engine,
  FailOutcome, JobCompletion, JobCounts, JobQueues, JobState, JobRecord, JobRetention, LogEvent, Membership, NewJob, RetentionOptions, StoredSnapshot,
} from '../core/engine.ts';
import { PRODUCER_WINDOW } from '../core/engine.ts';
import { validateStamps } from './stamps.ts';
import { BOUND } from './sqlite-bound.ts';
import { BrigadeError } from '../protocol/index.ts';
import { EmbeddedClaims } from './embedded-claims.ts';
import { checkHeldClaim, EmbeddedHeldClaims } from './embedded-held-claims.ts';
import { EmbeddedJobs } from './embedded-jobs.ts';
import { GroupCommit } from './group-commit.ts';
import { EventRows } from './embedded-rows.ts';
import { Checkpointer, type CheckpointStats, type SqliteCheckpoint, SQLITE_CHECKPOINT } from './sqlite-checkpointer.ts';

/**
 * SQLite's `synchronous` in WAL mode, as the engine offers it (`--sqlite-synchronous`):
 * - 'full': the WAL is fsynced at every commit; an acknowledged step survives a power loss.
 * - 'normal': the WAL is fsynced only at checkpoints; an acknowledged step survives the process's
 *   crash (kill -9: the WAL is in the OS's page cache), but a power loss or an OS crash may lose the
 *   last commits (never corrupt the file). plainjob's setting.
 */
export const SQLITE_SYNCHRONOUS = ['full', 'normal'] as const;
export type SqliteSynchronous = (typeof SQLITE_SYNCHRONOUS)[number];

export interface EmbeddedEngineOptions {
  /** The SQLite file; its parent directory is created when missing. */
  path: string;
  retention: RetentionOptions;
  /** Default 'full'. */
  synchronous?: SqliteSynchronous;
  /** Who checkpoints the WAL (sqlite-checkpointer.ts); default 'thread'. */
  checkpoint?: SqliteCheckpoint;
  /** The thread's WAL bound, bytes (tests); default WAL_BOUND_BYTES. */
  walBoundBytes?: number;
  /** WAL size at which the loop finishes a pass so the WAL starts over, bytes (tests); default WAL_RESTART_BYTES. */
  walRestartBytes?: number;
  /** The thread's checkpoint interval, ms (tests); default CHECKPOINT_INTERVAL_MS. */
  checkpointIntervalMs?: number;
  logger?: { warn(obj: object, msg: string): void };
}

/** The embedded store's tables (bench/ingest.ts's plain loop uses the same). */
export const EMBEDDED_SCHEMA = `
  CREATE TABLE IF NOT EXISTS channels (
    name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, head INTEGER NOT NULL, oldest INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS events (
    channel TEXT NOT NULL, version INTEGER NOT NULL, payload BLOB NOT NULL,
    publisher TEXT NOT NULL, time_ms INTEGER NOT NULL, PRIMARY KEY (channel, version)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS snapshots (
    channel TEXT NOT NULL, version INTEGER NOT NULL, bytes BLOB NOT NULL,
    time_ms INTEGER NOT NULL, PRIMARY KEY (channel, version)
  ) WITHOUT ROWID;
  -- Idempotent publishing: per channel and producer, its newest committed sequence numbers and the
  -- first version each got, packed as float64 pairs (seq, version); one row written per producer
  -- per append, however many of its publishes the append holds.
  CREATE TABLE IF NOT EXISTS producers (
    channel TEXT NOT NULL, producer TEXT NOT NULL, epoch INTEGER NOT NULL, pairs BLOB NOT NULL, time_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, producer)
  ) WITHOUT ROWID;
`;

interface ChannelRow { epoch: number; head: number; oldest: number }
interface EventRow { payload: Buffer; publisher: string; time_ms: number }
interface SnapshotRow { version: number; bytes: Buffer; time_ms: number }

/** Prepared once at open(): re-preparing per call would dominate small appends. */
interface Statements {
  ensureChannel: Statement<[string, number]>;
  channel: Statement<[string], ChannelRow>;
  setHead: Statement<[number, string]>;
  insertEvent: Statement<[string, number, Uint8Array, string, number]>;
  readEvents: Statement<[string, number, number], EventRow>;
  putSnapshot: Statement<[string, number, Uint8Array, number]>;
  nthNewestSnapshot: Statement<[string, number], { version: number }>;
  dropSnapshotsBelow: Statement<[string, number]>;
  snapshotBounds: Statement<[string], { oldestKept: number; newest: number }>;
  newestSnapshot: Statement<[string], SnapshotRow>;
  snapshotAtOrBefore: Statement<[string, number], SnapshotRow>;
  trimEvents: Statement<[string, number]>;
  setOldest: Statement<[number, string]>;
  producerPairs: Statement<[string, string], { pairs: Buffer; epoch: number }>;
  putProducerPairs: Statement<[string, string, number, Uint8Array, number]>;
  dropOldProducers: Statement<[number]>;
}

const defaultLogger = { warn: (obj: object, msg: string) => console.warn(msg, obj) };

/** One receive() call: its own object, so the same function registered twice is two receivers. */
interface Receiver { handler: (bytes: Uint8Array) => void }

export class EmbeddedEngine implements Engine, DirectMessages, Membership, Claims, JobQueues {
  readonly kind = 'embedded';
  readonly shared = false;
  private readonly options: EmbeddedEngineOptions;
  private readonly logger: { warn(obj: object, msg: string): void };
  private readonly handlers: BatchHandler[] = [];
  private db: SqliteDatabase | null = null;
  private statements: Statements | null = null;
  /** The append's event rows, written several per statement (embedded-rows.ts). */
  private rows: EventRows | null = null;
  private closed = false;
  private appendTx: ((requests: AppendRequest[]) => { results: AppendResult[]; appended: LogEvent[][] }) | null = null;
  /** When producer windows were last pruned of producers silent for PRODUCER_WINDOW.ms. */
  private producersPrunedAt = 0;
  private snapshotTx: ((channel: string, snapshot: StoredSnapshot) => void) | null = null;
  private readonly receivers = new Map<string, Set<Receiver>>();
  /** set → member → expiresAtMs. */
  private readonly sets = new Map<string, MemberSet>();
  /** Claims are kept in SQLite (embedded-claims.ts), so a cooldown outlives a restart. */
  private claims: EmbeddedClaims | null = null;
  private heldClaims: EmbeddedHeldClaims | null = null;
  /** Job queues in SQLite (embedded-jobs.ts). */
  private jobs: EmbeddedJobs | null = null;
  /**
   * The writes of one event-loop turn that are not appends (job steps, claims, held claims) commit
   * together (group-commit.ts). With `synchronous = FULL` a statement of its own was a WAL sync of
   * its own on the event loop: a choir node renewing 10 rooms' claims held its loop 2–6 ms (40 ms
   * once on a busy disk), and every cooldown claim of a place publish paid one.
   */
  private writes: GroupCommit | null = null;
  /** The WAL's checkpoint thread ('thread'); null when SQLite checkpoints inline. */
  private checkpointer: Checkpointer | null = null;

  constructor(options: EmbeddedEngineOptions) {
    this.options = options;
    this.logger = options.logger ?? defaultLogger;
  }

  async open(): Promise<void> {
    if (this.db) return;
    this.guard();
    const synchronous = this.options.synchronous ?? 'full';
    if (!SQLITE_SYNCHRONOUS.includes(synchronous)) {
      throw unavailable('cannot open the embedded store', new Error(`synchronous must be ${SQLITE_SYNCHRONOUS.join(' or ')}, got ${String(synchronous)}`));
    }
    const checkpoint = this.options.checkpoint ?? 'thread';
    if (!SQLITE_CHECKPOINT.includes(checkpoint)) {
      throw unavailable('cannot open the embedded store', new Error(`checkpoint must be ${SQLITE_CHECKPOINT.join(' or ')}, got ${String(checkpoint)}`));
    }
    try {
      mkdirSync(dirname(this.options.path), { recursive: true });
      const db = new Database(this.options.path);
      db.pragma('journal_mode = WAL');
      // FULL (default): an ack promises the step is on disk. NORMAL: in the OS's page cache, so it
      // survives a kill -9 but a power loss may take the last commits (SQLITE_SYNCHRONOUS).
      db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
      db.exec(EMBEDDED_SCHEMA);
      this.statements = prepare(db);
      this.rows = new EventRows(db);
      this.appendTx = db.transaction((requests: AppendRequest[]) => this.appendInTx(requests));
      this.snapshotTx = db.transaction((channel: string, snapshot: StoredSnapshot) =>
        this.putSnapshotInTx(channel, snapshot));
      this.claims = new EmbeddedClaims(db);
      this.heldClaims = new EmbeddedHeldClaims(db);
      this.jobs = new EmbeddedJobs(db);
      this.writes = new GroupCommit(db);
      if (checkpoint === 'thread') {
        this.checkpointer = new Checkpointer(db, {
          path: this.options.path, synchronous, logger: this.logger,
          boundBytes: this.options.walBoundBytes, restartBytes: this.options.walRestartBytes, intervalMs: this.options.checkpointIntervalMs,
        });
      }
      this.db = db;
    } catch (err) {
      throw unavailable('cannot open the embedded store', err);
    }
  }

  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    this.guard();
    for (const request of requests) validateStamps(request.channel, request.events, request.publishes);
    let out: { results: AppendResult[]; appended: LogEvent[][] };
    try {
      out = this.appendTx!(requests);
    } catch (err) {
      throw unavailable('append failed; nothing was committed', err);
    }
    for (let i = 0; i < requests.length; i++) {
      const events = out.appended[i];
      if (events.length === 0) continue;
      this.emit({ channel: requests[i].channel, firstVersion: out.results[i].version, epoch: out.results[i].epoch, events });
    }
    return out.results;
  }

  /**
   * Returns the stored events in [fromVersion, fromVersion + limit). Events below `oldest` were
   * trimmed, so a read starting there comes back short at the front: callers check info() first.
   */
  async read(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]> {
    const s = this.ready();
    if (limit <= 0) return [];
    try {
      return s.readEvents.all(channel, fromVersion, fromVersion + limit).map((row) => ({
        payload: row.payload, publisher: row.publisher, timeMs: row.time_ms,
      }));
    } catch (err) {
      throw unavailable('read failed', err);
    }
  }

  async info(channel: string): Promise<ChannelInfo> {
    const s = this.ready();
    try {
      // The row is created here too so the epoch reported now is the one the first append keeps.
      return this.channelRow(s, channel);
    } catch (err) {
      throw unavailable('info failed', err);
    }
  }

  async putSnapshot(channel: string, snapshot: StoredSnapshot): Promise<void> {
    this.guard();
    try {
      this.snapshotTx!(channel, snapshot);
    } catch (err) {
      throw unavailable('storing the snapshot failed; nothing was changed', err);
    }
  }

  async getSnapshot(channel: string, atOrBefore?: number): Promise<StoredSnapshot | null> {
    const s = this.ready();
    try {
      const row = atOrBefore === undefined
        ? s.newestSnapshot.get(channel)
        : s.snapshotAtOrBefore.get(channel, atOrBefore);
      return row ? { version: row.version, bytes: row.bytes, timeMs: row.time_ms } : null;
    } catch (err) {
      throw unavailable('reading the snapshot failed', err);
    }
  }

  onBatch(handler: BatchHandler): void {
    this.handlers.push(handler);
  }

  isReady(): boolean {
    return this.db !== null && !this.closed;
  }

  /** Idempotent, so shutdown paths can call it without checking. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const db = this.db;
    this.db = null;
    this.statements = null;
    this.claims = null;
    this.heldClaims = null;
    // Steps asked for before close() still commit; none is left hanging.
    this.writes?.flush();
    this.writes = null;
    this.jobs = null;
    this.receivers.clear();
    this.sets.clear();
    // The checkpoint thread ends its pass and closes first; closing the last connection then
    // checkpoints the rest, as SQLite always does.
    const checkpointer = this.checkpointer;
    this.checkpointer = null;
    await checkpointer?.stop();
    db?.close();
  }

  /** The checkpoint thread's counters; null when SQLite checkpoints inline. */
  checkpointStats(): CheckpointStats | null {
    return this.checkpointer?.current() ?? null;
  }

  async sendTo(address: string, bytes: Uint8Array): Promise<void> {
    this.ready();
    const receivers = this.receivers.get(address);
    if (!receivers || receivers.size === 0) return;
    // Captured now: a receiver added after the send does not get it; one removed before delivery does not either.
    const targets = [...receivers];
    queueMicrotask(() => {
      for (const receiver of targets) {
        if (this.closed || !receivers.has(receiver)) continue;
        try {
          receiver.handler(bytes);
        } catch (err) {
          this.logger.warn({ err, address }, 'direct message handler threw');
        }
      }
    });
  }

  receive(address: string, handler: (bytes: Uint8Array) => void): () => void {
    this.ready();
    let receivers = this.receivers.get(address);
    if (!receivers) {
      receivers = new Set();
      this.receivers.set(address, receivers);
    }
    const receiver: Receiver = { handler };
    receivers.add(receiver);
    return () => {
      const current = this.receivers.get(address);
      if (!current?.delete(receiver)) return;
      if (current.size === 0) this.receivers.delete(address);
    };
  }

  async claim(key: string, ttlMs: number): Promise<number> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`a claim's ttlMs must be a positive number, got ${ttlMs}`);
    this.ready();
    const claims = this.claims!;
    return this.inTurn('claiming', () => claims.claim(key, ttlMs, Date.now()));
  }

  async holdClaim(key: string, holder: string, ttlMs: number): Promise<{ holder: string; ttlMs: number }> {
    checkHeldClaim(holder, ttlMs);
    this.ready();
    const held = this.heldClaims!;
    return this.inTurn('holding the claim', () => held.hold(key, holder, ttlMs, Date.now()));
  }

  async releaseClaim(key: string, holder: string): Promise<boolean> {
    this.ready();
    const held = this.heldClaims!;
    return this.inTurn('releasing the claim', () => held.drop(key, holder));
  }

  async enqueueJobs(queue: string, jobs: NewJob[], nowMs: number): Promise<EnqueuedJob[]> {
    return this.jobStep('enqueueing jobs', (j) => j.enqueue(queue, jobs, nowMs));
  }

  async claimJobs(queue: string, max: number, nowMs: number): Promise<ClaimedJob[]> {
    return this.jobStep('claiming jobs', (j) => j.claim(queue, max, nowMs));
  }

  async heartbeatJob(queue: string, id: string, lease: string, nowMs: number): Promise<number | null> {
    return this.jobStep('extending a lease', (j) => j.heartbeat(queue, id, lease, nowMs));
  }

  async completeJob(queue: string, id: string, lease: string, result: string, nowMs: number): Promise<boolean> {
    return this.jobStep('completing a job', (j) => j.complete(queue, id, lease, result, nowMs));
  }

  async completeJobs(queue: string, items: readonly JobCompletion[], nowMs: number): Promise<boolean[]> {
    return this.jobStep('completing jobs', (j) => j.completeMany(queue, items, nowMs));
  }

  async failJob(queue: string, id: string, lease: string, error: string, jitter: number, nowMs: number): Promise<FailOutcome | null> {
    return this.jobStep('failing a job', (j) => j.fail(queue, id, lease, error, jitter, nowMs));
  }

  async promoteJobs(queue: string, nowMs: number, limit: number): Promise<number> {
    return this.jobStep('promoting jobs', (j) => j.promote(queue, nowMs, limit));
  }

  async reapJobs(queue: string, nowMs: number, jitter: number, limit: number): Promise<number> {
    return this.jobStep('reaping leases', (j) => j.reap(queue, nowMs, jitter, limit));
  }

  async getJob(queue: string, id: string): Promise<JobRecord | null> {
    return this.jobStep('reading a job', (j) => j.get(queue, id));
  }

  async listJobs(queue: string, state: JobState, limit: number): Promise<JobRecord[]> {
    return this.jobStep('listing jobs', (j) => j.list(queue, state, limit));
  }

  async retryDeadJob(queue: string, id: string, nowMs: number): Promise<boolean> {
    return this.jobStep('retrying a dead job', (j) => j.retryDead(queue, id, nowMs));
  }

  async dropDeadJob(queue: string, id: string): Promise<boolean> {
    return this.jobStep('dropping a dead job', (j) => j.dropDead(queue, id));
  }

  async pruneJobs(queue: string, retention: JobRetention, nowMs: number, limit: number): Promise<number> {
    return this.jobStep('pruning jobs', (j) => j.prune(queue, retention, nowMs, limit));
  }

  async jobCounts(queue: string): Promise<JobCounts> {
    return this.jobStep('counting jobs', (j) => j.counts(queue));
  }

  async jobQueueNames(): Promise<string[]> {
    return this.jobStep('listing queues', (j) => j.queueNames());
  }

  /** One job step in this turn's group commit (inTurn). */
  private async jobStep<T>(what: string, step: (jobs: EmbeddedJobs) => T): Promise<T> {
    this.ready();
    const jobs = this.jobs!;
    return this.inTurn(what, () => step(jobs));
  }

  /** `step` in this turn's group commit; settles after the commit, as `unavailable` ("<what> failed") if it failed. */
  private async inTurn<T>(what: string, step: () => T): Promise<T> {
    try {
      return await this.writes!.run(step);
    } catch (err) {
      throw unavailable(`${what} failed`, err);
    }
  }

  async join(set: string, member: string, ttlMs: number): Promise<void> {
    this.ready();
    const now = Date.now();
    let entries = this.liveSet(set, now);
    if (!entries) this.sets.set(set, (entries = new MemberSet()));
    entries.join(member, now + ttlMs);
  }

  async leave(set: string, member: string): Promise<void> {
    this.ready();
    const entries = this.sets.get(set);
    if (!entries) return;
    entries.leave(member);
    if (entries.size === 0) this.sets.delete(set);
  }

  async members(set: string): Promise<readonly string[]> {
    this.ready();
    return this.liveSet(set, Date.now())?.sorted() ?? [];
  }

  async count(set: string): Promise<number> {
    this.ready();
    return this.liveSet(set, Date.now())?.size ?? 0;
  }

  /** The set with its expired members removed (the set itself too once empty); undefined when empty. */
  private liveSet(set: string, now: number): MemberSet | undefined {
    const entries = this.sets.get(set);
    if (!entries) return undefined;
    entries.expire(now);
    if (entries.size > 0) return entries;
    this.sets.delete(set);
    return undefined;
  }

  private appendInTx(requests: AppendRequest[]): { results: AppendResult[]; appended: LogEvent[][] } {
    const s = this.statements!;
    const rows = this.rows!;
    rows.clear(); // rows a failed call left buffered were never written
    const results: AppendResult[] = [];
    const appended: LogEvent[][] = [];
    const nowMs = Date.now();
    /** `channel producer` → its window, read once per call and written back once. */
    const windows = new Map<string, ProducerWindow>();
    for (const { channel, events, publishes } of requests) {
      const row = this.channelRow(s, channel);
      const first = row.head;
      let v = first;
      const firsts: number[] = [];
      let kept = events;
      if (!publishes) {
        for (let i = 0; i < events.length; i++) rows.add(channel, v + i, events[i].payload, events[i].publisher, events[i].timeMs);
        v += events.length;
        firsts.push(first);
      } else {
        // A tick's publishes mostly come from one producer (the node's own stamps): its window is
        // looked up once per run of publishes, not once per publish.
        let w: ProducerWindow | null = null;
        /** Events of this request not appended (repeats) so far; `kept` is copied only once there is one. */
        let repeats = false;
        let at = 0;
        for (let j = 0; j < publishes.length; j++) {
          const p = publishes[j];
          if (w === null || w.producer !== p.producer) {
            const key = `${channel} ${p.producer}`;
            w = windows.get(key) ?? null;
            if (w === null) {
              // A window recorded in another epoch belonged to a log that is gone: it is empty now.
              const stored = s.producerPairs.get(channel, p.producer);
              w = new ProducerWindow(channel, p.producer, row.epoch, stored && stored.epoch === row.epoch ? stored.pairs : undefined);
              windows.set(key, w);
            }
          }
          const original = w.firstOf(p.seq);
          if (original !== undefined) {
            firsts.push(original); // a repeat: already committed, not appended again
            if (!repeats) {
              repeats = true;
              kept = events.slice(0, at);
            }
          } else {
            firsts.push(v);
            w.add(p.seq, v);
            for (let i = at; i < at + p.count; i++) {
              rows.add(channel, v, events[i].payload, events[i].publisher, events[i].timeMs);
              if (repeats) kept.push(events[i]);
              v++;
            }
          }
          at += p.count;
        }
      }
      // Written per request, so a second request for the same channel in one call follows on.
      if (v > first) s.setHead.run(v, channel);
      results.push({ version: first, epoch: row.epoch, firsts });
      appended.push(kept);
    }
    rows.flush();
    for (const w of windows.values()) s.putProducerPairs.run(w.channel, w.producer, w.epoch, w.pack(), nowMs);
    if (windows.size > 0 && nowMs - this.producersPrunedAt > PRODUCER_WINDOW.ms / 10) {
      this.producersPrunedAt = nowMs;
      s.dropOldProducers.run(nowMs - PRODUCER_WINDOW.ms);
    }
    return { results, appended };
  }

  private putSnapshotInTx(channel: string, snapshot: StoredSnapshot): void {
    const s = this.statements!;
    const { retainEvents, keepSnapshots } = this.options.retention;
    const row = this.channelRow(s, channel);
    if (snapshot.epoch !== undefined && snapshot.epoch !== row.epoch) {
      throw new BrigadeError('UNAVAILABLE', `snapshot of epoch ${snapshot.epoch} refused: ${channel}'s log is at epoch ${row.epoch}`);
    }
    s.putSnapshot.run(channel, snapshot.version, snapshot.bytes, snapshot.timeMs);
    const cutoff = s.nthNewestSnapshot.get(channel, Math.max(1, keepSnapshots) - 1);
    if (cutoff) s.dropSnapshotsBelow.run(channel, cutoff.version);
    const { oldestKept, newest } = s.snapshotBounds.get(channel)!;
    // Rollback replays from the oldest kept snapshot, so its events must survive.
    const trimBelow = Math.min(oldestKept, newest - retainEvents, row.head);
    if (trimBelow > row.oldest) {
      s.trimEvents.run(channel, trimBelow);
      s.setOldest.run(trimBelow, channel);
    }
  }

  private channelRow(s: Statements, channel: string): ChannelRow {
    s.ensureChannel.run(channel, randomInt(1, 2 ** 32));
    return s.channel.get(channel)!;
  }

  private emit(batch: CommittedBatch): void {
    for (const handler of this.handlers) {
      try {
        handler(batch);
      } catch (err) {
        // The batch is committed; one faulty subscriber must not fail the publisher or the others.
        this.logger.warn({ err, channel: batch.channel, firstVersion: batch.firstVersion },
          'onBatch handler threw');
      }
    }
  }

  private guard(): void {
    if (this.closed) throw new BrigadeError('UNAVAILABLE', 'the embedded engine is closed');
  }

  private ready(): Statements {
    this.guard();
    if (!this.statements) throw new BrigadeError('UNAVAILABLE', 'the embedded engine is not open; call open() first');
    return this.statements;
  }
}

function prepare(db: SqliteDatabase): Statements {
  return {
    ensureChannel: db.prepare('INSERT OR IGNORE INTO channels (name, epoch, head, oldest) VALUES (?, ?, 0, 0)'),
    channel: db.prepare('SELECT epoch, head, oldest FROM channels WHERE name = ?'),
    setHead: db.prepare('UPDATE channels SET head = ? WHERE name = ?'),
    insertEvent: db.prepare('INSERT INTO events (channel, version, payload, publisher, time_ms) VALUES (?, ?, ?, ?, ?)'),
    readEvents: db.prepare(
      'SELECT payload, publisher, time_ms FROM events WHERE channel = ? AND version >= ? AND version < ? ORDER BY version'),
    putSnapshot: db.prepare('INSERT OR REPLACE INTO snapshots (channel, version, bytes, time_ms) VALUES (?, ?, ?, ?)'),
    nthNewestSnapshot: db.prepare(`SELECT version FROM snapshots WHERE channel = ? ORDER BY version DESC LIMIT 1 OFFSET ${BOUND}`),
    dropSnapshotsBelow: db.prepare('DELETE FROM snapshots WHERE channel = ? AND version < ?'),
    snapshotBounds: db.prepare(
      'SELECT MIN(version) AS oldestKept, MAX(version) AS newest FROM snapshots WHERE channel = ?'),
    newestSnapshot: db.prepare('SELECT version, bytes, time_ms FROM snapshots WHERE channel = ? ORDER BY version DESC LIMIT 1'),
    snapshotAtOrBefore: db.prepare(
      'SELECT version, bytes, time_ms FROM snapshots WHERE channel = ? AND version <= ? ORDER BY version DESC LIMIT 1'),
    trimEvents: db.prepare('DELETE FROM events WHERE channel = ? AND version < ?'),
    setOldest: db.prepare('UPDATE channels SET oldest = ? WHERE name = ?'),
    producerPairs: db.prepare('SELECT pairs, epoch FROM producers WHERE channel = ? AND producer = ?'),
    putProducerPairs: db.prepare('INSERT OR REPLACE INTO producers (channel, producer, epoch, pairs, time_ms) VALUES (?, ?, ?, ?, ?)'),
    dropOldProducers: db.prepare('DELETE FROM producers WHERE time_ms < ?'),
  };
}

function unavailable(what: string, cause: unknown): BrigadeError {
  if (cause instanceof BrigadeError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BrigadeError('UNAVAILABLE', `${what}: ${detail}`);
}

/**
 * One membership set of the embedded engine. Reads and refreshes are the hot path (the tracker
 * refreshes every announcing peer and reads every swarm once per tick), so neither walks the set:
 * expired members are looked for only once the earliest expiry has passed, and the sorted list
 * is kept until a member comes or goes (a refresh changes neither).
 */
class MemberSet {
  private readonly expiresAt = new Map<string, number>();
  /** No member expires before this (ms); a lower bound, exact after each scan. */
  private nextExpiry = Infinity;
  private list: readonly string[] | null = null;

  get size(): number {
    return this.expiresAt.size;
  }

  join(member: string, expiresAtMs: number): void {
    const had = this.expiresAt.has(member);
    this.expiresAt.set(member, expiresAtMs);
    if (!had) this.list = null;
    if (expiresAtMs < this.nextExpiry) this.nextExpiry = expiresAtMs;
  }

  leave(member: string): void {
    if (this.expiresAt.delete(member)) this.list = null;
  }

  /** Removes the members whose time has come (expiry at or before `now`). */
  expire(now: number): void {
    if (now < this.nextExpiry) return;
    let next = Infinity;
    for (const [member, at] of this.expiresAt) {
      if (at <= now) {
        this.expiresAt.delete(member);
        this.list = null;
      } else if (at < next) {
        next = at;
      }
    }
    this.nextExpiry = next;
  }

  /** The members sorted by UTF-16 code units; the same array until the set changes (read-only). */
  sorted(): readonly string[] {
    return (this.list ??= Object.freeze([...this.expiresAt.keys()].sort()));
  }
}

/**
 * A producer's window on a channel during one append: the pairs (seq, first version) stored for it
 * (float64 pairs, its newest PRODUCER_WINDOW.seqs) and those this call adds. Sequence numbers are
 * dense and rise per producer, so a seq above every one seen cannot be a repeat: it is appended to
 * a flat array (sorted, since each is above the last) without a lookup, and only a seq at or below
 * the newest is looked for. pack() keeps the newest PRODUCER_WINDOW.seqs without building a pair
 * per entry.
 */
class ProducerWindow {
  private readonly stored = new Map<number, number>();
  /** This call's new pairs, flat (seq, version, seq, version, …), seqs rising. */
  private added: number[] = [];
  private newest = 0;

  constructor(readonly channel: string, readonly producer: string, readonly epoch: number, blob: Buffer | undefined) {
    if (!blob) return;
    const f = new Float64Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength));
    for (let i = 0; i + 1 < f.length; i += 2) {
      this.stored.set(f[i], f[i + 1]);
      if (f[i] > this.newest) this.newest = f[i];
    }
  }

  /** The first version `seq` was committed at, or undefined when it is new. */
  firstOf(seq: number): number | undefined {
    if (seq > this.newest) return undefined;
    const stored = this.stored.get(seq);
    if (stored !== undefined) return stored;
    return this.findAdded(seq);
  }

  add(seq: number, version: number): void {
    if (seq > this.newest) {
      this.added.push(seq, version);
      this.newest = seq;
    } else {
      // Below the newest (a gap filled late): the rare case; kept in the map.
      this.stored.set(seq, version);
    }
  }

  /** Binary search of the rising seqs this call added. */
  private findAdded(seq: number): number | undefined {
    const a = this.added;
    let lo = 0, hi = a.length / 2 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = a[2 * mid];
      if (s === seq) return a[2 * mid + 1];
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The newest PRODUCER_WINDOW.seqs pairs, packed. */
  pack(): Uint8Array {
    const floor = this.newest - PRODUCER_WINDOW.seqs;
    let n = 0;
    for (const seq of this.stored.keys()) if (seq > floor) n++;
    const a = this.added;
    let from = a.length;
    while (from > 0 && a[from - 2] > floor) from -= 2;
    n += (a.length - from) / 2;
    const f = new Float64Array(n * 2);
    let i = 0;
    for (const [seq, version] of this.stored) {
      if (seq <= floor) continue;
      f[i++] = seq;
      f[i++] = version;
    }
    for (let k = from; k < a.length; k++) f[i++] = a[k];
    return new Uint8Array(f.buffer);
  }
}
