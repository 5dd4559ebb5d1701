/**
 * Lease prefixes (src/engines/lease-prefix.ts), drawn from a pool of random bytes: each is 12 bytes
 * in base64url, and none repeats, across several refills of the pool.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leasePrefix } from '../../src/engines/lease-prefix.ts';

describe('leasePrefix', () => {
  it('gives 12 random bytes as 16 base64url characters, never the same twice across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const p = leasePrefix();
      assert.match(p, /^[A-Za-z0-9_-]{16}$/);
      assert.equal(Buffer.from(p, 'base64url').length, 12);
      assert.ok(!seen.has(p), `prefix ${i} repeats an earlier one`);
      seen.add(p);
    }
    // Not a counter: the bytes vary everywhere, not only at the end.
    const firsts = new Set([...seen].map((p) => p.slice(0, 4)));
    assert.ok(firsts.size > 1900);
  });
});
