/**
 * Codec shards that die or hang (real worker threads, the test-only fault ops of a pool started
 * with `testFaults`): the shard's jobs in flight fail with the typed CHOIR_SHARD_UNAVAILABLE, the
 * singers on the other shard keep getting their frames coded meanwhile, the shard is started again
 * and its singers (still pinned to it, codec state afresh) are served again; nothing throws out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ShardPool } from '../../../src/apps/choir/shards.ts';
import { tone } from '../../../src/apps/choir/dsp.ts';
import { eventually } from '../../helpers/eventually.ts';

const TIMEOUT_MS = 600;
let pool: ShardPool;
before(() => { pool = new ShardPool({ count: 2, bitrate: 64_000, complexity: 5, timeoutMs: TIMEOUT_MS, testFaults: true }); });
after(async () => { await pool.close(); });

const codeOf = async (p: Promise<unknown>) => { try { await p; return null; } catch (e) { return (e as { code?: string }).code ?? String(e); } };

/** A frame's codec work for a singer: a real packet to decode and a mix to encode. */
async function frameOk(singer: number, k: number): Promise<boolean> {
  const packet = await pool.encode(singer, tone(440, 960, 0.4, k * 960));
  const done = await pool.frame(singer, packet, tone(660, 960, 0.3, k * 960));
  return done.pcm?.length === 960 && (done.opus?.length ?? 0) > 0;
}

/** Two singers, one per shard: [on shard 0, on shard 1]. */
function pinPair(a: number, b: number): void {
  const shards = [pool.pin(a), pool.pin(b)];
  assert.deepEqual(shards.sort(), [0, 1], 'one singer on each shard');
}

for (const fault of ['exit', 'throw'] as const) {
  describe(`a shard whose thread dies (${fault === 'exit' ? 'process.exit in the worker' : 'an error thrown out of its loop'})`, () => {
    it('fails that shard\'s jobs with a typed error, keeps the other shard serving, and restarts', async () => {
      const base = fault === 'exit' ? 100 : 200;
      const a = base, b = base + 1;
      pinPair(a, b);
      const dying = pool.shardOf(a);
      assert.ok(await frameOk(a, 0) && await frameOk(b, 0), 'both singers are served before the fault');
      const restartsBefore = pool.figures()[dying].restarts;
      // The fault and a frame of singer a in the same batch; singer b's frame on the other shard.
      const [faulted, aFrame, bFrame] = await Promise.all([
        codeOf(pool.call(dying, fault, a, new Uint8Array(0))),
        codeOf(frameOk(a, 1)),
        codeOf(frameOk(b, 1)),
      ]);
      assert.equal(faulted, 'CHOIR_SHARD_UNAVAILABLE');
      assert.equal(aFrame, 'CHOIR_SHARD_UNAVAILABLE', 'the dying shard\'s singer gets a typed error, not a hang');
      assert.equal(bFrame, null, 'the other shard\'s singer is served');
      assert.equal(pool.figures()[dying].restarts, restartsBefore + 1, 'the shard was restarted once');
      assert.equal(pool.shardOf(a), dying, 'singer a stays pinned to its shard');
      await eventually(async () => (await frameOk(a, 2)) || null, { what: 'singer a served by the new thread' });
      assert.ok(await frameOk(b, 2));
      pool.unpin(a);
      pool.unpin(b);
    });
  });
}

describe('a shard that takes a request and never answers', () => {
  it('is given up after the timeout with a typed error; the other shard serves throughout; then it serves again', async () => {
    const a = 300, b = 301;
    pinPair(a, b);
    const hung = pool.shardOf(a);
    assert.ok(await frameOk(a, 0));
    const restartsBefore = pool.figures()[hung].restarts;
    const began = performance.now();
    const hang = codeOf(pool.call(hung, 'hang', a, new Uint8Array(0)));
    const queued = codeOf(frameOk(a, 1)); // queued behind the hung RPC, or in it
    // While shard `hung` is stuck, singer b's frames keep being served.
    let served = 0;
    let hangSettled = false;
    void hang.then(() => { hangSettled = true; });
    while (!hangSettled) {
      if (await frameOk(b, served + 1)) served++;
    }
    assert.equal(await hang, 'CHOIR_SHARD_UNAVAILABLE');
    assert.ok(performance.now() - began >= TIMEOUT_MS, 'given up only after the timeout');
    assert.ok(served >= 3, `singer b was served during the hang (${served} frames)`);
    // The frame queued behind the hang went to the new thread or failed typed; never lost silently.
    const q = await queued;
    assert.ok(q === null || q === 'CHOIR_SHARD_UNAVAILABLE', `the queued frame: ${q}`);
    assert.equal(pool.figures()[hung].restarts, restartsBefore + 1);
    await eventually(async () => (await frameOk(a, 2)) || null, { what: 'singer a served by the new thread' });
    pool.unpin(a);
    pool.unpin(b);
  });
});

describe('a shard whose reply lies about an output\'s length', () => {
  it('refuses that RPC typed (CHOIR_RPC_MALFORMED), reads nothing past its data, and the shard goes on', async () => {
    const a = 400;
    pool.pin(a);
    const shard = pool.shardOf(a);
    const restartsBefore = pool.figures()[shard].restarts;
    assert.equal(await codeOf(pool.call(shard, 'lie', a, new Uint8Array(0))), 'CHOIR_RPC_MALFORMED', 'a length past the data');
    assert.equal(await codeOf(pool.call(shard, 'lie', a, new Uint8Array(1))), 'CHOIR_RPC_MALFORMED', 'a negative length');
    assert.ok(await frameOk(a, 0), 'the next frame is coded');
    assert.equal(pool.figures()[shard].restarts, restartsBefore, 'no restart: the shard itself is fine');
    pool.unpin(a);
  });
});

describe('fault ops without testFaults', () => {
  it('are unknown ops: refused typed, and the shard goes on', async () => {
    const plain = new ShardPool({ count: 1, bitrate: 64_000, complexity: 5, timeoutMs: 5000 });
    try {
      for (const op of ['exit', 'throw', 'hang', 'lie'] as const) assert.equal(await codeOf(plain.call(0, op, 1, new Uint8Array(0))), 'CHOIR_RPC_MALFORMED');
      assert.deepEqual([...(await plain.call(0, 'ping', 1, new Uint8Array([7])))], [7]);
      assert.equal(plain.figures()[0].restarts, 0);
    } finally {
      await plain.close();
    }
  });
});
