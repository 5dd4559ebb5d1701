/**
 * What a peer server of the benchmark reports about itself (GET /stats, or the net server's STATS
 * request): the simulator reads it; the peers in bench/peers/ write it.
 */
export interface PeerStats {
  server: 'socketio' | 'ws-json' | 'net' | 'uws';
  pid: number;
  /** Edits accepted = the position the canvas reflects. */
  position: number;
  viewers: number;
  editors: number;
  /** Fan-outs done: batches for the ticked peers, single edits for ws-json. */
  fanouts: number;
  /** Messages handed to viewer sockets (fan-outs x viewers at the time). */
  viewerMessages: number;
  bufferedBytes: number;
  peakBufferedBytes: number;
  /** When the peak was seen, ms since the epoch (0 if never above 0). */
  peakAtMs: number;
}
