/**
 * The websocket tracker protocol carries 20-byte ids (info_hash, peer_id, offer_id) as "binary
 * strings": 20 characters, each one byte (U+0000..U+00FF). Inside Brigade (membership, node-to-node
 * relays, the HTTP API) they are lowercase hex, which is printable and has no escaping costs.
 */

/**
 * String.prototype.charCodeAt, called as `charCodeAt.call(s, i)` in the loops below: ids reach
 * them as strings of every representation V8 has (sliced from a buffer, parsed, internalized,
 * concatenated…), which makes a `s.charCodeAt` site megamorphic — a generic property lookup per
 * character (measured 5× slower, and 8 % of the tracker's CPU in a profile). A call of the known
 * function needs no lookup.
 */
export const charCodeAt = String.prototype.charCodeAt;

/** True for a string of exactly 20 characters, each a single byte. */
export function isBinaryId(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 20) return false;
  for (let i = 0; i < 20; i++) if (charCodeAt.call(value, i) > 0xff) return false;
  return true;
}

const HEX_DIGITS = Buffer.from('0123456789abcdef');
const hexScratch = Buffer.alloc(40) as Buffer & { latin1Slice(start: number, end: number): string };

/** Lowercase hex of a binary string (every message has two or three ids: one string made, no Buffer). */
export function binToHex(bin: string): string {
  const n = bin.length; // read once: a megamorphic site too
  if (n > 20) return Buffer.from(bin, 'latin1').toString('hex');
  for (let i = 0; i < n; i++) {
    const c = charCodeAt.call(bin, i) & 0xff;
    hexScratch[2 * i] = HEX_DIGITS[c >> 4];
    hexScratch[2 * i + 1] = HEX_DIGITS[c & 15];
  }
  return hexScratch.latin1Slice(0, 2 * n);
}

export function hexToBin(hex: string): string {
  return Buffer.from(hex, 'hex').toString('latin1');
}

const HEX_ID = /^[0-9a-f]{40}$/;

/** True for 40 lowercase hex digits (an id as Brigade stores it). */
export function isHexId(value: unknown): value is string {
  return typeof value === 'string' && HEX_ID.test(value);
}

/**
 * JSON text of each character U+0000..U+00FF as UTF-8 bytes, escaped as JSON.stringify escapes it
 * (\" \\ \b \f \n \r \t, other controls as \u00xx): 1 to 6 bytes, stored at c * 6.
 */
const ID_CHAR_BYTES = new Uint8Array(256 * 6);
const ID_CHAR_LENGTH = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const bytes = Buffer.from(JSON.stringify(String.fromCharCode(c)).slice(1, -1), 'utf8');
  ID_CHAR_BYTES.set(bytes, c * 6);
  ID_CHAR_LENGTH[c] = bytes.length;
}

/** Bytes of a binary id's JSON string, quotes included (the id must be binary: isBinaryId). */
export function idJsonLength(bin: string): number {
  let n = 2;
  for (let i = 0, l = bin.length; i < l; i++) n += ID_CHAR_LENGTH[charCodeAt.call(bin, i) & 0xff];
  return n;
}

/**
 * Writes a binary id's JSON string (quotes included) at `at` as UTF-8 — the same bytes as
 * Buffer.from(JSON.stringify(bin)), without building the string — and returns where it ends.
 */
export function writeIdJson(out: Uint8Array, at: number, bin: string): number {
  out[at++] = 0x22;
  for (let i = 0, l = bin.length; i < l; i++) {
    const c = charCodeAt.call(bin, i) & 0xff;
    const from = c * 6;
    const n = ID_CHAR_LENGTH[c];
    out[at++] = ID_CHAR_BYTES[from];
    for (let j = 1; j < n; j++) out[at++] = ID_CHAR_BYTES[from + j];
  }
  out[at++] = 0x22;
  return at;
}

/** A binary id's JSON string as UTF-8 bytes (writeIdJson into a buffer of its own). */
export function idJson(bin: string): Buffer {
  const out = Buffer.allocUnsafe(idJsonLength(bin));
  writeIdJson(out, 0, bin);
  return out;
}
