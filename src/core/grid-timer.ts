/**
 * A repeating callback on the wall-clock grid: it runs at multiples of its interval since the Unix
 * epoch, so every node that runs the same interval runs it on the same instants (as the hub's tick
 * does). A run that is still going when the next grid point comes is not overlapped: the next run
 * is the first grid point after it ends.
 */
export interface GridTimer {
  stop(): Promise<void>;
}

/** Wall-clock milliseconds with sub-millisecond resolution. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export function everyOnGrid(intervalMs: number, fn: (dueMs: number) => void | Promise<void>, onError: (err: unknown) => void): GridTimer {
  if (!(intervalMs >= 1)) throw new Error(`grid interval must be at least 1 ms, got ${intervalMs}`);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = false;
  const schedule = (earliest: number) => {
    if (stopped) return;
    const now = wallNow();
    const due = Math.ceil(Math.max(earliest, now) / intervalMs) * intervalMs;
    timer = setTimeout(() => {
      timer = null;
      let result: void | Promise<void> = undefined;
      try {
        result = fn(due);
      } catch (err) {
        onError(err);
      }
      if (result instanceof Promise) {
        running = result.catch(onError).finally(() => {
          running = null;
          schedule(due + intervalMs);
        });
      } else {
        schedule(due + intervalMs);
      }
    }, Math.max(0, due - now));
  };
  schedule(wallNow() + 0.001);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (running) await running;
    },
  };
}
