/**
 * place's HTTP helper beyond the core's (src/core/http.ts: JSON replies, typed errors, bounded
 * bodies): conditional requests for the cacheable snapshots.
 */
import type { IncomingMessage } from 'node:http';

/** True when the request's If-None-Match lists `etag` (weak or strong) or is '*'. */
export function matchesIfNoneMatch(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
