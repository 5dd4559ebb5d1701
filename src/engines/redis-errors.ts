/**
 * The Redis engine's failures as typed errors: which failed calls may have run (in doubt) and which
 * did not (refused), and a bound on a promise. Shared by the parts of the Redis engine (redis-engine.ts).
 */
import { BrigadeError } from '../protocol/index.ts';

/**
 * Whether a failed script call may have run: a reply error means Redis refused it before it wrote
 * anything, and so does a cluster's "too many redirections" (every try was answered MOVED, ASK,
 * TRYAGAIN or CLUSTERDOWN); anything else (a timeout, a connection lost with it in flight) leaves
 * it unknown.
 */
export function inDoubt(err: unknown): boolean {
  if (!(err instanceof Error)) return true;
  return err.name !== 'ReplyError' && !err.message.startsWith('Too many Cluster redirections');
}

/** `promise`, or a rejection with `timedOut()` when it has not settled within `ms`. */
export async function withinMs<T>(promise: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(timedOut()), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An append whose outcome is unknown: the call was sent and no answer came (a timeout, the
 * connection lost mid-call). The script runs whole or not at all, so every request of it committed
 * or none did; trying again with the same stamps tells which (engine.ts append).
 */
export function outcomeUnknown(cause: unknown): BrigadeError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BrigadeError('OUTCOME_UNKNOWN', `append in doubt (no answer with the call in flight: ${detail}); it committed whole or not at all`);
}

export function unavailable(what: string, cause: unknown): BrigadeError {
  if (cause instanceof BrigadeError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BrigadeError('UNAVAILABLE', `${what}: ${detail}`);
}
