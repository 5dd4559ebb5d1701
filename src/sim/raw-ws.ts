/**
 * A minimal WebSocket client over node:net for the simulator's viewers, the hot path of
 * `brigade bench`: tens of thousands of sockets per process, each reading a frame per tick. The
 * `ws` package costs about 20 KB and 15+ µs per frame per client here (a Writable stream per
 * socket, a parser object, events per message); this keeps one small object per socket and
 * parses frame headers in place, handing the payload to the caller as a view into one read buffer
 * shared by every socket, so a viewer's cost is close to the socket's own.
 *
 * What it implements (RFC 6455, client side): the upgrade handshake (Sec-WebSocket-Accept
 * checked), unmasked server frames with 7/16/64-bit lengths split across reads, fragmented
 * messages (rare), ping → pong, close → close. Client frames are masked (a random key per
 * connection). No extensions, no TLS: the bench runs on loopback, ws:// only. The editors and
 * everything off the hot path use `ws`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { maskInPlace } from '../gateway/ws-mask.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/**
 * Every socket of the process reads into this one buffer (net's `onread`), so a read allocates
 * nothing: a frame is parsed and handed on during the callback, and only a partial frame is
 * copied out. Safe because the callbacks run one at a time.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const MAX_MESSAGE = 64 * 1024 * 1024;

/**
 * Source ports, chosen here rather than by the kernel: bind(address, port 0) searches for a free
 * port and, with thousands already bound on the address, that search cost ~1.3 ms per connection
 * (measured: 5.3 of 6.8 CPU-seconds of a 4,000-viewer process went to connect). An explicit port is
 * a lookup. Each simulator process has its own 127.0.0.x, so the ports of that address are its
 * own; a port still in use (another run on the same address) fails the connect, which is retried
 * with the next one. Starts at a random point so consecutive runs do not reuse the same ports.
 */
const FIRST_PORT = 1024;
const PORT_SPAN = 65536 - FIRST_PORT;
const nextPortOf = new Map<string, number>();

export function nextLocalPort(address: string): number {
  const p = nextPortOf.get(address) ?? Math.floor(Math.random() * PORT_SPAN);
  nextPortOf.set(address, (p + 1) % PORT_SPAN);
  return FIRST_PORT + p;
}

/**
 * Random bytes for each socket's key and mask, cut from one pool refilled when spent: a
 * `randomBytes` call per socket for each was 18 µs of a device's ~250 µs per reconnect in the
 * inbox bench's storm (its device process's CPU profile, 2026-12-07). A mask is a view of the
 * pool, so the pool is replaced, never refilled in place.
 */
const RANDOM_POOL_BYTES = 64 * 1024;
let randomPool = randomBytes(RANDOM_POOL_BYTES);
let randomAt = 0;
function randomSlice(n: number): Buffer {
  if (randomAt + n > RANDOM_POOL_BYTES) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomAt = 0;
  }
  randomAt += n;
  return randomPool.subarray(randomAt - n, randomAt);
}

export interface RawWsHandlers {
  /** A whole binary (or text) message; `data` is valid only during the call. */
  onMessage(data: Buffer): void;
  onOpen(): void;
  /** Called once, when the socket is gone (after a close frame, an error or an end). */
  onClose(reason: string): void;
}

export interface RawWsOptions {
  host: string;
  port: number;
  path: string;
  localAddress?: string;
  handshakeTimeoutMs?: number;
}

export class RawWs {
  private readonly socket: Socket;
  private readonly key = randomSlice(16).toString('base64');
  private readonly mask = randomSlice(4);
  private open = false;
  private closed = false;
  /** Bytes read but not yet parsed (a partial header or frame). */
  private rest: Buffer | null = null;
  /** Payloads of a fragmented message so far. */
  private fragments: Buffer[] | null = null;
  private timer: NodeJS.Timeout | null;

  constructor(o: RawWsOptions, private readonly h: RawWsHandlers) {
    this.socket = connect({
      host: o.host, port: o.port, localAddress: o.localAddress, localPort: o.localAddress ? nextLocalPort(o.localAddress) : undefined, noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => { this.onData((buf as Buffer).subarray(0, n)); return true; } },
    });
    this.timer = setTimeout(() => this.fail('handshake timed out'), o.handshakeTimeoutMs ?? 30_000);
    this.socket.once('connect', () => {
      this.socket.write(`GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    this.socket.on('error', (err) => this.fail(err.message));
    this.socket.on('close', () => this.fail(this.open ? 'connection closed' : 'closed before the handshake completed'));
  }

  /** Whether the handshake is done and the socket not closed (messages can be sent). */
  get isOpen(): boolean {
    return this.open && !this.closed;
  }

  /**
   * Holds this socket's writes until uncork() (one system call for several messages); false when
   * it was already held.
   */
  cork(): boolean {
    if (this.closed || this.socket.writableCorked > 0) return false;
    this.socket.cork();
    return true;
  }

  uncork(): void {
    this.socket.uncork();
  }

  /** Sends one message (masked, as a client must): binary, or text when `text` (UTF-8 bytes). */
  send(payload: Uint8Array, text = false): void {
    if (this.closed) return;
    const n = payload.length;
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(head + 4 + n);
    frame[0] = text ? 0x81 : 0x82;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65536) { frame[1] = 0x80 | 126; frame.writeUInt16BE(n, 2); }
    else { frame[1] = 0x80 | 127; frame.writeUInt32BE(0, 2); frame.writeUInt32BE(n, 6); }
    this.mask.copy(frame, head);
    frame.set(payload, head + 4);
    const m = this.mask;
    maskInPlace(frame, head + 4, head + 4 + n, m[0], m[1], m[2], m[3]);
    this.socket.write(frame);
  }

  /** Drops the connection at once (like ws's terminate); onClose is not called. */
  terminate(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket.destroy();
  }

  /**
   * Drops the connection with a TCP reset; onClose is not called. Unlike a FIN it leaves no
   * TIME_WAIT socket on this side: a run's 100,000 viewer sockets closed with FINs would hold every
   * port of their 127.0.0.x addresses for a minute, and Linux gives no such port to an unbound
   * `connect` (the next run's servers could not reach Redis: EADDRNOTAVAIL).
   */
  reset(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.socket.destroyed) return;
    if (this.socket.readyState === 'open') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket.destroy();
    this.h.onClose(reason);
  }

  /** `chunk` is a view into READ_BUFFER: anything kept past this call is copied. */
  private onData(chunk: Buffer): void {
    let buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    if (!this.open) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 8192) this.fail('handshake response too long');
        else this.rest = buf;
        return;
      }
      const head = buf.toString('latin1', 0, end);
      if (!/^HTTP\/1\.1 101 /.test(head)) { this.fail(`upgrade refused: ${head.split('\r\n')[0]}`); return; }
      const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
      if (accept !== createHash('sha1').update(this.key + GUID).digest('base64')) { this.fail('bad Sec-WebSocket-Accept'); return; }
      this.open = true;
      if (this.timer) { clearTimeout(this.timer); this.timer = null; }
      this.h.onOpen();
      buf = buf.subarray(end + 4);
    }
    let off = 0;
    while (!this.closed) {
      const avail = buf.length - off;
      if (avail < 2) break;
      const b0 = buf[off];
      const b1 = buf[off + 1];
      if (b1 & 0x80) { this.fail('masked frame from the server'); return; }
      let len = b1 & 0x7f;
      let hl = 2;
      if (len === 126) {
        if (avail < 4) break;
        len = buf.readUInt16BE(off + 2);
        hl = 4;
      } else if (len === 127) {
        if (avail < 10) break;
        len = buf.readUInt32BE(off + 2) * 4294967296 + buf.readUInt32BE(off + 6);
        hl = 10;
      }
      if (len > MAX_MESSAGE) { this.fail(`frame of ${len} bytes`); return; }
      if (avail < hl + len) break;
      const payload = buf.subarray(off + hl, off + hl + len);
      off += hl + len;
      this.onFrame(b0 & 0x80, b0 & 0x0f, payload);
    }
    if (off < buf.length && !this.closed) this.rest = Buffer.from(buf.subarray(off));
  }

  private onFrame(fin: number, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x1: case 0x2:
        if (fin) this.h.onMessage(payload);
        else this.fragments = [Buffer.from(payload)];
        return;
      case 0x0:
        if (this.fragments === null) { this.fail('continuation frame without a message'); return; }
        this.fragments.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.h.onMessage(whole);
        }
        return;
      case 0x8: { // close: answer with the same code and go
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.sendControl(0x88, payload.subarray(0, 2));
        this.socket.end();
        this.fail(`closed with ${code}`);
        return;
      }
      case 0x9:
        this.sendControl(0x8a, payload);
        return;
      case 0xa:
        return;
      default:
        this.fail(`unknown opcode ${opcode}`);
    }
  }

  private sendControl(b0: number, payload: Buffer): void {
    const n = Math.min(payload.length, 125);
    const frame = Buffer.allocUnsafe(6 + n);
    frame[0] = b0;
    frame[1] = 0x80 | n;
    this.mask.copy(frame, 2);
    for (let i = 0; i < n; i++) frame[6 + i] = payload[i] ^ this.mask[i & 3];
    this.socket.write(frame);
  }
}

