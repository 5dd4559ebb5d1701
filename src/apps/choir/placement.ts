/**
 * Where each choir room lives: on one node at a time, by a held claim in the engine
 * (`choir.room.<name>`, AppCore.heldClaims) whose holder is "<nodeId> <public URL>". The node that
 * first gets a join for a free room takes it and renews it every third of `claimMs`; a join that
 * reaches another node is answered with the holder's URL (the client goes there). A node that dies
 * stops renewing: after `claimMs` the claim is free and the next join, anywhere, takes the room
 * afresh (its buffer's audio is lost with the process). With an engine that has no held claims
 * (or one node), every room is local.
 *
 * Spreading by load: with the engine's membership too, every node publishes its singer count in
 * the set `choir.nodes` (member "<nodeId> <singers> <public URL>", refreshed each renewal, kept for
 * `claimMs`). A node that takes a new room while another node has at least `SPREAD_MARGIN` fewer
 * singers gives the claim back and sends the singer there (`elsewhere`), so rooms go to the
 * lightest node rather than to wherever their first singer's connection landed.
 */
import type { AppCore, HeldClaims } from '../../core/index.ts';

export interface Elsewhere {
  /** The holder's public URL (AppCore.publicUrl of the node that holds the room). */
  url: string;
  node: string;
  /** How long the holder's claim has left, ms: when `url` is dead, the room is free after this. */
  retryAfterMs: number;
  /** Sent for load: nobody holds the room; the joiner asks `url` to take it (`choir.join {take: true}`). */
  take?: boolean;
}

const keyOf = (room: string) => `choir.room.${room}`;
const NODES = 'choir.nodes';
/** A new room goes to another node only when it has at least this many fewer singers than this one (no ping-pong between near equals). */
export const SPREAD_MARGIN = 2;
/** How long a read of the nodes' loads is reused, ms. */
const LOADS_FRESH_MS = 250;

export interface NodeLoad { node: string; singers: number; url: string }

export class RoomPlacement {
  private readonly held: HeldClaims | null;
  private published: string | null = null;
  private loads: { at: number; list: Promise<NodeLoad[]> } | null = null;

  constructor(private readonly core: Pick<AppCore<any>, 'heldClaims' | 'membership' | 'nodeId' | 'publicUrl' | 'logger'>, private readonly claimMs: number) {
    this.held = core.heldClaims;
  }

  /** Publishes this node's singer count for the other nodes' placement (with held claims and membership). */
  async publishLoad(singers: number): Promise<void> {
    const m = this.core.membership;
    const url = this.core.publicUrl();
    // Not before the node listens on its own port: a URL with port 0 (or a worker's shared port)
    // would send other nodes' joiners nowhere.
    if (!m || !this.held || url === '') return;
    const member = `${this.core.nodeId} ${singers} ${url}`;
    if (this.published !== null && this.published !== member) await m.leave(NODES, this.published);
    await m.join(NODES, member, this.claimMs);
    this.published = member;
  }

  /** The other nodes' published loads (reused for LOADS_FRESH_MS). */
  private otherLoads(): Promise<NodeLoad[]> {
    const m = this.core.membership;
    if (!m) return Promise.resolve([]);
    const now = Date.now();
    if (!this.loads || now - this.loads.at > LOADS_FRESH_MS) {
      const list = m.members(NODES).then((members) => members.map((x) => {
        const [node, singers, url] = x.split(' ');
        return { node, singers: Number(singers), url };
      // Not this node, nor a dead predecessor at this node's own URL (its entry lasts until claimMs).
      }).filter((l) => l.node !== this.core.nodeId && l.url !== this.core.publicUrl() && Number.isFinite(l.singers) && l.url));
      this.loads = { at: now, list: list.catch(() => []) };
    }
    return this.loads.list;
  }

  /**
   * Takes a room no node holds for the lightest node: this one (null), or another with at least
   * SPREAD_MARGIN fewer singers than `mySingers`, where the singer is sent (this node's claim, just
   * taken, is given back; that node takes it on the singer's join with `take`). A room held
   * elsewhere: where. `mySingers` null: take it here whatever the loads (this node was named).
   */
  async place(room: string, mySingers: number | null): Promise<Elsewhere | null> {
    const elsewhere = await this.claim(room);
    if (elsewhere || !this.core.membership || mySingers === null) return elsewhere;
    let lightest: NodeLoad | null = null;
    for (const l of await this.otherLoads()) if (!lightest || l.singers < lightest.singers) lightest = l;
    if (!lightest || lightest.singers + SPREAD_MARGIN > mySingers) return null;
    await this.held!.releaseClaim(keyOf(room), this.holder).catch(() => false);
    // Counted there at once (until its next publication), so a burst of new rooms does not all go to it.
    lightest.singers++;
    return { node: lightest.node, url: lightest.url, retryAfterMs: 0, take: true };
  }

  private get holder(): string {
    return `${this.core.nodeId} ${this.core.publicUrl()}`;
  }

  /** Takes `room` for this node; null when it is this node's now, else where it lives. */
  async claim(room: string): Promise<Elsewhere | null> {
    if (!this.held) return null;
    const r = await this.held.holdClaim(keyOf(room), this.holder, this.claimMs);
    if (r.holder === this.holder) return null;
    const space = r.holder.indexOf(' ');
    return { node: r.holder.slice(0, space), url: r.holder.slice(space + 1), retryAfterMs: r.ttlMs };
  }

  /** Renews the claims of the rooms held here; resolves the rooms another node holds now. */
  async renew(rooms: string[]): Promise<string[]> {
    if (!this.held) return [];
    const lost: string[] = [];
    await Promise.all(rooms.map(async (room) => {
      try {
        if ((await this.held!.holdClaim(keyOf(room), this.holder, this.claimMs)).holder !== this.holder) lost.push(room);
      } catch (err) {
        // The engine is unreachable: keep serving; past claimMs another node may take the room.
        this.core.logger.warn({ room, err: String(err) }, 'choir: renewing a room\'s claim failed');
      }
    }));
    return lost;
  }

  release(room: string): void {
    this.held?.releaseClaim(keyOf(room), this.holder).catch(() => { /* it expires */ });
  }

  async releaseAll(rooms: string[]): Promise<void> {
    if (this.published !== null) await this.core.membership?.leave(NODES, this.published).catch(() => {});
    if (!this.held) return;
    await Promise.all(rooms.map((room) => this.held!.releaseClaim(keyOf(room), this.holder).catch(() => false)));
  }
}
