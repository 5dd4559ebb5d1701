/**
 * The room's clock as seen from this page: the offset `room position − local audio frame`,
 * estimated from the replies to `choir.frame` (each carries the room's clock when it was sent).
 *
 * One reply gives `roomClock + rtt/2 − localFrameAtArrival` (both in samples): right when the
 * reply's way back took half the round trip, wrong by at most rtt/2 otherwise. So the estimate in
 * use is that of the reply with the smallest round trip among the last `window` replies (NTP's
 * idea), and it only changes when the best estimate moves by more than `hysteresisSamples`, so the
 * audio does not jump by a sample or two at every reply. The window lets it follow the drift
 * between the sound card's clock and the server's.
 */
export interface ClockSample {
  rttMs: number;
  /** The room clock the reply carried, samples. */
  roomClock: number;
  /** The local audio frame at the moment the reply arrived. */
  localFrame: number;
}

export class ClockSync {
  private readonly recent: { rttMs: number; estimate: number }[] = [];
  private current: number | null = null;
  lastRttMs: number | null = null;

  constructor(readonly sampleRate: number, readonly window = 250, readonly hysteresisSamples = 48) {}

  /** Adds one reply; returns the offset in use (room position − local frame), whole samples. */
  add(s: ClockSample): number {
    this.lastRttMs = s.rttMs;
    this.recent.push({ rttMs: s.rttMs, estimate: s.roomClock + (s.rttMs / 2000) * this.sampleRate - s.localFrame });
    if (this.recent.length > this.window) this.recent.shift();
    const best = this.recent.reduce((a, b) => (b.rttMs < a.rttMs ? b : a));
    if (this.current === null || Math.abs(best.estimate - this.current) > this.hysteresisSamples) this.current = Math.round(best.estimate);
    return this.current;
  }

  /** Room position − local frame, or null before the first reply. */
  get offset(): number | null {
    return this.current;
  }

  /** The smallest round trip in the window, ms: the estimate's error bound is half of it. */
  get minRttMs(): number | null {
    return this.recent.length === 0 ? null : Math.min(...this.recent.map((r) => r.rttMs));
  }
}
