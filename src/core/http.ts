/**
 * HTTP helpers for app routes (and the gateway's own): JSON replies, typed error replies with the
 * status each code registered (protocol/errors.ts), bounded JSON bodies. Errors keep the same
 * {code, message} shape as wire errors, so clients branch on `code` whichever way they came.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BrigadeError, httpStatusFor, type ErrorCode } from '../protocol/index.ts';

/** A refusal with an HTTP status of its own (413 for a body too large). */
export class HttpError extends BrigadeError {
  constructor(readonly status: number, code: ErrorCode, message: string) {
    super(code, message);
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

/**
 * Replies to any thrown value: a BrigadeError with its code's status (HttpError: its own); anything
 * else becomes INTERNAL without leaking details (the caller logs it).
 */
export function sendError(res: ServerResponse, err: unknown, what = 'the request'): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    sendJson(res, err.status, { code: err.code, message: err.message });
  } else if (err instanceof BrigadeError) {
    const headers: Record<string, string> = err.retryAfterMs > 0 ? { 'Retry-After': String(Math.ceil(err.retryAfterMs / 1000)) } : {};
    sendJson(res, httpStatusFor(err.code), { code: err.code, message: err.message }, headers);
  } else {
    sendJson(res, 500, { code: 'INTERNAL', message: `internal error while handling ${what}; it has been logged, try again` });
  }
}

/**
 * Reads and parses a JSON body of at most `limitBytes`; the result is untrusted. Refusals carry
 * `code` (an app passes its own, e.g. PLACE_BAD_EDIT): 413 past the limit, 400 for bad JSON.
 */
export async function readJsonBody(req: IncomingMessage, limitBytes: number, code: ErrorCode = 'INVALID_REQUEST'): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Keep draining past the limit so the connection stays usable for the reply.
    if (size <= limitBytes) chunks.push(chunk);
  }
  if (size > limitBytes) {
    throw new HttpError(413, code, `request body is ${size} bytes; at most ${limitBytes} are allowed`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, code, 'request body is not valid JSON; send a JSON object');
  }
}
