/**
 * The embedded engine's HeldClaims (core/engine.ts): a SQLite table of (key, holder, expiresAtMs)
 * beside the plain claims. Taking or renewing is one statement, `INSERT … ON CONFLICT DO UPDATE …
 * WHERE expired OR same holder`, so it is atomic without a transaction of its own; `changes` says
 * whether it was taken. Wall-clock expiry (Date.now()), as in embedded-claims.ts.
 */
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';

export const HELD_CLAIMS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS held_claims (
    key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

export class EmbeddedHeldClaims {
  private readonly take: Statement<[string, string, number, number]>;
  private readonly current: Statement<[string], { holder: string; expires_at_ms: number }>;
  private readonly release: Statement<[string, string]>;

  constructor(db: SqliteDatabase) {
    db.exec(HELD_CLAIMS_SCHEMA);
    this.take = db.prepare(`INSERT INTO held_claims (key, holder, expires_at_ms) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
      WHERE held_claims.expires_at_ms <= ? OR held_claims.holder = excluded.holder`);
    this.current = db.prepare('SELECT holder, expires_at_ms FROM held_claims WHERE key = ?');
    this.release = db.prepare('DELETE FROM held_claims WHERE key = ? AND holder = ?');
  }

  hold(key: string, holder: string, ttlMs: number, nowMs: number): { holder: string; ttlMs: number } {
    const ttl = Math.ceil(ttlMs);
    if (this.take.run(key, holder, nowMs + ttl, nowMs).changes > 0) return { holder, ttlMs: ttl };
    const row = this.current.get(key);
    return { holder: row?.holder ?? holder, ttlMs: Math.max(1, (row?.expires_at_ms ?? nowMs) - nowMs) };
  }

  drop(key: string, holder: string): boolean {
    return this.release.run(key, holder).changes > 0;
  }
}

/** A held claim's holder is a non-empty string and its ttl a positive number (both engines). */
export function checkHeldClaim(holder: string, ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`a claim's ttlMs must be a positive number, got ${ttlMs}`);
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 1024) throw new RangeError('a claim\'s holder is a string of 1-1024 characters');
}
