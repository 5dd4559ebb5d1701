/**
 * One tracker WebSocket: the peers it holds, its rate and error windows, and its outbox. Within a
 * tick every message for the socket is queued as pieces of bytes (pre-encoded constants, the
 * peers' cached JSON ids, the SDPs as the sender's client sent them), then written at the tick as
 * ONE buffer holding every WebSocket frame: one copy of each byte and one write system call per
 * socket per tick, however many messages it holds.
 *
 * The frames are written here rather than by ws.send: a server's text frame is only a 2- to
 * 10-byte header before the payload (RFC 6455 §5.2, unmasked, no extensions since the gateway
 * turns permessage-deflate off), and going through ws.send cost a string → Buffer conversion,
 * two buffers and a writev entry per message (the profile's largest write cost). ws still owns
 * the connection: reading, ping/pong and the close handshake; we write only while it is OPEN, and
 * whole frames in one write, so ours never interleave with its control frames.
 */
import type { FrameSocket } from '../../core/index.ts';
import { writeIdJson } from './ids.ts';
import { IdMemo, RawJson } from './json-bytes.ts';
import type { LocalPeer } from './peer.ts';

/**
 * A piece of a queued message: bytes; a RawJson (bytes of a received message); a string, which is
 * a binary id written as its JSON string (ids.ts writeIdJson); or a non-negative integer, written
 * in decimal. Every piece is copied into the socket's frame buffer as it is added.
 */
export type Part = Buffer | RawJson | string | number;

/**
 * Frame buffers not in use. A socket takes one when its first message of a tick is queued and
 * gives it back after the flush when the kernel took the write whole (the usual case: then
 * nothing points at it any more); a write left partly queued keeps its buffer. So the frames of
 * a tick cost no allocation in the steady state, and nothing per message.
 */
const spare: Buffer[] = [];
let spareBytes = 0;
/** At most this much is kept spare: enough for thousands of sockets written in one tick. */
const SPARE_MAX_BYTES = 32 * 1024 * 1024;
const FIRST_SIZE = 4096;
/** Bigger buffers are not kept (one huge message must not pin memory). */
const KEEP_MAX = 256 * 1024;

function takeBuffer(min: number): Buffer {
  const b = spare.pop();
  if (b) {
    spareBytes -= b.length;
    if (b.length >= min) return b;
    giveBack(b);
  }
  return Buffer.allocUnsafeSlow(Math.max(FIRST_SIZE, min));
}

function giveBack(b: Buffer): void {
  if (spareBytes + b.length <= SPARE_MAX_BYTES && b.length <= KEEP_MAX) {
    spare.push(b);
    spareBytes += b.length;
  }
}

/** Header room reserved before each payload: enough for lengths up to 65,535 (moved if not). */
const RESERVED = 4;

export class TrackerSocket {
  /** Peers held by this connection, by infoHex + peerHex. */
  readonly peers = new Map<string, LocalPeer>();
  /** The frames queued this tick, written as they are queued; null when none. */
  private out: Buffer | null = null;
  private at = 0;
  /** Where the message being built starts (its reserved header), or -1. */
  private messageStart = -1;
  private count = 0;
  /** The ids this connection sent last, to skip decoding their repeats (json-bytes.ts). */
  readonly ids = new IdMemo();
  /** Queued for the flush this tick (the tracker's list of dirty sockets). */
  dirty = false;
  closed = false;
  /** Messages received in the current one-second window. */
  windowStartMs = 0;
  windowCount = 0;
  /** Refusals in the current one-minute window. */
  errorWindowStartMs = 0;
  errors = 0;

  constructor(readonly ws: FrameSocket, readonly ip: string) {}

  /**
   * The peer this connection holds for (infoHex, peerHex). A browser's connection mostly holds
   * one, so the last one found is checked first: no key string built per message.
   */
  peerOf(infoHex: string, peerHex: string): LocalPeer | undefined {
    const last = this.lastPeer;
    if (last && last.peerHex === peerHex && last.infoHex === infoHex) return last;
    const peer = this.peers.get(infoHex + peerHex);
    if (peer) this.lastPeer = peer;
    return peer;
  }

  /** Stops holding a peer (it stopped, expired, or moved to another connection). */
  release(key: string): void {
    const peer = this.peers.get(key);
    if (peer && peer === this.lastPeer) this.lastPeer = undefined;
    this.peers.delete(key);
  }

  private lastPeer: LocalPeer | undefined;

  /** Messages queued since the last flush. */
  get queued(): number {
    return this.count;
  }

  /** Queues a message of any text (failures, scrapes: the rare paths). */
  pushText(text: string): void {
    this.add(Buffer.from(text, 'utf8'));
    this.end();
  }

  /** Adds a piece to the message being queued (the hot path: no intermediate string); end() closes it. */
  add(part: Part): void {
    if (this.messageStart < 0) {
      this.room(RESERVED);
      this.messageStart = this.at;
      this.at += RESERVED;
    }
    if (typeof part === 'string') {
      // At most 6 bytes a character (\u00xx) plus the quotes: room first, then one pass.
      this.room(6 * part.length + 2);
      this.at = writeIdJson(this.out!, this.at, part);
    } else if (typeof part === 'number') {
      const digits = String(part);
      this.room(digits.length);
      this.at += this.out!.write(digits, this.at, 'latin1');
    } else if (part instanceof RawJson) {
      const n = part.length;
      this.room(n);
      this.out!.set(part.view, this.at);
      this.at += n;
    } else {
      const n = part.length;
      this.room(n);
      const out = this.out!;
      if (n < 32) {
        // Short constants: a plain loop beats the call into set().
        for (let j = 0; j < n; j++) out[this.at + j] = part[j];
      } else {
        out.set(part, this.at);
      }
      this.at += n;
    }
  }

  /** Closes the message: its frame header goes in front of it. */
  end(): void {
    if (this.messageStart < 0) this.add(EMPTY);
    const start = this.messageStart;
    const len = this.at - start - RESERVED;
    // The payload was written after RESERVED (4) bytes: move it to sit right after its header.
    const framing = this.ws.framing;
    const size = framing.headerSize(len);
    if (size < RESERVED) {
      this.out!.copyWithin(start + size, start + RESERVED, this.at);
      this.at -= RESERVED - size;
    } else if (size > RESERVED) {
      this.room(size - RESERVED);
      this.out!.copyWithin(start + size, start + RESERVED, this.at);
      this.at += size - RESERVED;
    }
    framing.writeHeader(this.out!, start, len, true);
    this.messageStart = -1;
    this.count++;
  }

  /** Makes room for `n` more bytes. */
  private room(n: number): void {
    const out = this.out;
    if (out && this.at + n <= out.length) return;
    const next = takeBuffer(Math.max(this.at + n, out ? 2 * out.length : 0));
    if (out) {
      out.copy(next, 0, 0, this.at);
      giveBack(out);
    }
    this.out = next;
  }

  /** Drops everything queued (the socket closed, or is too slow to be sent more); returns how many. */
  discard(): number {
    const n = this.count;
    if (this.out) giveBack(this.out);
    this.out = null;
    this.at = 0;
    this.messageStart = -1;
    this.count = 0;
    return n;
  }

  /** Writes the queued frames in one write; returns how many messages went out. */
  flush(): number {
    const n = this.count;
    const out = this.out;
    if (n === 0 || !out) return 0;
    const ws = this.ws;
    if (this.closed || !ws.open) {
      this.discard();
      return 0;
    }
    const len = this.at;
    this.out = null;
    this.at = 0;
    this.count = 0;
    const before = ws.bufferedAmount;
    ws.writeFramed(out.subarray(0, len));
    // Taken whole by the kernel: nothing refers to the buffer any more, it can be reused.
    if (before === 0 && ws.bufferedAmount === 0) giveBack(out);
    return n;
  }
}

const EMPTY = Buffer.alloc(0);
