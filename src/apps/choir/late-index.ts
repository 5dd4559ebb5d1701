/**
 * The late-frame check in O(log n) (docs/choir.md "Late frames"): a frame written at `pos` by a
 * singer at delay d is late when another singer at a delay ≥ d has already read past `pos`
 * (`lastReadEnd > pos`). The singers are kept sorted by delay (then id), each at a rank, and a
 * max segment tree over the ranks holds their `lastReadEnd`: a read updates one leaf (O(log n)), a
 * write asks for the largest `lastReadEnd` over the ranks at or past the first singer with a
 * delay ≥ d, leaving its own rank out (two range queries, O(log n)). A join or a leave re-sorts
 * (O(n log n), once per singer's session; frames come 50 a second per singer).
 */

/** What the index reads of a singer. */
export interface LateIndexed {
  readonly id: number;
  readonly delaySamples: number;
  lastReadEnd: number;
}

export class LateIndex<S extends LateIndexed> {
  private sorted: S[] = [];
  private readonly rank = new Map<S, number>();
  private size = 1;
  private tree = new Float64Array(2).fill(-Infinity);

  /** Re-sorts after a join or a leave. */
  rebuild(singers: Iterable<S>): void {
    this.sorted = [...singers].sort((a, b) => a.delaySamples - b.delaySamples || a.id - b.id);
    this.rank.clear();
    let size = 1;
    while (size < this.sorted.length) size *= 2;
    this.size = size;
    this.tree = new Float64Array(2 * size).fill(-Infinity);
    this.sorted.forEach((s, i) => { this.rank.set(s, i); this.tree[size + i] = s.lastReadEnd; });
    for (let p = size - 1; p >= 1; p--) this.tree[p] = Math.max(this.tree[2 * p], this.tree[2 * p + 1]);
  }

  /** `s.lastReadEnd` moved (a read). */
  noteRead(s: S): void {
    const r = this.rank.get(s);
    if (r === undefined) return;
    let p = this.size + r;
    this.tree[p] = s.lastReadEnd;
    for (p >>= 1; p >= 1; p >>= 1) this.tree[p] = Math.max(this.tree[2 * p], this.tree[2 * p + 1]);
  }

  /** Whether a singer other than `s`, at a delay ≥ `s`'s, has read past `pos`. */
  readPast(s: S, pos: number): boolean {
    const self = this.rank.get(s);
    const from = this.firstAtOrBehind(s.delaySamples);
    const n = this.sorted.length;
    if (self === undefined) return this.max(from, n) > pos;
    return this.max(from, self) > pos || this.max(self + 1, n) > pos;
  }

  /** The first rank whose delay is ≥ `delay` (binary search). */
  private firstAtOrBehind(delay: number): number {
    let lo = 0, hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid].delaySamples < delay) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The largest lastReadEnd over ranks [from, to). */
  private max(from: number, to: number): number {
    let m = -Infinity;
    for (let l = from + this.size, r = to + this.size; l < r; l >>= 1, r >>= 1) {
      if (l & 1) m = Math.max(m, this.tree[l++]);
      if (r & 1) m = Math.max(m, this.tree[--r]);
    }
    return m;
  }
}
