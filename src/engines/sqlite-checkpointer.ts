/**
 * Who checkpoints the embedded engine's WAL (`--sqlite-checkpoint`).
 *
 * SQLite's default ('inline') checkpoints automatically inside the commit that takes the WAL past
 * 1,000 pages: that commit copies the WAL's pages into the database file and fsyncs both, on the
 * node's event loop. Under synchronous NORMAL the WAL was never fsynced before, so that fsync
 * flushes megabytes: 9-60 ms per checkpoint on this machine's busy disk, several a second at 1,000
 * jobs/s, and every request waiting on the loop waits with it.
 *
 * 'thread' turns the automatic checkpoint off on the engine's connection and runs PASSIVE
 * checkpoints from a second connection in a worker thread, every `intervalMs`. A PASSIVE checkpoint
 * takes no writer lock and never waits: the engine keeps committing while it copies. It changes
 * nothing about what a commit promises: committed frames stay in the WAL until they are copied and
 * the database file is fsynced (the checkpointing connection runs at the engine's `synchronous`),
 * and only then may a writer start the WAL over. A kill -9 in the middle leaves the WAL whole; the
 * next open replays it.
 *
 * A PASSIVE checkpoint copies the frames committed before it began; the WAL starts over (is reused
 * from its start) only when a writer finds every frame copied, which a steady stream of commits puts
 * off for ever. So once the WAL holds `restartBytes` the worker tells the engine, and the engine's
 * loop, between two commits, checkpoints the few frames committed since the pass (onPassComplete):
 * its next write then starts the WAL over. That small checkpoint is the one left on the loop, once
 * per `restartBytes` of WAL. The bound: when the WAL holds more than `boundBytes` after a pass, the
 * worker runs a TRUNCATE checkpoint, which blocks writers while it copies the rest (the engine's
 * next commit waits in SQLite's busy handler, on the loop) and empties the file. If the worker falls
 * behind anyway (no CPU for it) the engine itself truncates once the file passes twice the bound,
 * and if the worker dies the engine goes back to inline checkpoints. So the WAL never grows without
 * bound.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database as SqliteDatabase } from 'better-sqlite3';

export const SQLITE_CHECKPOINT = ['thread', 'inline'] as const;
export type SqliteCheckpoint = (typeof SQLITE_CHECKPOINT)[number];

/** How often the worker checkpoints, ms: ~1,000 pages of WAL at 1,000 jobs/s, SQLite's own step. */
export const CHECKPOINT_INTERVAL_MS = 200;
/** WAL size past which the worker truncates it, blocking writers for one checkpoint, bytes. */
export const WAL_BOUND_BYTES = 64 * 1024 * 1024;
/**
 * WAL size past which the engine's loop finishes a completed pass itself, so the WAL starts over,
 * bytes (see Checkpointer.onPassComplete): one small checkpoint on the loop per this much WAL.
 */
export const WAL_RESTART_BYTES = 32 * 1024 * 1024;
/** How often the engine's loop looks at the WAL file's size (the fallback valve), ms. */
const WAL_WATCH_MS = 1000;
/** SQLite's automatic checkpoint, pages, restored when the worker dies. */
const AUTOCHECKPOINT_PAGES = 1000;

export interface CheckpointerOptions {
  /** The database file, already in WAL mode. */
  path: string;
  /** The engine's `synchronous`: the checkpointing connection fsyncs as the engine does. */
  synchronous: 'full' | 'normal';
  intervalMs?: number;
  boundBytes?: number;
  restartBytes?: number;
  logger: { warn(obj: object, msg: string): void };
}

/** Counters the worker keeps in shared memory (one writer: the worker). */
export interface CheckpointStats {
  /** PASSIVE checkpoints run by the worker. */
  passes: number;
  /** Of those, the ones that found every frame already copied or copied them all. */
  completePasses: number;
  /** Frames copied into the database file by the worker (counted per pass, so a frame may count twice). */
  framesCopied: number;
  /** TRUNCATE checkpoints the worker ran because the WAL passed the bound. */
  truncates: number;
  /** Checkpoints that failed (logged; the next pass tries again). */
  errors: number;
  /** Small PASSIVE checkpoints the engine's loop ran to finish a worker's pass, so the WAL could start over. */
  loopFinishes: number;
  /** Time the engine's loop spent in those and in loopTruncates, ms: total and the longest. */
  loopMs: number;
  loopMaxMs: number;
  /** TRUNCATE checkpoints the engine's own loop ran (the worker had fallen behind). */
  loopTruncates: number;
  /** True while the worker runs. */
  running: boolean;
}

const STAT_PASSES = 0, STAT_COMPLETE = 1, STAT_FRAMES = 2, STAT_TRUNCATES = 3, STAT_ERRORS = 4, STAT_FIELDS = 5;

/**
 * The worker's source, run with `eval` so it needs no bundle entry of its own: better-sqlite3 is
 * loaded by the path the engine resolved. Messages in: 'stop'. Out: 'stopped', or { error }.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqliteModule);
const stats = new Float64Array(workerData.stats);
const db = new Database(workerData.path, { timeout: 5000 });
db.pragma('synchronous = ' + workerData.synchronous);
const pageBytes = db.pragma('page_size', { simple: true }) + 24;
let lastLog = 0, lastCopied = 0;
function pass() {
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    stats[${STAT_PASSES}]++;
    const complete = r.log >= 0 && r.checkpointed === r.log;
    if (complete) stats[${STAT_COMPLETE}]++;
    // A smaller log than last time: the WAL was started over in between, so every frame counted now is new.
    stats[${STAT_FRAMES}] += r.log < lastLog ? r.checkpointed : Math.max(0, r.checkpointed - lastCopied);
    lastLog = r.log; lastCopied = r.checkpointed;
    if (r.log * pageBytes > workerData.boundBytes) {
      const t = db.pragma('wal_checkpoint(TRUNCATE)')[0];
      if (t.busy === 0) { stats[${STAT_TRUNCATES}]++; lastLog = 0; lastCopied = 0; }
    } else if (complete) {
      parentPort.postMessage({ walBytes: r.log * pageBytes });
    }
  } catch (err) {
    stats[${STAT_ERRORS}]++;
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
}
const timer = setInterval(pass, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.postMessage('stopped');
  parentPort.close();
});
`;

export class Checkpointer {
  private worker: Worker | null = null;
  private stopped: Promise<void> | null = null;
  private readonly shared = new SharedArrayBuffer(STAT_FIELDS * 8);
  private readonly stats = new Float64Array(this.shared);
  private watch: NodeJS.Timeout | null = null;
  private loopTruncates = 0;
  private loopFinishes = 0;
  private loopMs = 0;
  private loopMaxMs = 0;
  private readonly boundBytes: number;
  private readonly restartBytes: number;

  /** Takes over checkpointing `db` (the engine's connection): its automatic checkpoint goes off. */
  constructor(private readonly db: SqliteDatabase, private readonly options: CheckpointerOptions) {
    this.boundBytes = options.boundBytes ?? WAL_BOUND_BYTES;
    this.restartBytes = Math.min(options.restartBytes ?? WAL_RESTART_BYTES, this.boundBytes);
    db.pragma('wal_autocheckpoint = 0');
    // A WAL that grew past the bound between two passes is cut back to it when a writer starts it over.
    db.pragma(`journal_size_limit = ${this.boundBytes}`);
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path: options.path,
        synchronous: options.synchronous.toUpperCase(),
        intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS,
        boundBytes: this.boundBytes,
        sqliteModule: createRequire(import.meta.url).resolve('better-sqlite3'),
        stats: this.shared,
      },
    });
    this.worker = worker;
    worker.unref();
    let stoppedCleanly = false;
    this.stopped = new Promise<void>((resolve) => {
      worker.on('message', (m: unknown) => {
        if (m === 'stopped') stoppedCleanly = true;
        else if (m && typeof m === 'object' && 'walBytes' in m) this.onPassComplete((m as { walBytes: number }).walBytes);
        else if (m && typeof m === 'object' && 'error' in m) options.logger.warn({ err: (m as { error: string }).error }, 'WAL checkpoint failed; the next pass tries again');
      });
      worker.on('error', (err) => options.logger.warn({ err: err.message }, 'WAL checkpoint thread failed'));
      worker.on('exit', () => {
        this.worker = null;
        if (!stoppedCleanly) this.fallBackInline();
        resolve();
      });
    });
    this.watch = setInterval(() => this.checkBound(), WAL_WATCH_MS);
    this.watch.unref();
  }

  current(): CheckpointStats {
    const s = this.stats;
    return {
      passes: s[STAT_PASSES]!, completePasses: s[STAT_COMPLETE]!, framesCopied: s[STAT_FRAMES]!,
      truncates: s[STAT_TRUNCATES]!, errors: s[STAT_ERRORS]!, loopFinishes: this.loopFinishes, loopMs: this.loopMs, loopMaxMs: this.loopMaxMs, loopTruncates: this.loopTruncates, running: this.worker !== null,
    };
  }

  /**
   * Stops the worker after its current pass and closes its connection; the engine closes its own
   * after this (and, the last connection, checkpoints what is left as SQLite always does on close).
   */
  async stop(): Promise<void> {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
    // Held until it has closed its connection (it is unref'd while it runs, so it never keeps a node alive).
    this.worker?.ref();
    this.worker?.postMessage('stop');
    await this.stopped;
  }

  /**
   * The worker copied every frame committed before its pass began, but the engine went on
   * committing, so no writer will find the WAL wholly copied and start it over. Here, on the
   * engine's loop and so between two of its commits, a PASSIVE checkpoint copies the few frames
   * committed since that pass (the worker is idle until its next one) and the engine's next write
   * starts the WAL over. Done once the WAL holds restartBytes: the one checkpoint left on the loop,
   * a small one.
   */
  private onPassComplete(walBytes: number): void {
    if (walBytes < this.restartBytes || !this.db.open || this.db.inTransaction) return;
    const startedMs = performance.now();
    try {
      const r = this.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number }[];
      if (r[0]?.busy === 0) this.loopFinishes++;
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'WAL checkpoint on the loop failed');
    }
    this.spent(startedMs);
  }

  /** The fallback valve, on the engine's loop: a WAL file at twice the bound means the worker is behind. */
  private checkBound(): void {
    let size: number;
    try {
      size = statSync(this.options.path + '-wal').size;
    } catch {
      return;
    }
    if (size <= 2 * this.boundBytes) return;
    const startedMs = performance.now();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.loopTruncates++;
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'WAL checkpoint on the loop failed');
    }
    this.spent(startedMs);
  }

  private spent(startedMs: number): void {
    const ms = performance.now() - startedMs;
    this.loopMs += ms;
    if (ms > this.loopMaxMs) this.loopMaxMs = ms;
  }

  private fallBackInline(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
    if (!this.db.open) return;
    this.options.logger.warn({}, 'the WAL checkpoint thread stopped; SQLite checkpoints inline again');
    this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}
