/**
 * The random prefix of a claim's leases (job i's lease is `<prefix>.<i>`, both engines): 12 random
 * bytes, base64url (16 characters). Drawn from a pool of 512 prefixes' worth of bytes filled at once
 * by the CSPRNG, as Node's randomUUID does: each prefix is still 12 fresh random bytes used once,
 * but one randomBytes(12) cost 9-12 µs here (OpenSSL's per-call overhead) against ~0.3 µs from the
 * pool, and every push claim draws one (docs/benchmarks-jobs.md, follow-up 8).
 */
import { randomFillSync } from 'node:crypto';

const PREFIX_BYTES = 12;
const POOLED = 512;
const pool = Buffer.alloc(PREFIX_BYTES * POOLED);
let next = POOLED;

/** A new random lease prefix, never handed out before (16 base64url characters). */
export function leasePrefix(): string {
  if (next === POOLED) {
    randomFillSync(pool);
    next = 0;
  }
  const start = next++ * PREFIX_BYTES;
  return pool.toString('base64url', start, start + PREFIX_BYTES);
}
