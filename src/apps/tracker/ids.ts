/**
 * The websocket tracker protocol carries 20-byte ids (info_hash, peer_id, offer_id) as "binary
 * strings": 20 characters, each one byte (U+0000..U+00FF). Inside Brigade (membership, node-to-node
 * relays, the HTTP API) they are lowercase hex, which is printable and has no escaping costs.
 */

const BINARY_ID = /^[\x00-\xff]{20}$/;

/** True for a string of exactly 20 characters, each a single byte. */
export function isBinaryId(value: unknown): value is string {
  return typeof value === 'string' && value.length === 20 && BINARY_ID.test(value);
}

export function binToHex(bin: string): string {
  return Buffer.from(bin, 'latin1').toString('hex');
}

export function hexToBin(hex: string): string {
  return Buffer.from(hex, 'hex').toString('latin1');
}

const HEX_ID = /^[0-9a-f]{40}$/;

/** True for 40 lowercase hex digits (an id as Brigade stores it). */
export function isHexId(value: unknown): value is string {
  return typeof value === 'string' && HEX_ID.test(value);
}
