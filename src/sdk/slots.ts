/**
 * Slot polling (seed 002): when a worker polls its queue next. The operator declares the
 * separation between polls of one worker group arriving at the server; with the group's offset,
 * the worker's index and the group's count (from the server: `jobs.slots`), each worker owns the
 * instants `offset + index × separation + k × count × separation` of the server's clock, so the
 * group's polls arrive one per separation whatever the count, with no drift and no pile-ups, however
 * long each job took (the next slot is computed from the time now, after the work).
 *
 * Pure: every input is given, times in ms.
 */
export interface SlotInput {
  /** The group's offset within a separation. */
  groupOffsetMs: number;
  /** This worker's index in the group, 0 ≤ index < count. */
  index: number;
  count: number;
  separationMs: number;
  /** The worker's clock now. */
  nowMs: number;
  /** server clock − worker clock, as measured. */
  clockOffsetMs: number;
  /** How long a poll takes to reach the server (half a round trip): it is sent this much early. */
  latencyMs?: number;
  /**
   * How long the worker's last job took, when it just finished one: a worker that spent at least a
   * whole period working polls at its next slot; one that did not keeps to its slots as well (the
   * argument is there so a caller can pass it; the slot grid already absorbs any duration).
   */
  lastJobMs?: number;
}

/** The group's period: each worker polls once per period. */
export function slotPeriodMs(count: number, separationMs: number): number {
  return Math.max(1, count) * separationMs;
}

/**
 * The worker-clock time at which to send the next poll: the first of its slots (server clock) that
 * a poll sent no earlier than now reaches, minus the latency, converted to the worker's clock.
 */
export function nextPollAt(input: SlotInput): number {
  const count = Math.max(1, input.count);
  const index = Math.min(Math.max(0, input.index), count - 1);
  const period = slotPeriodMs(count, input.separationMs);
  const latency = Math.max(0, input.latencyMs ?? 0);
  const phase = (input.groupOffsetMs + index * input.separationMs) % period;
  // The earliest arrival a poll sent now can have, on the server's clock.
  const arrival = input.nowMs + input.clockOffsetMs + latency;
  const k = Math.ceil((arrival - phase) / period);
  const slot = phase + k * period;
  return slot - latency - input.clockOffsetMs;
}

/** ms to sleep from now until the next poll (≥ 0). */
export function sleepUntilSlotMs(input: SlotInput): number {
  return Math.max(0, nextPollAt(input) - input.nowMs);
}
