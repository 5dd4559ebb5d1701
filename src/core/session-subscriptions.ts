/**
 * A connection's subscriptions by channel name: the part of a Map the core uses, for the usual
 * connection that has one or none. A Map allocates a hash table for four entries (~190 bytes with
 * the Map) as soon as it is made; most connections subscribe to one channel, so the first one is
 * kept in two fields and a Map is made only for a second (docs/BENCHMARKS.md, idle memory).
 */
export class SessionSubscriptions<T> {
  private oneKey = '';
  private one: T | undefined = undefined;
  private many: Map<string, T> | null = null;

  get size(): number {
    return this.many !== null ? this.many.size : this.one === undefined ? 0 : 1;
  }

  get(key: string): T | undefined {
    if (this.many !== null) return this.many.get(key);
    return this.one !== undefined && this.oneKey === key ? this.one : undefined;
  }

  set(key: string, value: T): void {
    if (this.many !== null) {
      this.many.set(key, value);
    } else if (this.one === undefined || this.oneKey === key) {
      this.oneKey = key;
      this.one = value;
    } else {
      this.many = new Map([[this.oneKey, this.one], [key, value]]);
      this.oneKey = '';
      this.one = undefined;
    }
  }

  delete(key: string): boolean {
    if (this.many !== null) return this.many.delete(key);
    if (this.one === undefined || this.oneKey !== key) return false;
    this.oneKey = '';
    this.one = undefined;
    return true;
  }

  /** The values in insertion order (a copy when there are several: callers may delete while iterating). */
  values(): T[] {
    if (this.many !== null) return [...this.many.values()];
    return this.one === undefined ? [] : [this.one];
  }

  clear(): void {
    this.many = null;
    this.oneKey = '';
    this.one = undefined;
  }
}
