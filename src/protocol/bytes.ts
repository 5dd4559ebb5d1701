/**
 * Little-endian byte helpers shared by both codec directions. Works on plain Uint8Array so the
 * same code runs in Node and in browsers. Versions are unsigned integers below 2^53 carried in
 * 8 bytes (low u32, then high u32).
 */
import { BrigadeError } from './errors.ts';

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is content, not a byte-order mark (else decode(encode(s)) !== s).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const MAX_CHANNEL_BYTES = 255;
/** Channel names: 1-255 bytes of [A-Za-z0-9_.:/-]. */
const channelPattern = /^[A-Za-z0-9_.:/-]{1,255}$/;

export function isValidChannelName(name: string): boolean {
  return channelPattern.test(name);
}

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * Small frames (ACKs, SUBSCRIBED, errors: one or more per publish on a busy node) are cut from a
 * shared slab, as Node's Buffer pool does, instead of each getting an ArrayBuffer (and a DataView)
 * of its own: an ArrayBuffer is the costly part of a 13-byte ACK. A frame is a view into the slab
 * (byteOffset may be non-zero); the slab is freed once no frame cut from it is referenced, so frames
 * that are kept (batches in a channel's recent ring, snapshots) are allocated on their own.
 */
const SLAB_BYTES = 8192;
const POOLED_MAX_BYTES = 512;
let slab = new Uint8Array(SLAB_BYTES);
let slabAt = 0;

function allocate(size: number): Uint8Array {
  if (size > POOLED_MAX_BYTES) return new Uint8Array(size);
  if (slabAt + size > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + size);
  // The next frame starts on an 8-byte boundary (word-wise masking and copies stay aligned).
  slabAt = (slabAt + size + 7) & ~7;
  return out;
}

export class ByteWriter {
  private buf: Uint8Array;
  offset = 0;

  /** `kept`: the frame may be held for long (a channel's recent batches): its own memory, never a slab's. */
  constructor(size: number, kept = false) {
    this.buf = kept ? new Uint8Array(size) : allocate(size);
  }

  u8(v: number): this { this.buf[this.offset++] = v; return this; }
  u16(v: number): this {
    const b = this.buf, o = this.offset;
    b[o] = v; b[o + 1] = v >>> 8;
    this.offset = o + 2;
    return this;
  }
  u32(v: number): this {
    const b = this.buf, o = this.offset;
    b[o] = v; b[o + 1] = v >>> 8; b[o + 2] = v >>> 16; b[o + 3] = v >>> 24;
    this.offset = o + 4;
    return this;
  }
  u64(v: number): this {
    this.u32(v >>> 0);
    return this.u32(Math.floor(v / 0x100000000));
  }
  bytes(b: Uint8Array): this { this.buf.set(b, this.offset); this.offset += b.length; return this; }
  /** u8 length + bytes; the caller has validated the name. */
  channel(encoded: Uint8Array): this { return this.u8(encoded.length).bytes(encoded); }

  finish(): Uint8Array {
    return this.offset === this.buf.length ? this.buf : this.buf.subarray(0, this.offset);
  }
}

function truncated(what: string): BrigadeError {
  return new BrigadeError('MALFORMED_FRAME', `frame truncated while reading ${what}`);
}

export class ByteReader {
  private view: DataView;
  offset = 0;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number { return this.buf.length - this.offset; }

  private need(n: number, what: string): void {
    if (this.offset + n > this.buf.length) throw truncated(what);
  }

  u8(what: string): number { this.need(1, what); return this.buf[this.offset++]; }
  u16(what: string): number { this.need(2, what); const v = this.view.getUint16(this.offset, true); this.offset += 2; return v; }
  u32(what: string): number { this.need(4, what); const v = this.view.getUint32(this.offset, true); this.offset += 4; return v; }
  u64(what: string): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.offset, true);
    const hi = this.view.getUint32(this.offset + 4, true);
    this.offset += 8;
    if (hi >= 0x200000) throw new BrigadeError('MALFORMED_FRAME', `${what} exceeds 2^53`);
    return hi * 0x100000000 + lo;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }
  rest(): Uint8Array { const b = this.buf.subarray(this.offset); this.offset = this.buf.length; return b; }

  string(n: number, what: string): string {
    const b = this.bytes(n, what);
    try {
      return decoder.decode(b);
    } catch {
      throw new BrigadeError('MALFORMED_FRAME', `${what} is not valid UTF-8`);
    }
  }

  channel(): string {
    const len = this.u8('channel length');
    if (len === 0) throw new BrigadeError('INVALID_CHANNEL_NAME', 'channel name is empty; use 1-255 bytes of [A-Za-z0-9_.:/-]');
    const name = this.string(len, 'channel name');
    if (!isValidChannelName(name)) {
      throw new BrigadeError('INVALID_CHANNEL_NAME', `channel name ${JSON.stringify(name.slice(0, 64))} has characters outside [A-Za-z0-9_.:/-]`);
    }
    return name;
  }

  end(what: string): void {
    if (this.offset !== this.buf.length) {
      throw new BrigadeError('MALFORMED_FRAME', `${this.buf.length - this.offset} trailing bytes after ${what}`);
    }
  }
}
