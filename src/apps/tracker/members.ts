/**
 * How the tracker's shared state is named in the engine's Membership sets (expiring members; on
 * Redis a sorted set per name, so every node sharing the Redis sees the same swarms).
 *
 *   tracker:swarm:<infoHex>   one member per peer: "<s|l><peerHex>@<nodeId>" — s = seeder,
 *                             l = leecher; the node part says which node holds the peer's socket,
 *                             so a relay knows where to go without asking anyone.
 *   tracker:swarms            the info hashes (hex) announced to within the peer TTL (for
 *                             scrape-all and /api/tracker).
 *   tracker:nodes             one member per node: "<nodeId> <JSON stats>", re-joined every ~2 s.
 *
 * Node-to-node relays go to the direct-message address tracker.node.<nodeId>: one address (on
 * Redis one SUBSCRIBE) per node, never one per peer.
 */

export const SWARMS_SET = 'tracker:swarms';
export const NODES_SET = 'tracker:nodes';

export function swarmSet(infoHex: string): string {
  return `tracker:swarm:${infoHex}`;
}

export function nodeAddress(nodeId: string): string {
  return `tracker.node.${nodeId}`;
}

export function peerMember(peerHex: string, nodeId: string, seeder: boolean): string {
  return `${seeder ? 's' : 'l'}${peerHex}@${nodeId}`;
}

export interface SwarmPeer {
  peerHex: string;
  nodeId: string;
  seeder: boolean;
}

/** One swarm as read in one tick: its distinct peers and the counts the protocol reports. */
export interface SwarmView {
  peers: SwarmPeer[];
  complete: number;
  incomplete: number;
}

export const EMPTY_SWARM: SwarmView = { peers: [], complete: 0, incomplete: 0 };

/**
 * Members → distinct peers. A peer that reconnected to another node is briefly a member twice
 * (the old entry expires with the TTL): it counts once, as a seeder if either entry says so, and
 * relays go to the first entry in member order (one sent to the stale node is dropped there).
 */
export function swarmView(members: readonly string[]): SwarmView {
  const byPeer = new Map<string, SwarmPeer>();
  for (const m of members) {
    const at = m.indexOf('@', 1);
    if (at !== 41 || (m[0] !== 's' && m[0] !== 'l')) continue; // not ours: ignore rather than fail
    const peerHex = m.slice(1, 41);
    const seeder = m[0] === 's';
    const known = byPeer.get(peerHex);
    if (known && (known.seeder || !seeder)) continue;
    byPeer.set(peerHex, { peerHex, nodeId: m.slice(42), seeder });
  }
  const peers = [...byPeer.values()];
  let complete = 0;
  for (const p of peers) if (p.seeder) complete++;
  return { peers, complete, incomplete: peers.length - complete };
}

/**
 * Whether two reads of a swarm's set listed the same members in the same order: then the earlier
 * read's view stands (the embedded engine even returns the very same strings, so this is mostly
 * pointer compares), and a tick that reads a swarm whose membership did not change builds nothing.
 */
export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
