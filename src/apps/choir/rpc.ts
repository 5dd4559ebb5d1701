/**
 * The shard RPC's shared-memory layout (the seed's, docs/choir.md): one SharedArrayBuffer per RPC
 * lane (two per codec shard), used by the owner (main thread) and that shard (a worker thread), one
 * message at a time per lane, the status word saying whose turn it is.
 *
 *   offset  size     field
 *   0       4        status (Int32, Atomics): 0 IDLE, 1 REQUEST (shard's turn), 2 REPLY (owner's turn), 3 CLOSE
 *   4       2        JSON length, u16 LE (≤ 10,240)
 *   6       10,240   JSON (UTF-8)
 *   10,246  4        data length, u32 LE (≤ 204,800)
 *   10,250  204,800  data (PCM Int16 LE or Opus packets, concatenated)
 *
 * Items in the data are concatenated in order, each starting at a multiple of 8 bytes from DATA_AT
 * (0–7 bytes of padding after an item whose length is not one; none after the last): a copy
 * between a SharedArrayBuffer and an ordinary one runs ~7× faster when both sides sit at the same
 * offset mod 8 (V8 copies shared memory a word at a time only then, byte by byte otherwise), and
 * the PCM frames on both sides are placed at DATA_AT's offset mod 8 (PCM_FRAME_OFFSET).
 *
 * The same layout carries requests and replies. Whoever reads a message checks both lengths and
 * parses the JSON before trusting it: a bad message is answered with a typed error, never thrown
 * out of the loop.
 */
export const STATUS_IDLE = 0;
export const STATUS_REQUEST = 1;
export const STATUS_REPLY = 2;
export const STATUS_CLOSE = 3;

export const JSON_LEN_AT = 4;
export const JSON_AT = 6;
export const MAX_JSON_BYTES = 10 * 1024;
export const DATA_LEN_AT = JSON_AT + MAX_JSON_BYTES;
export const DATA_AT = DATA_LEN_AT + 4;
export const MAX_DATA_BYTES = 200 * 1024;
export const RPC_BYTES = DATA_AT + MAX_DATA_BYTES;
/** Each item in the data starts at a multiple of this from DATA_AT, bytes. */
export const ITEM_ALIGN = 8;
/** Where the next item starts after one ending at `end` (bytes from DATA_AT). */
export const itemStart = (end: number): number => (end + ITEM_ALIGN - 1) & ~(ITEM_ALIGN - 1);
/**
 * The offset mod 8 at which a PCM frame sits in its own ArrayBuffer (the owner's frame pool, the
 * shard's staging frame): DATA_AT's, so copies to and from an item are word-aligned on both sides.
 */
export const PCM_FRAME_OFFSET = DATA_AT % ITEM_ALIGN;

/** A refusal inside the RPC (its code is one of choir's). */
export class RpcError extends Error {
  constructor(readonly code: 'CHOIR_RPC_TOO_LARGE' | 'CHOIR_RPC_MALFORMED', message: string) {
    super(message);
  }
}

export interface RpcMessage {
  json: unknown;
  data: Uint8Array;
}

export function statusWord(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, 0, 1);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a JSON value, refusing one over the limit before anything is written. */
export function encodeJson(value: unknown): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(value));
  if (bytes.length > MAX_JSON_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `JSON is ${bytes.length} bytes, at most ${MAX_JSON_BYTES}`);
  return bytes;
}

/**
 * Writes a message (not the status). `rawLengths` lets a test write lengths that lie, to prove the
 * reader refuses them.
 */
export function writeMessage(sab: SharedArrayBuffer, json: Uint8Array, data: Uint8Array, rawLengths?: { json?: number; data?: number }): void {
  if (!rawLengths && json.length > MAX_JSON_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `JSON is ${json.length} bytes, at most ${MAX_JSON_BYTES}`);
  if (!rawLengths && data.length > MAX_DATA_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `data is ${data.length} bytes, at most ${MAX_DATA_BYTES}`);
  const view = new DataView(sab);
  const bytes = new Uint8Array(sab);
  bytes.set(json.subarray(0, MAX_JSON_BYTES), JSON_AT);
  bytes.set(data.subarray(0, MAX_DATA_BYTES), DATA_AT);
  view.setUint16(JSON_LEN_AT, rawLengths?.json ?? json.length, true);
  view.setUint32(DATA_LEN_AT, rawLengths?.data ?? data.length, true);
}

/**
 * Reads and checks a message's header and JSON, leaving its data in the buffer (at DATA_AT, the
 * returned length): the reader copies out what it keeps before the buffer's next turn.
 */
export function readJson(sab: SharedArrayBuffer): { json: unknown; dataLen: number } {
  const view = new DataView(sab);
  const jsonLen = view.getUint16(JSON_LEN_AT, true);
  const dataLen = view.getUint32(DATA_LEN_AT, true);
  if (jsonLen > MAX_JSON_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `JSON length ${jsonLen} is over ${MAX_JSON_BYTES}`);
  if (dataLen > MAX_DATA_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `data length ${dataLen} is over ${MAX_DATA_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(new Uint8Array(sab, JSON_AT, jsonLen)));
  } catch (err) {
    throw new RpcError('CHOIR_RPC_MALFORMED', `JSON does not parse: ${(err as Error).message}`);
  }
  return { json, dataLen };
}

/** Reads and checks a message; the data is a copy (the buffer is reused by the next message). */
export function readMessage(sab: SharedArrayBuffer): RpcMessage {
  const { json, dataLen } = readJson(sab);
  return { json, data: new Uint8Array(sab, DATA_AT, dataLen).slice() };
}

/**
 * Writes a message whose data is already in place at DATA_AT (`dataLen` bytes): the JSON and both
 * lengths. The hot path's writer, which copies each item's bytes into the buffer once.
 */
export function writeJsonOver(sab: SharedArrayBuffer, json: Uint8Array, dataLen: number): void {
  if (json.length > MAX_JSON_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `JSON is ${json.length} bytes, at most ${MAX_JSON_BYTES}`);
  if (dataLen > MAX_DATA_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `data is ${dataLen} bytes, at most ${MAX_DATA_BYTES}`);
  new Uint8Array(sab).set(json, JSON_AT);
  const view = new DataView(sab);
  view.setUint16(JSON_LEN_AT, json.length, true);
  view.setUint32(DATA_LEN_AT, dataLen, true);
}

/**
 * Writes a JSON text straight into a lane's JSON field, byte by byte (ASCII: the hot path's op
 * names, numbers and punctuation), with no string built and encoded per RPC. Past the 10 KB field
 * it writes nothing more and `end` refuses the message, so it never reaches the data's bytes.
 */
export class JsonBytes {
  private bytes: Uint8Array = new Uint8Array(0);
  private at = 0;
  private over = false;

  /** Starts a message in `sab`'s JSON field. */
  begin(sab: SharedArrayBuffer, bytes: Uint8Array): this {
    if (bytes.buffer !== sab) throw new Error('JsonBytes.begin: bytes is not a view of the lane');
    this.bytes = bytes;
    this.at = 0;
    this.over = false;
    return this;
  }

  /** ASCII text, as is (the caller's text is JSON already: no escaping here). */
  ascii(text: string): this {
    const n = text.length;
    if (this.at + n > MAX_JSON_BYTES) { this.over = true; return this; }
    const b = this.bytes, base = JSON_AT + this.at;
    for (let i = 0; i < n; i++) b[base + i] = text.charCodeAt(i);
    this.at += n;
    return this;
  }

  /** A whole number ≥ 0 in decimal. */
  uint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) return this.ascii(JSON.stringify(value));
    let v = value, digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    if (this.at + digits > MAX_JSON_BYTES) { this.over = true; return this; }
    const b = this.bytes;
    for (let i = JSON_AT + this.at + digits - 1; i >= JSON_AT + this.at; i--) { b[i] = 48 + (v % 10); v = Math.floor(v / 10); }
    this.at += digits;
    return this;
  }

  /** Ends the message: writes both lengths (its data, `dataLen` bytes, already in place at DATA_AT). */
  end(sab: SharedArrayBuffer, dataLen: number): void {
    if (this.over) throw new RpcError('CHOIR_RPC_TOO_LARGE', `JSON is over ${MAX_JSON_BYTES} bytes`);
    if (dataLen > MAX_DATA_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', `data is ${dataLen} bytes, at most ${MAX_DATA_BYTES}`);
    const view = new DataView(sab);
    view.setUint16(JSON_LEN_AT, this.at, true);
    view.setUint32(DATA_LEN_AT, dataLen, true);
  }
}
