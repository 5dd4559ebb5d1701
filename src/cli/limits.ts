/**
 * The connection limit a process runs with: --max-connections when set, otherwise its open-file
 * limit less a reserve, so that a flood of connections never takes the descriptors the node needs
 * for anything else (SQLite's files, Redis connections, the listening socket, a PNG render). At the
 * open-file limit itself the kernel refuses accept() and clients are reset with no answer; below it
 * they get a clear HTTP 503 TOO_MANY_CONNECTIONS.
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything but WebSocket connections. */
export const FD_RESERVE = 512;

/** The soft open-file limit from /proc/self/limits, or null (not Linux, unlimited, unreadable). */
export function openFileSoftLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | null {
  let text: string;
  try {
    text = read();
  } catch {
    return null;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!m || m[1] === 'unlimited') return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** `configured` when positive; else the soft limit less FD_RESERVE (at least 1); 0 (no limit) when unknown. */
export function effectiveMaxConnections(configured: number, softLimit: number | null): number {
  if (configured > 0) return Math.floor(configured);
  if (softLimit === null) return 0;
  return Math.max(1, softLimit - FD_RESERVE);
}
