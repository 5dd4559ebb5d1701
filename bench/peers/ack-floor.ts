/**
 * The ingest floor (bench/ingest.ts, issue 21): the least a Node server can do to acknowledge
 * Brigade's PUBLISH frames over WebSocket, with no storage, no validation and no tick. Its CPU per
 * acknowledged publish, added to the plain store loop's CPU per row, is the least any Node server
 * can spend per durably acknowledged publish.
 *
 * Same client and frames as Brigade: `POST /api/identity` answers a token, `GET /ws` upgrades
 * (node:http for the handshake only). After the upgrade it is raw `net`: each read is scanned for
 * masked WebSocket frames in place (no copy, no unmasking beyond the five bytes of request id it
 * needs), and every PUBLISH (0x03) or PUBLISH_ONCE (0x07) gets Brigade's ACK frame
 * (0x84, u32 requestId, u64 version) in a 2-byte binary WebSocket header. All the ACKs of one read
 * leave in ONE `socket.write` (as Brigade's corked sink joins a tick's ACKs). Chosen over `ws`:
 * `ws` builds a Buffer, a 'message' event and a masked-frame parse object per frame, which this
 * skips, so raw `net` is the cheaper of the two.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** 2-byte WebSocket header + 13-byte ACK. */
const ACK_FRAME_BYTES = 15;
const PUBLISH = 0x03;
const PUBLISH_ONCE = 0x07;

export interface AckFloor { server: Server; port: number; acked(): number }

/**
 * tickMs 0: the ACKs of a read leave with one write at the end of that read. tickMs > 0: they are
 * held per socket and leave with one write per socket per tick (as Brigade's, same tick), so a
 * client's next publishes arrive together and are read in bigger chunks.
 */
export async function startAckFloor(tickMs: number, host = '127.0.0.1'): Promise<AckFloor> {
  let version = 0;
  let acked = 0;
  /** Per socket, the ACK chunks held until the tick. */
  const held = new Map<Socket, Buffer[]>();
  const timer = tickMs > 0 ? setInterval(() => {
    for (const [sock, chunks] of held) if (chunks.length > 0) { sock.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)); chunks.length = 0; }
  }, tickMs) : null;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/api/identity') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"floor"}');
    } else res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string') { socket.destroy(); return; }
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.setNoDelay(true);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    /** An incomplete frame left from the previous read (rare: frames are ~25 bytes). */
    let rest: Buffer | null = null;
    const onData = (chunk: Buffer) => {
      const b = rest ? Buffer.concat([rest, chunk]) : chunk;
      rest = null;
      // Upper bound: a frame is at least 6 bytes (header + mask), so at most len/6 ACKs.
      const out = Buffer.allocUnsafe(Math.ceil(b.length / 6) * ACK_FRAME_BYTES);
      let o = 0;
      let i = 0;
      while (i + 2 <= b.length) {
        const opcode = b[i] & 0x0f;
        let len = b[i + 1] & 0x7f;
        let h = 2;
        if (len === 126) {
          if (i + 4 > b.length) break;
          len = b.readUInt16BE(i + 2);
          h = 4;
        } else if (len === 127) { socket.destroy(); return; }
        const start = i + h + 4;
        if (start + len > b.length) break;
        if (opcode === 0x8) { socket.end(); return; }
        if (opcode === 0x2 && len >= 5) {
          const m = i + h;
          const kind = b[start] ^ b[m];
          if (kind === PUBLISH || kind === PUBLISH_ONCE) {
            out[o] = 0x82; out[o + 1] = 13; out[o + 2] = 0x84;
            // requestId: bytes 1-4 of the payload, unmasked with mask bytes 1, 2, 3, 0.
            out[o + 3] = b[start + 1] ^ b[m + 1]; out[o + 4] = b[start + 2] ^ b[m + 2];
            out[o + 5] = b[start + 3] ^ b[m + 3]; out[o + 6] = b[start + 4] ^ b[m];
            version++;
            out.writeUInt32LE(version >>> 0, o + 7);
            out.writeUInt32LE(Math.floor(version / 0x100000000), o + 11);
            o += ACK_FRAME_BYTES;
            acked++;
          }
        }
        i = start + len;
      }
      if (i < b.length) rest = Buffer.from(b.subarray(i));
      if (o === 0) return;
      if (timer) held.get(socket)!.push(out.subarray(0, o));
      else socket.write(out.subarray(0, o));
    };
    if (timer) held.set(socket, []);
    socket.on('data', onData);
    socket.on('close', () => held.delete(socket));
    socket.on('error', () => socket.destroy());
    if (head.length > 0) onData(head);
  });
  await new Promise<void>((ok) => server.listen(0, host, ok));
  const address = server.address();
  server.on('close', () => { if (timer) clearInterval(timer); });
  return { server, port: typeof address === 'object' && address ? address.port : 0, acked: () => acked };
}
