/**
 * The devices registry: every registered device's id, groups, attributes and last-seen time, kept
 * compactly in RAM (the seed's lesson: a Java String per id cost ~60 bytes more than a long).
 *
 * - Ids are 64-bit random numbers, hex on the wire, two u32 columns inside; an open-addressing
 *   hash table of int32 slots finds a device's index from its id.
 * - Per device: id (8 bytes), last seen (u32 seconds), profile revision (u32), offset and length of
 *   its profile in a shared Int32Array pool (8 bytes), its hash slot(s) (~8 bytes at load ≤ 0.5).
 * - A profile is [nGroups, group…, nAttrs, (tag, value…)…] of interned string numbers: a group
 *   name, an attribute name and a string value are each one int32; an integer attribute is one
 *   int32; any other number two (its float64 bits). The intern table holds each distinct string
 *   once for the whole registry (1,000 groups cost 1,000 strings, not one per membership).
 * - An updated profile is appended to the pool; the old one is garbage until the pool is compacted
 *   (when garbage passes half the pool).
 *
 * Deterministic: the same events in the same order give the same registry on every node (the
 * DevicesChannelType fold), so it can be rebuilt from a snapshot plus the log.
 */
import type { Recipient, Value } from './expression.ts';

/** A device as the outside sees it. */
export interface DeviceProfile {
  groups: string[];
  attributes: Record<string, Value>;
}

const EMPTY = 0;
const TOMB = -1;
const KIND_STRING = 0;
const KIND_INT = 1;
const KIND_FLOAT = 2;

export function idToHex(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export function hexToId(hex: string): [number, number] | null {
  if (!/^[0-9a-f]{16}$/.test(hex)) return null;
  return [parseInt(hex.slice(0, 8), 16), parseInt(hex.slice(8), 16)];
}

function mix(hi: number, lo: number): number {
  let h = Math.imul(lo ^ (hi >>> 15), 0x85ebca6b) ^ hi;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class DeviceStore {
  /** How many devices are registered (not forgotten). */
  size = 0;
  private capacity = 0;
  idHi = new Uint32Array(0);
  idLo = new Uint32Array(0);
  /** Last seen, whole seconds since the Unix epoch; 0 marks a free index. */
  seenSec = new Uint32Array(0);
  /** The devices-channel version (mod 2^32) of the event that last changed the profile. */
  rev = new Uint32Array(0);
  private profOff = new Uint32Array(0);
  private profLen = new Uint32Array(0);
  private free: number[] = [];
  /** Open addressing: index + 1, EMPTY or TOMB. */
  private slots = new Int32Array(16);
  private used = 0; // occupied + tombstones
  pool = new Int32Array(1024);
  private poolEnd = 0;
  private garbage = 0;
  readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();
  private readonly f64 = new Float64Array(1);
  private readonly i32 = new Int32Array(this.f64.buffer);

  // ---- ids ----------------------------------------------------------------------------------

  /** The index of a device, or -1. */
  find(hi: number, lo: number): number {
    const mask = this.slots.length - 1;
    for (let s = mix(hi, lo) & mask; ; s = (s + 1) & mask) {
      const v = this.slots[s];
      if (v === EMPTY) return -1;
      if (v > 0 && this.idHi[v - 1] === hi && this.idLo[v - 1] === lo) return v - 1;
    }
  }

  findHex(hex: string): number {
    const id = hexToId(hex);
    return id ? this.find(id[0], id[1]) : -1;
  }

  private insertSlot(hi: number, lo: number, index: number): void {
    if ((this.used + 1) * 2 > this.slots.length) this.rehash(this.size * 4 > this.slots.length ? this.slots.length * 2 : this.slots.length);
    const mask = this.slots.length - 1;
    let s = mix(hi, lo) & mask;
    while (this.slots[s] > 0) s = (s + 1) & mask;
    if (this.slots[s] === EMPTY) this.used++;
    this.slots[s] = index + 1;
  }

  private rehash(length: number): void {
    const old = this.slots;
    this.slots = new Int32Array(Math.max(16, length));
    this.used = 0;
    const mask = this.slots.length - 1;
    for (const v of old) {
      if (v <= 0) continue;
      let s = mix(this.idHi[v - 1], this.idLo[v - 1]) & mask;
      while (this.slots[s] !== EMPTY) s = (s + 1) & mask;
      this.slots[s] = v;
      this.used++;
    }
  }

  private grow(): void {
    const cap = Math.max(16, this.capacity * 2);
    const g = <T extends Uint32Array>(a: T): T => {
      const b = new Uint32Array(cap) as T;
      b.set(a);
      return b;
    };
    this.idHi = g(this.idHi);
    this.idLo = g(this.idLo);
    this.seenSec = g(this.seenSec);
    this.rev = g(this.rev);
    this.profOff = g(this.profOff);
    this.profLen = g(this.profLen);
    for (let i = cap - 1; i >= this.capacity; i--) this.free.push(i);
    this.capacity = cap;
  }

  // ---- strings and profiles ---------------------------------------------------------------

  intern(s: string): number {
    let n = this.stringIds.get(s);
    if (n === undefined) {
      n = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, n);
    }
    return n;
  }

  /** The interned number of `s`, or -1 when no device ever used it. */
  lookup(s: string): number {
    return this.stringIds.get(s) ?? -1;
  }

  private writeProfile(p: DeviceProfile): [number, number] {
    const words: number[] = [p.groups.length];
    for (const g of p.groups) words.push(this.intern(g));
    const names = Object.keys(p.attributes);
    words.push(names.length);
    for (const name of names) {
      const v = p.attributes[name];
      const tag = this.intern(name) * 4;
      if (typeof v === 'string') words.push(tag + KIND_STRING, this.intern(v));
      else if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) words.push(tag + KIND_INT, v);
      else {
        this.f64[0] = v;
        words.push(tag + KIND_FLOAT, this.i32[0], this.i32[1]);
      }
    }
    if (this.poolEnd + words.length > this.pool.length) {
      if (this.garbage * 2 > this.poolEnd) this.compact();
      if (this.poolEnd + words.length > this.pool.length) {
        const next = new Int32Array(Math.max(this.pool.length * 2, this.poolEnd + words.length));
        next.set(this.pool.subarray(0, this.poolEnd));
        this.pool = next;
      }
    }
    const off = this.poolEnd;
    for (let i = 0; i < words.length; i++) this.pool[off + i] = words[i];
    this.poolEnd += words.length;
    return [off, words.length];
  }

  /** Moves every live profile to the front of the pool. */
  private compact(): void {
    const next = new Int32Array(this.pool.length);
    let end = 0;
    for (let i = 0; i < this.capacity; i++) {
      if (this.seenSec[i] === 0) continue;
      next.set(this.pool.subarray(this.profOff[i], this.profOff[i] + this.profLen[i]), end);
      this.profOff[i] = end;
      end += this.profLen[i];
    }
    this.pool = next;
    this.poolEnd = end;
    this.garbage = 0;
  }

  profile(index: number): DeviceProfile {
    const pool = this.pool;
    let at = this.profOff[index];
    const groups: string[] = [];
    for (let n = pool[at++]; n > 0; n--) groups.push(this.strings[pool[at++]]);
    const attributes: Record<string, Value> = {};
    for (let n = pool[at++]; n > 0; n--) {
      const tag = pool[at++];
      const name = this.strings[tag >> 2];
      const kind = tag & 3;
      if (kind === KIND_STRING) attributes[name] = this.strings[pool[at++]];
      else if (kind === KIND_INT) attributes[name] = pool[at++];
      else {
        this.i32[0] = pool[at++];
        this.i32[1] = pool[at++];
        attributes[name] = this.f64[0];
      }
    }
    return { groups, attributes };
  }

  hasGroup(index: number, group: number): boolean {
    const pool = this.pool;
    let at = this.profOff[index];
    for (let n = pool[at++]; n > 0; n--) if (pool[at++] === group) return true;
    return false;
  }

  attr(index: number, name: number): Value | undefined {
    const pool = this.pool;
    let at = this.profOff[index];
    at += pool[at] + 1;
    for (let n = pool[at++]; n > 0; n--) {
      const tag = pool[at++];
      const kind = tag & 3;
      if (tag >> 2 === name) {
        if (kind === KIND_STRING) return this.strings[pool[at]];
        if (kind === KIND_INT) return pool[at];
        this.i32[0] = pool[at];
        this.i32[1] = pool[at + 1];
        return this.f64[0];
      }
      at += kind === KIND_FLOAT ? 2 : 1;
    }
    return undefined;
  }

  // ---- changes (called by the fold) ----------------------------------------------------------

  /** Registers a device, or replaces the profile of one with the same id. */
  register(hex: string, p: DeviceProfile, seenMs: number, rev: number): void {
    const id = hexToId(hex);
    if (!id) return;
    let i = this.find(id[0], id[1]);
    if (i < 0) {
      if (this.free.length === 0) this.grow();
      i = this.free.pop()!;
      this.idHi[i] = id[0];
      this.idLo[i] = id[1];
      this.insertSlot(id[0], id[1], i);
      this.size++;
    } else {
      this.garbage += this.profLen[i];
    }
    this.seenSec[i] = Math.max(1, Math.floor(seenMs / 1000));
    this.rev[i] = rev >>> 0;
    const [off, len] = this.writeProfile(p);
    this.profOff[i] = off;
    this.profLen[i] = len;
  }

  /** Changes a device's groups and/or attributes (absent ones are kept). False when unknown. */
  update(index: number, groups: string[] | undefined, attributes: Record<string, Value> | undefined, seenMs: number, rev: number): void {
    const old = this.profile(index);
    this.garbage += this.profLen[index];
    const [off, len] = this.writeProfile({ groups: groups ?? old.groups, attributes: attributes ?? old.attributes });
    this.profOff[index] = off;
    this.profLen[index] = len;
    this.rev[index] = rev >>> 0;
    this.seen(index, seenMs);
  }

  seen(index: number, seenMs: number): void {
    this.seenSec[index] = Math.max(this.seenSec[index], Math.floor(seenMs / 1000));
  }

  forget(index: number): void {
    const mask = this.slots.length - 1;
    for (let s = mix(this.idHi[index], this.idLo[index]) & mask; ; s = (s + 1) & mask) {
      if (this.slots[s] === index + 1) {
        this.slots[s] = TOMB;
        break;
      }
      if (this.slots[s] === EMPTY) break;
    }
    this.garbage += this.profLen[index];
    this.seenSec[index] = 0;
    this.profLen[index] = 0;
    this.free.push(index);
    this.size--;
    if (this.used > this.size * 2 + 16) this.rehash(this.slots.length);
  }

  /** Forgets every device last seen before `beforeMs`; returns how many. */
  sweep(beforeMs: number): number {
    const before = Math.floor(beforeMs / 1000);
    let n = 0;
    for (let i = 0; i < this.capacity; i++) {
      if (this.seenSec[i] !== 0 && this.seenSec[i] < before) {
        this.forget(i);
        n++;
      }
    }
    return n;
  }

  /** Every registered device's index. */
  *indexes(): IterableIterator<number> {
    for (let i = 0; i < this.capacity; i++) if (this.seenSec[i] !== 0) yield i;
  }

  /** A Recipient view of one device, for evaluate(); reused (re-point it with `at`). */
  recipient(): Recipient & { at(index: number): void } {
    let index = 0;
    const store = this;
    return {
      get id() {
        return idToHex(store.idHi[index], store.idLo[index]);
      },
      at(i: number) {
        index = i;
      },
      hasGroup(name: string) {
        const n = store.lookup(name);
        return n >= 0 && store.hasGroup(index, n);
      },
      attr(name: string) {
        const n = store.lookup(name);
        return n < 0 ? undefined : store.attr(index, n);
      },
    };
  }

  /** Bytes held by the registry's arrays (not the intern table's strings). */
  arrayBytes(): number {
    return this.capacity * 4 * 6 + this.slots.byteLength + this.pool.byteLength;
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /** [u32 header length][header JSON][per device: hi, lo, seen, rev, profile length][pool words]. */
  encode(): Uint8Array {
    this.compact();
    const order = [...this.indexes()];
    const header = new TextEncoder().encode(JSON.stringify({ n: order.length, strings: this.strings, poolWords: this.poolEnd }));
    const out = new Uint8Array(4 + header.length + order.length * 20 + this.poolEnd * 4);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, header.length, true);
    out.set(header, 4);
    let at = 4 + header.length;
    const words: number[] = [];
    for (const i of order) {
      dv.setUint32(at, this.idHi[i], true);
      dv.setUint32(at + 4, this.idLo[i], true);
      dv.setUint32(at + 8, this.seenSec[i], true);
      dv.setUint32(at + 12, this.rev[i], true);
      dv.setUint32(at + 16, this.profLen[i], true);
      at += 20;
      for (let k = 0; k < this.profLen[i]; k++) words.push(this.pool[this.profOff[i] + k]);
    }
    for (const w of words) {
      dv.setInt32(at, w, true);
      at += 4;
    }
    return out;
  }

  static decode(bytes: Uint8Array): DeviceStore {
    const store = new DeviceStore();
    if (bytes.length === 0) return store;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerLen = dv.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLen))) as { n: number; strings: string[]; poolWords: number };
    for (const s of header.strings) store.intern(s);
    while (store.capacity < header.n) store.grow();
    store.free = [];
    for (let i = store.capacity - 1; i >= header.n; i--) store.free.push(i);
    store.pool = new Int32Array(Math.max(1024, header.poolWords));
    let at = 4 + headerLen;
    let poolAt = at + header.n * 20;
    let off = 0;
    let slots = 16;
    while (slots < header.n * 4) slots *= 2;
    store.rehash(slots);
    for (let i = 0; i < header.n; i++) {
      store.idHi[i] = dv.getUint32(at, true);
      store.idLo[i] = dv.getUint32(at + 4, true);
      store.seenSec[i] = dv.getUint32(at + 8, true);
      store.rev[i] = dv.getUint32(at + 12, true);
      const len = dv.getUint32(at + 16, true);
      at += 20;
      store.profOff[i] = off;
      store.profLen[i] = len;
      for (let k = 0; k < len; k++, poolAt += 4) store.pool[off + k] = dv.getInt32(poolAt, true);
      off += len;
      store.insertSlot(store.idHi[i], store.idLo[i], i);
      store.size++;
    }
    store.poolEnd = off;
    return store;
  }
}
