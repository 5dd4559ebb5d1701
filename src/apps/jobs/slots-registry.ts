/**
 * Slot polling, the server's half: a worker group's members in the engine's expiring membership
 * (`jobs-slots:<group>`). A worker joins (and re-joins) through `jobs.slots`; its index is its place
 * in the sorted set of live members and the count is the set's size, so nothing is configured and
 * the indices rebalance as soon as a worker joins or its membership expires. The worker computes
 * its next poll from the reply (src/sdk/slots.ts).
 */
import type { Membership } from '../../core/engine.ts';

/** A worker that stops re-joining leaves its group after this, ms. */
export const SLOT_MEMBER_TTL_MS = 3000;

export interface SlotAssignment {
  index: number;
  count: number;
  separationMs: number;
  /** The group's offset within a separation, ms (from the group's name: groups interleave). */
  groupOffsetMs: number;
  /** How long the membership lasts without a re-join, ms. */
  ttlMs: number;
  now: number;
}

export class Slots {
  constructor(private readonly membership: Membership | null, private readonly separationMs: number) {}

  async join(group: string, worker: string, nowMs: number): Promise<SlotAssignment> {
    const base = { separationMs: this.separationMs, groupOffsetMs: groupOffset(group, this.separationMs), ttlMs: SLOT_MEMBER_TTL_MS };
    if (!this.membership) return { ...base, index: 0, count: 1, now: nowMs };
    const set = `jobs-slots:${group}`;
    await this.membership.join(set, worker, SLOT_MEMBER_TTL_MS);
    const members = await this.membership.members(set);
    const index = Math.max(0, members.indexOf(worker));
    return { ...base, index, count: Math.max(1, members.length), now: Date.now() };
  }
}

/** FNV-1a of the group's name, mod the separation. */
export function groupOffset(group: string, separationMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < group.length; i++) {
    h ^= group.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % separationMs;
}
