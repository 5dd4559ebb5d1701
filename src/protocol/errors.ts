/**
 * Every refusal Brigade makes is a BrigadeError: a stable string `code` that callers branch on,
 * a numeric `wireCode` carried in ERROR frames, and a message that says what was wrong and what
 * is allowed.
 *
 * Wire codes 1-99 belong to the core (below). Codes 100-999 belong to apps: each app registers
 * its own block of 100 with `registerErrorCodes` (src/apps/place/errors.ts is the example), so
 * adding an app never edits this file. A block's codes are prefixed with the app's name in
 * capitals (PLACE_OUT_OF_BOUNDS), and a registration that overlaps another owner's block or
 * reuses a name is refused at startup.
 */

/** The core's codes and their wire numbers. */
export const CoreErrorCodes = {
  MALFORMED_FRAME: 1,
  UNKNOWN_FRAME_KIND: 2,
  FRAME_TOO_LARGE: 3,
  TEXT_NOT_SUPPORTED: 4,
  UNKNOWN_CHANNEL: 10,
  INVALID_CHANNEL_NAME: 11,
  VERSION_AHEAD: 12,
  NOT_SUBSCRIBED: 13,
  TOO_MANY_SUBSCRIPTIONS: 14,
  INVALID_EVENT: 20,
  EVENT_TOO_LARGE: 21,
  AUTH_REQUIRED: 30,
  INVALID_TOKEN: 31,
  FORBIDDEN: 32,
  RATE_LIMITED: 40,
  COOLDOWN: 41,
  UNAVAILABLE: 50,
  SHUTTING_DOWN: 51,
  DISCONNECTED: 52,
  TIMEOUT: 53,
  /**
   * The node could not learn whether a publish was committed (the store stopped answering
   * mid-append) within its bound. Re-send it with the same producer and seq (PUBLISH_ONCE): that is
   * safe, and answers with its one version whether or not the first try had committed it.
   */
  OUTCOME_UNKNOWN: 54,
  INTERNAL: 60,
  /** A REQUEST whose kind no running app (or no handler of its app) answers. */
  UNKNOWN_REQUEST: 70,
  /** A REQUEST for an app this node knows but does not run (`--apps`). */
  APP_NOT_RUNNING: 71,
  /** A REQUEST whose body its handler cannot use (not JSON where JSON is wanted, a missing field). */
  INVALID_REQUEST: 72,
} as const;

export type CoreErrorCode = keyof typeof CoreErrorCodes;
/** A core code, or one an app registered (`PLACE_OUT_OF_BOUNDS`). */
export type ErrorCode = CoreErrorCode | (string & {});

/**
 * Every registered code → wire number: the core's, then each app's block as it registers. Read
 * only; grows through registerErrorCodes.
 */
export const ErrorCodes: Readonly<Record<string, number>> = { ...CoreErrorCodes };

/** One code of an app's block: its wire number, HTTP status, and whether a retry may succeed. */
export interface AppErrorCode {
  wire: number;
  /** HTTP status for this code on the app's routes (default 400). */
  http?: number;
  /** A client may retry after waiting (default false). */
  temporary?: boolean;
}

/** An app's block of error codes. */
export interface ErrorBlock {
  /** The app's name; every code starts with it in capitals and `_`. */
  owner: string;
  /** First wire code of the block: a multiple of 100 from 100 to 900; codes lie in [first, first + 99]. */
  first: number;
  codes: Record<string, AppErrorCode>;
}

const byWire = new Map<number, string>(Object.entries(CoreErrorCodes).map(([k, v]) => [v, k]));
const temporary = new Set<string>(['RATE_LIMITED', 'COOLDOWN', 'UNAVAILABLE', 'SHUTTING_DOWN', 'DISCONNECTED', 'TIMEOUT', 'OUTCOME_UNKNOWN']);
const httpStatus = new Map<string, number>([
  ['UNKNOWN_CHANNEL', 404], ['UNKNOWN_REQUEST', 404], ['APP_NOT_RUNNING', 404],
  ['AUTH_REQUIRED', 401], ['INVALID_TOKEN', 401], ['FORBIDDEN', 403],
  ['RATE_LIMITED', 429], ['COOLDOWN', 429],
  ['UNAVAILABLE', 503], ['SHUTTING_DOWN', 503], ['DISCONNECTED', 503], ['TIMEOUT', 504], ['OUTCOME_UNKNOWN', 504],
  ['INTERNAL', 500], ['VERSION_AHEAD', 409],
]);
/** Blocks by first code, with their owner. */
const blocks = new Map<number, string>();

/**
 * Registers an app's block of codes. Idempotent for the same owner and codes (a module may be
 * loaded by the server and a test); throws on a block outside 100-999, a block another owner
 * holds, a code outside the block or without the owner's prefix, or a name or number in use.
 */
export function registerErrorCodes(block: ErrorBlock): void {
  const { owner, first } = block;
  if (!/^[a-z][a-z0-9]*$/.test(owner)) throw new Error(`error block owner ${JSON.stringify(owner)} must be an app name ([a-z][a-z0-9]*)`);
  if (!Number.isInteger(first) || first < 100 || first > 900 || first % 100 !== 0) {
    throw new Error(`${owner}: error block must start at a multiple of 100 from 100 to 900, got ${first}`);
  }
  const holder = blocks.get(first);
  if (holder !== undefined && holder !== owner) throw new Error(`${owner}: error block ${first}-${first + 99} belongs to ${holder}`);
  const prefix = owner.toUpperCase() + '_';
  for (const [code, spec] of Object.entries(block.codes)) {
    if (!code.startsWith(prefix) || !/^[A-Z0-9_]+$/.test(code)) throw new Error(`${owner}: error code ${code} must be ${prefix}… in capitals`);
    if (!Number.isInteger(spec.wire) || spec.wire < first || spec.wire > first + 99) {
      throw new Error(`${owner}: ${code}'s wire code ${spec.wire} is outside its block ${first}-${first + 99}`);
    }
    const named = byWire.get(spec.wire);
    if (named !== undefined && named !== code) throw new Error(`${owner}: wire code ${spec.wire} is already ${named}`);
    const wire = ErrorCodes[code];
    if (wire !== undefined && wire !== spec.wire) throw new Error(`${owner}: ${code} is already wire code ${wire}`);
  }
  blocks.set(first, owner);
  for (const [code, spec] of Object.entries(block.codes)) {
    (ErrorCodes as Record<string, number>)[code] = spec.wire;
    byWire.set(spec.wire, code);
    httpStatus.set(code, spec.http ?? 400);
    if (spec.temporary) temporary.add(code);
  }
}

/** The string code for a wire code; unknown numbers (a newer server, an app this client does not know) map to INTERNAL. */
export function errorCodeFromWire(wireCode: number): ErrorCode {
  return byWire.get(wireCode) ?? 'INTERNAL';
}

/** The HTTP status an HTTP route answers a code with (400 for a client error nobody classified). */
export function httpStatusFor(code: ErrorCode): number {
  return httpStatus.get(code) ?? (code in CoreErrorCodes ? 400 : 500);
}

export class BrigadeError extends Error {
  readonly code: ErrorCode;
  /** Milliseconds after which a retry may succeed; 0 when not applicable. */
  readonly retryAfterMs: number;
  /**
   * The request this error answers when it was raised while decoding a frame whose request id had
   * already been read (a well-formed frame with a bad channel name); 0 otherwise.
   */
  readonly requestId: number;

  constructor(code: ErrorCode, message: string, retryAfterMs = 0, requestId = 0) {
    super(message);
    this.name = 'BrigadeError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
    this.requestId = requestId;
  }

  get wireCode(): number {
    return ErrorCodes[this.code] ?? CoreErrorCodes.INTERNAL;
  }

  get temporary(): boolean {
    return temporary.has(this.code);
  }
}

/**
 * WebSocket close codes Brigade uses (documented in docs/PROTOCOL.md).
 * 1001 and 1009 are the standard ones; 4xxx are ours.
 */
export const CloseCodes = {
  /** Server shutting down (SIGTERM) — reconnect to another node or later. */
  GOING_AWAY: 1001,
  /** A frame larger than maxFrameBytes (sent by the frame reader, src/gateway/lean-ws.ts). */
  MESSAGE_TOO_BIG: 1009,
  /** Too many protocol errors (malformed frames) on one connection. */
  PROTOCOL_ERRORS: 4400,
  /** Frames sent faster than the per-connection rate limit allows, for too long. */
  FLOODING: 4429,
} as const;
