/** WebSocket masking in place (src/gateway/ws-mask.ts: the gateway's unmasking, the load generators' masking) against the plain definition. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskInPlace } from '../../src/gateway/ws-mask.ts';
import { prng } from '../helpers/prng.ts';

describe('maskInPlace', () => {
  it('XORs exactly [start, end) with the mask from its first byte, at every alignment and length', () => {
    const rand = prng(11);
    for (let t = 0; t < 5000; t++) {
      const slab = Buffer.allocUnsafe(400);
      for (let i = 0; i < slab.length; i++) slab[i] = (rand() * 256) | 0;
      const frame = slab.subarray((rand() * 7) | 0, 300 + ((rand() * 90) | 0));
      const start = (rand() * 20) | 0;
      const end = Math.min(frame.length, start + ((rand() * 270) | 0));
      const m = t % 50 === 0 ? new Uint8Array(4) : Uint8Array.from({ length: 4 }, () => (rand() * 256) | 0);
      const before = Buffer.from(frame);
      maskInPlace(frame, start, end, m[0], m[1], m[2], m[3]);
      const want = Buffer.from(before);
      for (let i = start; i < end; i++) want[i] = before[i] ^ m[(i - start) & 3];
      assert.ok(frame.equals(want), `case ${t}: start ${start} end ${end} offset ${frame.byteOffset}`);
    }
  });
});
