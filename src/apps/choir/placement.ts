/**
 * Where each choir room lives: on one node at a time, by a held claim in the engine
 * (`choir.room.<name>`, AppCore.heldClaims) whose holder is "<nodeId> <public URL>". The node that
 * first gets a join for a free room takes it and renews it every third of `claimMs`; a join that
 * reaches another node is answered with the holder's URL (the client goes there). A node that dies
 * stops renewing: after `claimMs` the claim is free and the next join, anywhere, takes the room
 * afresh (its buffer's audio is lost with the process). With an engine that has no held claims
 * (or one node), every room is local.
 */
import type { AppCore, HeldClaims } from '../../core/index.ts';

export interface Elsewhere {
  /** The holder's public URL (AppCore.publicUrl of the node that holds the room). */
  url: string;
  node: string;
  /** How long the holder's claim has left, ms: when `url` is dead, the room is free after this. */
  retryAfterMs: number;
}

const keyOf = (room: string) => `choir.room.${room}`;

export class RoomPlacement {
  private readonly held: HeldClaims | null;

  constructor(private readonly core: Pick<AppCore<any>, 'heldClaims' | 'nodeId' | 'publicUrl' | 'logger'>, private readonly claimMs: number) {
    this.held = core.heldClaims;
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
    if (!this.held) return;
    await Promise.all(rooms.map((room) => this.held!.releaseClaim(keyOf(room), this.holder).catch(() => false)));
  }
}
