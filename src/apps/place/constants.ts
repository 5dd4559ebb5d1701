/**
 * The place app's defaults and limits, in one place. Units are in the names.
 */

/** The 16 colours of r/place 2017, in its index order (index 0 is the blank canvas colour). */
export const DEFAULT_PALETTE: readonly string[] = Object.freeze([
  '#FFFFFF', '#E4E4E4', '#888888', '#222222', '#FFA7D1', '#E50000', '#E59500', '#A06A42',
  '#E5D900', '#94E044', '#02BE01', '#00D3DD', '#0083C7', '#0000EA', '#CF6EE4', '#820080',
]);

/** r/place 2017 was 1000x1000: 10 bits per coordinate, so an edit packs into 3 bytes. */
export const DEFAULT_CANVAS_WIDTH = 1000;
export const DEFAULT_CANVAS_HEIGHT = 1000;

/** r/place 2017 started at 5 minutes per pixel per user. */
export const DEFAULT_COOLDOWN_MS = 5 * 60_000;

/** Channel names of canvases are PLACE_PREFIX + canvas name. */
export const PLACE_PREFIX = 'place:';

/**
 * Canvas names appear in URLs (/api/place/<name>/…) and in channel names, so they keep to
 * characters that need no escaping in either.
 */
export const CANVAS_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** A pixel is one byte of state, so a palette holds at most 256 colours. */
export const MAX_PALETTE_SIZE = 256;

/**
 * Largest width or height: keeps width*height pixels one in-memory Uint8Array (and a PNG a
 * browser can decode) and every edit well inside 53-bit integer arithmetic.
 */
export const MAX_CANVAS_SIDE = 16_384;

/** Renders of one canvas's PNG are at least this far apart; clients catch up from the version. */
export const PNG_MIN_INTERVAL_MS = 1000;

/** Cooldown entries are swept at most this often (and at least once per cooldown period). */
export const COOLDOWN_SWEEP_MIN_INTERVAL_MS = 1000;

/** Admin requests carry small JSON bodies; anything larger is refused before parsing. */
export const ADMIN_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Admin erase/rollback publish in chunks of at most this many edits, so no single append
 * (one engine transaction, one batch frame to every viewer) grows without bound.
 */
export const MAX_EDITS_PER_PUBLISH = 16_384;

/** Log events read per page while folding for a rollback. */
export const ROLLBACK_READ_PAGE = 10_000;
