/** Any thrown value as a BrigadeError (INTERNAL unless it is one already). Depends on protocol only. */
import { BrigadeError } from '../protocol/index.ts';

export function asBrigadeError(err: unknown): BrigadeError {
  if (err instanceof BrigadeError) return err;
  return new BrigadeError('INTERNAL', err instanceof Error ? err.message : String(err));
}
