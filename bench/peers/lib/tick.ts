/**
 * The tick of the batching peers (socket.io, net), kept the same as Brigade's hub so the
 * comparison is tick for tick: edits accumulate between ticks; a tick acknowledges them, then
 * fans the batch out once. Scheduling is Brigade's (src/core/hub.ts `schedule`): the next tick
 * starts tickMs after this one started, or at once when the tick's work took longer than that,
 * so ticks never queue behind each other.
 */

/** Edits waiting for the next tick, with the acknowledgements owed for them. */
export class PendingEdits<A> {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private acks: { first: number; count: number; to: A }[] = [];
  /** Position of the first edit not yet fanned out: where a viewer that joins now starts. */
  nextToSend = 0;

  constructor(private readonly eventSize: number) {}

  get empty(): boolean {
    return this.chunks.length === 0;
  }

  /** Queues an accepted message's edits (positions first .. first + n - 1); `to` is whom to acknowledge. */
  add(first: number, edits: Uint8Array, to: A): void {
    this.chunks.push(edits);
    this.bytes += edits.length;
    this.acks.push({ first, count: edits.length / this.eventSize, to });
  }

  /**
   * Takes everything pending as one Buffer with `headerBytes` left free at the front for the
   * caller's framing, so the edits are copied once. Returns null when nothing is pending.
   */
  take(headerBytes: number): { first: number; count: number; frame: Buffer; acks: { first: number; count: number; to: A }[] } | null {
    if (this.chunks.length === 0) return null;
    const frame = Buffer.allocUnsafe(headerBytes + this.bytes);
    let off = headerBytes;
    for (const c of this.chunks) {
      frame.set(c, off);
      off += c.length;
    }
    const first = this.nextToSend;
    const count = this.bytes / this.eventSize;
    const acks = this.acks;
    this.chunks = [];
    this.acks = [];
    this.bytes = 0;
    this.nextToSend += count;
    return { first, count, frame, acks };
  }
}

/** Runs `tick` every tickMs with Brigade's scheduling; returns a stop function. */
export function startTicker(tickMs: number, tick: () => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      const started = performance.now();
      try {
        tick();
      } finally {
        schedule(Math.max(0, tickMs - (performance.now() - started)));
      }
    }, delay);
  };
  schedule(tickMs);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
