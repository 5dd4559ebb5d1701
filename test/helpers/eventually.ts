/**
 * The one way a test waits for something to happen: poll `fn` until it returns a value (anything
 * but `false`, `null` or `undefined`) without throwing, and resolve with that value. Throwing
 * counts as "not yet", so an assertion can be the condition (`() => { assert.equal(...); return
 * true; }`); the last error is in the timeout's message.
 *
 * `timeoutMs` is a liveness bound, never a timing assertion: make it generous. A wait for
 * "nothing else arrives" needs a positive signal (send a marker after and wait for the marker),
 * not a sleep.
 */
export interface EventuallyOptions {
  /** What is awaited, for the timeout's message (a function: evaluated then, e.g. to show state). */
  what?: string | (() => string);
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Pause between tries (default 20 ms). */
  intervalMs?: number;
}

export async function eventually<T>(
  fn: () => T | Promise<T>,
  { what = 'a condition', timeoutMs = 15_000, intervalMs = 20 }: EventuallyOptions = {},
): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let tries = 0;
  for (;;) {
    tries++;
    try {
      const value = await fn();
      if (value !== false && value !== null && value !== undefined) return value as Exclude<T, false | null | undefined>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const description = typeof what === 'function' ? what() : what;
      const detail = last instanceof Error ? `; last error: ${last.message}` : `; last value: ${String(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms (${tries} tries) waiting for ${description}${detail}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
