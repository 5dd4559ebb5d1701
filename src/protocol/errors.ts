/**
 * Every refusal Brigade makes is a BrigadeError: a stable string `code` that callers branch on,
 * a numeric `wireCode` carried in ERROR frames, and a message that says what was wrong and what
 * is allowed. Codes 1-99 belong to the core, 100-999 to apps (each app owns a block of 100).
 */
export const ErrorCodes = {
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
  INTERNAL: 60,
  // place: 100-199
  PLACE_OUT_OF_BOUNDS: 100,
  PLACE_BAD_COLOUR: 101,
  PLACE_BAD_EDIT: 102,
  PLACE_UNKNOWN_CANVAS: 103,
  PLACE_ROLLBACK_TOO_OLD: 104,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

const byWire = new Map<number, ErrorCode>(
  (Object.entries(ErrorCodes) as [ErrorCode, number][]).map(([k, v]) => [v, k]),
);

/** The string code for a wire code; unknown numbers (a newer server) map to INTERNAL. */
export function errorCodeFromWire(wireCode: number): ErrorCode {
  return byWire.get(wireCode) ?? 'INTERNAL';
}

/** Codes a client may retry after waiting (retryAfterMs when given). */
const temporary: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'RATE_LIMITED', 'COOLDOWN', 'UNAVAILABLE', 'SHUTTING_DOWN', 'DISCONNECTED', 'TIMEOUT',
]);

export class BrigadeError extends Error {
  readonly code: ErrorCode;
  /** Milliseconds after which a retry may succeed; 0 when not applicable. */
  readonly retryAfterMs: number;

  constructor(code: ErrorCode, message: string, retryAfterMs = 0) {
    super(message);
    this.name = 'BrigadeError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }

  get wireCode(): number {
    return ErrorCodes[this.code];
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
