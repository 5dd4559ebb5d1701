/**
 * SimProtocol adapter for the socket.io 4 peer (bench/peers/socketio.ts), the tracker seed's
 * stack. socket.io-client over the WebSocket transport only (no polling), one Manager per
 * connection (`forceNew`, so viewers never share a connection), no auto-reconnect.
 *
 *   namespace /         viewers: server emits 'hello' (P: where this viewer starts), then
 *                       'batch' (Buffer: u32 LE first position | packed edits) once per tick
 *   namespace /editor   editors: emit('edits', Buffer of packed edits, ack); the ack callback
 *                       gets { first, count } at the tick, or { error: { code, message } }
 *   GET /snapshot, /stats   HTTP on the same port (bench/peers/lib/run.ts)
 *
 * wireBytes of a batch: the engine.io payloads that carried it as they came off the WebSocket
 * (socket.io sends a binary event as a text packet naming the event plus one binary attachment;
 * +1 for the engine.io type character of the text packet), WebSocket headers not counted.
 */
import { io, type Socket } from 'socket.io-client';
import { simNow, type EditorOptions, type SimConnection, type SimEditor, type SimProtocol, type ViewerOptions } from '../protocol.ts';
import { httpBase, httpSnapshot, httpStats } from './ws-json.ts';

/** Event names and payload layout shared with bench/peers/socketio.ts. */
export const SocketIoEvents = { HELLO: 'hello', BATCH: 'batch', EDITS: 'edits', EDITOR_NAMESPACE: '/editor' } as const;

export const snapshot = httpSnapshot;
export const stats = httpStats;

type Fail = (reason: string) => void;

function connect(
  o: { url: string; localAddress: string; onClose(reason: string): void },
  namespace: string,
  setup: (socket: Socket, ready: () => void, fail: Fail) => void,
): Promise<{ socket: Socket; close(): void }> {
  const url = `${httpBase(o.url)}${namespace}`;
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      // Passed through engine.io-client to the `ws` client (Node only).
      localAddress: o.localAddress,
      perMessageDeflate: false,
    } as unknown as Parameters<typeof io>[1]);
    let isReady = false;
    let done = false;
    const conn = { socket, close: () => { done = true; socket.disconnect(); } };
    const fail: Fail = (reason) => {
      if (done) return;
      done = true;
      socket.disconnect();
      if (isReady) o.onClose(reason);
      else reject(new Error(`socketio ${url}: ${reason}`));
    };
    const ready = () => {
      isReady = true;
      resolve(conn);
    };
    socket.on('connect_error', (err) => fail(err.message));
    socket.on('disconnect', (reason) => fail(`disconnected (${reason})`));
    setup(socket, ready, fail);
  });
}

function u32le(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16)) + b[off + 3] * 0x1000000;
}

function asBytes(data: unknown): Uint8Array | null {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return null;
}

export const protocol: SimProtocol = {
  name: 'socketio',

  async openViewer(o: ViewerOptions): Promise<SimConnection> {
    const size = o.codec.eventSize;
    const conn = await connect(o, '/', (socket, ready, fail) => {
      // Sum the engine.io payloads since the last batch: the text packet and its attachment.
      let wire = 0;
      socket.io.engine.on('data', (d: unknown) => {
        wire += typeof d === 'string' ? Buffer.byteLength(d) + 1 : (asBytes(d)?.byteLength ?? 0);
      });
      socket.once(SocketIoEvents.HELLO, (start: unknown) => {
        wire = 0;
        // Peers keep no history: a viewer can only start where the fan-out is now.
        if (start !== o.from) return fail(`the socketio peer keeps no history: asked to start at ${o.from}, it is at ${String(start)}`);
        ready();
      });
      socket.on(SocketIoEvents.BATCH, (data: unknown) => {
        const at = simNow();
        const b = asBytes(data);
        if (b === null || b.length < 4 || (b.length - 4) % size !== 0) return fail(`malformed batch (${b ? `${b.length} bytes` : typeof data})`);
        const w = wire;
        wire = 0;
        o.onEdits(u32le(b, 0), (b.length - 4) / size, b.subarray(4), at, w);
      });
    });
    return { close: conn.close };
  },

  async openEditor(o: EditorOptions): Promise<SimEditor> {
    const conn = await connect(o, SocketIoEvents.EDITOR_NAMESPACE, (socket, ready) => socket.once('connect', ready));
    const { socket } = conn;
    const fail = (reason: string) => {
      conn.close();
      o.onClose(reason);
    };
    let failed = false;
    return {
      send(edits: Uint8Array): void {
        // Copied: socket.io may hold the payload until the transport is writable.
        socket.emit(SocketIoEvents.EDITS, Buffer.from(edits), (reply: { first?: number; count?: number; error?: { code: string; message: string } }) => {
          const at = simNow();
          if (failed) return;
          if (typeof reply?.first === 'number' && typeof reply.count === 'number') return o.onAck(reply.first, reply.count, at);
          failed = true;
          fail(reply?.error ? `server refused edits: ${reply.error.code}: ${reply.error.message}` : `unexpected ack ${JSON.stringify(reply)}`);
        });
      },
      close: conn.close,
    };
  },
};
