/**
 * A connection's outbox for an app with a protocol of its own (the tracker's JSON): every message
 * for the connection within a tick is built straight into ONE buffer of whole frames, and the
 * tick's flush writes it with one `FrameSocket.writeFramed`: one copy of each byte and one write
 * system call per socket per tick, however many messages it holds, and nothing allocated per
 * message.
 *
 * Each message is built after room reserved for its frame header (enough for lengths up to
 * 65,535 with the WebSocket framing); when the message ends, its header is written in front of it
 * (the payload moves by the difference when the header is shorter or longer than the room). Pieces
 * are added as bytes, latin1 text, UTF-8 text or decimal numbers; an app writes pieces of its own
 * kind (the tracker's binary ids as JSON strings) with `reserve(n)` + `offset` + `advance(n)`.
 *
 * Backpressure is the core's one rule for every app: `flush(maxBufferedBytes)` writes nothing to
 * a socket that has more than that many bytes unsent (AppCore.limits.maxBufferedBytes): the tick's
 * messages are discarded and counted, and the socket gets nothing more until it drains.
 */
import type { FrameSocket } from './app.ts';

/** What a flush did with the queued messages. */
export type FlushOutcome =
  /** Nothing was queued. */
  | 'empty'
  /** Written, in one write. */
  | 'sent'
  /** Discarded: the socket had more than the limit unsent (counted in `overLimit`). */
  | 'over-limit'
  /** Discarded: the socket is closed (counted in `closed`). */
  | 'closed';

/** Message counts of one or more outboxes (an app may share one object among all of its own). */
export interface OutboxCounters {
  /** Messages written. */
  sent: number;
  /** Writes made: one per flush that sent messages. */
  writes: number;
  /** Messages discarded because their socket had more than the limit unsent. */
  overLimit: number;
  /** Messages discarded because their socket had closed. */
  closed: number;
}

export function newOutboxCounters(): OutboxCounters {
  return { sent: 0, writes: 0, overLimit: 0, closed: 0 };
}

/**
 * Frame buffers not in use, shared by every outbox. An outbox takes one when its first message of
 * a tick begins and gives it back after the flush when the kernel took the write whole (the usual
 * case: then nothing points at it any more); a write left partly queued keeps its buffer. So the
 * frames of a tick cost no allocation in the steady state.
 */
const spare: Buffer[] = [];
let spareBytes = 0;
/** At most this much is kept spare, bytes: enough for thousands of sockets written in one tick. */
const SPARE_MAX_BYTES = 32 * 1024 * 1024;
/** A fresh buffer's size, bytes. */
const FIRST_SIZE = 4096;
/** Bigger buffers are not kept, bytes (one huge message must not pin memory). */
const KEEP_MAX_BYTES = 256 * 1024;

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
  if (spareBytes + b.length <= SPARE_MAX_BYTES && b.length <= KEEP_MAX_BYTES) {
    spare.push(b);
    spareBytes += b.length;
  }
}

/** The payload length whose header is reserved before each message (longer ones move it). */
const RESERVED_FOR_LENGTH = 0xffff;

export class Outbox {
  /** The frames queued since the last flush; null when none. */
  private out: Buffer | null = null;
  private at = 0;
  /** Where the message being built starts (its reserved header room), or -1 when none is open. */
  private messageStart = -1;
  private count = 0;
  /** Header room reserved before each payload, bytes. */
  private readonly reserved: number;

  constructor(readonly socket: FrameSocket, readonly counters: OutboxCounters = newOutboxCounters()) {
    this.reserved = socket.framing.headerSize(RESERVED_FOR_LENGTH);
  }

  /** Messages ended since the last flush. */
  get queued(): number {
    return this.count;
  }

  /** True while a message is begun and not yet ended. */
  get building(): boolean {
    return this.messageStart >= 0;
  }

  /** Adds bytes to the message being built (begins one when none is open). */
  bytes(part: Uint8Array): void {
    const n = part.length;
    const out = this.room(n);
    const at = this.at;
    if (n < 32) {
      // Short constants: a plain loop beats the call into set().
      for (let j = 0; j < n; j++) out[at + j] = part[j];
    } else {
      out.set(part, at);
    }
    this.at = at + n;
  }

  /** Adds a string of characters U+0000..U+00FF, one byte each. */
  latin1(text: string): void {
    const out = this.room(text.length);
    this.at += out.write(text, this.at, 'latin1');
  }

  /** Adds a string as UTF-8. */
  utf8(text: string): void {
    // At most 3 bytes per UTF-16 unit (a surrogate pair is 4 bytes for 2 units).
    const out = this.room(3 * text.length);
    this.at += out.write(text, this.at, 'utf8');
  }

  /** Adds a non-negative integer in decimal. */
  number(n: number): void {
    this.latin1(String(n));
  }

  /**
   * Makes room for `n` more bytes of the message being built (begins one when none is open) and
   * returns the buffer to write them into, from `offset`; `advance` then says how many were
   * written. The buffer is only valid until the next call on this outbox.
   */
  reserve(n: number): Buffer {
    return this.room(n);
  }

  /** Where the next byte of the message goes in the buffer `reserve` returned. */
  get offset(): number {
    return this.at;
  }

  /** Takes `n` bytes written after `offset` into the message (at most what `reserve` made room for). */
  advance(n: number): void {
    if (!this.out || this.messageStart < 0 || this.at + n > this.out.length || n < 0) throw new RangeError(`advance(${n}) past the room reserved`);
    this.at += n;
  }

  /** Ends the message being built as a text message (an empty one when none was begun). */
  endText(): void {
    this.end(true);
  }

  /** Ends the message being built as a binary message (an empty one when none was begun). */
  endBinary(): void {
    this.end(false);
  }

  /** Queues one whole text message. */
  pushText(text: string): void {
    this.utf8(text);
    this.end(true);
  }

  /** Queues one whole message of these bytes. */
  push(payload: Uint8Array, text: boolean): void {
    this.bytes(payload);
    this.end(text);
  }

  /** Drops everything queued, the message being built too; returns how many messages were dropped. */
  discard(): number {
    const n = this.count;
    if (this.out) giveBack(this.out);
    this.out = null;
    this.at = 0;
    this.messageStart = -1;
    this.count = 0;
    return n;
  }

  /**
   * Writes the ended messages in one write, unless the socket has more than `maxBufferedBytes`
   * unsent or is closed: then they are discarded (and counted). A message still being built is
   * an error (the app flushes between messages, never inside one).
   */
  flush(maxBufferedBytes: number): FlushOutcome {
    const n = this.count;
    const out = this.out;
    if (n === 0 || !out) return 'empty';
    if (this.messageStart >= 0) throw new Error('Outbox.flush while a message is being built');
    const socket = this.socket;
    if (!socket.open) {
      this.counters.closed += this.discard();
      return 'closed';
    }
    const before = socket.bufferedAmount;
    if (before > maxBufferedBytes) {
      this.counters.overLimit += this.discard();
      return 'over-limit';
    }
    const len = this.at;
    this.out = null;
    this.at = 0;
    this.count = 0;
    socket.writeFramed(out.subarray(0, len));
    // Taken whole by the kernel: nothing refers to the buffer any more, it can be reused.
    if (before === 0 && socket.bufferedAmount === 0) giveBack(out);
    this.counters.sent += n;
    this.counters.writes++;
    return 'sent';
  }

  private end(text: boolean): void {
    if (this.messageStart < 0) this.room(0);
    const start = this.messageStart;
    const reserved = this.reserved;
    const len = this.at - start - reserved;
    const framing = this.socket.framing;
    const size = framing.headerSize(len);
    // The payload was written after the reserved room: move it to sit right after its header.
    if (size < reserved) {
      this.out!.copyWithin(start + size, start + reserved, this.at);
      this.at -= reserved - size;
    } else if (size > reserved) {
      this.room(size - reserved);
      this.out!.copyWithin(start + size, start + reserved, this.at);
      this.at += size - reserved;
    }
    framing.writeHeader(this.out!, start, len, text);
    this.messageStart = -1;
    this.count++;
  }

  /** Makes room for `n` more bytes, beginning a message when none is open; returns the buffer. */
  private room(n: number): Buffer {
    if (this.messageStart < 0) {
      this.grow(this.reserved + n);
      this.messageStart = this.at;
      this.at += this.reserved;
      return this.out!;
    }
    return this.grow(n);
  }

  private grow(n: number): Buffer {
    const out = this.out;
    if (out && this.at + n <= out.length) return out;
    const next = takeBuffer(Math.max(this.at + n, out ? 2 * out.length : 0));
    if (out) {
      out.copy(next, 0, 0, this.at);
      giveBack(out);
    }
    this.out = next;
    return next;
  }
}
