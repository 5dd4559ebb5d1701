/**
 * Reads a tracker message straight from the bytes its connection received (FrameHandler.onMessage),
 * without first decoding the whole message to a string and without building the SDP objects: the
 * offers' and the answer's SDP objects (about 90 % of an announce's bytes, relayed unchanged) are
 * checked to be valid JSON and kept as byte slices (RawJson), so relaying one is a copy of bytes,
 * not JSON.parse followed by JSON.stringify. Everything else (action, ids, event, numwant, left,
 * ...) is read into plain values exactly as JSON.parse would give them, and then checked by the
 * same code (parse.ts).
 *
 * It is an accelerator, never a judge: anything it is not sure of (a syntax error, a key spelt
 * with escapes, "__proto__", nesting deeper than MAX_DEPTH, a binary frame) makes it answer
 * `undefined`, and the caller parses the text with JSON.parse instead, which then also gives the
 * precise failure. So what is accepted, and every failure, stays JSON.parse's.
 *
 * Bytes are assumed to be valid UTF-8: the FrameSocket contract (core/app.ts) promises it for every
 * text message (the gateway's frame reader closes with 1007 otherwise; a binary frame goes the
 * JSON.parse way), and UTF-8 never hides an ASCII byte such as `"` or `\` inside a multi-byte
 * character, so the structure can be read bytewise.
 */

/**
 * A JSON object value kept as its bytes (valid JSON, relayed as is): bytes start..end of `source`,
 * the message the connection received. Not a copy: FrameHandler.onMessage (core/app.ts) promises
 * that the transport never writes into a message's bytes again (the gateway hands a view of the
 * read chunk it arrived in, or a buffer of its own), and a relay lives one tick.
 */
export class RawJson {
  /** The bytes as a plain view, made once: copying it is one TypedArray set, without Buffer.copy's own view. */
  readonly view: Uint8Array;
  constructor(readonly source: Buffer, readonly start: number, readonly end: number) {
    this.view = new Uint8Array(source.buffer, source.byteOffset + start, end - start);
  }
  get length(): number {
    return this.end - this.start;
  }
  get bytes(): Buffer {
    return this.source.subarray(this.start, this.end);
  }
  /** The value as JSON.parse would give it (for the slow paths and tests). */
  value(): object {
    return JSON.parse(this.source.toString('utf8', this.start, this.end)) as object;
  }
}

/**
 * A top-level message as the protocol reads it: every field it uses, in one object shape (a class
 * with all fields set from the start), so the checks that read it (parse.ts) see one hidden class
 * instead of one per key order — a profile showed those loads as the largest single cost. Keys
 * the protocol does not use are checked as JSON and dropped, as the checks would ignore them.
 */
export class Message {
  action: unknown = undefined;
  info_hash: unknown = undefined;
  peer_id: unknown = undefined;
  numwant: unknown = undefined;
  uploaded: unknown = undefined;
  downloaded: unknown = undefined;
  left: unknown = undefined;
  event: unknown = undefined;
  offers: unknown = undefined;
  answer: unknown = undefined;
  offer_id: unknown = undefined;
  to_peer_id: unknown = undefined;
  candidates: unknown = undefined;
}

/** One entry of `offers`, in one shape (see Message). */
export class OfferEntry {
  offer: unknown = undefined;
  offer_id: unknown = undefined;
}

/** Stores a top-level field; a key the protocol does not use is dropped. */
function putTop(m: Message, key: string, v: unknown): void {
  switch (key) {
    case 'action': m.action = v; return;
    case 'info_hash': m.info_hash = v; return;
    case 'peer_id': m.peer_id = v; return;
    case 'numwant': m.numwant = v; return;
    case 'uploaded': m.uploaded = v; return;
    case 'downloaded': m.downloaded = v; return;
    case 'left': m.left = v; return;
    case 'event': m.event = v; return;
    case 'offers': m.offers = v; return;
    case 'answer': m.answer = v; return;
    case 'offer_id': m.offer_id = v; return;
    case 'to_peer_id': m.to_peer_id = v; return;
    case 'candidates': m.candidates = v; return;
  }
}

/**
 * JSON.parse's value in the reader's shapes: a plain object becomes a Message (its `offers`
 * entries that are plain objects OfferEntry), so the checks see the same shapes on both paths.
 * Anything else (an array, a string, null…) is returned as it is, for the checks to refuse.
 */
export function toMessage(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const m = new Message();
  for (const key of Object.keys(v)) putTop(m, key, (v as Record<string, unknown>)[key]);
  if (Array.isArray(m.offers)) {
    m.offers = m.offers.map((o: unknown) => {
      if (typeof o !== 'object' || o === null || Array.isArray(o)) return o;
      const e = new OfferEntry();
      e.offer = (o as Record<string, unknown>).offer;
      e.offer_id = (o as Record<string, unknown>).offer_id;
      return e;
    });
  }
  return m;
}

/**
 * The ids a connection sent last (info_hash and peer_id), as the bytes of their JSON strings and
 * as read: every message of a peer repeats them, so a repeat is found by comparing some 30 to 60
 * bytes instead of decoding (and the caller reuses what it derived from them, such as the hex).
 */
export class IdMemo {
  infoRaw = Buffer.allocUnsafe(128);
  infoLength = -1;
  infoHash = '';
  infoHex = '';
  peerRaw = Buffer.allocUnsafe(128);
  peerLength = -1;
  peerId = '';
  peerHex = '';
}

// Where the last message's top-level info_hash and peer_id strings were (bytes after the opening
// quote to the closing one), and whether they came from the memo.
let infoStart = -1;
let infoEnd = -1;
let peerStart = -1;
let peerEnd = -1;
let memo: IdMemo | null = null;

/** Deeper than this the fast reader gives up and JSON.parse (no such limit) decides. */
const MAX_DEPTH = 32;

/** Thrown (never an Error: no stack to capture) to give up; caught in readMessage only. */
const GIVE_UP = { giveUp: true };

// Node's Buffer has these native slicers (lib/buffer.js); toString(enc, s, e) ends in them too.
interface Slicers {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

// The reader's state: module-level so the hot loop allocates no closures.
let b: Buffer & Slicers;
let pos = 0;
let end = 0;

/**
 * The message as JSON.parse would read it, except that `offers[i].offer` and `answer`, when
 * they are objects, are RawJson. `undefined`: not sure; parse the text with JSON.parse.
 */
export function readMessage(bytes: Buffer, ids: IdMemo | null = null): Message | undefined {
  b = bytes as Buffer & Slicers;
  pos = 0;
  end = bytes.length;
  memo = ids;
  infoStart = infoEnd = peerStart = peerEnd = -1;
  try {
    skipWs();
    if (pos >= end || b[pos] !== 0x7b /* { */) return undefined;
    const msg = readObject(0, TOP) as Message;
    skipWs();
    if (pos !== end) return undefined;
    if (ids) remember(ids, msg);
    return msg;
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  } finally {
    b = EMPTY;
    memo = null;
  }
}

/** Puts this message's ids in the memo (their bytes and strings; the hex is the caller's to set). */
function remember(ids: IdMemo, msg: Message): void {
  if (infoStart >= 0 && msg.info_hash !== ids.infoHash && infoEnd - infoStart <= ids.infoRaw.length) {
    b.copy(ids.infoRaw, 0, infoStart, infoEnd);
    ids.infoLength = infoEnd - infoStart;
    ids.infoHash = msg.info_hash as string;
    ids.infoHex = '';
  }
  if (peerStart >= 0 && msg.peer_id !== ids.peerId && peerEnd - peerStart <= ids.peerRaw.length) {
    b.copy(ids.peerRaw, 0, peerStart, peerEnd);
    ids.peerLength = peerEnd - peerStart;
    ids.peerId = msg.peer_id as string;
    ids.peerHex = '';
  }
}

/** At a top-level id's opening quote +1: the memo's string when the bytes are the same, else read. */
function readId(raw: Buffer, length: number, known: string, isInfo: boolean): string {
  const start = pos;
  const buf = b;
  let same = length >= 0 && start + length < end && buf[start + length] === 0x22;
  for (let i = 0; same && i < length; i++) same = buf[start + i] === raw[i];
  // The bytes before the closing quote equal what was read into `known` before, and a JSON
  // string's bytes decide its value: no escape or quote can end differently at the same place.
  let value: string;
  if (same && known !== '') {
    pos = start + length + 1;
    value = known;
  } else {
    value = readKnown() ?? readString();
  }
  if (isInfo) { infoStart = start; infoEnd = pos - 1; } else { peerStart = start; peerEnd = pos - 1; }
  return value;
}

const EMPTY = Buffer.alloc(0) as Buffer & Slicers;

// Where an object is, for the keys whose values are kept raw.
const TOP = 0;
const OFFER = 1;
const OTHER = 2;

function skipWs(): void {
  while (pos < end) {
    const c = b[pos];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
    pos++;
  }
}

/** At `{`. `where` says which keys hold raw values. */
function readObject(depth: number, where: number): Message | OfferEntry | Record<string, unknown> {
  if (depth >= MAX_DEPTH) throw GIVE_UP;
  pos++;
  const obj = where === TOP ? new Message() : where === OFFER ? new OfferEntry() : {};
  skipWs();
  if (pos < end && b[pos] === 0x7d /* } */) { pos++; return obj; }
  for (;;) {
    skipWs();
    if (pos >= end || b[pos] !== 0x22) throw GIVE_UP;
    pos++;
    const key = readKey();
    skipWs();
    if (pos >= end || b[pos] !== 0x3a /* : */) throw GIVE_UP;
    pos++;
    skipWs();
    if (pos >= end) throw GIVE_UP;
    const c = b[pos];
    let value: unknown;
    if (c === 0x7b && ((where === TOP && key === 'answer') || (where === OFFER && key === 'offer'))) {
      const start = pos;
      skipValue(depth + 1);
      value = new RawJson(b, start, pos);
    } else if (c === 0x22 && where === TOP && memo && (key === 'info_hash' || key === 'peer_id')) {
      pos++;
      value = key === 'info_hash' ? readId(memo.infoRaw, memo.infoLength, memo.infoHash, true) : readId(memo.peerRaw, memo.peerLength, memo.peerId, false);
    } else if (c === 0x5b && where === TOP && key === 'offers') {
      value = readArray(depth + 1, OFFER);
    } else {
      value = readValue(depth + 1);
    }
    if (where === TOP) putTop(obj as Message, key, value);
    else if (where === OFFER) { if (key === 'offer') (obj as OfferEntry).offer = value; else if (key === 'offer_id') (obj as OfferEntry).offer_id = value; }
    else (obj as Record<string, unknown>)[key] = value;
    skipWs();
    if (pos >= end) throw GIVE_UP;
    const d = b[pos++];
    if (d === 0x2c /* , */) continue;
    if (d === 0x7d) return obj;
    throw GIVE_UP;
  }
}

/** At `[`. `where` applies to the objects it holds (OFFER inside `offers`). */
function readArray(depth: number, where: number): unknown[] {
  if (depth >= MAX_DEPTH) throw GIVE_UP;
  pos++;
  const arr: unknown[] = [];
  skipWs();
  if (pos < end && b[pos] === 0x5d /* ] */) { pos++; return arr; }
  for (;;) {
    skipWs();
    if (pos >= end) throw GIVE_UP;
    arr.push(b[pos] === 0x7b ? readObject(depth + 1, where) : readValue(depth + 1));
    skipWs();
    if (pos >= end) throw GIVE_UP;
    const d = b[pos++];
    if (d === 0x2c) continue;
    if (d === 0x5d) return arr;
    throw GIVE_UP;
  }
}

function readValue(depth: number): unknown {
  const c = b[pos];
  if (c === 0x22) { pos++; return readKnown() ?? readString(); }
  if (c === 0x7b) return readObject(depth, OTHER);
  if (c === 0x5b) return readArray(depth, OTHER);
  if (c === 0x74 /* t */) return literal(0x72, 0x75, 0x65, true);
  if (c === 0x66 /* f */) { literal(0x61, 0x6c, 0x73, false); if (pos < end && b[pos] === 0x65) { pos++; return false; } throw GIVE_UP; }
  if (c === 0x6e /* n */) return literal(0x75, 0x6c, 0x6c, null);
  return readNumber();
}

/** The three bytes after the first letter of true / null (false reads its fifth itself). */
function literal(x: number, y: number, z: number, value: boolean | null): boolean | null {
  if (pos + 3 < end && b[pos + 1] === x && b[pos + 2] === y && b[pos + 3] === z) { pos += 4; return value; }
  throw GIVE_UP;
}

function readNumber(): number {
  const start = pos;
  if (b[pos] === 0x2d /* - */) pos++;
  if (pos >= end) throw GIVE_UP;
  if (b[pos] === 0x30 /* 0 */) pos++;
  else if (isDigit(b[pos])) while (pos < end && isDigit(b[pos])) pos++;
  else throw GIVE_UP;
  if (pos < end && b[pos] === 0x2e /* . */) {
    pos++;
    if (pos >= end || !isDigit(b[pos])) throw GIVE_UP;
    while (pos < end && isDigit(b[pos])) pos++;
  }
  if (pos < end && (b[pos] === 0x65 || b[pos] === 0x45) /* e E */) {
    pos++;
    if (pos < end && (b[pos] === 0x2b || b[pos] === 0x2d)) pos++;
    if (pos >= end || !isDigit(b[pos])) throw GIVE_UP;
    while (pos < end && isDigit(b[pos])) pos++;
  }
  // A short integer is added up here (exact below 2^53); anything else is read from its text,
  // which gives what JSON.parse gives (both are ECMAScript's StringToNumber).
  const neg = b[start] === 0x2d;
  const digits = pos - start - (neg ? 1 : 0);
  if (digits <= 15) {
    let n = 0;
    let p = neg ? start + 1 : start;
    while (p < pos && isDigit(b[p])) n = n * 10 + (b[p++] - 0x30);
    if (p === pos) return neg ? -n : n;
  }
  return Number(b.latin1Slice(start, pos));
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * The keys and the few string values the protocol uses, by length: found by their bytes, they
 * cost no new string each time (JSON.parse has a key cache for the same reason).
 */
class Known {
  readonly bytes: Uint8Array;
  constructor(readonly text: string) {
    this.bytes = Buffer.from(text, 'latin1');
  }
}
const KNOWN: Known[][] = [];
for (const k of ['action', 'info_hash', 'peer_id', 'numwant', 'uploaded', 'downloaded', 'left', 'event', 'offers', 'offer', 'offer_id',
  'answer', 'to_peer_id', 'candidates', 'trackerid', 'type', 'sdp', 'announce', 'scrape', 'signal', 'started', 'stopped', 'completed',
  'update', 'paused', '']) (KNOWN[k.length] ??= []).push(new Known(k));

/** After an opening quote: a known string that ends at the next quote (no escapes), and `pos` after it; or undefined. */
function readKnown(): string | undefined {
  const buf = b;
  const start = pos;
  let p = start;
  while (p < end && p - start < 16 && buf[p] !== 0x22) p++;
  if (p >= end || buf[p] !== 0x22) return undefined;
  const known = KNOWN[p - start];
  if (!known) return undefined;
  // Compared as bytes: no string is read in the loop (see ids.ts on megamorphic string sites).
  const n = p - start;
  for (let j = 0; j < known.length; j++) {
    const k = known[j].bytes;
    let i = 0;
    while (i < n && buf[start + i] === k[i]) i++;
    if (i === n) {
      pos = p + 1;
      return known[j].text;
    }
  }
  return undefined;
}

/** A key: like a string, but one JSON.parse would treat specially is left to JSON.parse. */
function readKey(): string {
  const known = readKnown();
  if (known !== undefined) return known;
  const key = readString();
  if (key === '__proto__') throw GIVE_UP;
  return key;
}

/** After the opening quote; returns the decoded string and leaves `pos` after the closing quote. */
function readString(): string {
  // Locals, not the module's variables, in the loop: V8 keeps them in registers.
  const buf = b;
  const stop = end;
  const start = pos;
  let p = start;
  let ascii = true;
  while (p < stop) {
    const c = buf[p];
    if (c === 0x22) {
      pos = p + 1;
      return ascii ? buf.latin1Slice(start, p) : buf.utf8Slice(start, p);
    }
    if (c === 0x5c /* \ */) {
      pos = p;
      return readEscaped(start);
    }
    if (c < 0x20) throw GIVE_UP;
    if (c >= 0x80) ascii = false;
    p++;
  }
  throw GIVE_UP;
}

/** Where strings with escapes are decoded, as latin1 (one byte per character). */
let scratch = Buffer.alloc(256) as Buffer & Slicers;

/**
 * The rest of a string that has escapes (ids often do: binary strings hold control characters),
 * `pos` at the first backslash. Decoded as latin1 into `scratch` and made a string once; a
 * character past U+00FF (never in an id) sends the whole string to JSON.parse.
 */
function readEscaped(start: number): string {
  const buf = b;
  const stop = end;
  if (scratch.length < stop - start) scratch = Buffer.alloc(2 * (stop - start)) as Buffer & Slicers;
  const out = scratch;
  let n = 0;
  let p = start;
  while (p < stop) {
    const c = buf[p];
    if (c === 0x22) {
      pos = p + 1;
      return out.latin1Slice(0, n);
    }
    if (c < 0x80) {
      if (c < 0x20) throw GIVE_UP;
      if (c !== 0x5c) { out[n++] = c; p++; continue; }
      if (p + 1 >= stop) throw GIVE_UP;
      const e = buf[p + 1];
      p += 2;
      switch (e) {
        case 0x22: case 0x5c: case 0x2f: out[n++] = e; break;
        case 0x62: out[n++] = 0x08; break;
        case 0x66: out[n++] = 0x0c; break;
        case 0x6e: out[n++] = 0x0a; break;
        case 0x72: out[n++] = 0x0d; break;
        case 0x74: out[n++] = 0x09; break;
        case 0x75: {
          pos = p;
          const u = hex4();
          p = pos;
          if (u > 0xff) return readByJsonParse(start);
          out[n++] = u;
          break;
        }
        default: throw GIVE_UP;
      }
      continue;
    }
    // U+0080..U+00FF are two bytes in UTF-8 (C2 or C3, then the low six bits); anything else is past U+00FF.
    if ((c === 0xc2 || c === 0xc3) && p + 1 < stop) {
      out[n++] = ((c & 0x1f) << 6) | (buf[p + 1] & 0x3f);
      p += 2;
      continue;
    }
    return readByJsonParse(start);
  }
  throw GIVE_UP;
}

/** A string with escapes and characters past U+00FF (never in the protocol's ids): JSON.parse reads it. */
function readByJsonParse(start: number): string {
  pos = start;
  skipString();
  return JSON.parse(b.utf8Slice(start - 1, pos)) as string;
}

/** Four hex digits after `\u` (a lone surrogate is kept as one, as JSON.parse does). */
function hex4(): number {
  if (pos + 4 > end) throw GIVE_UP;
  let n = 0;
  for (let i = 0; i < 4; i++) {
    const c = b[pos++];
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (d < 0) throw GIVE_UP;
    n = n * 16 + d;
  }
  return n;
}

/** Checks one value of any kind without building it; leaves `pos` after it. */
function skipValue(depth: number): void {
  if (depth >= MAX_DEPTH) throw GIVE_UP;
  const c = b[pos];
  if (c === 0x22) { pos++; skipString(); return; }
  if (c === 0x7b || c === 0x5b) {
    const close = c === 0x7b ? 0x7d : 0x5d;
    pos++;
    skipWs();
    if (pos < end && b[pos] === close) { pos++; return; }
    for (;;) {
      skipWs();
      if (pos >= end) throw GIVE_UP;
      if (close === 0x7d) {
        if (b[pos] !== 0x22) throw GIVE_UP;
        pos++;
        // A raw object is relayed, never read: its keys need checking, not decoding.
        skipString();
        skipWs();
        if (pos >= end || b[pos] !== 0x3a) throw GIVE_UP;
        pos++;
        skipWs();
        if (pos >= end) throw GIVE_UP;
      }
      skipValue(depth + 1);
      skipWs();
      if (pos >= end) throw GIVE_UP;
      const d = b[pos++];
      if (d === 0x2c) continue;
      if (d === close) return;
      throw GIVE_UP;
    }
  }
  readValue(depth); // a literal or a number: small, read as usual
}

/** 1 for the bytes a string scan must stop at: `"`, `\` and raw control characters. */
const STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STOP[c] = 1;
STOP[0x22] = 1;
STOP[0x5c] = 1;

/** A 32-bit view of the last message's ArrayBuffer (skipString reads four bytes at a time); kept for the next message, often from the same read. */
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);
let wordsOf: ArrayBufferLike | null = null;

/** After the opening quote: checks a string (escapes, no raw control characters) and skips it. */
function skipString(): void {
  // The hottest loop (SDPs are most of the bytes): locals only; aligned words of four bytes are
  // tested at once (SWAR: "a byte below 0x20, or equal to 0x22 or 0x5c" in a dozen integer
  // operations), a word that may hold one is then looked at byte by byte.
  const buf = b;
  const stop = end;
  const base = buf.byteOffset;
  if (wordsOf !== buf.buffer) {
    words = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
    wordsOf = buf.buffer;
  }
  const w32 = words;
  let p = pos;
  for (;;) {
    for (;;) {
      if (p >= stop) throw GIVE_UP;
      if (((base + p) & 3) === 0 && p + 4 <= stop) {
        const x = w32[(base + p) >> 2];
        const q = x ^ 0x22222222;
        const s = x ^ 0x5c5c5c5c;
        if (((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) === 0) {
          p += 4;
          continue;
        }
      }
      if (STOP[buf[p]] !== 0) break;
      p++;
    }
    const c = buf[p++];
    if (c === 0x22) {
      pos = p;
      return;
    }
    if (c !== 0x5c || p >= stop) throw GIVE_UP; // a raw control character, or a cut escape
    const e = buf[p++];
    if (e === 0x75) {
      pos = p;
      hex4();
      p = pos;
    } else if (e !== 0x22 && e !== 0x5c && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
      throw GIVE_UP;
    }
  }
}
