/**
 * What a peer server reports about itself (GET /stats, or the net server's STATS request), read
 * by `brigade bench` beside the CPU and RSS it takes from /proc.
 *
 * Backpressure: the peers do what their stack does by default (socket.io and ws queue without
 * limit, net writes regardless), so a slow viewer costs server memory rather than a "behind"
 * notice. `bufferedBytes` is how much is queued for viewers right now (summed over every viewer
 * socket when asked), `peakBufferedBytes` the largest such sum seen by a sampler that runs every
 * --sample-ms: off the fan-out path, so counting costs the measured server nothing per message.
 */

export type { PeerStats } from '../../../src/sim/peer-stats.ts';

/** Samples a "bytes buffered now" function on a timer and keeps the peak. */
export class BufferSampler {
  peak = 0;
  peakAtMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly measure: () => number, everyMs: number) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): number {
    const now = this.measure();
    if (now > this.peak) {
      this.peak = now;
      this.peakAtMs = Date.now();
    }
    return now;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
