/**
 * GET /api/tracker: the whole tracker as any node sees it, for the /tracker page. Nodes come from
 * the records every node re-publishes every ~2 s (NODES_SET); swarms from the shared index of
 * active info hashes (SWARMS_SET), each counted from its own set. Computed at most once a second
 * per node however many pages poll it (concurrent requests share one computation).
 *
 * Shape (stable; the page is built against it):
 *   { nodeId, nodes: [{ nodeId, connections, peers, swarms, connectsPerSecond, messagesInPerSecond,
 *     messagesOutPerSecond, at }], swarms: [{ infoHash (hex), peers, complete, incomplete }]
 *     (largest first, at most 50), totals: { swarms, peers } }
 */
import type { Membership } from '../../core/index.ts';
import { NODES_SET, SWARMS_SET, swarmSet, swarmView } from './members.ts';
import type { NodeStats } from './tracker.ts';

export interface SwarmSummary {
  infoHash: string;
  peers: number;
  complete: number;
  incomplete: number;
}

export interface TrackerStatus {
  nodeId: string;
  nodes: NodeStats[];
  swarms: SwarmSummary[];
  totals: { swarms: number; peers: number };
}

/** Swarms listed in the reply. */
export const STATUS_TOP_SWARMS = 50;
/** Swarms counted to find the largest (beyond it the list is the largest of the first ones). */
export const STATUS_SCAN_SWARMS = 1000;
/** How long one computed status is served, ms. */
export const STATUS_CACHE_MS = 1000;

export class TrackerStatusView {
  private cached: { at: number; value: Promise<TrackerStatus> } | null = null;

  constructor(private readonly membership: Membership, private readonly nodeId: string, private readonly now: () => number = Date.now) {}

  get(): Promise<TrackerStatus> {
    const now = this.now();
    if (this.cached && now - this.cached.at < STATUS_CACHE_MS) return this.cached.value;
    const value = this.compute();
    this.cached = { at: now, value };
    value.catch(() => { if (this.cached?.value === value) this.cached = null; });
    return value;
  }

  private async compute(): Promise<TrackerStatus> {
    const [nodeMembers, swarmHexes] = await Promise.all([this.membership.members(NODES_SET), this.membership.members(SWARMS_SET)]);
    // A node re-joins a new record before leaving its previous one: keep the newest per node.
    const byNode = new Map<string, NodeStats>();
    for (const m of nodeMembers) {
      const space = m.indexOf(' ');
      if (space < 0) continue;
      try {
        const rec = JSON.parse(m.slice(space + 1)) as NodeStats;
        const known = byNode.get(rec.nodeId);
        if (!known || known.at < rec.at) byNode.set(rec.nodeId, rec);
      } catch { /* not a record of ours */ }
    }
    const nodes = [...byNode.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));

    const scanned = swarmHexes.slice(0, STATUS_SCAN_SWARMS);
    const counted = await Promise.all(scanned.map(async (infoHash): Promise<SwarmSummary> => {
      const v = swarmView(await this.membership.members(swarmSet(infoHash)));
      return { infoHash, peers: v.peers.length, complete: v.complete, incomplete: v.incomplete };
    }));
    const live = counted.filter((s) => s.peers > 0).sort((a, b) => b.peers - a.peers || (a.infoHash < b.infoHash ? -1 : 1));
    return {
      nodeId: this.nodeId,
      nodes,
      swarms: live.slice(0, STATUS_TOP_SWARMS),
      totals: {
        // An emptied swarm stays in the index until its TTL; count only those with peers when all were scanned.
        swarms: swarmHexes.length > scanned.length ? swarmHexes.length : live.length,
        peers: nodes.reduce((sum, n) => sum + n.peers, 0),
      },
    };
  }
}
