/**
 * A peer held by this node: (info_hash, peer_id) announced on one of its sockets. It remembers
 * the offers relayed to it and the answers relayed to it (its "links"), bounded and oldest-first
 * forgotten, so an answer or trickle signal can be checked against what really happened and
 * routed straight to the node of the other peer without reading anything shared.
 */
import { charCodeAt } from './ids.ts';
import type { TrackerSocket } from './socket.ts';

/**
 * A peer's links: the offers relayed to it and the answers relayed to it, at most `max`, the
 * oldest forgotten first (a ring). A link is (offer_id, the other peer, that peer's node,
 * answered).
 *
 * Laid out for the garbage collector: offer ids are kept as their 20 bytes in one buffer per peer
 * and found through an open-addressing table of slot numbers in the same buffer, so remembering
 * a link stores no new object. With a string and a Map entry per link (the first version), every
 * relayed offer's id string was kept by a long-lived peer — copied by two scavenges, promoted, and
 * then marked by every full collection until its slot was reused: tens of MB of old generation
 * at 2,000 peers, and the largest share of the tracker's GC time. The other peer's hex and its
 * node are references to strings that live as long as those peers and nodes do.
 *
 * Two peers may send the same offer_id (random in the real client, but chosen by the sender), so
 * a link is found by offer_id and other peer together. The table grows with the links (a peer
 * that gets few offers costs little) up to `max`.
 */
export class PeerLinks {
  /** Slots in use, and the next slot the ring overwrites once full. */
  private size = 0;
  private next = 0;
  /** Slot capacity (a power of two until it reaches max). */
  private cap = 0;
  /** Offer id bytes, 20 per slot. */
  private ids: Uint8Array = EMPTY_BYTES;
  /** Answered flags, one per slot. */
  private flags: Uint8Array = EMPTY_BYTES;
  /** Open addressing, 2·cap entries: slot + 1, or 0 for empty. */
  private table: Int32Array = EMPTY_TABLE;
  private readonly other: string[] = [];
  private readonly node: string[] = [];

  constructor(private readonly max: number) {}

  /** The slot of the link with `fromHex` about `offerId`, or -1. */
  find(fromHex: string, offerId: string): number {
    if (this.size === 0 || offerId.length !== 20) return -1;
    const table = this.table;
    const mask = table.length - 1;
    for (let i = idHash(offerId) & mask; ; i = (i + 1) & mask) {
      const e = table[i];
      if (e === 0) return -1;
      if (this.other[e - 1] === fromHex && this.idIs(e - 1, offerId)) return e - 1;
    }
  }

  /** The node holding the other peer (where an answer or signal for it goes). */
  nodeId(slot: number): string {
    return this.node[slot];
  }

  /** An offer link that was already answered (a second answer is refused). */
  answered(slot: number): boolean {
    return this.flags[slot] === 1;
  }

  markAnswered(slot: number): void {
    this.flags[slot] = 1;
  }

  /** Records (or refreshes, in its slot) a link. `offerId` is a binary id (isBinaryId). */
  remember(fromHex: string, offerId: string, nodeId: string, answered: boolean): void {
    if (this.max <= 0 || offerId.length !== 20) return;
    let slot = this.find(fromHex, offerId);
    if (slot < 0) {
      if (this.size < this.max) {
        if (this.size === this.cap) this.grow();
        slot = this.size++;
      } else {
        if (this.next >= this.max) this.next = 0;
        slot = this.next++;
        this.unlink(slot);
      }
      const ids = this.ids;
      for (let i = 0, at = 20 * slot; i < 20; i++) ids[at + i] = charCodeAt.call(offerId, i);
      this.other[slot] = fromHex;
      this.link(slot, idHash(offerId));
    }
    this.node[slot] = nodeId;
    this.flags[slot] = answered ? 1 : 0;
  }

  /** Whether any link names the other peer (to tell "unknown peer" from "unknown offer"). */
  knows(fromHex: string): boolean {
    for (let s = 0; s < this.size; s++) if (this.other[s] === fromHex) return true;
    return false;
  }

  private idIs(slot: number, offerId: string): boolean {
    const ids = this.ids;
    for (let i = 0, at = 20 * slot; i < 20; i++) if (ids[at + i] !== (charCodeAt.call(offerId, i) & 0xff)) return false;
    return true;
  }

  /** The hash of the id stored in `slot` (the same as idHash of its string). */
  private slotHash(slot: number): number {
    const ids = this.ids;
    const at = 20 * slot;
    return mix(ids[at] | (ids[at + 1] << 8) | (ids[at + 2] << 16) | (ids[at + 3] << 24), ids[at + 4] | (ids[at + 5] << 8) | (ids[at + 6] << 16) | (ids[at + 7] << 24));
  }

  private link(slot: number, hash: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = hash & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  /** Removes `slot` from the table (backward-shift deletion: no tombstones). */
  private unlink(slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.slotHash(slot) & mask;
    while (table[i] !== slot + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const home = this.slotHash(table[j] - 1) & mask;
      // Entry j may move into the hole at i when its home is not in (i, j] (cyclically).
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        table[i] = table[j];
        i = j;
      }
    }
    table[i] = 0;
  }

  /** Doubles the slot capacity (up to max) and rebuilds the table. */
  private grow(): void {
    const cap = Math.min(this.max, Math.max(8, 2 * this.cap));
    const ids = new Uint8Array(20 * cap);
    ids.set(this.ids);
    const flags = new Uint8Array(cap);
    flags.set(this.flags);
    let t = 16;
    while (t < 2 * cap) t *= 2;
    this.ids = ids;
    this.flags = flags;
    this.table = new Int32Array(t);
    this.cap = cap;
    for (let s = 0; s < this.size; s++) this.link(s, this.slotHash(s));
  }
}

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_TABLE = new Int32Array(1);
/** Per process, so which offer ids collide cannot be chosen from outside. */
const SEED = (Math.random() * 0x7fffffff) | 0;

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ SEED, 0x9e3779b1);
  h ^= Math.imul(b, 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> 0;
}

/** An offer id's hash from its first 8 characters (bytes). */
function idHash(id: string): number {
  let a = 0;
  let b = 0;
  for (let i = 0; i < 4; i++) {
    a |= (charCodeAt.call(id, i) & 0xff) << (8 * i);
    b |= (charCodeAt.call(id, i + 4) & 0xff) << (8 * i);
  }
  return mix(a, b);
}

/** A tracker connection holding LocalPeers. */
export type PeerSocket = TrackerSocket<LocalPeer>;

export interface LocalPeer {
  infoHex: string;
  /** Binary info_hash, as the client spelt it (for replies). */
  infoHash: string;
  peerHex: string;
  socket: PeerSocket;
  seeder: boolean;
  /** Its member string in the swarm's set (changes when it becomes a seeder). */
  member: string;
  /** When it last announced, ms since the epoch (idle past the TTL, it is forgotten here too). */
  lastAnnounceMs: number;
  /** Offers relayed to it and answers relayed to it (PeerLinks). */
  links: PeerLinks;
  /** peer_id and info_hash as JSON strings in UTF-8 (idJson), made once: every relay carries them. */
  peerIdJson: Buffer;
  infoHashJson: Buffer;
  /** Its swarm's set name (members.ts swarmSet), made once: every announce re-joins it. */
  setName: string;
}

/**
 * Up to `n` distinct peers picked at random from `peers`, never `selfHex`. Small swarms are
 * shuffled (partial Fisher–Yates on indexes); large ones sampled, so the cost follows n, not the
 * swarm's size.
 */
/** Indexes shuffled by pickTargets, reused (one array per call was the tick's most frequent garbage). */
const shuffleScratch: number[] = [];

export function pickTargets<T extends { peerHex: string }>(peers: T[], n: number, selfHex: string, random: () => number = Math.random): T[] {
  if (n <= 0 || peers.length === 0) return [];
  const out: T[] = [];
  if (peers.length <= 4 * n + 8) {
    const idx = shuffleScratch;
    idx.length = peers.length;
    for (let i = 0; i < idx.length; i++) idx[i] = i;
    for (let i = 0; i < idx.length && out.length < n; i++) {
      const j = i + Math.floor(random() * (idx.length - i));
      [idx[i], idx[j]] = [idx[j], idx[i]];
      const p = peers[idx[i]];
      if (p.peerHex !== selfHex) out.push(p);
    }
    return out;
  }
  const seen = new Set<number>();
  for (let tries = 0; out.length < n && tries < 4 * n + 16; tries++) {
    const i = Math.floor(random() * peers.length);
    if (seen.has(i)) continue;
    seen.add(i);
    if (peers[i].peerHex !== selfHex) out.push(peers[i]);
  }
  return out;
}
