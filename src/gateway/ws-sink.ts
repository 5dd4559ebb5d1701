/**
 * The core's Sink over a lean socket (lean-ws.ts), with the fan-out hot path written by hand: the
 * core sends the same frame to every subscriber in a row, so the WebSocket framing (header +
 * payload) is built once per frame and written to each TCP socket as one buffer — one `write` per
 * subscriber per loop iteration, whatever else that connection is sent in it. No extension is ever
 * negotiated, so nothing transforms a frame on its way.
 */
import type { Sink } from '../core/index.ts';
import type { LeanSocket } from './lean-ws.ts';
import { frameBinary, writeWsHeader, wsHeaderSize } from './ws-frame.ts';
import { setHeldWritesFlusher } from '../util/turn-writes.ts';
export { frameBinary, writeWsHeader, wsHeaderSize } from './ws-frame.ts';

let lastPayload: Uint8Array | null = null;
let lastFramed: Buffer | null = null;

function framed(payload: Uint8Array): Buffer {
  if (payload !== lastPayload) {
    lastFramed = frameBinary(payload);
    lastPayload = payload;
  }
  return lastFramed!;
}

/**
 * Writes are held until the end of the event-loop iteration and then go out as ONE write per
 * socket (uWebSockets.js corks the same way): a tick's ACKs, errors and batch frames for one
 * connection cost one syscall, not one each. As in uWS, held bytes are not "buffered" (the byte
 * limit looks at what the kernel did not take); instead a socket holds at most CORK_BYTES and writes
 * at once past it, so what one iteration holds stays small, and a large frame (a snapshot) after a
 * small one still goes out at once with it. A close flushes them first (LeanSocket.beforeClose).
 */
const CORK_BYTES = 16 * 1024;
let held: WsSink[] = [];
/**
 * The other list: flushSinks swaps the two instead of copying a fan-out's thousands of sinks into
 * a new array each time (null while a flush is using it).
 */
let spare: WsSink[] | null = [];
let scheduled = false;
/** Socket writes made by sinks since start (brigade_socket_writes_total). */
export const sinkWrites = { total: 0 };

/** Writes every socket's held frames now. */
export function flushSinks(): void {
  scheduled = false;
  const list = held;
  if (list.length === 0) return;
  // Frames held during the flush (a send from a close handler) join the other list, written by the
  // next flush; a flush re-entered from this one (sendLast) finds no spare and takes a new list.
  held = spare ?? [];
  spare = null;
  for (let i = 0; i < list.length; i++) list[i].flush();
  list.length = 0;
  spare = list;
}
// A group commit's replies leave in the commit's turn, not the next one (src/util/turn-writes.ts).
setHeldWritesFlusher(flushSinks);

/**
 * A class, not an object literal: the fan-out loop reads `bufferedAmount` and calls `send` on every
 * subscriber's sink in a row, and instances of one class share one hidden class, so those property
 * accesses stay monomorphic (object literals with getters each got their own accessor pair, and the
 * loop fell back to V8's generic LoadIC: about 5 % of the server's CPU at 5,000 viewers).
 */
export class WsSink implements Sink {
  /** The first frame held for this iteration's write (the fan-out's usual only one), or null. */
  private first: Uint8Array | null = null;
  /** Any more, in order (allocated only when a connection gets several frames in one iteration). */
  private more: Uint8Array[] | null = null;
  private pendingBytes = 0;

  constructor(protected readonly socket: LeanSocket) {
    socket.beforeClose = this;
  }

  send(frame: Uint8Array): void {
    if (this.first === null) {
      this.first = frame;
      held.push(this);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flushSinks);
      }
    } else if (this.more === null) {
      this.more = [frame];
    } else {
      this.more.push(frame);
    }
    this.pendingBytes += frame.length;
    if (this.pendingBytes >= CORK_BYTES) this.flush();
  }

  /**
   * The fan-out's frame: written at once, with whatever this connection holds in front of it (the
   * tick's ACKs), instead of joining the held list to be written at the end of the iteration.
   * Publishers hear their ACKs before the fan-out writes to anyone else: whatever other connections
   * hold (the tick's ACKs and errors) is written first, at the first such frame of the iteration.
   * A publisher that also subscribes gets its ACKs and the batch in two writes when the fan-out
   * reaches it after that flush (one write when it comes first).
   */
  sendLast(frame: Uint8Array): void {
    if (this.first === null) {
      if (held.length !== 0) flushSinks();
      sinkWrites.total++;
      this.socket.write(framed(frame));
      return;
    }
    if (this.more === null) this.more = [frame];
    else this.more.push(frame);
    this.flush();
  }

  /** One write with every held frame (the fan-out's shared frame, framed once, when it is alone). */
  flush(): void {
    const first = this.first;
    if (first === null) return;
    const more = this.more;
    this.first = null;
    this.more = null;
    this.pendingBytes = 0;
    sinkWrites.total++;
    if (more === null) {
      this.socket.write(framed(first));
      return;
    }
    let size = wsHeaderSize(first.length) + first.length;
    for (const f of more) size += wsHeaderSize(f.length) + f.length;
    const out = Buffer.allocUnsafe(size);
    let at = put(out, 0, first);
    for (const f of more) at = put(out, at, f);
    this.socket.write(out);
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }
}

/** Writes one binary frame (header + payload) at `at`; returns the offset after it. */
function put(out: Buffer, at: number, f: Uint8Array): number {
  writeWsHeader(out, at, 0x82, f.length);
  at += wsHeaderSize(f.length);
  out.set(f, at);
  return at + f.length;
}

export function wsSink(socket: LeanSocket): Sink {
  return new WsSink(socket);
}
