/**
 * Reconnect delays: exponential growth from minDelayMs, capped at maxDelayMs, with jitter so that
 * the many clients a restarting node drops at once do not all come back in the same instant.
 */

export interface BackoffOptions {
  /** Shortest delay before a reconnect attempt, ms. */
  minDelayMs: number;
  /** Longest delay before a reconnect attempt, ms. */
  maxDelayMs: number;
}

/**
 * Delay before reconnect attempt `attempt` (0 for the first after a drop), ms: uniform in
 * [ceiling / 2, ceiling] where ceiling = min(maxDelayMs, minDelayMs * 2^(attempt + 1)), and never
 * outside [minDelayMs, maxDelayMs]. Attempt 0 waits between minDelayMs and 2 * minDelayMs.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const min = Math.max(0, options.minDelayMs);
  const max = Math.max(min, options.maxDelayMs);
  const ceiling = Math.min(max, min * 2 ** (Math.min(Math.max(attempt, 0), 30) + 1));
  const floor = Math.max(min, ceiling / 2);
  return Math.round(floor + random() * (ceiling - floor));
}
