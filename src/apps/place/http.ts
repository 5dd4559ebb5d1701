/**
 * Small HTTP helpers for the place routes: JSON replies, typed error replies, bounded JSON
 * bodies. Errors keep the same {code, message} shape as wire errors, so clients branch on `code`.
 */
import './errors.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BrigadeError, type ErrorCode } from '../../protocol/index.ts';

/** A refusal with its HTTP status. */
export class HttpError extends BrigadeError {
  constructor(readonly status: number, code: ErrorCode, message: string) {
    super(code, message);
  }
}

/** HTTP status for an error code raised below the routes (core, engine, app). */
export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 'PLACE_UNKNOWN_CANVAS': case 'UNKNOWN_CHANNEL': return 404;
    case 'PLACE_ROLLBACK_TOO_OLD': return 409;
    case 'AUTH_REQUIRED': case 'INVALID_TOKEN': case 'FORBIDDEN': return 401;
    case 'RATE_LIMITED': case 'COOLDOWN': return 429;
    case 'UNAVAILABLE': case 'SHUTTING_DOWN': case 'DISCONNECTED': return 503;
    case 'TIMEOUT': return 504;
    case 'PLACE_BAD_EDIT': case 'PLACE_BAD_COLOUR': case 'PLACE_OUT_OF_BOUNDS':
    case 'INVALID_EVENT': case 'EVENT_TOO_LARGE': return 400;
    default: return 500;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Replies to any thrown value; unknown failures become INTERNAL without leaking details. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    sendJson(res, err.status, { code: err.code, message: err.message });
  } else if (err instanceof BrigadeError) {
    sendJson(res, statusForCode(err.code), { code: err.code, message: err.message });
  } else {
    sendJson(res, 500, { code: 'INTERNAL', message: 'internal error while handling a place request; it has been logged, try again' });
  }
}

/** Reads and parses a JSON body of at most `limitBytes`; the result is untrusted. */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Keep draining past the limit so the connection stays usable for the reply.
    if (size <= limitBytes) chunks.push(chunk);
  }
  if (size > limitBytes) {
    throw new HttpError(413, 'PLACE_BAD_EDIT', `request body is ${size} bytes; at most ${limitBytes} are allowed`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'PLACE_BAD_EDIT', 'request body is not valid JSON; send a JSON object');
  }
}

/** True when the request's If-None-Match lists `etag` (weak or strong) or is '*'. */
export function matchesIfNoneMatch(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
