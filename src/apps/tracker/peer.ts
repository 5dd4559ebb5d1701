/**
 * A peer held by this node: (info_hash, peer_id) announced on one of its sockets. It remembers
 * the offers relayed to it and the answers relayed to it (its "links"), bounded and oldest-first
 * forgotten, so an answer or trickle signal can be checked against what really happened and
 * routed straight to the node of the other peer without reading anything shared.
 */
import type { TrackerSocket } from './socket.ts';

export interface Link {
  /** The node holding the other peer (where an answer or signal for it goes). */
  nodeId: string;
  /** An offer link that was already answered (a second answer is refused). */
  answered: boolean;
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
  /** otherPeerHex + offerId (binary) → link. Insertion order = age. */
  links: Map<string, Link>;
}

export function linkKey(otherPeerHex: string, offerId: string): string {
  return otherPeerHex + offerId;
}

/** Records (or refreshes) a link, forgetting the oldest past `max`. */
export function rememberLink(peer: LocalPeer, key: string, link: Link, max: number): void {
  peer.links.delete(key);
  peer.links.set(key, link);
  while (peer.links.size > max) peer.links.delete(peer.links.keys().next().value as string);
}

/** Whether any link names the other peer (to tell "unknown peer" from "unknown offer"). */
export function knowsPeer(peer: LocalPeer, otherPeerHex: string): boolean {
  for (const key of peer.links.keys()) if (key.startsWith(otherPeerHex)) return true;
  return false;
}

/**
 * Up to `n` distinct peers picked at random from `peers`, never `selfHex`. Small swarms are
 * shuffled (partial Fisher–Yates on indexes); large ones sampled, so the cost follows n, not the
 * swarm's size.
 */
export function pickTargets<T extends { peerHex: string }>(peers: T[], n: number, selfHex: string, random: () => number = Math.random): T[] {
  if (n <= 0 || peers.length === 0) return [];
  const out: T[] = [];
  if (peers.length <= 4 * n + 8) {
    const idx = peers.map((_, i) => i);
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
