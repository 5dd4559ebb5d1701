/**
 * What one connected device holds, as far as its node knows (delivery.ts): per message the seq of
 * its publish (`createdSeq`, unique per message: one `pub` event each), the seq the device holds it
 * at, and its id.
 *
 * One flat array ordered by createdSeq (three slots a message) instead of a Map per device. The
 * live pass touches it for every device a fan-out reaches: a new message is published after
 * everything the device holds, so it is appended (no hashing, no hash table to grow and collect);
 * a message is looked up (binary search on createdSeq) only for a change of one published at or
 * before the device's cursor: an edit, a recall, an expiry, a scheduled message coming due.
 */
export class HeldMessages {
  /** [createdSeq, seq, id] per message, ascending createdSeq. */
  private slots: (number | string)[] = [];

  /** How many messages the device holds. */
  get size(): number {
    return this.slots.length / 3;
  }

  /** The seq at which the device holds the message published at `createdSeq`, or -1. */
  seqOf(createdSeq: number): number {
    const at = this.find(createdSeq);
    return at < 0 ? -1 : (this.slots[at + 1] as number);
  }

  /** Records that the device holds message `id` (published at `createdSeq`) at `seq`. */
  set(createdSeq: number, seq: number, id: string): void {
    const s = this.slots;
    const n = s.length;
    // The common case: newer than everything held (a fan-out's new message).
    if (n === 0 || (s[n - 3] as number) < createdSeq) {
      s.push(createdSeq, seq, id);
      return;
    }
    const at = this.find(createdSeq);
    if (at >= 0) {
      s[at + 1] = seq;
      return;
    }
    s.splice(-at - 1, 0, createdSeq, seq, id);
  }

  /** Forgets the message published at `createdSeq` (recalled, expired, no longer matching). */
  delete(createdSeq: number): void {
    const at = this.find(createdSeq);
    if (at >= 0) this.slots.splice(at, 3);
  }

  clear(): void {
    this.slots = [];
  }

  /** The ids held, oldest publish first. */
  ids(): string[] {
    const s = this.slots;
    const out: string[] = [];
    for (let i = 2; i < s.length; i += 3) out.push(s[i] as string);
    return out;
  }

  /** A copy: createdSeq → [seq, id]. */
  entries(): Map<number, [number, string]> {
    const s = this.slots;
    const out = new Map<number, [number, string]>();
    for (let i = 0; i < s.length; i += 3) out.set(s[i] as number, [s[i + 1] as number, s[i + 2] as string]);
    return out;
  }

  /** The slot of `createdSeq`, or -(the slot it would go to) - 1. */
  private find(createdSeq: number): number {
    const s = this.slots;
    let lo = 0;
    let hi = s.length / 3 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = s[mid * 3] as number;
      if (v === createdSeq) return mid * 3;
      if (v < createdSeq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -(lo * 3) - 1;
  }
}
