/**
 * RFC 6455 server framing (unmasked; no extension is ever negotiated): the header in front of a
 * payload, shared by the frame reader's own writes (lean-ws.ts), the core's sink (ws-sink.ts) and
 * the apps' FrameSockets (frame-socket.ts).
 */

/** Bytes of an unmasked server frame header for a payload of `n` bytes (RFC 6455 §5.2). */
export function wsHeaderSize(n: number): number {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

/** Writes an unmasked frame header at `at`: `firstByte` is FIN + opcode (0x81 text, 0x82 binary). */
export function writeWsHeader(out: Buffer, at: number, firstByte: number, n: number): void {
  out[at] = firstByte;
  if (n < 126) {
    out[at + 1] = n;
  } else if (n < 65536) {
    out[at + 1] = 126;
    out.writeUInt16BE(n, at + 2);
  } else {
    out[at + 1] = 127;
    out.writeUInt32BE(Math.floor(n / 0x100000000), at + 2);
    out.writeUInt32BE(n >>> 0, at + 6);
  }
}

/** A complete unmasked binary WebSocket frame (FIN, opcode 2) carrying `payload`. */
export function frameBinary(payload: Uint8Array): Buffer {
  const header = wsHeaderSize(payload.length);
  const out = Buffer.allocUnsafe(header + payload.length);
  writeWsHeader(out, 0, 0x82, payload.length);
  out.set(payload, header);
  return out;
}

