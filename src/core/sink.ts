/**
 * Where the core writes one connection's frames. The gateway implements it over its socket; the
 * core never sees the socket. Depends on nothing.
 */
export interface Sink {
  /** Queues one binary frame. Must not throw. */
  send(frame: Uint8Array): void;
  /** Bytes queued and not yet written to the kernel (ws `bufferedAmount`). */
  readonly bufferedAmount: number;
}
