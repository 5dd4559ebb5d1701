/**
 * The state every peer server keeps: the canvas (width x height, one byte per pixel = colour
 * index) and the position counter. Edits get positions in arrival order, the same numbering as
 * Brigade's versions (the edit at position p is the (p+1)-th accepted). An editor message is
 * all-or-nothing: every edit is checked before any is applied, so a refused message changes
 * nothing. The canvas always reflects every accepted edit, so a snapshot is (canvas, position).
 */
import { makeEditCodec, type EditCodec } from '../../../src/apps/place/edit-codec.ts';
import type { PeerConfig } from './config.ts';

export type PeerErrorCode = 'MALFORMED' | 'OUT_OF_RANGE' | 'TOO_LARGE' | 'UNKNOWN_KIND' | 'NOT_ALLOWED';

/** A refusal sent back to the client as { code, message }; the server carries on. */
export class PeerError extends Error {
  override readonly name = 'PeerError';
  constructor(readonly code: PeerErrorCode, message: string) {
    super(message);
  }
  toJSON(): { code: PeerErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export class PlaceLog {
  readonly codec: EditCodec;
  readonly canvas: Uint8Array;
  /** Edits accepted so far = the position the next edit gets = the position the canvas reflects. */
  position = 0;

  constructor(readonly config: Pick<PeerConfig, 'width' | 'height' | 'colours'>) {
    this.codec = makeEditCodec(config.width, config.height, config.colours);
    this.canvas = new Uint8Array(config.width * config.height);
  }

  /** Throws PeerError unless (x, y, colour) is on the canvas and in the palette. */
  check(x: unknown, y: unknown, c: unknown, index: number): void {
    const { width, height, colours } = this.config;
    if (!Number.isInteger(x) || !Number.isInteger(y) || !Number.isInteger(c)) {
      throw new PeerError('MALFORMED', `edit ${index}: x, y and colour must be integers, got ${JSON.stringify([x, y, c])}`);
    }
    const xi = x as number; const yi = y as number; const ci = c as number;
    if (xi < 0 || xi >= width || yi < 0 || yi >= height) {
      throw new PeerError('OUT_OF_RANGE', `edit ${index}: pixel (${xi}, ${yi}) is outside the ${width}x${height} canvas`);
    }
    if (ci < 0 || ci >= colours) {
      throw new PeerError('OUT_OF_RANGE', `edit ${index}: colour ${ci} is outside the palette 0..${colours - 1}`);
    }
  }

  /**
   * Accepts packed edits (n * codec.eventSize bytes, n >= 1), all or none. Returns the first
   * position; the edits hold positions [first, first + n).
   */
  acceptPacked(edits: Uint8Array): number {
    const size = this.codec.eventSize;
    if (edits.length === 0 || edits.length % size !== 0) {
      throw new PeerError('MALFORMED', `edits must be a non-empty multiple of ${size} bytes (one packed edit each), got ${edits.length} bytes`);
    }
    const n = edits.length / size;
    for (let i = 0; i < n; i++) {
      const e = this.codec.decode(edits, i * size);
      this.check(e.x, e.y, e.colour, i);
    }
    const { width } = this.config;
    for (let i = 0; i < n; i++) {
      const e = this.codec.decode(edits, i * size);
      this.canvas[e.y * width + e.x] = e.colour;
    }
    const first = this.position;
    this.position += n;
    return first;
  }

  /** Accepts edits already checked with `check`, as flat [x, y, c, x, y, c, …]. Returns the first position. */
  acceptChecked(xyc: readonly number[]): number {
    const { width } = this.config;
    for (let i = 0; i < xyc.length; i += 3) this.canvas[xyc[i + 1] * width + xyc[i]] = xyc[i + 2];
    const first = this.position;
    this.position += xyc.length / 3;
    return first;
  }
}
