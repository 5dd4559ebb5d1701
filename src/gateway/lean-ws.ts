/**
 * The server side of RFC 6455 for every WebSocket Brigade serves: the core protocol at /ws and the
 * apps' own paths (the tracker's /announce and /, through frame-socket.ts). The upgrade handshake
 * and a frame reader over the raw socket, written for the case that matters — many small
 * messages, several per read.
 *
 * Why not `ws` here: its receiver turns every frame into four `consume` calls, each making two
 * Buffer views, plus an array of fragments and a concat (about 600 bytes of short-lived objects
 * per frame). At tens of thousands of frames per second that was more than a third of everything
 * the tracker allocated (heap sampling under bench/tracker), and with it the scavenges and the
 * promotions that drive the old generation's collections. This reader unmasks each frame in place
 * in the chunk the socket delivered and hands out one view of it; a frame split across reads is the
 * only case that copies. (`ws` remains in the tests and the simulator as a client.)
 *
 * What it implements, as `ws` does for a server: masked client frames only (1002 otherwise), RSV
 * bits refused (no extension is ever negotiated, so permessage-deflate stays off), control frames
 * at most 125 bytes and unfragmented, fragmented messages with continuation frames (control
 * frames may come between), text validated as UTF-8 (1007), a message or frame larger than
 * `maxPayload` refused with 1009 as soon as its length is read (nothing buffered), pings answered
 * with pongs, the close handshake (a close frame is echoed and the server ends the TCP connection
 * first, RFC 6455 §7.1.1), and a close we start that the client does not answer in
 * `closeTimeoutMs` ends in a reset.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { writeSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { maskInPlace } from './ws-mask.ts';
import { writeWsHeader } from './ws-frame.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[+/0-9A-Za-z]{22}==$/;

export interface LeanSocketOptions {
  /** Largest message (all of its fragments), and so largest frame, in bytes. */
  maxPayload: number;
  /** How long a close we sent waits for the client's close frame before the socket is destroyed, ms. */
  closeTimeoutMs?: number;
  /** A set the socket is in while it is open (the gateway's, to close every client at shutdown). */
  registry?: Set<LeanSocket>;
  /** Frames go straight to the socket's descriptor while nothing is queued (write()); default true. */
  directWrites?: boolean;
}

/**
 * What a socket's owner is told. An object with methods rather than three closures: with tens of
 * thousands of connections the closures and their contexts were a measurable part of the memory
 * per connection, and the core's per-connection object can be its own handler.
 */
export interface LeanHandler {
  /** A whole message: a view of the bytes received (nothing reuses them; keep it if needed). */
  onMessage(data: Buffer, isBinary: boolean): void;
  /** Once, when the TCP connection is gone (after a close handshake, an error or terminate()). */
  onClose(): void;
  /** The reader failed the connection (the close frame with `err.code` is on its way). */
  onProtocolError?(err: LeanProtocolError): void;
}

const NO_HANDLER: LeanHandler = { onMessage() {}, onClose() {} };
const NO_BUFFERS: Buffer[] = Object.freeze([]) as unknown as Buffer[];
const kLean = Symbol('brigade.lean');
type Owned = Duplex & { [kLean]: LeanSocket };

// One set of listener functions for every socket (no closures per connection): `this` is the socket.
function onSocketData(this: Owned, chunk: Buffer): void { this[kLean].onData(chunk); }
function onSocketEnd(this: Owned): void { this[kLean].onEnd(); }
function onSocketClose(this: Owned): void { this[kLean].onSocketClose(); }
function onSocketError(this: Owned): void { this.destroy(); }

/** The descriptor of a plain TCP socket (libuv's handle), or -1 for anything else (TLS, a test's Duplex). */
function socketFd(socket: Duplex): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && (socket as { encrypted?: boolean }).encrypted !== true ? fd : -1;
}

/** Why a connection was failed by the reader: the close code sent and a short reason. */
export interface LeanProtocolError {
  code: 1002 | 1007 | 1009;
  reason: string;
}

/**
 * Completes the upgrade of `req` (already routed to a lean path) or answers 400 and destroys the
 * socket. Returns the open socket, or null when the request was refused.
 */
export function acceptLeanUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, options: LeanSocketOptions): LeanSocket | null {
  const key = req.headers['sec-websocket-key'];
  const version = req.headers['sec-websocket-version'];
  const upgrade = req.headers.upgrade;
  let refusal = '';
  if (req.method !== 'GET') refusal = 'Invalid HTTP method';
  else if (typeof upgrade !== 'string' || upgrade.toLowerCase() !== 'websocket') refusal = 'Invalid Upgrade header';
  else if (typeof key !== 'string' || !KEY.test(key)) refusal = 'Missing or invalid Sec-WebSocket-Key header';
  else if (version !== '13' && version !== '8') refusal = 'Missing or invalid Sec-WebSocket-Version header';
  if (refusal || !socket.readable || !socket.writable) {
    if (socket.writable) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(refusal)}\r\n`
        + (version !== '13' && version !== '8' ? 'Sec-WebSocket-Version: 13\r\n' : '') + `\r\n${refusal}`);
    }
    socket.destroy();
    return null;
  }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  // Like ws without handleProtocols: the first subprotocol the client offers is accepted.
  const offered = req.headers['sec-websocket-protocol'];
  const protocol = typeof offered === 'string' ? offered.split(',')[0].trim() : '';
  const net = socket as Partial<Socket>;
  net.setTimeout?.(0);
  net.setNoDelay?.(true);
  const lean = new LeanSocket(socket, head, options);
  // Through the socket's own write: one write(2) on the descriptor when it can, not the stream's
  // write request and callbacks (a reconnect storm's profile showed them per upgrade).
  lean.write(Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n`
    + (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + '\r\n', 'latin1'));
  return lean;
}

const enum State { OPEN, CLOSING, CLOSED }

/** Bits of LeanSocket.flags. */
const enum Flag { CLOSE_SENT = 1, READING = 2, STARTED = 4 }

const EMPTY: Buffer = Buffer.alloc(0);

/** What a socket flushes before its close frame (the sink's held frames, ws-sink.ts). */
export interface BeforeClose {
  flush(): void;
}

/**
 * What the reader keeps between reads: bytes of an incomplete frame, and a fragmented message in
 * progress. Most connections (small whole frames) never need one, so it is made on first use and
 * dropped when done instead of being six fields on every socket.
 */
class ReadState {
  /** Bytes of an incomplete frame, waiting for the rest. */
  pending: Buffer[] = NO_BUFFERS;
  pendingBytes = 0;
  /** Bytes needed before the incomplete frame can be looked at again. */
  need = 0;
  /**
   * A fragmented message in progress: its opcode (1 text, 2 binary) and its bytes so far, copied
   * into one buffer that grows by doubling up to maxPayload (so tiny fragments cost no object each).
   */
  fragOpcode = 0;
  fragBuf: Buffer = EMPTY;
  fragBytes = 0;
}

/**
 * One upgraded connection. The owner sets `handler` and calls start(), writes whole pre-framed server frames
 * with write() (ws-sink.ts writeWsHeader), and closes with close() or terminate().
 */
export class LeanSocket {
  /** Set by the owner before start(). */
  handler: LeanHandler = NO_HANDLER;
  /** Flushed once before a close frame is written (the sink's held frames go first). */
  beforeClose: BeforeClose | null = null;

  // Every open connection holds one of these, so its fields are kept few (docs/BENCHMARKS.md, idle
  // memory): the options are shared, not copied; the booleans are bits of one number; what the
  // reader keeps between reads is an object of its own, made only when a frame is split or fragmented.
  private state = State.OPEN;
  /** Flag bits: a close frame sent; frames still read (not after a close frame came in or the reader failed); start() called. */
  private flags = Flag.READING;
  private closeTimer: NodeJS.Timeout | null = null;
  private read: ReadState | null = null;
  /** Shared by every socket of one server (the gateway passes one object): maxPayload, closeTimeoutMs, registry. */
  private readonly options: LeanSocketOptions;
  /** The TCP socket's file descriptor for direct writes (write()), or -1 (not a plain TCP socket, or off). */
  private readonly fd: number;

  constructor(readonly socket: Duplex, head: Buffer, options: LeanSocketOptions) {
    this.options = options;
    this.fd = options.directWrites === false ? -1 : socketFd(socket);
    if (head.length > 0) socket.unshift(head);
    options.registry?.add(this);
    (socket as Owned)[kLean] = this;
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
  }

  /** Starts reading: call once the handlers are set (no message is read before). */
  start(): void {
    if ((this.flags & Flag.STARTED) !== 0) return;
    this.flags |= Flag.STARTED;
    this.socket.on('data', onSocketData);
  }

  /** Open for messages both ways (no close sent or received). */
  get open(): boolean {
    return this.state === State.OPEN;
  }

  /** Bytes written but not yet taken by the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /**
   * Writes whole server frames (unmasked); ignored once closing. Returns false when the socket's
   * buffer is over its mark.
   *
   * The fan-out's hot path: while nothing is queued in Node's stream, the bytes go straight to the
   * kernel with one write(2) on the socket's descriptor (fs.writeSync; the descriptor is non-blocking),
   * which skips the stream machinery (a write request object, its callback and a nextTick per write:
   * about a third of a core's user time at 25,000 frames/s; docs/BENCHMARKS.md). Whatever the kernel
   * does not take (a full send buffer: EAGAIN or a short write) goes to the stream, which queues it
   * and writes it when the socket drains; every later write follows it through the stream until the
   * queue is empty again, so the byte order is kept. Any other error goes to the stream as well, which
   * meets it on its own write and fails the socket the usual way. `destroyed` is checked first: a
   * destroyed socket's descriptor is closed and its number may already belong to another connection.
   */
  write(frames: Buffer): boolean {
    if (this.state !== State.OPEN) return false;
    const socket = this.socket;
    if (this.fd < 0 || socket.writableLength !== 0 || !socket.writable) return socket.write(frames);
    let n = 0;
    try {
      n = writeSync(this.fd, frames);
    } catch {
      n = 0; // EAGAIN (send buffer full), or an error the stream will meet and report
    }
    if (n === frames.length) return true;
    return socket.write(n === 0 ? frames : frames.subarray(n));
  }

  /** Starts the close handshake with `code` and `reason` (at most 123 bytes of UTF-8). */
  close(code: number, reason = ''): void {
    if (this.state === State.CLOSED || (this.flags & Flag.CLOSE_SENT) !== 0) return;
    this.sendClose(code, reason);
    this.state = State.CLOSING;
    this.armCloseTimer();
  }

  /** A close under way ends in destroy() if the client has not closed within closeTimeoutMs. */
  private armCloseTimer(): void {
    if (this.closeTimer) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.options.closeTimeoutMs ?? 5000);
    this.closeTimer.unref();
  }

  /** Destroys the connection at once (no handshake). */
  terminate(): void {
    this.socket.destroy();
  }

  // ------------------------------------------------------------------ reading

  /** @internal (the socket's 'data' listener) */
  onData(chunk: Buffer): void {
    if ((this.flags & Flag.READING) === 0) return;
    let data = chunk;
    const read = this.read;
    if (read !== null && read.pendingBytes > 0) {
      read.pending.push(chunk);
      read.pendingBytes += chunk.length;
      if (read.pendingBytes < read.need) return;
      data = Buffer.concat(read.pending, read.pendingBytes);
      read.pending = NO_BUFFERS;
      read.pendingBytes = 0;
      this.dropReadStateIfIdle();
    }
    const n = data.length;
    const maxPayload = this.options.maxPayload;
    let p = 0;
    while (p < n) {
      if ((this.flags & Flag.READING) === 0 || this.socket.destroyed) return;
      if (n - p < 2) { this.keep(data, p, 2); return; }
      const b0 = data[p];
      const b1 = data[p + 1];
      const opcode = b0 & 0x0f;
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (n - p < 4) { this.keep(data, p, 4); return; }
        len = (data[p + 2] << 8) | data[p + 3];
        h = 4;
      } else if (len === 127) {
        if (n - p < 10) { this.keep(data, p, 10); return; }
        const hi = data.readUInt32BE(p + 2);
        // Anything past 2^53 is not a length JavaScript can hold; far past any maxPayload anyway.
        len = hi > 0x1fffff ? Infinity : hi * 0x100000000 + data.readUInt32BE(p + 6);
        h = 10;
      }
      if ((b0 & 0x70) !== 0) return this.fail(1002, 'RSV bits must be clear (no extension was negotiated)');
      if ((b1 & 0x80) === 0) return this.fail(1002, 'client frames must be masked');
      const fin = (b0 & 0x80) !== 0;
      if (opcode >= 8) {
        if (opcode > 10) return this.fail(1002, `invalid opcode ${opcode}`);
        if (!fin) return this.fail(1002, 'control frames must not be fragmented');
        if (len > 125) return this.fail(1002, 'control frame payload over 125 bytes');
      } else {
        if (opcode > 2) return this.fail(1002, `invalid opcode ${opcode}`);
        const fragOpcode = this.read === null ? 0 : this.read.fragOpcode;
        if (opcode === 0 ? fragOpcode === 0 : fragOpcode !== 0) {
          return this.fail(1002, opcode === 0 ? 'continuation frame without a message to continue' : 'new message before the fragmented one ended');
        }
        if (len > maxPayload - (this.read === null ? 0 : this.read.fragBytes)) return this.fail(1009, `message over ${maxPayload} bytes`);
      }
      const start = p + h + 4;
      const end = start + len;
      if (end > n) { this.keep(data, p, end - p); return; }
      maskInPlace(data, start, end, data[p + h], data[p + h + 1], data[p + h + 2], data[p + h + 3]);
      p = end;
      if (opcode === 1 || opcode === 2) {
        if (fin) {
          const message = data.subarray(start, end);
          if (opcode === 1 && !isUtf8(message)) return this.fail(1007, 'text message is not valid UTF-8');
          this.handler.onMessage(message, opcode === 2);
        } else {
          (this.read ??= new ReadState()).fragOpcode = opcode;
          this.appendFragment(data, start, end);
        }
      } else if (opcode === 0) {
        this.appendFragment(data, start, end);
        if (fin) {
          const r = this.read!;
          const message = r.fragBuf.subarray(0, r.fragBytes);
          const binary = r.fragOpcode === 2;
          r.fragBuf = EMPTY;
          r.fragBytes = 0;
          r.fragOpcode = 0;
          this.dropReadStateIfIdle();
          if (!binary && !isUtf8(message)) return this.fail(1007, 'text message is not valid UTF-8');
          this.handler.onMessage(message, binary);
        }
      } else if (opcode === 9) {
        if (this.state === State.OPEN) this.socket.write(controlFrame(0x8a, data.subarray(start, end)));
      } else if (opcode === 8) {
        this.onCloseFrame(data.subarray(start, end));
        return;
      }
      // opcode 10 (pong): nothing to do.
    }
  }

  /** Copies data[start..end) after the fragmented message's bytes so far (the size was checked against maxPayload). */
  private appendFragment(data: Buffer, start: number, end: number): void {
    const r = (this.read ??= new ReadState());
    const len = end - start;
    const need = r.fragBytes + len;
    if (need > r.fragBuf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.options.maxPayload, Math.max(256, need, 2 * r.fragBuf.length)));
      r.fragBuf.copy(grown, 0, 0, r.fragBytes);
      r.fragBuf = grown;
    }
    data.copy(r.fragBuf, r.fragBytes, start, end);
    r.fragBytes = need;
  }

  /** Keeps data[p..] until `need` bytes of it are there. */
  private keep(data: Buffer, p: number, need: number): void {
    const r = (this.read ??= new ReadState());
    const rest = data.subarray(p);
    r.pending = [rest];
    r.pendingBytes = rest.length;
    r.need = need;
  }

  /** Forgets the reader's state once it holds nothing (no split frame, no fragmented message). */
  private dropReadStateIfIdle(): void {
    const r = this.read;
    if (r !== null && r.pendingBytes === 0 && r.fragOpcode === 0) this.read = null;
  }

  private onCloseFrame(payload: Buffer): void {
    this.flags &= ~Flag.READING;
    let code = 1005;
    let reason: Buffer = EMPTY;
    if (payload.length === 1) return this.fail(1002, 'close frame payload of 1 byte');
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!validCloseCode(code)) return this.fail(1002, `invalid close code ${code}`);
      reason = payload.subarray(2);
      if (!isUtf8(reason)) return this.fail(1007, 'close reason is not valid UTF-8');
    }
    // Echo it (RFC 6455 §5.5.1) unless ours went first, then end the TCP connection: the server closes first.
    if ((this.flags & Flag.CLOSE_SENT) === 0) this.sendCloseFrame(code === 1005 ? EMPTY : payload.subarray(0, 2));
    this.state = State.CLOSING;
    this.socket.end();
  }

  /** @internal (the socket's 'end' listener) */
  onEnd(): void {
    // The client ended its side: finish ours (after a close frame, or an abrupt end).
    if (this.state !== State.CLOSED) this.socket.end();
  }

  /** @internal (the socket's 'close' listener) */
  onSocketClose(): void {
    if (this.state === State.CLOSED) return;
    this.state = State.CLOSED;
    this.flags &= ~Flag.READING;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.read = null;
    this.options.registry?.delete(this);
    this.handler.onClose();
  }

  /** Fails the connection: a close frame with `code`, then the socket ends; nothing more is read. */
  private fail(code: LeanProtocolError['code'], reason: string): void {
    this.flags &= ~Flag.READING;
    this.read = null;
    if (this.state === State.OPEN) this.handler.onProtocolError?.({ code, reason });
    if ((this.flags & Flag.CLOSE_SENT) === 0) this.sendClose(code, reason);
    this.state = State.CLOSING;
    this.socket.end();
    this.armCloseTimer();
  }

  private sendClose(code: number, reason: string): void {
    const text = Buffer.from(reason, 'utf8').subarray(0, 123);
    const payload = Buffer.allocUnsafe(2 + text.length);
    payload.writeUInt16BE(code, 0);
    text.copy(payload, 2);
    this.sendCloseFrame(payload);
  }

  private sendCloseFrame(payload: Buffer): void {
    // Frames held for the end of this loop iteration (ws-sink.ts) go before the close.
    const before = this.beforeClose;
    this.beforeClose = null;
    before?.flush();
    this.flags |= Flag.CLOSE_SENT;
    if (this.socket.writable) this.socket.write(controlFrame(0x88, payload));
  }
}

/** A server control frame (FIN + opcode in `first`), payload ≤ 125 bytes. */
function controlFrame(first: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + payload.length);
  writeWsHeader(out, 0, first, payload.length);
  payload.copy(out, 2);
  return out;
}

/** Close codes a peer may send (RFC 6455 §7.4; 1004-1006 and 1015 are never sent on the wire). */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

