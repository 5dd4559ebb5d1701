/**
 * The place channel type: one channel per canvas (`place:<name>`), whose state is the canvas's
 * pixels folded from a log of 3-byte edits. Validation (bounds, palette, sign-in, cooldown)
 * happens here before an edit is queued; `apply` then never refuses, so every node folds the
 * same log to the same pixels.
 */
import './errors.ts';
import type { ChannelType, Publisher, SharedClaim } from '../../core/channel-type.ts';
import { BrigadeError, isValidChannelName } from '../../protocol/index.ts';
import {
  CANVAS_NAME_PATTERN, MAX_CANVAS_SIDE, MAX_PALETTE_SIZE, PLACE_PREFIX,
} from './constants.ts';
import { CooldownTracker } from './cooldown.ts';
import { makeEditCodec, type EditCodec } from './edit-codec.ts';
import { decodePixels, encodePixels } from './snapshot-codec.ts';

export interface CanvasState {
  readonly width: number;
  readonly height: number;
  /** One byte per pixel, row-major (index y * width + x): the palette index. */
  readonly pixels: Uint8Array;
  /**
   * Events folded so far: `apply` sets it to the applied event's version + 1. A decoded snapshot
   * does not carry its version (it travels beside the bytes), so `decodeSnapshot` leaves 0 and
   * whoever knows the version sets it.
   */
  version: number;
  /** Kept on the state so `apply`, which is not told the channel, needs no lookup per event. */
  readonly codec: EditCodec;
}

export interface CanvasConfig {
  width: number;
  height: number;
  /** Colours as '#rrggbb'; an edit's colour is an index into this list; index 0 is the blank colour. */
  palette: string[];
}

export interface PlaceConfig {
  canvases: Record<string, CanvasConfig>;
  /** Minimum time between two accepted edits by one user on one canvas; 0 disables it. */
  cooldownMs: number;
  /** Clock for cooldown queries made outside `validate` (which is given the time). */
  now?: () => number;
}

/** A configured canvas, as routes and renderers need it. */
export interface CanvasSpec {
  readonly name: string;
  readonly channel: string;
  readonly width: number;
  readonly height: number;
  readonly palette: readonly string[];
  readonly codec: EditCodec;
}

const COLOUR_PATTERN = /^#[0-9A-Fa-f]{6}$/;

/**
 * The pixel an event sets, or null for an event that sets nothing. Admin events skip `validate`,
 * so a malformed one must be skipped here, the same way on every node and in every replay.
 */
export function decodeEditFor(state: CanvasState, payload: Uint8Array): { index: number; colour: number } | null {
  const { codec } = state;
  if (payload.length !== codec.eventSize) return null;
  const { x, y, colour } = codec.decode(payload);
  if (x >= state.width || y >= state.height || colour >= codec.paletteSize) return null;
  return { index: y * state.width + x, colour };
}

export function canvasChannel(name: string): string {
  return PLACE_PREFIX + name;
}

function checkCanvasConfig(name: string, c: CanvasConfig): void {
  if (!CANVAS_NAME_PATTERN.test(name) || !isValidChannelName(canvasChannel(name))) {
    throw new RangeError(`place: canvas name ${JSON.stringify(name)} is not allowed; use 1-64 of [A-Za-z0-9_.-]`);
  }
  for (const side of ['width', 'height'] as const) {
    const v = c[side];
    if (!Number.isInteger(v) || v < 1 || v > MAX_CANVAS_SIDE) {
      throw new RangeError(`place: canvas ${name} ${side} is ${v}; it must be an integer 1-${MAX_CANVAS_SIDE}`);
    }
  }
  if (!Array.isArray(c.palette) || c.palette.length < 1 || c.palette.length > MAX_PALETTE_SIZE) {
    throw new RangeError(`place: canvas ${name} has ${c.palette?.length} colours; a palette holds 1-${MAX_PALETTE_SIZE}`);
  }
  c.palette.forEach((colour, i) => {
    if (typeof colour !== 'string' || !COLOUR_PATTERN.test(colour)) {
      throw new RangeError(`place: canvas ${name} colour ${i} is ${JSON.stringify(colour)}; colours are '#rrggbb'`);
    }
  });
}

export class PlaceChannelType implements ChannelType<CanvasState> {
  readonly prefix = PLACE_PREFIX;
  /** The common edit size when every canvas has the same one, else 0 (the core frames each event). */
  readonly eventSize: number;
  readonly maxEventBytes: number;
  readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly specs = new Map<string, CanvasSpec>();
  private readonly cooldowns = new Map<string, CooldownTracker>();

  constructor(config: PlaceConfig) {
    if (!Number.isFinite(config.cooldownMs) || config.cooldownMs < 0) {
      throw new RangeError(`place: cooldownMs is ${config.cooldownMs}; it must be 0 (off) or a positive number of ms`);
    }
    this.cooldownMs = config.cooldownMs;
    this.now = config.now ?? Date.now;
    const sizes = new Set<number>();
    for (const [name, c] of Object.entries(config.canvases)) {
      checkCanvasConfig(name, c);
      const channel = canvasChannel(name);
      const codec = makeEditCodec(c.width, c.height, c.palette.length);
      sizes.add(codec.eventSize);
      this.specs.set(channel, Object.freeze({
        name, channel, width: c.width, height: c.height, palette: Object.freeze([...c.palette]), codec,
      }));
      this.cooldowns.set(channel, new CooldownTracker(this.cooldownMs));
    }
    this.eventSize = sizes.size === 1 ? [...sizes][0] : 0;
    this.maxEventBytes = Math.max(0, ...sizes);
  }

  /** Every configured canvas, in configuration order. */
  canvases(): CanvasSpec[] {
    return [...this.specs.values()];
  }

  /** The canvas behind a channel name, or undefined. */
  canvas(channel: string): CanvasSpec | undefined {
    return this.specs.get(channel);
  }

  exists(channel: string): boolean {
    return this.specs.has(channel);
  }

  init(channel: string): CanvasState {
    const spec = this.require(channel);
    return { width: spec.width, height: spec.height, pixels: new Uint8Array(spec.width * spec.height), version: 0, codec: spec.codec };
  }

  apply(state: CanvasState, payload: Uint8Array, version: number): void {
    state.version = version + 1;
    const edit = decodeEditFor(state, payload);
    if (edit !== null) state.pixels[edit.index] = edit.colour;
  }

  encodeSnapshot(state: CanvasState): Uint8Array {
    return encodePixels(state.pixels, state.codec.paletteSize);
  }

  decodeSnapshot(channel: string, bytes: Uint8Array): CanvasState {
    const spec = this.require(channel);
    const pixels = decodePixels(bytes, spec.width, spec.height, spec.palette.length, channel);
    return { width: spec.width, height: spec.height, pixels, version: 0, codec: spec.codec };
  }

  validate(channel: string, payload: Uint8Array, publisher: Publisher, nowMs: number): BrigadeError | null {
    const spec = this.specs.get(channel);
    if (spec === undefined) return this.unknown(channel);
    const { codec, width, height } = spec;
    if (payload.length !== codec.eventSize) {
      return new BrigadeError(
        'PLACE_BAD_EDIT',
        `an edit on ${channel} is exactly ${codec.eventSize} bytes (x, y, colour packed big-endian); got ${payload.length}`,
      );
    }
    const { x, y, colour } = codec.decode(payload);
    if (x >= width || y >= height) {
      return new BrigadeError(
        'PLACE_OUT_OF_BOUNDS',
        `pixel (${x}, ${y}) is outside the ${width}x${height} canvas ${spec.name}; x must be 0-${width - 1} and y 0-${height - 1}`,
      );
    }
    if (colour >= codec.paletteSize) {
      return new BrigadeError(
        'PLACE_BAD_COLOUR',
        `colour ${colour} is not in the palette of ${spec.name}; colours are 0-${codec.paletteSize - 1}`,
      );
    }
    if (publisher.userId === '') {
      return new BrigadeError('AUTH_REQUIRED', `placing a pixel on ${spec.name} needs a signed-in user; connect with a token`);
    }
    const remainingMs = this.cooldowns.get(channel)!.tryStart(publisher.userId, nowMs);
    if (remainingMs > 0) return this.cooldownError(spec.name, remainingMs);
    return null;
  }

  /**
   * With several nodes sharing an engine, the cooldown `validate` started on this node must also be
   * free on the others: the user's claim on the canvas, held for one cooldown period. When another
   * node holds it, this node's tracker takes the remaining time, so the next edits are refused here
   * without asking the engine.
   */
  sharedClaim(channel: string, publisher: Publisher, nowMs: number): SharedClaim | null {
    const spec = this.specs.get(channel);
    if (spec === undefined || this.cooldownMs <= 0 || publisher.userId === '') return null;
    return {
      key: `place:cooldown:${channel}:${publisher.userId}`,
      ttlMs: this.cooldownMs,
      refused: (remainingMs) => {
        const remaining = Math.min(remainingMs, this.cooldownMs);
        this.cooldowns.get(channel)!.restart(publisher.userId, remaining, nowMs);
        return this.cooldownError(spec.name, remaining);
      },
    };
  }

  private cooldownError(canvas: string, remainingMs: number): BrigadeError {
    return new BrigadeError(
      'COOLDOWN',
      `one pixel per ${formatSeconds(this.cooldownMs)} per user on ${canvas}; the next is allowed in ${formatSeconds(remainingMs)}`,
      remainingMs,
    );
  }

  /** Milliseconds until the user may place on this canvas (0 = now), e.g. for a client's timer. */
  cooldownRemainingMs(channel: string, userId: string, nowMs = this.now()): number {
    return this.cooldowns.get(channel)?.remainingMs(userId, nowMs) ?? 0;
  }

  /** Users tracked by the cooldown of a canvas (for tests and metrics). */
  cooldownEntries(channel: string): number {
    return this.cooldowns.get(channel)?.size ?? 0;
  }

  private require(channel: string): CanvasSpec {
    const spec = this.specs.get(channel);
    if (spec === undefined) throw this.unknown(channel);
    return spec;
  }

  private unknown(channel: string): BrigadeError {
    const names = [...this.specs.values()].map((s) => s.name).join(', ') || '(none)';
    return new BrigadeError('PLACE_UNKNOWN_CANVAS', `no canvas is configured for ${channel}; canvases: ${names}`);
  }
}

function formatSeconds(ms: number): string {
  // Round up so a client that waits the stated time is never refused again.
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(Math.ceil(ms / 100) / 10).toFixed(1)} s`;
}
