/**
 * settleOrLeaveStragglers (redis-cluster-append.ts): how long a cluster append waits for its shards. Outcomes
 * only: which calls are waited for and which are left running, never how long anything took.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { settleOrLeaveStragglers } from '../../src/engines/redis-cluster-append.ts';

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
const never = new Promise<never>(() => undefined);

describe('settleOrLeaveStragglers', () => {
  it('leaves a shard that does not answer once another shard has answered', async () => {
    const out = await settleOrLeaveStragglers([Promise.resolve(1), Promise.resolve(2), never], ['a', 'a', 'b'], 5);
    assert.deepEqual(out, [{ status: 'fulfilled', value: 1 }, { status: 'fulfilled', value: 2 }, 'straggling']);
  });

  it('waits for every call when they all go to one shard, however slow', async () => {
    const out = await settleOrLeaveStragglers([Promise.resolve(1), after(60, 2)], ['a', 'a'], 1);
    assert.deepEqual(out.map((o) => (o === 'straggling' ? o : o.status)), ['fulfilled', 'fulfilled']);
  });

  it('a call not sent (no shard) does not start the bound for the others', async () => {
    const out = await settleOrLeaveStragglers([Promise.reject(new Error('held back')), after(60, 2)], [null, 'b'], 1);
    assert.equal(out[0] !== 'straggling' && out[0].status, 'rejected');
    assert.deepEqual(out[1], { status: 'fulfilled', value: 2 });
  });

  it('gives the others twice as long again as the first shard took, past the bound', async () => {
    const out = await settleOrLeaveStragglers([after(60, 1), after(120, 2)], ['a', 'b'], 1);
    assert.deepEqual(out, [{ status: 'fulfilled', value: 1 }, { status: 'fulfilled', value: 2 }]);
  });

  it('settles rejections as outcomes', async () => {
    const out = await settleOrLeaveStragglers([Promise.reject(new Error('refused')), Promise.resolve(2)], ['a', 'b'], 50);
    assert.equal(out[0] !== 'straggling' && out[0].status, 'rejected');
  });
});
