/**
 * Event rows for the embedded engine's append, written ROWS_PER_INSERT at a time with one
 * prepared multi-row INSERT of fixed arity (bound from one reused argument array), the rest one
 * by one. Per row that saves a statement step and most of the JS → C++ call of a single-row
 * insert (issue 21; the figure is in docs/BENCHMARKS.md).
 * Rows are only buffered: call flush() before anything reads the events table in the same
 * transaction. A failing row fails its statement, and the caller's transaction rolls back whole.
 */
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';

/** Rows per multi-row statement: 5 values each, well under SQLite's 32,766 bound-parameter limit. */
export const ROWS_PER_INSERT = 64;
const COLUMNS = 5;

export class EventRows {
  private readonly many: Statement<unknown[]>;
  private readonly one: Statement<unknown[]>;
  private readonly args: unknown[] = new Array(ROWS_PER_INSERT * COLUMNS);
  private n = 0;

  constructor(db: SqliteDatabase) {
    const row = '(?, ?, ?, ?, ?)';
    const head = 'INSERT INTO events (channel, version, payload, publisher, time_ms) VALUES ';
    this.many = db.prepare(head + new Array(ROWS_PER_INSERT).fill(row).join(', '));
    this.one = db.prepare(head + row);
  }

  add(channel: string, version: number, payload: Uint8Array, publisher: string, timeMs: number): void {
    const a = this.args;
    let i = this.n * COLUMNS;
    a[i++] = channel; a[i++] = version; a[i++] = payload; a[i++] = publisher; a[i] = timeMs;
    if (++this.n === ROWS_PER_INSERT) {
      this.n = 0;
      this.many.run(a);
    }
  }

  /** Writes the rows still buffered. Also to be called (it clears them) after a failed transaction. */
  flush(): void {
    const a = this.args;
    const n = this.n;
    this.n = 0;
    for (let r = 0; r < n; r++) {
      const i = r * COLUMNS;
      this.one.run(a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4]);
    }
  }

  /** Drops the buffered rows unwritten (the transaction that held them failed). */
  clear(): void {
    this.n = 0;
  }
}
