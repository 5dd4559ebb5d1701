/**
 * The per-connection frame-rate limit (`maxFramesPerSecond`), measured in the client's time.
 *
 * A token bucket per connection: it fills at `rate` tokens per second and holds at most one
 * second's worth (`rate`), so a client may burst up to `rate` frames and then send `rate` per
 * second. A frame that finds a token is handled; one that does not is refused (the gateway
 * answers it, with its own request id, `RATE_LIMITED` and the ms until the next token). Nothing is
 * dropped in silence.
 *
 * Node stalls. While the event loop is blocked (a long GC, a synchronous step) or the process is
 * stopped (SIGSTOP, a paused VM), a client keeps sending and its frames queue in the kernel; the
 * node then reads S ms of the client's frames at once. They are not the client's burst. So the
 * process measures its own stalls (a repeating unref'd timer that notes how late it fires, plus
 * the gap since it last fired, for frames read before the timer has had its turn), and a bucket
 * refilled across a stall of S ms may hold `rate × (S + 1 s)` tokens instead of `rate × 1 s`.
 * Tokens still only come from elapsed time, so a client that kept to the rate through the stall
 * gets every queued frame handled; one that sent faster is refused for the excess as usual. The
 * surplus lasts while a stall is recent (until the connection's next frame after it, or S + 1 s),
 * then the bucket is back to one second.
 *
 * Flooding: a second bucket, ten times the size and rate, counts only refused frames; a client
 * whose refusals empty it (more than 10 × rate frames refused in about a second, i.e. sending at
 * over 11 × the limit) is closed with 4429. Frames read after a stall were not refused, so they
 * never count toward it.
 */
import { performance } from 'node:perf_hooks';

/** How often the stall monitor's timer runs, ms. */
const BEAT_MS = 100;
/** A timer later than this past its interval counts as a stall, ms. */
const STALL_MIN_MS = 200;
/** The stalls remembered (the longest recent one is what counts). */
const STALLS_KEPT = 8;
/** A normal bucket holds this much client time, ms. */
const WINDOW_MS = 1000;
/** The flood bucket is this many times the frame bucket (size and rate). */
const FLOOD_FACTOR = 10;

interface Stall { endMs: number; lengthMs: number }

/** The process's stalls: one unref'd timer for every connection, started by the first limiter. */
class StallMonitor {
  private lastBeatMs = performance.now();
  private readonly stalls: Stall[] = [];
  private timer: NodeJS.Timeout | null = null;

  start(): void {
    if (this.timer) return;
    this.lastBeatMs = performance.now();
    this.timer = setInterval(() => this.beat(), BEAT_MS);
    this.timer.unref();
  }

  private beat(): void {
    const now = performance.now();
    const lateMs = now - this.lastBeatMs - BEAT_MS;
    this.lastBeatMs = now;
    if (lateMs > STALL_MIN_MS) {
      this.stalls.push({ endMs: now, lengthMs: lateMs });
      if (this.stalls.length > STALLS_KEPT) this.stalls.shift();
    }
  }

  /**
   * The longest stall that matters to a connection whose previous frame was at `sinceMs`: one going
   * on now (the timer has not fired for longer than it should), one that ended after `sinceMs`, or
   * one that ended less than its own length + 1 s ago (its backlog may still be being read).
   */
  recentStallMs(sinceMs: number, now: number): number {
    let longest = Math.max(0, now - this.lastBeatMs - BEAT_MS);
    if (longest <= STALL_MIN_MS) longest = 0;
    for (const s of this.stalls) {
      if (s.lengthMs > longest && (s.endMs > sinceMs || now - s.endMs < s.lengthMs + WINDOW_MS)) longest = s.lengthMs;
    }
    return longest;
  }
}

const stalls = new StallMonitor();

/** What one frame gets: handled, refused with the ms until the next token, or the connection closed. */
export type FrameAdmission = 0 | number | 'flood';

/**
 * One connection's buckets; `rate` 0 = no limit. Time is `performance.now()` ms. Fields, not an
 * object of its own: the gateway's per-connection object holds them (one object fewer per
 * connection; docs/BENCHMARKS.md, idle memory). Set them with `initFrameRate`.
 */
export interface FrameRateState {
  readonly rate: number;
  tokens: number;
  floodTokens: number;
  atMs: number;
}

/** The starting buckets for `rate` (full). */
export function initFrameRate(s: FrameRateState): void {
  s.tokens = s.rate;
  s.floodTokens = s.rate * FLOOD_FACTOR;
  s.atMs = performance.now();
  if (s.rate > 0) stalls.start();
}

/** 0: handle the frame. n > 0: refuse it, retry in n ms. 'flood': close the connection (4429). */
export function admitFrame(s: FrameRateState, now = performance.now()): FrameAdmission {
  const rate = s.rate;
  if (rate <= 0) return 0;
  const elapsedMs = Math.max(0, now - s.atMs);
  const windowMs = WINDOW_MS + stalls.recentStallMs(s.atMs, now);
  s.atMs = now;
  const cap = (rate * windowMs) / 1000;
  // Refilling never takes tokens away unless the surplus of a past stall has lapsed.
  s.tokens = Math.min(cap, s.tokens + (elapsedMs * rate) / 1000);
  const floodCap = rate * FLOOD_FACTOR * (windowMs / 1000);
  s.floodTokens = Math.min(floodCap, s.floodTokens + (elapsedMs * rate * FLOOD_FACTOR) / 1000);
  if (s.tokens >= 1) {
    s.tokens -= 1;
    return 0;
  }
  s.floodTokens -= 1;
  if (s.floodTokens < 0) return 'flood';
  return Math.max(1, Math.ceil(((1 - s.tokens) * 1000) / rate));
}

/** One connection's limit as an object of its own (for a connection that has no object to hold the fields). */
export class FrameRateLimiter implements FrameRateState {
  tokens = 0;
  floodTokens = 0;
  atMs = 0;

  constructor(readonly rate: number) {
    initFrameRate(this);
  }

  admit(now = performance.now()): FrameAdmission {
    return admitFrame(this, now);
  }
}
