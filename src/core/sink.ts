/**
 * Where the core writes one connection's frames. The gateway implements it over its socket; the
 * core never sees the socket. Depends on nothing.
 */
export interface Sink {
  /** Queues one binary frame. Must not throw. */
  send(frame: Uint8Array): void;
  /**
   * The fan-out's frame (the same bytes to every live subscriber in a row, after the tick's ACKs).
   * Optional; without it the fan-out calls `send`. A sink may write it at once, after anything it
   * holds, in one write: little else follows it to this connection in the same loop iteration, and
   * holding it only to write it a moment later costs per subscriber. Must not throw; order as `send`.
   */
  sendLast?(frame: Uint8Array): void;
  /** Bytes queued and not yet written to the kernel (ws `bufferedAmount`). */
  readonly bufferedAmount: number;
  /**
   * The remote address, looked up when a session first needs it (Session.ip): on a TCP socket that
   * is a getpeername(2), 5–12 µs here, which a reconnect storm paid for every connection although
   * only per-IP limits read it. Optional; without it (and without an address given to
   * hub.connect) the address is ''.
   */
  peerAddress?(): string;
}
