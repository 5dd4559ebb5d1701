/**
 * Token buckets keyed by a string (an IP address). Idle buckets are dropped on a sweep so the map
 * stays bounded by the number of recently active keys.
 */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; atMs: number }>();
  private lastSweepMs = 0;

  constructor(private readonly perSecond: number, private readonly burst: number) {}

  /** 0 when allowed (a token is taken); otherwise ms until the next token. */
  take(key: string, nowMs: number): number {
    if (this.perSecond <= 0) return 0;
    if (nowMs - this.lastSweepMs > 60_000) this.sweep(nowMs);
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.burst, atMs: nowMs };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.atMs) * this.perSecond) / 1000);
      b.atMs = nowMs;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.perSecond);
  }

  private sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    const fullAfterMs = (this.burst / this.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (nowMs - b.atMs > fullAfterMs) this.buckets.delete(k);
  }
}
