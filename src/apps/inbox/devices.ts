/**
 * The devices registry: every registered device's id, groups, attributes and last-seen time, kept
 * compactly in RAM (the seed's lesson: a Java String per id cost ~60 bytes more than a long).
 *
 * - Ids are 64-bit random numbers, hex on the wire, two u32 columns inside; an open-addressing
 *   hash table of int32 slots finds a device's index from its id.
 * - Per device: id (8 bytes), last seen (u32 seconds), profile revision (u32), offset of its
 *   profile in a shared Int32Array pool (4 bytes): 20 bytes of columns, grown by half when full;
 *   its hash slot(s) (~8 bytes at load ≤ 0.5). No object per device.
 * - A profile is [shape, group…, value…]. The **shape** is interned too: the number of groups and
 *   the attribute names with their kinds, in order, shared by every device that has the same ones
 *   (as a JavaScript engine's hidden classes), so a device pays one word for all its names. A
 *   group and a string value are one interned string number; an integer attribute one int32;
 *   any other number two (its float64 bits). The intern table holds each distinct string once for
 *   the whole registry (1,000 groups cost 1,000 strings, not one per membership).
 * - An updated profile is appended to the pool; the old one is garbage until the pool is compacted
 *   (when garbage passes half the pool).
 * - Expressions are compiled against the store (`matcher`): names and string values become
 *   interned numbers once, so a fan-out over every device compares integers, not strings.
 *
 * Deterministic: the same events in the same order give the same registry on every node (the
 * DevicesChannelType fold), so it can be rebuilt from a snapshot plus the log.
 */
import { compare } from './expression.ts';
import type { Expr, Recipient, Value } from './expression.ts';

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

/** One interned shape: its groups count, its attributes' tags (name * 4 + kind), and its length in words. */
interface Shape {
  groups: number;
  tags: Int32Array;
  /** Words of the profile: 1 (the shape) + groups + the values' words. */
  words: number;
}

const grown = (n: number) => Math.max(16, Math.ceil(n * 1.5));

export class DeviceStore {
  /** How many devices are registered (not forgotten). */
  size = 0;
  private capacity = 0;
  /** Indexes from here on were never used. */
  private fresh = 0;
  idHi = new Uint32Array(0);
  idLo = new Uint32Array(0);
  /** Last seen, whole seconds since the Unix epoch; 0 marks a free index. */
  seenSec = new Uint32Array(0);
  /** The devices-channel version (mod 2^32) of the event that last changed the profile. */
  rev = new Uint32Array(0);
  private profOff = new Uint32Array(0);
  /** Forgotten indexes, for reuse. */
  private free: number[] = [];
  /** Open addressing: index + 1, EMPTY or TOMB. */
  private slots = new Int32Array(16);
  private used = 0; // occupied + tombstones
  pool = new Int32Array(1024);
  private poolEnd = 0;
  private garbage = 0;
  readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();
  private readonly shapes: Shape[] = [];
  private readonly shapeIds = new Map<string, number>();
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

  private grow(min = 0): void {
    const cap = Math.max(min, grown(this.capacity));
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
    this.capacity = cap;
  }

  private takeIndex(): number {
    if (this.free.length > 0) return this.free.pop()!;
    if (this.fresh === this.capacity) this.grow();
    return this.fresh++;
  }

  // ---- strings, shapes and profiles ----------------------------------------------------------

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

  private shapeOf(groups: number, tags: number[]): number {
    const key = groups + ':' + tags.join(',');
    let n = this.shapeIds.get(key);
    if (n === undefined) {
      n = this.shapes.length;
      let words = 1 + groups;
      for (const t of tags) words += (t & 3) === KIND_FLOAT ? 2 : 1;
      this.shapes.push({ groups, tags: Int32Array.from(tags), words });
      this.shapeIds.set(key, n);
    }
    return n;
  }

  private profileWords(index: number): number {
    return this.shapes[this.pool[this.profOff[index]]].words;
  }

  private writeProfile(p: DeviceProfile): number {
    const tags: number[] = [];
    const values: number[] = [];
    for (const name of Object.keys(p.attributes)) {
      const v = p.attributes[name];
      const tag = this.intern(name) * 4;
      if (typeof v === 'string') {
        tags.push(tag + KIND_STRING);
        values.push(this.intern(v));
      } else if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
        tags.push(tag + KIND_INT);
        values.push(v);
      } else {
        this.f64[0] = v;
        tags.push(tag + KIND_FLOAT);
        values.push(this.i32[0], this.i32[1]);
      }
    }
    const shape = this.shapeOf(p.groups.length, tags);
    const length = 1 + p.groups.length + values.length;
    if (this.poolEnd + length > this.pool.length) {
      if (this.garbage * 2 > this.poolEnd) this.compact();
      if (this.poolEnd + length > this.pool.length) {
        const next = new Int32Array(Math.max(grown(this.pool.length), this.poolEnd + length));
        next.set(this.pool.subarray(0, this.poolEnd));
        this.pool = next;
      }
    }
    const off = this.poolEnd;
    let at = off;
    this.pool[at++] = shape;
    for (const g of p.groups) this.pool[at++] = this.intern(g);
    for (const v of values) this.pool[at++] = v;
    this.poolEnd = at;
    return off;
  }

  /** Moves every live profile to the front of the pool. */
  private compact(): void {
    const next = new Int32Array(this.pool.length);
    let end = 0;
    for (let i = 0; i < this.fresh; i++) {
      if (this.seenSec[i] === 0) continue;
      const len = this.profileWords(i);
      next.set(this.pool.subarray(this.profOff[i], this.profOff[i] + len), end);
      this.profOff[i] = end;
      end += len;
    }
    this.pool = next;
    this.poolEnd = end;
    this.garbage = 0;
  }

  profile(index: number): DeviceProfile {
    const pool = this.pool;
    let at = this.profOff[index];
    const shape = this.shapes[pool[at++]];
    const groups: string[] = [];
    for (let n = shape.groups; n > 0; n--) groups.push(this.strings[pool[at++]]);
    const attributes: Record<string, Value> = {};
    for (const tag of shape.tags) {
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
    for (let n = this.shapes[pool[at++]].groups; n > 0; n--) if (pool[at++] === group) return true;
    return false;
  }

  /** The kind of the attribute attrAt found last. */
  private foundKind = 0;

  /** Where attribute `name` (an interned number) is in the pool, or -1; its kind in foundKind. */
  private attrAt(index: number, name: number): number {
    const at = this.profOff[index];
    const shape = this.shapes[this.pool[at]];
    let off = at + 1 + shape.groups;
    const tags = shape.tags;
    for (let k = 0; k < tags.length; k++) {
      const tag = tags[k];
      if (tag >> 2 === name) {
        this.foundKind = tag & 3;
        return off;
      }
      off += (tag & 3) === KIND_FLOAT ? 2 : 1;
    }
    return -1;
  }

  attr(index: number, name: number): Value | undefined {
    const at = this.attrAt(index, name);
    if (at < 0) return undefined;
    const kind = this.foundKind;
    if (kind === KIND_STRING) return this.strings[this.pool[at]];
    if (kind === KIND_INT) return this.pool[at];
    this.i32[0] = this.pool[at];
    this.i32[1] = this.pool[at + 1];
    return this.f64[0];
  }

  // ---- changes (called by the fold) ----------------------------------------------------------

  /** Registers a device, or replaces the profile of one with the same id. */
  register(hex: string, p: DeviceProfile, seenMs: number, rev: number): void {
    const id = hexToId(hex);
    if (!id) return;
    let i = this.find(id[0], id[1]);
    if (i < 0) {
      i = this.takeIndex();
      this.idHi[i] = id[0];
      this.idLo[i] = id[1];
      this.insertSlot(id[0], id[1], i);
      this.size++;
    } else {
      this.garbage += this.profileWords(i);
    }
    this.seenSec[i] = Math.max(1, Math.floor(seenMs / 1000));
    this.rev[i] = rev >>> 0;
    this.profOff[i] = this.writeProfile(p);
  }

  /** Changes a device's groups and/or attributes (absent ones are kept). */
  update(index: number, groups: string[] | undefined, attributes: Record<string, Value> | undefined, seenMs: number, rev: number): void {
    const old = this.profile(index);
    this.garbage += this.profileWords(index);
    this.profOff[index] = this.writeProfile({ groups: groups ?? old.groups, attributes: attributes ?? old.attributes });
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
    this.garbage += this.profileWords(index);
    this.seenSec[index] = 0;
    this.free.push(index);
    this.size--;
    if (this.used > this.size * 2 + 16) this.rehash(this.slots.length);
  }

  /** Forgets every device last seen before `beforeMs`; returns how many. */
  sweep(beforeMs: number): number {
    const before = Math.floor(beforeMs / 1000);
    let n = 0;
    for (let i = 0; i < this.fresh; i++) {
      if (this.seenSec[i] !== 0 && this.seenSec[i] < before) {
        this.forget(i);
        n++;
      }
    }
    return n;
  }

  /** Every registered device's index. */
  *indexes(): IterableIterator<number> {
    for (let i = 0; i < this.fresh; i++) if (this.seenSec[i] !== 0) yield i;
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

  /**
   * `e` compiled against this store: a test of one device's index that decides as
   * `evaluate(e, recipient at index)` does, over interned numbers (a group, an attribute name or a
   * string value no device has is settled once, here). Use it at once: a string interned later
   * (a new device's group) is not seen by an earlier matcher.
   */
  matcher(e: Expr): (index: number) => boolean {
    switch (e.op) {
      case 'all': return () => true;
      case 'group': {
        const g = this.lookup(e.name);
        return g < 0 ? () => false : (i) => this.hasGroup(i, g);
      }
      case 'device': {
        const id = hexToId(e.id)!;
        return (i) => this.idHi[i] === id[0] && this.idLo[i] === id[1];
      }
      case 'cmp': {
        const name = this.lookup(e.attr);
        if (name < 0) return () => false;
        const { cmp, value } = e;
        if (typeof value === 'string') {
          const v = this.lookup(value);
          const byId = cmp === '=' || cmp === '!=';
          return (i) => {
            const at = this.attrAt(i, name);
            if (at < 0 || this.foundKind !== KIND_STRING) return false; // missing, or not a string
            const s = this.pool[at];
            if (byId) return (s === v) === (cmp === '=');
            return compare(this.strings[s], cmp, value);
          };
        }
        return (i) => {
          const at = this.attrAt(i, name);
          if (at < 0 || this.foundKind === KIND_STRING) return false; // missing, or not a number
          let n: number;
          if (this.foundKind === KIND_INT) n = this.pool[at];
          else {
            this.i32[0] = this.pool[at];
            this.i32[1] = this.pool[at + 1];
            n = this.f64[0];
          }
          return compare(n, cmp, value);
        };
      }
      case 'in': {
        const name = this.lookup(e.attr);
        if (name < 0) return () => false;
        const strings = new Set<number>();
        const numbers = new Set<number>();
        for (const v of e.values) {
          if (typeof v === 'number') numbers.add(v);
          else if (this.lookup(v) >= 0) strings.add(this.lookup(v));
        }
        return (i) => {
          const at = this.attrAt(i, name);
          if (at < 0) return false;
          if (this.foundKind === KIND_STRING) return strings.has(this.pool[at]);
          if (this.foundKind === KIND_INT) return numbers.has(this.pool[at]);
          this.i32[0] = this.pool[at];
          this.i32[1] = this.pool[at + 1];
          return numbers.has(this.f64[0]);
        };
      }
      case 'not': {
        const arg = this.matcher(e.arg);
        return (i) => !arg(i);
      }
      case 'and': {
        // Plain loops: no callback closure per device tested.
        const args = e.args.map((a) => this.matcher(a));
        return (i) => {
          for (let k = 0; k < args.length; k++) if (!args[k](i)) return false;
          return true;
        };
      }
      case 'or': {
        const args = e.args.map((a) => this.matcher(a));
        return (i) => {
          for (let k = 0; k < args.length; k++) if (args[k](i)) return true;
          return false;
        };
      }
    }
  }

  /** Bytes held by the registry's arrays (not the intern table's strings). */
  arrayBytes(): number {
    let shapes = 0;
    for (const s of this.shapes) shapes += s.tags.byteLength;
    return this.capacity * 4 * 5 + this.slots.byteLength + this.pool.byteLength + shapes;
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /**
   * [u32 header length][header JSON: v 2, n, strings, shapes, poolWords][per device: hi, lo, seen,
   * rev][the devices' profiles' words, in the same order].
   */
  encode(): Uint8Array {
    this.compact();
    const order = [...this.indexes()];
    const shapes = this.shapes.map((s) => [s.groups, ...s.tags]);
    const header = new TextEncoder().encode(JSON.stringify({ v: 2, n: order.length, strings: this.strings, shapes, poolWords: this.poolEnd }));
    const out = new Uint8Array(4 + header.length + order.length * 16 + this.poolEnd * 4);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, header.length, true);
    out.set(header, 4);
    let at = 4 + header.length;
    let poolAt = at + order.length * 16;
    for (const i of order) {
      dv.setUint32(at, this.idHi[i], true);
      dv.setUint32(at + 4, this.idLo[i], true);
      dv.setUint32(at + 8, this.seenSec[i], true);
      dv.setUint32(at + 12, this.rev[i], true);
      at += 16;
      const off = this.profOff[i];
      for (let k = 0, len = this.profileWords(i); k < len; k++, poolAt += 4) dv.setInt32(poolAt, this.pool[off + k], true);
    }
    return out;
  }

  static decode(bytes: Uint8Array): DeviceStore {
    const store = new DeviceStore();
    if (bytes.length === 0) return store;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerLen = dv.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLen))) as {
      v?: number; n: number; strings: string[]; shapes?: number[][]; poolWords: number;
    };
    if (header.v !== 2) return DeviceStore.decodeV1(store, dv, 4 + headerLen, header);
    for (const s of header.strings) store.intern(s);
    for (const [groups, ...tags] of header.shapes!) store.shapeOf(groups, tags);
    store.grow(header.n);
    store.fresh = header.n;
    store.pool = new Int32Array(Math.max(1024, header.poolWords));
    let slots = 16;
    while (slots < header.n * 2 + 16) slots *= 2;
    store.rehash(slots);
    let at = 4 + headerLen;
    let poolAt = at + header.n * 16;
    let off = 0;
    for (let i = 0; i < header.n; i++) {
      store.idHi[i] = dv.getUint32(at, true);
      store.idLo[i] = dv.getUint32(at + 4, true);
      store.seenSec[i] = dv.getUint32(at + 8, true);
      store.rev[i] = dv.getUint32(at + 12, true);
      at += 16;
      store.profOff[i] = off;
      const len = store.shapes[dv.getInt32(poolAt, true)].words;
      for (let k = 0; k < len; k++, poolAt += 4) store.pool[off + k] = dv.getInt32(poolAt, true);
      off += len;
      store.insertSlot(store.idHi[i], store.idLo[i], i);
      store.size++;
    }
    store.poolEnd = off;
    return store;
  }

  /** The first snapshot format: per device hi, lo, seen, rev, profile length; profiles [nGroups, group…, nAttrs, (tag, value…)…]. */
  private static decodeV1(store: DeviceStore, dv: DataView, from: number, header: { n: number; strings: string[] }): DeviceStore {
    const f64 = new Float64Array(1);
    const i32 = new Int32Array(f64.buffer);
    let at = from;
    let poolAt = at + header.n * 20;
    const word = () => {
      const w = dv.getInt32(poolAt, true);
      poolAt += 4;
      return w;
    };
    for (let i = 0; i < header.n; i++) {
      const hi = dv.getUint32(at, true);
      const lo = dv.getUint32(at + 4, true);
      const seen = dv.getUint32(at + 8, true);
      const rev = dv.getUint32(at + 12, true);
      at += 20;
      const groups: string[] = [];
      for (let n = word(); n > 0; n--) groups.push(header.strings[word()]);
      const attributes: Record<string, Value> = {};
      for (let n = word(); n > 0; n--) {
        const tag = word();
        const name = header.strings[tag >> 2];
        if ((tag & 3) === KIND_STRING) attributes[name] = header.strings[word()];
        else if ((tag & 3) === KIND_INT) attributes[name] = word();
        else {
          i32[0] = word();
          i32[1] = word();
          attributes[name] = f64[0];
        }
      }
      store.register(idToHex(hi, lo), { groups, attributes }, seen * 1000, rev);
    }
    return store;
  }
}
