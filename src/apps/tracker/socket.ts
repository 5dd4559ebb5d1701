/**
 * One tracker WebSocket: the peers it holds, its rate and error windows, and its outbox. Within a
 * tick everything for the socket is queued, then written in one go with the underlying TCP socket
 * corked, so N messages cost one write syscall instead of N.
 */
import type { WebSocket } from 'ws';
import type { LocalPeer } from './peer.ts';

export class TrackerSocket {
  /** Peers held by this connection, by infoHex + peerHex. */
  readonly peers = new Map<string, LocalPeer>();
  outbox: string[] = [];
  closed = false;
  /** Messages received in the current one-second window. */
  windowStartMs = 0;
  windowCount = 0;
  /** Refusals in the current one-minute window. */
  errorWindowStartMs = 0;
  errors = 0;

  constructor(readonly ws: WebSocket, readonly ip: string) {}

  /** Writes the outbox as one corked burst; returns how many messages went out. */
  flush(): number {
    const out = this.outbox;
    if (out.length === 0) return 0;
    this.outbox = [];
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return 0;
    // ws writes each frame with socket.write; corking the net.Socket around the burst makes the
    // kernel see one writev (ws's own per-frame cork/uncork nests inside ours).
    const raw = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    raw?.cork();
    try {
      for (const text of out) this.ws.send(text);
    } finally {
      raw?.uncork();
    }
    return out.length;
  }
}
