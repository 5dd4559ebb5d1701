/**
 * SimProtocol adapter for the raw `net` peer (bench/peers/net.ts), and that peer's wire format,
 * which both sides import from here. Plain TCP, every integer little-endian (as in Brigade's
 * protocol), every message length-prefixed:
 *
 *   client → server   u32 length | u8 kind | body          (length counts kind + body)
 *     VIEW 1      no body. The connection becomes a viewer: the server answers with an empty
 *                 batch (count 0) whose `first` is where this viewer starts, then sends every
 *                 batch. A viewer must send nothing more (the server closes it if it does).
 *     EDITS 2     body = packed edits (n * eventSize bytes, n >= 1), all or none → ACK or ERROR
 *     SNAPSHOT 3  no body → SNAPSHOT
 *     STATS 4     no body → STATS
 *
 *   server → viewer   u32 length | u32 first | u32 count | packed edits   (length = 8 + count * eventSize)
 *     the batch frame: built once per tick, the same Buffer written to every viewer socket.
 *
 *   server → other    u32 length | u8 kind | body
 *     ACK 0x81       u32 first | u32 count       (one per EDITS, in order, sent at the tick)
 *     ERROR 0x82     UTF-8 JSON { code, message } (in order with the ACKs; nothing was applied)
 *     SNAPSHOT 0x83  u32 position | u32 width | u32 height | canvas (width*height bytes, row-major)
 *     STATS 0x84     UTF-8 JSON PeerStats (src/sim/peer-stats.ts)
 *
 * A message longer than the server's --max-message-bytes gets ERROR TOO_LARGE and the
 * connection is closed (its framing can no longer be trusted). URLs: only host and port are
 * used, so `tcp://host:port` and the `ws://host:port` base URL `brigade bench` passes both work.
 */
import net from 'node:net';
import type { PeerStats } from '../peer-stats.ts';
import { simNow, type EditorOptions, type SimConnection, type SimEditor, type SimProtocol, type ViewerOptions } from '../protocol.ts';

export const NetKind = { VIEW: 1, EDITS: 2, SNAPSHOT: 3, STATS: 4 } as const;
export const NetReply = { ACK: 0x81, ERROR: 0x82, SNAPSHOT: 0x83, STATS: 0x84 } as const;
/** Bytes before the packed edits in a batch frame: length, first, count. */
export const BATCH_HEADER_BYTES = 12;

/** One client → server message. */
export function encodeNetRequest(kind: number, body?: Uint8Array): Buffer {
  const n = body ? body.length : 0;
  const out = Buffer.allocUnsafe(5 + n);
  out.writeUInt32LE(1 + n, 0);
  out[4] = kind;
  if (body) out.set(body, 5);
  return out;
}

/** One server → client reply (not a batch). */
export function encodeNetReply(kind: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32LE(1 + body.length, 0);
  out[4] = kind;
  out.set(body, 5);
  return out;
}

/**
 * Splits a TCP stream into length-prefixed messages. A message that arrives whole in one chunk is
 * handed over as a view of that chunk (no copy); split ones are joined once, when complete.
 */
export class FrameReader {
  private parts: Buffer[] = [];
  private have = 0;
  private need = 0;

  constructor(private readonly maxLength: number) {}

  /**
   * Calls onMessage(buf, start, length) for each complete message (`length` bytes after the
   * u32 prefix, at buf[start]). Returns an error text when a length exceeds the limit: the
   * stream cannot be resynchronised and should be closed.
   */
  push(chunk: Buffer, onMessage: (buf: Buffer, start: number, length: number) => void): string | null {
    let data: Buffer;
    if (this.parts.length > 0) {
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return null;
      data = Buffer.concat(this.parts, this.have);
      this.parts = [];
      this.have = 0;
    } else {
      data = chunk;
    }
    let off = 0;
    while (data.length - off >= 4) {
      const len = data.readUInt32LE(off);
      if (len > this.maxLength) return `message of ${len} bytes is over the limit of ${this.maxLength}`;
      if (data.length - off - 4 < len) {
        this.need = 4 + len;
        break;
      }
      onMessage(data, off + 4, len);
      off += 4 + len;
    }
    if (off < data.length) {
      if (data.length - off < 4) this.need = 4;
      this.parts.push(data.subarray(off));
      this.have = data.length - off;
    }
    return null;
  }
}

function target(url: string): { host: string; port: number } {
  const u = new URL(url);
  const port = Number(u.port);
  if (!u.hostname || !Number.isInteger(port) || port < 1) throw new Error(`net adapter: ${url} has no host:port (expected tcp://host:port)`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
}

function errorText(body: Buffer): string {
  try {
    const e = JSON.parse(body.toString('utf8')) as { code?: string; message?: string };
    return `${e.code}: ${e.message}`;
  } catch {
    return body.toString('utf8');
  }
}

type Fail = (reason: string) => void;

/**
 * Opens a connection; resolves when the handler calls `ready`, rejects if it fails before. After
 * that, a failure or a close by the server calls onClose once; our own close() calls nothing.
 */
function connect(
  o: { url: string; localAddress?: string; onClose(reason: string): void },
  what: string,
  onOpen: (sock: net.Socket, ready: () => void) => void,
  onMessage: (buf: Buffer, start: number, length: number, at: number, fail: Fail, ready: () => void) => void,
): Promise<{ sock: net.Socket; close(): void }> {
  const { host, port } = target(o.url);
  const reader = new FrameReader(0xffffffff);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, localAddress: o.localAddress });
    sock.setNoDelay(true);
    let isReady = false;
    let done = false;
    // Our own close resets (no TIME_WAIT left holding the source port; see RawWs.reset).
    const conn = { sock, close: () => { done = true; if (sock.readyState === 'open') sock.resetAndDestroy(); else sock.destroy(); } };
    const fail: Fail = (reason) => {
      if (done) return;
      done = true;
      sock.destroy();
      if (isReady) o.onClose(reason);
      else reject(new Error(`${what} ${o.url}: ${reason}`));
    };
    const ready = () => {
      isReady = true;
      resolve(conn);
    };
    sock.once('connect', () => onOpen(sock, ready));
    sock.on('data', (chunk: Buffer) => {
      const at = simNow();
      const err = reader.push(chunk, (buf, start, len) => {
        if (!done) onMessage(buf, start, len, at, fail, ready);
      });
      if (err) fail(err);
    });
    sock.on('error', (err) => fail(err.message));
    sock.on('close', () => fail('connection closed by the server'));
  });
}

export const protocol: SimProtocol = {
  name: 'net',

  async openViewer(o: ViewerOptions): Promise<SimConnection> {
    const size = o.codec.eventSize;
    let started = false;
    const conn = await connect(o, 'net viewer', (sock) => sock.write(encodeNetRequest(NetKind.VIEW)),
      (buf, start, len, at, fail, ready) => {
        const first = buf.readUInt32LE(start);
        const count = buf.readUInt32LE(start + 4);
        if (len < 8 || len !== 8 + count * size) return fail(`malformed batch: length ${len} for ${count} edits of ${size} bytes`);
        if (!started) {
          started = true;
          // Peers keep no history: a viewer can only start where the fan-out is now.
          if (first !== o.from) return fail(`the net peer keeps no history: asked to start at ${o.from}, it is at ${first}`);
          return ready();
        }
        if (count > 0) o.onEdits(first, count, buf.subarray(start + 8, start + len), at, 4 + len);
      });
    return { close: conn.close };
  },

  async openEditor(o: EditorOptions): Promise<SimEditor> {
    // An editor is ready once connected: the server needs no introduction before EDITS.
    const conn = await connect(o, 'net editor', (_sock, ready) => ready(),
      (buf, start, len, at, fail) => {
        const kind = len > 0 ? buf[start] : -1;
        if (kind === NetReply.ACK && len === 9) o.onAck(buf.readUInt32LE(start + 1), buf.readUInt32LE(start + 5), at);
        else if (kind === NetReply.ERROR) fail(`server refused edits: ${errorText(buf.subarray(start + 1, start + len))}`);
        else fail(`unexpected reply kind ${kind} (length ${len})`);
      });
    return {
      send(edits: Uint8Array): void { conn.sock.write(encodeNetRequest(NetKind.EDITS, edits)); },
      close: conn.close,
    };
  },
};

/** One request on a fresh connection; resolves with the reply's body (after the kind byte). */
async function request(url: string, kind: number, replyKind: number): Promise<Buffer> {
  let settle!: (b: Buffer) => void;
  let failWith!: (e: Error) => void;
  const body = new Promise<Buffer>((resolve, reject) => { settle = resolve; failWith = reject; });
  const conn = await connect({ url, onClose: (reason) => failWith(new Error(`net ${url}: ${reason}`)) }, 'net request',
    (sock, ready) => { sock.write(encodeNetRequest(kind)); ready(); },
    (buf, start, len, _at, fail) => {
      const k = len > 0 ? buf[start] : -1;
      if (k === replyKind) settle(Buffer.from(buf.subarray(start + 1, start + len)));
      else if (k === NetReply.ERROR) failWith(new Error(`net ${url}: ${errorText(buf.subarray(start + 1, start + len))}`));
      else fail(`unexpected reply kind ${k} (length ${len})`);
    });
  try {
    return await body;
  } finally {
    conn.close();
  }
}

/** The server's canvas and the position it reflects (every edit accepted so far). */
export async function snapshot(url: string): Promise<{ position: number; canvas: Uint8Array }> {
  const b = await request(url, NetKind.SNAPSHOT, NetReply.SNAPSHOT);
  if (b.length < 12 || b.length !== 12 + b.readUInt32LE(4) * b.readUInt32LE(8)) throw new Error(`net ${url}: malformed SNAPSHOT of ${b.length} bytes`);
  return { position: b.readUInt32LE(0), canvas: new Uint8Array(b.buffer, b.byteOffset + 12, b.length - 12) };
}

/** The server's counters (position, viewers, bytes still buffered for viewers, …). */
export async function stats(url: string): Promise<PeerStats> {
  return JSON.parse((await request(url, NetKind.STATS, NetReply.STATS)).toString('utf8')) as PeerStats;
}
