/**
 * WebSocket masking (RFC 6455 §5.3) in place, four bytes at a time: the gateway unmasks every
 * client frame (tens of MB/s of SDPs on a busy tracker) and the load generators mask theirs.
 */

/** A 32-bit view of the last buffer's ArrayBuffer (frames of one read or one pool slab share it). */
let words: Int32Array | null = null;
let wordsOf: ArrayBufferLike | null = null;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * XORs buf[start..end) with the mask bytes m0..m3 (m0 for the first byte, m1 for the second, …),
 * in place: byte by byte up to a 4-byte boundary of the underlying memory, then whole words, then
 * the tail. A zero mask changes nothing and is skipped.
 */
export function maskInPlace(buf: Uint8Array, start: number, end: number, m0: number, m1: number, m2: number, m3: number): void {
  if ((m0 | m1 | m2 | m3) === 0) return;
  const base = buf.byteOffset;
  let i = start;
  if (LITTLE_ENDIAN && end - start >= 16) {
    for (; ((base + i) & 3) !== 0; i++) buf[i] ^= maskByte(i - start, m0, m1, m2, m3);
    if (wordsOf !== buf.buffer) {
      words = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
      wordsOf = buf.buffer;
    }
    const w32 = words!;
    // The word's lowest byte sits at the lowest address: it takes mask byte (i - start) mod 4.
    const r = ((i - start) & 3) << 3;
    const w0 = m0 | (m1 << 8) | (m2 << 16) | (m3 << 24);
    const w = r === 0 ? w0 : (w0 >>> r) | (w0 << (32 - r));
    const last = (base + end) >> 2;
    for (let k = (base + i) >> 2; k < last; k++) w32[k] ^= w;
    i = (last << 2) - base;
  }
  for (; i < end; i++) buf[i] ^= maskByte(i - start, m0, m1, m2, m3);
}

function maskByte(offset: number, m0: number, m1: number, m2: number, m3: number): number {
  const k = offset & 3;
  return k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
}
