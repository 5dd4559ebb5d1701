/**
 * The binary form of a place edit: (x, y, colour) packed into the fewest whole bytes, big-endian.
 * For the default 1000x1000 canvas with 16 colours that is x:10 | y:10 | colour:4 = 3 bytes
 * (seed 003), and every event of a canvas has the same size, so batches pack with no prefixes.
 *
 * Layout: value = ((x * 2^bitsY) + y) * 2^bitsC + colour, with bitsN = ceil(log2(N)) (min 1).
 * Arithmetic uses multiplication and division, not 32-bit shifts, so layouts past 32 bits
 * (e.g. 16384x16384 with 256 colours = 36 bits) encode exactly.
 */

export interface Edit {
  x: number;
  y: number;
  colour: number;
}

export interface EditCodec {
  readonly width: number;
  readonly height: number;
  readonly paletteSize: number;
  /** Bytes per encoded edit. */
  readonly eventSize: number;
  /** Packs an edit; the caller has checked the ranges (x < 2^bitsX, …). */
  encode(x: number, y: number, colour: number): Uint8Array;
  /**
   * Unpacks the edit at `offset`. Fields may exceed the canvas (x up to 2^bitsX - 1): range
   * checks belong to the caller, which knows what to say about them.
   */
  decode(bytes: Uint8Array, offset?: number): Edit;
}

/** Largest bit count whose values stay exact in a double. */
const MAX_SAFE_BITS = 53;

/** ceil(log2(n)), at least 1, computed without floating-point log rounding. */
export function bitsFor(n: number): number {
  let bits = 1;
  while (2 ** bits < n) bits++;
  return bits;
}

export function makeEditCodec(width: number, height: number, paletteSize: number): EditCodec {
  for (const [name, v] of [['width', width], ['height', height], ['paletteSize', paletteSize]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`edit codec: ${name} must be a positive integer, got ${v}`);
    }
  }
  const bitsY = bitsFor(height);
  const bitsC = bitsFor(paletteSize);
  const totalBits = bitsFor(width) + bitsY + bitsC;
  if (totalBits > MAX_SAFE_BITS) {
    throw new RangeError(
      `edit codec: ${width}x${height} with ${paletteSize} colours needs ${totalBits} bits; at most ${MAX_SAFE_BITS} are allowed`,
    );
  }
  const scaleY = 2 ** bitsY;
  const scaleC = 2 ** bitsC;
  const eventSize = Math.ceil(totalBits / 8);

  return {
    width,
    height,
    paletteSize,
    eventSize,
    encode(x: number, y: number, colour: number): Uint8Array {
      let value = (x * scaleY + y) * scaleC + colour;
      const out = new Uint8Array(eventSize);
      for (let i = eventSize - 1; i >= 0; i--) {
        out[i] = value % 256;
        value = Math.floor(value / 256);
      }
      return out;
    },
    decode(bytes: Uint8Array, offset = 0): Edit {
      let value = 0;
      for (let i = 0; i < eventSize; i++) value = value * 256 + bytes[offset + i];
      const colour = value % scaleC;
      const xy = Math.floor(value / scaleC);
      return { x: Math.floor(xy / scaleY), y: xy % scaleY, colour };
    },
  };
}
