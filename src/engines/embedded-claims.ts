/**
 * The embedded engine's Claims (core/engine.ts): one SQLite table of (key, expiresAtMs), in the
 * engine's file, so a claim (place's per-user cooldown) outlives a restart of the process.
 *
 * A claim is one statement, `INSERT … ON CONFLICT DO UPDATE … WHERE expired`, so taking it is
 * atomic without a transaction of its own: the row is written only when it is absent or its time
 * is up, and `changes` says which. Expiry uses the wall clock (Date.now()), as the times must mean
 * the same thing after a restart. Expired rows are harmless (the next claim of the key overwrites
 * them) and are pruned now and then, at most once a minute, in one DELETE.
 */
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';

export const CLAIMS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

/** How often expired claims are deleted, at most, ms. */
const PRUNE_EVERY_MS = 60_000;

export class EmbeddedClaims {
  private readonly take: Statement<[string, number, number]>;
  private readonly expiresAt: Statement<[string], { expires_at_ms: number }>;
  private readonly prune: Statement<[number]>;
  private lastPruneMs = 0;

  constructor(db: SqliteDatabase) {
    db.exec(CLAIMS_SCHEMA);
    this.take = db.prepare(`INSERT INTO claims (key, expires_at_ms) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET expires_at_ms = excluded.expires_at_ms WHERE claims.expires_at_ms <= ?`);
    this.expiresAt = db.prepare('SELECT expires_at_ms FROM claims WHERE key = ?');
    this.prune = db.prepare('DELETE FROM claims WHERE expires_at_ms <= ?');
  }

  /** 0 when taken; otherwise the ms until the holder's claim ends, at least 1. Throws what SQLite throws. */
  claim(key: string, ttlMs: number, nowMs: number): number {
    if (nowMs - this.lastPruneMs >= PRUNE_EVERY_MS) {
      this.lastPruneMs = nowMs;
      this.prune.run(nowMs);
    }
    if (this.take.run(key, nowMs + Math.ceil(ttlMs), nowMs).changes > 0) return 0;
    const row = this.expiresAt.get(key);
    // A row the statement did not change is unexpired, so this is at least 1 unless the clock moved.
    return Math.max(1, (row?.expires_at_ms ?? nowMs) - nowMs);
  }
}
