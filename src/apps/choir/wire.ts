/**
 * choir's audio frames on the wire: the body of a `choir.frame` REQUEST (bytes) and of its REPLY.
 * Little-endian; positions are samples on the room's clock (48 kHz), a write position a multiple
 * of 960 (20 ms). docs/choir.md has the tables.
 *
 * Request: u8 version (1) | u32 singer | 8 bytes key | f64 write position (−1: nothing to add) |
 *          f64 read position (−1: no mix wanted) | Opus packet (the rest; empty: nothing to add)
 * Reply:   u8 version (3) | f64 room clock now | f64 read position | u8 song (0 none, 1 running,
 *          2 stopped) | f64 song's startedAt (−1: none) | f64 song's stoppedAt (−1: none or running) |
 *          u8 voice (0 none sent, 1 added, 2 not added: outside the song, 3 added late) |
 *          u32 codec epoch (0: no codec work) | Opus packet of the mix (empty: none)
 * Version 1 replies (no song, no voice: a 17-byte header) still decode, with `song` undefined;
 * version 2 (35 bytes, no epoch), with `codecEpoch` undefined.
 *
 * No Buffer here: the /choir page (web/choir.ts) encodes its frames with this module too.
 */
import { choirError } from './errors.ts';

/**
 * How far ahead of hearing it the page (web/choir.ts) asks for the mix, ms: a mix whose reply comes
 * back within this of its frame being sent is decoded and queued before the page plays it (room for
 * the round trip and the decode). The benchmark's simulated singers count a mix later than this as
 * lost, as the page would (src/sim/choir-worker.ts).
 */
export const MIX_LEAD_MS = 100;

export const WIRE_VERSION = 1;
export const FRAME_HEADER_BYTES = 29;
export const REPLY_VERSION = 3;
export const REPLY_HEADER_BYTES = 39;
const REPLY_V1_HEADER_BYTES = 17;
const REPLY_V2_HEADER_BYTES = 35;

export interface FrameRequest {
  singer: number;
  key: string;
  writePos: number;
  readPos: number;
  opus: Uint8Array;
}

const HEX = Array.from({ length: 256 }, (_, x) => x.toString(16).padStart(2, '0'));
/** 8 key bytes as 16 hex digits (a table, no array per frame: this runs for every frame the server reads). */
const hex8 = (b: Uint8Array, at: number) => HEX[b[at]] + HEX[b[at + 1]] + HEX[b[at + 2]] + HEX[b[at + 3]] + HEX[b[at + 4]] + HEX[b[at + 5]] + HEX[b[at + 6]] + HEX[b[at + 7]];
const badPosition = (p: number) => p !== -1 && !(Number.isSafeInteger(p) && p >= 0);
/** The key's 16 hex digits as 8 bytes (a shorter or malformed key leaves zeros, which name no singer). */
function keyBytes(key: string): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(key.slice(2 * i, 2 * i + 2), 16) || 0;
  return out;
}

/** The first 29 bytes of a request, either version: version, singer, key, write and read positions. */
function writeRequestHeader(out: Uint8Array, version: number, f: { singer: number; key: string; writePos: number; readPos: number }): DataView {
  const v = new DataView(out.buffer);
  v.setUint8(0, version);
  v.setUint32(1, f.singer, true);
  out.set(keyBytes(f.key), 5);
  v.setFloat64(13, f.writePos, true);
  v.setFloat64(21, f.readPos, true);
  return v;
}

/** A request's write and read positions (bytes 13 and 21, either version), refused unless whole sample counts ≥ 0 or −1. */
function readPositions(v: DataView): { writePos: number; readPos: number } {
  const writePos = v.getFloat64(13, true);
  const readPos = v.getFloat64(21, true);
  if (badPosition(writePos)) throw choirError('CHOIR_BAD_FRAME', `the write position is a whole number of samples ≥ 0, or −1; got ${writePos}`);
  if (badPosition(readPos)) throw choirError('CHOIR_BAD_FRAME', `the read position is a whole number of samples ≥ 0, or −1; got ${readPos}`);
  return { writePos, readPos };
}

export function encodeFrame(f: FrameRequest): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + f.opus.length);
  writeRequestHeader(out, WIRE_VERSION, f);
  out.set(f.opus, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Several consecutive 20 ms frames in one message (request version 2): frame i writes at
 * writePos + 960·i (when writePos ≥ 0 and its packet is not empty) and reads its mix at
 * readPos + 960·i (when readPos ≥ 0). The seed's client sends 600 ms a request; a message per 20 ms
 * frame costs a server about as much CPU in its socket, WebSocket and request handling as the
 * frame's codec work (docs/choir.md "Several frames a message").
 */
export interface FramesRequest {
  singer: number;
  key: string;
  writePos: number;
  readPos: number;
  /** One Opus packet per frame (empty: nothing sung in that frame); at least one, at most 255. */
  packets: Uint8Array[];
}
/** What the server reads from either version: a version 1 request is one frame. */
export interface DecodedFrames extends FramesRequest { version: 1 | 2 }

export const FRAMES_WIRE_VERSION = 2;
/** Version 2's header before the packets' lengths: version 1's 29 bytes and the frame count (u8). */
export const FRAMES_HEADER_BYTES = 30;
export const MAX_FRAMES_PER_MESSAGE = 255;

export function encodeFrames(f: FramesRequest): Uint8Array {
  const n = f.packets.length;
  if (n < 1 || n > MAX_FRAMES_PER_MESSAGE) throw new RangeError(`a message carries 1..${MAX_FRAMES_PER_MESSAGE} frames, not ${n}`);
  let bytes = FRAMES_HEADER_BYTES + 2 * n;
  for (const p of f.packets) bytes += p.length;
  const out = new Uint8Array(bytes);
  const v = writeRequestHeader(out, FRAMES_WIRE_VERSION, f);
  v.setUint8(29, n);
  let at = FRAMES_HEADER_BYTES + 2 * n;
  for (let i = 0; i < n; i++) {
    const p = f.packets[i];
    if (p.length > 0xffff) throw new RangeError(`an Opus packet is at most 65535 bytes, not ${p.length}`);
    v.setUint16(FRAMES_HEADER_BYTES + 2 * i, p.length, true);
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A request of either version, as frames: the server's reader (a version 1 request is one frame). */
export function decodeFrames(body: Uint8Array): DecodedFrames {
  if (body.length >= 1 && body[0] === WIRE_VERSION) {
    const f = decodeFrame(body);
    return { version: 1, singer: f.singer, key: f.key, writePos: f.writePos, readPos: f.readPos, packets: [f.opus] };
  }
  if (body.length < FRAMES_HEADER_BYTES) throw choirError('CHOIR_BAD_FRAME', `a version ${FRAMES_WIRE_VERSION} message has a ${FRAMES_HEADER_BYTES}-byte header; got ${body.length} bytes`);
  const v = new DataView(body.buffer, body.byteOffset, body.length);
  if (v.getUint8(0) !== FRAMES_WIRE_VERSION) throw choirError('CHOIR_BAD_FRAME', `frame version ${v.getUint8(0)}; this server speaks ${WIRE_VERSION} and ${FRAMES_WIRE_VERSION}`);
  const { writePos, readPos } = readPositions(v);
  const n = v.getUint8(29);
  if (n === 0) throw choirError('CHOIR_BAD_FRAME', 'a message carries at least one frame; its count is 0');
  if (body.length < FRAMES_HEADER_BYTES + 2 * n) throw choirError('CHOIR_BAD_FRAME', `${n} frames need ${FRAMES_HEADER_BYTES + 2 * n} header bytes; got ${body.length}`);
  const packets: Uint8Array[] = new Array(n);
  let at = FRAMES_HEADER_BYTES + 2 * n;
  for (let i = 0; i < n; i++) {
    const len = v.getUint16(FRAMES_HEADER_BYTES + 2 * i, true);
    if (at + len > body.length) throw choirError('CHOIR_BAD_FRAME', `frame ${i}'s packet (${len} bytes) runs past the message's end (${body.length} bytes)`);
    packets[i] = body.subarray(at, at + len);
    at += len;
  }
  if (at !== body.length) throw choirError('CHOIR_BAD_FRAME', `${body.length - at} bytes after the last packet`);
  return { version: 2, singer: v.getUint32(1, true), key: hex8(body, 5), writePos, readPos, packets };
}

export function decodeFrame(body: Uint8Array): FrameRequest {
  if (body.length < FRAME_HEADER_BYTES) throw choirError('CHOIR_BAD_FRAME', `a frame has a ${FRAME_HEADER_BYTES}-byte header; got ${body.length} bytes`);
  const v = new DataView(body.buffer, body.byteOffset, body.length);
  if (v.getUint8(0) !== WIRE_VERSION) throw choirError('CHOIR_BAD_FRAME', `frame version ${v.getUint8(0)}; this server speaks ${WIRE_VERSION}`);
  const { writePos, readPos } = readPositions(v);
  return { singer: v.getUint32(1, true), key: hex8(body, 5), writePos, readPos, opus: body.subarray(FRAME_HEADER_BYTES) };
}

/** The room's song as the reply saw it: none yet, running since startedAt, or [startedAt, stoppedAt). */
export type SongState = { startedAt: number; stoppedAt: number | null } | null;
/**
 * What became of the frame's voice: none sent (or empty), added to the room, outside the song and
 * not added, or added late (a singer behind had already read that position: they missed it).
 */
export type VoiceOutcome = 'none' | 'added' | 'outside' | 'late';
const VOICE_CODES: VoiceOutcome[] = ['none', 'added', 'outside', 'late'];

export interface FrameReply {
  clock: number;
  readPos: number;
  /** The song when the reply left (undefined only in a version 1 reply). */
  song?: SongState;
  voice?: VoiceOutcome;
  /**
   * The epoch of the singer's codec state on the server that made this reply's mix (and decoded the
   * frame's voice): it changes when that state started afresh (the singer's codec shard restarted),
   * and a client then restarts its mix decoder, whose state the new encoder never had (docs/choir.md
   * "Shard restarts"). 0: no codec work in this frame; undefined in a version 1 or 2 reply.
   */
  codecEpoch?: number;
  opus: Uint8Array;
}

export function encodeReply(r: FrameReply): Uint8Array {
  const out = new Uint8Array(REPLY_HEADER_BYTES + r.opus.length);
  writeReplyHeader(new DataView(out.buffer), r);
  out.set(r.opus, REPLY_HEADER_BYTES);
  return out;
}

/**
 * The same reply, its header written into the REPLY_HEADER_BYTES in front of `r.opus`, which must
 * be free and the packet's own (the codec shards leave them so: FrameCodecResult.opusHeadroom): no
 * copy of the packet. Returns the reply, a view from the header to the packet's end.
 */
export function encodeReplyInPlace(r: FrameReply): Uint8Array {
  const at = r.opus.byteOffset - REPLY_HEADER_BYTES;
  if (at < 0) throw new RangeError(`encodeReplyInPlace needs ${REPLY_HEADER_BYTES} bytes in front of the packet; it has ${r.opus.byteOffset}`);
  writeReplyHeader(new DataView(r.opus.buffer, at, REPLY_HEADER_BYTES), r);
  return new Uint8Array(r.opus.buffer, at, REPLY_HEADER_BYTES + r.opus.length);
}

/** The first 34 bytes of a reply, versions 3 and 4: version, clock, read position and the song. */
function writeReplyStart(v: DataView, version: number, clock: number, readPos: number, song: SongState): void {
  v.setUint8(0, version);
  v.setFloat64(1, clock, true);
  v.setFloat64(9, readPos, true);
  v.setUint8(17, song === null ? 0 : song.stoppedAt === null ? 1 : 2);
  v.setFloat64(18, song?.startedAt ?? -1, true);
  v.setFloat64(26, song?.stoppedAt ?? -1, true);
}

/** The song of a reply of version 2 or later (bytes 17–33). */
function readSong(v: DataView): SongState {
  const state = v.getUint8(17);
  return state === 0 ? null : { startedAt: v.getFloat64(18, true), stoppedAt: state === 2 ? v.getFloat64(26, true) : null };
}

function writeReplyHeader(v: DataView, r: FrameReply): void {
  writeReplyStart(v, REPLY_VERSION, r.clock, r.readPos, r.song ?? null);
  v.setUint8(34, VOICE_CODES.indexOf(r.voice ?? 'none'));
  v.setUint32(35, r.codecEpoch ?? 0, true);
}

export function decodeReply(body: Uint8Array): FrameReply {
  const v = new DataView(body.buffer, body.byteOffset, body.length);
  const clock = v.getFloat64(1, true), readPos = v.getFloat64(9, true);
  if (v.getUint8(0) < 2) return { clock, readPos, opus: body.subarray(REPLY_V1_HEADER_BYTES) };
  const song = readSong(v);
  const voice = VOICE_CODES[v.getUint8(34)] ?? 'none';
  if (v.getUint8(0) < 3) return { clock, readPos, song, voice, opus: body.subarray(REPLY_V2_HEADER_BYTES) };
  return { clock, readPos, song, voice, codecEpoch: v.getUint32(35, true), opus: body.subarray(REPLY_HEADER_BYTES) };
}

/** The reply to a version 2 request: one header, then each frame's voice outcome and mix. */
export interface FramesReply {
  clock: number;
  readPos: number;
  song: SongState;
  codecEpoch: number;
  /** Per frame, in the request's order: what became of its voice, and its mix (empty: none asked). */
  voices: VoiceOutcome[];
  mixes: Uint8Array[];
}

export const FRAMES_REPLY_VERSION = 4;
/** Version 4's header before the per-frame fields: version 3's first 34 bytes, the epoch (u32) and the count (u8). */
export const FRAMES_REPLY_HEADER_BYTES = 39;

/**
 * Reply version 4 (little-endian): u8 version (4) | f64 clock | f64 read position | u8 song |
 * f64 startedAt | f64 stoppedAt | u32 codec epoch | u8 frame count n | n × u8 voice |
 * n × u16 mix packet length | the mix packets.
 */
export function encodeFramesReply(r: FramesReply): Uint8Array {
  const n = r.voices.length;
  let bytes = FRAMES_REPLY_HEADER_BYTES + 3 * n;
  for (const m of r.mixes) bytes += m.length;
  const out = new Uint8Array(bytes);
  const v = new DataView(out.buffer);
  writeReplyStart(v, FRAMES_REPLY_VERSION, r.clock, r.readPos, r.song);
  v.setUint32(34, r.codecEpoch, true);
  v.setUint8(38, n);
  let at = FRAMES_REPLY_HEADER_BYTES + 3 * n;
  for (let i = 0; i < n; i++) {
    out[FRAMES_REPLY_HEADER_BYTES + i] = VOICE_CODES.indexOf(r.voices[i]);
    const m = r.mixes[i];
    v.setUint16(FRAMES_REPLY_HEADER_BYTES + n + 2 * i, m.length, true);
    out.set(m, at);
    at += m.length;
  }
  return out;
}

/** A reply of any version as frames (versions 1 to 3 are one frame). */
export function decodeFramesReply(body: Uint8Array): FramesReply {
  const v = new DataView(body.buffer, body.byteOffset, body.length);
  if (v.getUint8(0) < FRAMES_REPLY_VERSION) {
    const r = decodeReply(body);
    return { clock: r.clock, readPos: r.readPos, song: r.song ?? null, codecEpoch: r.codecEpoch ?? 0, voices: [r.voice ?? 'none'], mixes: [r.opus] };
  }
  const song = readSong(v);
  const n = v.getUint8(38);
  const voices: VoiceOutcome[] = new Array(n);
  const mixes: Uint8Array[] = new Array(n);
  let at = FRAMES_REPLY_HEADER_BYTES + 3 * n;
  for (let i = 0; i < n; i++) {
    voices[i] = VOICE_CODES[body[FRAMES_REPLY_HEADER_BYTES + i]] ?? 'none';
    const len = v.getUint16(FRAMES_REPLY_HEADER_BYTES + n + 2 * i, true);
    mixes[i] = body.subarray(at, at + len);
    at += len;
  }
  return { clock: v.getFloat64(1, true), readPos: v.getFloat64(9, true), song, codecEpoch: v.getUint32(34, true), voices, mixes };
}
