/**
 * Lets a step that settles many promises at once in a setImmediate callback (the embedded engine's
 * group commit) have the writes its promises' reactions hold go out in that same turn.
 *
 * The gateway holds a turn's socket writes and flushes them in a setImmediate (one write per socket
 * per loop iteration). A write held *during* the check phase (the group commit runs there) would
 * wait for the next iteration's check phase, after that iteration's timers and socket reads: an
 * extra turn between a job's commit and its offer leaving for the worker. `flushHeldWritesSoon()`
 * flushes instead right after every promise reaction that is already queued, or that those queue,
 * has run (a microtask that schedules a nextTick: Node runs ticks once the microtask queue is
 * empty), so all the replies a commit settles still leave together, one write per socket.
 */

let flusher: (() => void) | null = null;
let pending = false;

/** The gateway registers its flush of held writes (one per process). */
export function setHeldWritesFlusher(fn: (() => void) | null): void {
  flusher = fn;
}

function flushNow(): void {
  pending = false;
  flusher?.();
}

/** Flushes held writes once the promise reactions queued now, and theirs, have run. */
export function flushHeldWritesSoon(): void {
  if (pending || flusher === null) return;
  pending = true;
  queueMicrotask(() => process.nextTick(flushNow));
}
