/**
 * A peer held by this node: (info_hash, peer_id) announced on one of its sockets. It remembers
 * the offers relayed to it and the answers relayed to it (its "links"), bounded and oldest-first
 * forgotten, so an answer or trickle signal can be checked against what really happened and
 * routed straight to the node of the other peer without reading anything shared.
 */
import type { TrackerSocket } from './socket.ts';

/**
 * A peer's links: the offers relayed to it and the answers relayed to it, at most `max`, the
 * oldest forgotten first. Held as a ring of parallel arrays plus a Map from key to slot, so
 * remembering one allocates nothing once the ring is full (it replaces the oldest slot in place)
 * and nothing walks the Map (a Map trimmed from its front leaves holes that "oldest key" lookups
 * walk over). The key is the offer_id (a 20-character string the parser made anyway: nothing to
 * build, cheap to hash); two peers may send the same offer_id (random in the real client, but
 * chosen by the sender), so a later one from another peer is kept under fromHex + offerId.
 */
export class PeerLinks {
  private readonly slotOf = new Map<string, number>();
  /**
   * Slot i is data[4i..4i+3]: its key, the other peer (hex), that peer's node, answered. One
   * array, so a slot is one cache line, not four (with thousands of peers these are cold).
   */
  private readonly data: (string | boolean)[] = [];
  private size = 0;
  private next = 0;
  /** Links kept under fromHex + offerId (shared offer_ids): while none, a miss needs no second lookup. */
  private composite = 0;

  constructor(private readonly max: number) {}

  /** The slot of the link with `fromHex` about `offerId`, or -1. */
  find(fromHex: string, offerId: string): number {
    const slot = this.slotOf.get(offerId);
    if (slot !== undefined && this.data[4 * slot + 1] === fromHex) return slot;
    return this.composite > 0 ? this.slotOf.get(fromHex + offerId) ?? -1 : -1;
  }

  /** The node holding the other peer (where an answer or signal for it goes). */
  nodeId(slot: number): string {
    return this.data[4 * slot + 2] as string;
  }

  /** An offer link that was already answered (a second answer is refused). */
  answered(slot: number): boolean {
    return this.data[4 * slot + 3] as boolean;
  }

  markAnswered(slot: number): void {
    this.data[4 * slot + 3] = true;
  }

  /** Records (or refreshes, in its slot) a link. */
  remember(fromHex: string, offerId: string, nodeId: string, answered: boolean): void {
    if (this.max <= 0) return;
    const data = this.data;
    let slot = this.slotOf.get(offerId);
    let key = offerId;
    if (slot !== undefined && data[4 * slot + 1] !== fromHex) {
      // That offer_id is another peer's: this link is kept under the longer key.
      key = fromHex + offerId;
      slot = this.composite > 0 ? this.slotOf.get(key) : undefined;
    }
    if (slot === undefined) {
      if (this.size < this.max) {
        slot = this.size++;
      } else {
        if (this.next >= this.max) this.next = 0;
        slot = this.next++;
        const old = data[4 * slot] as string;
        if (this.slotOf.get(old) === slot) {
          this.slotOf.delete(old);
          if (old.length !== offerId.length) this.composite--;
        }
      }
      this.slotOf.set(key, slot);
      if (key !== offerId) this.composite++;
      data[4 * slot] = key;
      data[4 * slot + 1] = fromHex;
    }
    data[4 * slot + 2] = nodeId;
    data[4 * slot + 3] = answered;
  }

  /** Whether any link names the other peer (to tell "unknown peer" from "unknown offer"). */
  knows(fromHex: string): boolean {
    for (const slot of this.slotOf.values()) if (this.data[4 * slot + 1] === fromHex) return true;
    return false;
  }
}

export interface LocalPeer {
  infoHex: string;
  /** Binary info_hash, as the client spelt it (for replies). */
  infoHash: string;
  peerHex: string;
  socket: TrackerSocket;
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
