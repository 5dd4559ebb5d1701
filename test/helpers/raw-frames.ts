/**
 * WebSocket frames by hand, for tests of what a server does with frames a well-behaved client
 * never sends: a raw TCP client that does the upgrade and reads the server's frames.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { writeWsHeader, wsHeaderSize } from '../../src/gateway/ws-sink.ts';
import { eventually } from './eventually.ts';

/** A server frame (unmasked) around `payload`. */
export function serverFrame(payload: Buffer, first = 0x81): Buffer {
  const out = Buffer.alloc(wsHeaderSize(payload.length) + payload.length);
  writeWsHeader(out, 0, first, payload.length);
  payload.copy(out, wsHeaderSize(payload.length));
  return out;
}

/** A client frame: masked with a random key unless `mask` is false; `first` is FIN/RSV/opcode. */
export function clientFrame(payload: Buffer, first = 0x81, mask = true, declared = payload.length): Buffer {
  const ext = declared < 126 ? 0 : declared < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = first;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? declared : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(declared, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(declared), 2);
  const body = Buffer.from(payload);
  if (mask) {
    const key = randomBytes(4);
    key.copy(head, 2 + ext);
    for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  }
  return Buffer.concat([head, body]);
}

/** A raw TCP client that has done the handshake; reads the server's frames. */
export class RawClient {
  readonly frames: Array<{ opcode: number; payload: Buffer }> = [];
  readonly ended: Promise<void>;
  private buf = Buffer.alloc(0);
  private constructor(readonly socket: Socket) {
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        if (this.buf.length < 2) break;
        let len = this.buf[1] & 0x7f;
        let h = 2;
        if (len === 126) { if (this.buf.length < 4) break; len = this.buf.readUInt16BE(2); h = 4; }
        if (this.buf.length < h + len) break;
        this.frames.push({ opcode: this.buf[0] & 0x0f, payload: this.buf.subarray(h, h + len) });
        this.buf = this.buf.subarray(h + len);
      }
    });
  }

  static async open(port: number, first: Buffer = Buffer.alloc(0), request?: string, path = '/'): Promise<{ client: RawClient; response: string }> {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const key = randomBytes(16).toString('base64');
    socket.write(Buffer.concat([Buffer.from(request ?? `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`), first]));
    let head = Buffer.alloc(0);
    while (!head.includes('\r\n\r\n')) {
      const d = await new Promise<Buffer | null>((resolve) => { socket.once('data', resolve); socket.once('close', () => resolve(null)); });
      if (!d) break;
      head = Buffer.concat([head, d]);
    }
    const at = head.indexOf('\r\n\r\n');
    const response = head.subarray(0, at < 0 ? head.length : at).toString();
    socket.pause();
    const client = new RawClient(socket);
    const rest = at < 0 ? Buffer.alloc(0) : head.subarray(at + 4);
    if (rest.length) socket.emit('data', rest);
    socket.resume();
    return { client, response };
  }

  async frame(opcode: number, timeoutMs = 3000): Promise<Buffer> {
    return eventually(() => {
      const i = this.frames.findIndex((f) => f.opcode === opcode);
      return i >= 0 && this.frames.splice(i, 1)[0].payload;
    }, { what: () => `a frame with opcode ${opcode} (got ${this.frames.map((f) => f.opcode)})`, timeoutMs, intervalMs: 5 });
  }

  /** The close frame's code. */
  async closeCode(): Promise<number> {
    return (await this.frame(8)).readUInt16BE(0);
  }
}
