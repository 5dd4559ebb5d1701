/**
 * A repeating callback on the wall-clock grid: it runs at multiples of its interval since the Unix
 * epoch, so every node that runs the same interval runs it on the same instants (as the hub's tick
 * does). A run that is still going when the next grid point comes is not overlapped: the next run
 * is the first grid point after it ends.
 *
 * On demand (`onDemand`), the timer sleeps until `wake()` is called (work arrived) and then runs
 * at the next grid point, so the work waits at most one interval; a wake during a run makes one
 * more run after it; with no wake it sleeps again. An idle app so costs no timer at all, where an
 * always-on timer costs a wake-up per interval (40 a second at 25 ms) even when there is nothing
 * to do.
 */
export interface GridTimer {
  /** Asks for a run at the next grid point (on demand; a no-op for an always-on timer). Cheap: call it on every piece of work. */
  wake(): void;
  stop(): Promise<void>;
}

/** Wall-clock milliseconds with sub-millisecond resolution. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export function everyOnGrid(intervalMs: number, fn: (dueMs: number) => void | Promise<void>, onError: (err: unknown) => void, onDemand = false): GridTimer {
  if (!(intervalMs >= 1)) throw new Error(`grid interval must be at least 1 ms, got ${intervalMs}`);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  /** A run is in progress (sync or async). */
  let inRun = false;
  /** On demand: woken during a run, so one more run follows it. */
  let again = false;
  let stopped = false;
  const schedule = (earliest: number) => {
    if (stopped) return;
    const now = wallNow();
    const due = Math.ceil(Math.max(earliest, now) / intervalMs) * intervalMs;
    timer = setTimeout(() => {
      timer = null;
      inRun = true;
      again = false;
      let result: void | Promise<void> = undefined;
      try {
        result = fn(due);
      } catch (err) {
        onError(err);
      }
      if (result instanceof Promise) {
        running = result.catch(onError).finally(() => {
          running = null;
          afterRun(due);
        });
      } else {
        afterRun(due);
      }
    }, Math.max(0, due - now));
  };
  const afterRun = (due: number) => {
    inRun = false;
    if (!onDemand || again) schedule(due + intervalMs);
  };
  if (!onDemand) schedule(wallNow() + 0.001);
  return {
    wake() {
      if (timer !== null || !onDemand || stopped) return;
      if (inRun) {
        again = true;
        return;
      }
      schedule(wallNow() + 0.001);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (running) await running;
    },
  };
}
