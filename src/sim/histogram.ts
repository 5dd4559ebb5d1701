/**
 * A small log-linear latency histogram (HDR-style): values in milliseconds are kept as whole
 * microseconds in buckets of < 0.8 % relative width (exact below 0.256 ms), so billions of samples
 * fit in 2 x 3,200 counters. Negative values (a viewer that received an edit before its editor saw
 * the acknowledgement) have their own mirrored buckets. Histograms merge by adding counters, so
 * each worker process builds its own and the parent adds them up. Used by `brigade bench`
 * (src/sim) and the scripts in bench/.
 */

const SUB = 128; // sub-buckets per power of two
const LINEAR = 2 * SUB; // values below this many µs have a bucket each
export const BUCKETS = SUB * 24 + LINEAR; // covers up to 2^31 µs (~35 minutes)
const MAX_US = 2 ** 31 - 1;

function bucketOf(us: number): number {
  if (us < LINEAR) return us;
  if (us > MAX_US) us = MAX_US;
  const shift = 31 - Math.clz32(us) - 7;
  return SUB * shift + (us >>> shift);
}

/** The middle of a bucket, µs. */
function bucketMidUs(idx: number): number {
  if (idx < LINEAR) return idx;
  const shift = Math.floor(idx / SUB) - 1;
  const m = idx - SUB * shift;
  return m * 2 ** shift + 2 ** shift / 2;
}

export interface HistogramJson {
  /** Non-zero buckets as [index, count] pairs; negative values in `neg`. */
  pos: [number, number][];
  neg: [number, number][];
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Histogram {
  readonly pos = new Float64Array(BUCKETS);
  readonly neg = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** Records one value, in milliseconds. */
  record(ms: number): void {
    this.recordN(ms, 1);
  }

  /** Records the value `ms` `n` times (the simulator folds equal samples of a batch into one call). */
  recordN(ms: number, n: number): void {
    this.count += n;
    this.sum += ms * n;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    if (ms >= 0) this.pos[bucketOf(Math.round(ms * 1000))] += n;
    else this.neg[bucketOf(Math.round(-ms * 1000))] += n;
  }

  /** The value at quantile q (0..1), ms; NaN when empty. Exact min/max at the ends. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = BUCKETS - 1; i >= 0; i--) {
      seen += this.neg[i];
      if (seen >= rank) return clamp(-bucketMidUs(i) / 1000, this.min, this.max);
    }
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.pos[i];
      if (seen >= rank) return clamp(bucketMidUs(i) / 1000, this.min, this.max);
    }
    return this.max;
  }

  /** Fraction of values strictly below `ms` (bucket resolution). */
  fractionBelow(ms: number): number {
    if (this.count === 0) return NaN;
    let below = 0;
    if (ms <= 0) {
      const b = bucketOf(Math.round(-ms * 1000));
      for (let i = BUCKETS - 1; i > b; i--) below += this.neg[i];
    } else {
      for (let i = 0; i < BUCKETS; i++) below += this.neg[i];
      const b = bucketOf(Math.round(ms * 1000));
      for (let i = 0; i < b; i++) below += this.pos[i];
    }
    return below / this.count;
  }

  add(other: Histogram | HistogramJson): void {
    if (other instanceof Histogram) {
      for (let i = 0; i < BUCKETS; i++) {
        this.pos[i] += other.pos[i];
        this.neg[i] += other.neg[i];
      }
    } else {
      for (const [i, c] of other.pos) this.pos[i] += c;
      for (const [i, c] of other.neg) this.neg[i] += c;
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
  }

  /** Empties it (a warm-up's samples dropped). */
  reset(): void {
    this.pos.fill(0);
    this.neg.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }

  toJSON(): HistogramJson {
    const pairs = (a: Float64Array) => {
      const out: [number, number][] = [];
      for (let i = 0; i < a.length; i++) if (a[i] !== 0) out.push([i, a[i]]);
      return out;
    };
    return { pos: pairs(this.pos), neg: pairs(this.neg), count: this.count, sum: this.sum, min: this.min, max: this.max };
  }

  static fromJSON(j: HistogramJson): Histogram {
    const h = new Histogram();
    h.add(j);
    return h;
  }

  /** p50/p90/p99/p99.9/max/mean, ms, rounded to 0.01 ms. */
  summary(): LatencySummary {
    const r = (v: number) => (Number.isFinite(v) ? Math.round(v * 100) / 100 : null);
    return {
      samples: this.count,
      min: r(this.count ? this.min : NaN),
      p50: r(this.quantile(0.5)),
      p90: r(this.quantile(0.9)),
      p99: r(this.quantile(0.99)),
      p999: r(this.quantile(0.999)),
      max: r(this.count ? this.max : NaN),
      mean: r(this.count ? this.sum / this.count : NaN),
    };
  }
}

export interface LatencySummary {
  samples: number;
  min: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  mean: number | null;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
