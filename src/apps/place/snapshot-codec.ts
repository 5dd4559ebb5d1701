/**
 * The byte form of a canvas, used both for engine snapshots and for clients (SNAPSHOT frames,
 * snapshot.bin). Palettes of at most 16 colours pack two pixels per byte, high nibble first,
 * row-major with no row padding (a 1000x1000 canvas is 500,000 bytes, the seed's "W×H nibbles");
 * larger palettes use one byte per pixel. An odd pixel count leaves the last low nibble 0.
 */
import { BrigadeError } from '../../protocol/index.ts';

/** True when pixels of this palette fit in a nibble. */
export function isNibblePalette(paletteSize: number): boolean {
  return paletteSize <= 16;
}

export function snapshotByteLength(width: number, height: number, paletteSize: number): number {
  const pixels = width * height;
  return isNibblePalette(paletteSize) ? Math.ceil(pixels / 2) : pixels;
}

/** Packs one-byte-per-pixel state into the snapshot form. */
export function encodePixels(pixels: Uint8Array, paletteSize: number): Uint8Array {
  if (!isNibblePalette(paletteSize)) return pixels.slice();
  const n = pixels.length;
  const out = new Uint8Array(Math.ceil(n / 2));
  const pairs = n >>> 1;
  for (let i = 0; i < pairs; i++) out[i] = (pixels[2 * i] << 4) | pixels[2 * i + 1];
  if (n & 1) out[pairs] = pixels[n - 1] << 4;
  return out;
}

/**
 * Unpacks a snapshot into one byte per pixel. Refuses bytes of the wrong length and pixels
 * outside the palette: state built from them would break `apply`'s guarantees and every render.
 */
export function decodePixels(
  bytes: Uint8Array, width: number, height: number, paletteSize: number, what: string,
): Uint8Array {
  const expected = snapshotByteLength(width, height, paletteSize);
  if (bytes.length !== expected) {
    const form = isNibblePalette(paletteSize) ? 'two pixels per byte' : 'one byte per pixel';
    throw new BrigadeError(
      'MALFORMED_FRAME',
      `snapshot of ${what} is ${bytes.length} bytes; a ${width}x${height} canvas with ${paletteSize} colours (${form}) needs exactly ${expected}`,
    );
  }
  const n = width * height;
  const pixels = new Uint8Array(n);
  if (isNibblePalette(paletteSize)) {
    const pairs = n >>> 1;
    for (let i = 0; i < pairs; i++) {
      const b = bytes[i];
      pixels[2 * i] = b >>> 4;
      pixels[2 * i + 1] = b & 0x0f;
    }
    if (n & 1) pixels[n - 1] = bytes[pairs] >>> 4;
  } else {
    pixels.set(bytes);
  }
  // A full palette (16 or 256) cannot hold an out-of-range index, so skip the scan.
  if (paletteSize !== 16 && paletteSize !== 256) {
    for (let i = 0; i < n; i++) {
      if (pixels[i] >= paletteSize) {
        throw new BrigadeError(
          'MALFORMED_FRAME',
          `snapshot of ${what} has colour ${pixels[i]} at pixel ${i}; colours are 0-${paletteSize - 1}`,
        );
      }
    }
  }
  return pixels;
}
