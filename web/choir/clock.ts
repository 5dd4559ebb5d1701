/**
 * The room's clock as seen from this page. Two steps, kept apart on purpose:
 *
 * 1. **Room against wall time.** Each reply to `choir.frame` carries the room's clock when it was
 *    sent; one reply gives `roomClock + rtt/2 − wallSamples(arrival)`, where wall time is
 *    `performance.now()` in samples: right when the reply's way back took half the round trip,
 *    wrong by at most rtt/2 otherwise. The estimate is that of the reply with the smallest round
 *    trip among the last `window` replies (NTP's idea); the window lets it follow a drift between
 *    the page's and the server's clocks.
 * 2. **Wall time to audio frames, at the moment of use** (`offsetFor`): the offset the worklet
 *    needs, `room position − local audio frame`, is the wall estimate plus the page's wall → audio
 *    mapping *now* (the frame being heard at a wall instant, from `getOutputTimestamp()`). It only
 *    moves when it is more than `hysteresisSamples` away from the one in use, so the audio does not
 *    jump by a sample or two at every reply.
 *
 * Why not keep the estimate in audio frames: the audio clock is not wall time. Chromium's audio
 * output drops whole buffers when its thread is starved (measured on this 2-core machine under
 * load: the audio clock fell 10 ms behind `performance.now()` at a time), and an estimate kept in
 * audio frames kept each slip until its best reply left the window, up to 5 s later (two pages
 * once disagreed on the room's clock by 91.5 ms with 5 ms round trips). Against wall time the
 * estimate does not see the slip, and the mapping taken at each use does.
 */
export interface ClockSample {
  rttMs: number;
  /** The room clock the reply carried, samples. */
  roomClock: number;
  /** `performance.now()` when the reply arrived, ms. */
  arrivedMs: number;
}

export class ClockSync {
  /** Each reply's estimate of room position − wall time (performance.now() in samples). */
  private readonly recent: { rttMs: number; roomMinusWall: number }[] = [];
  private best: { rttMs: number; roomMinusWall: number } | null = null;
  private current: number | null = null;
  lastRttMs: number | null = null;

  constructor(readonly sampleRate: number, readonly window = 250, readonly hysteresisSamples = 48) {}

  /** Adds one reply to the wall-time estimate. The offset in use moves only in `offsetFor`. */
  add(s: ClockSample): void {
    this.lastRttMs = s.rttMs;
    this.recent.push({ rttMs: s.rttMs, roomMinusWall: s.roomClock + this.samples(s.rttMs / 2) - this.samples(s.arrivedMs) });
    if (this.recent.length > this.window) this.recent.shift();
    this.best = this.recent.reduce((a, b) => (b.rttMs < a.rttMs ? b : a));
  }

  /** The room's clock at wall instant `perfMs` (performance.now()), samples; null before the first reply. */
  roomClockAt(perfMs: number): number | null {
    return this.best === null ? null : this.best.roomMinusWall + this.samples(perfMs);
  }

  /**
   * The offset to use now (room position − local audio frame, whole samples), given that the
   * local frame `localFrame` is heard at wall instant `perfMs`: the wall estimate mapped through
   * the audio clock as it is now. Moves the offset in use when it is more than the hysteresis away.
   */
  offsetFor(localFrame: number, perfMs: number): number | null {
    const room = this.roomClockAt(perfMs);
    if (room === null) return null;
    const wanted = room - localFrame;
    if (this.current === null || Math.abs(wanted - this.current) > this.hysteresisSamples) this.current = Math.round(wanted);
    return this.current;
  }

  /** The offset in use (room position − local frame), or null before the first `offsetFor`. */
  get offset(): number | null {
    return this.current;
  }

  /** The smallest round trip in the window, ms: the estimate's error bound is half of it. */
  get minRttMs(): number | null {
    return this.best === null ? null : this.best.rttMs;
  }

  private samples(ms: number): number {
    return (ms * this.sampleRate) / 1000;
  }
}
