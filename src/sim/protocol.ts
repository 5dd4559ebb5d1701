/**
 * The simulator's view of a server under test. `brigade bench` drives Brigade and its peers
 * (bench/peers: socket.io 4, naive ws + JSON, raw net) through this one interface, so every
 * server gets the same workload, the same clocks and the same checks.
 *
 * Edits are place edits in the app's own 3-byte codec (src/apps/place/edit-codec.ts), whatever
 * the wire format: an adapter whose server speaks JSON re-encodes them with `codec`. Positions
 * are log positions: the edit at position p is the (p+1)-th edit the server accepted, 0-based, the
 * same numbering for every viewer, so a viewer that starts at 0 and applies runs in order has the
 * server's canvas.
 *
 * Times are milliseconds on one clock for all processes of a run: `performance.timeOrigin +
 * performance.now()` (see `simNow`).
 */
import type { EditCodec } from '../apps/place/edit-codec.ts';

export function simNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * `count` edits at positions [first, first + count) arrived at `atMs`. `edits` holds them packed,
 * `count * codec.eventSize` bytes, valid only during the call. `wireBytes`: size of the message
 * that carried them as it came off the wire (for bytes/s).
 */
export type EditsHandler = (first: number, count: number, edits: Uint8Array, atMs: number, wireBytes: number) => void;

/** The server accepted `count` edits of one `send`, at positions [first, first + count), acknowledged at `atMs`. */
export type AckHandler = (first: number, count: number, atMs: number) => void;

export interface OpenOptions {
  /** Base URL of the server, e.g. ws://127.0.0.1:8080 (the adapter adds its own path). */
  url: string;
  /** Source address to bind, 127.0.0.x, so one process can hold more than 64k-ish ephemeral ports. */
  localAddress: string;
  codec: EditCodec;
  /** Canvas / channel name; servers that have one room ignore it. */
  channel: string;
  /** Called once if the connection closes or fails after open() resolved. */
  onClose(reason: string): void;
}

export interface ViewerOptions extends OpenOptions {
  /**
   * Position to start from: every adapter must deliver every edit from here on, in order, with no
   * gap (from 0 on a fresh server, a viewer's canvas is the server's). Servers with no history
   * (the peers) are only asked for from = 0 before the first edit: the simulator connects every
   * viewer before the edit window opens.
   */
  from: number;
  onEdits: EditsHandler;
}

export interface EditorOptions extends OpenOptions {
  onAck: AckHandler;
}

export interface SimConnection {
  /** Ends the connection (our own close: onClose is not called); a TCP reset where the adapter can, so no TIME_WAIT holds its port. */
  close(): void;
}

export interface SimEditor extends SimConnection {
  /** Sends packed edits (n * codec.eventSize bytes) as one message; the server acknowledges them via onAck. */
  send(edits: Uint8Array): void;
}

export interface SimProtocol {
  /** 'brigade' | 'socketio' | 'ws-json' | 'net' | 'uws' */
  readonly name: string;
  /** Resolves once the viewer is receiving (subscribed); rejects if it cannot connect. */
  openViewer(o: ViewerOptions): Promise<SimConnection>;
  openEditor(o: EditorOptions): Promise<SimEditor>;
}
