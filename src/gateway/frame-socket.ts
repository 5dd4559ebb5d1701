/**
 * The core's FrameSocket (src/core/app.ts) over a lean WebSocket (lean-ws.ts): what an app with a
 * protocol of its own (the tracker's JSON) sees of a connection. The adapter is the lean socket's
 * handler and forwards to the app's, so the app never touches the socket or the WebSocket layer.
 */
import type { FrameHandler, FrameSocket, Framing } from '../core/index.ts';
import type { LeanHandler, LeanProtocolError, LeanSocket } from './lean-ws.ts';
import { frameBinary, wsHeaderSize, writeWsHeader } from './ws-frame.ts';

/** RFC 6455 server framing: unmasked, FIN set, no extensions (none is ever negotiated). */
export const wsFraming: Framing = {
  headerSize: wsHeaderSize,
  writeHeader(buf, at, length, text) {
    writeWsHeader(buf as Buffer, at, text ? 0x81 : 0x82, length);
    return at + wsHeaderSize(length);
  },
};

const NO_HANDLER: FrameHandler = { onMessage() {}, onClose() {} };

export class LeanFrameSocket implements FrameSocket, LeanHandler {
  handler: FrameHandler = NO_HANDLER;
  readonly framing = wsFraming;

  constructor(private readonly lean: LeanSocket, readonly ip: string, readonly url: string) {
    lean.handler = this;
  }

  get open(): boolean {
    return this.lean.open;
  }

  get bufferedAmount(): number {
    return this.lean.bufferedAmount;
  }

  send(payload: Uint8Array, text: boolean): void {
    if (!text) {
      this.lean.write(frameBinary(payload));
      return;
    }
    const header = wsHeaderSize(payload.length);
    const out = Buffer.allocUnsafe(header + payload.length);
    writeWsHeader(out, 0, 0x81, payload.length);
    out.set(payload, header);
    this.lean.write(out);
  }

  writeFramed(bytes: Uint8Array): void {
    this.lean.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  close(code: number, reason: string): void {
    this.lean.close(code, reason);
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    this.handler.onMessage(data, isBinary);
  }

  onClose(): void {
    this.handler.onClose();
  }

  onProtocolError(err: LeanProtocolError): void {
    this.handler.onProtocolError?.(err.code);
  }
}
