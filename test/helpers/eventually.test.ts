/**
 * The shared wait: it resolves with the first value that is not false/null/undefined, treats a
 * throw as "not yet", and says what it waited for (and the last error or value) when it gives up.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from './eventually.ts';

describe('eventually', () => {
  it('resolves with the first accepted value, 0 and "" included, after the not-yets', async () => {
    const answers: unknown[] = [false, null, undefined, 0];
    let calls = 0;
    assert.equal(await eventually(() => answers[calls++], { intervalMs: 1 }), 0);
    assert.equal(calls, 4);
    assert.equal(await eventually(async () => '', { intervalMs: 1 }), '');
  });

  it('retries a condition that throws, such as an assertion', async () => {
    let n = 0;
    const got = await eventually(() => {
      n++;
      assert.ok(n >= 3, `only ${n}`);
      return n;
    }, { intervalMs: 1 });
    assert.equal(got, 3);
  });

  it('gives up after timeoutMs, naming what it waited for and the last error', async () => {
    let n = 0;
    await assert.rejects(
      eventually(() => { n++; throw new Error(`attempt ${n} failed`); }, { what: () => `the thing (tried ${n})`, timeoutMs: 30, intervalMs: 5 }),
      (err: Error) => {
        assert.match(err.message, /timed out after 30 ms \(\d+ tries\) waiting for the thing \(tried \d+\); last error: attempt \d+ failed/);
        assert.ok(n >= 2, `tried more than once (${n})`);
        assert.ok(err.cause instanceof Error);
        return true;
      },
    );
    await assert.rejects(eventually(() => false, { timeoutMs: 10, intervalMs: 2 }), /waiting for a condition; last value: false/);
  });
});
