/**
 * The codec shards over worker threads, through the SharedArrayBuffer RPC: a tone survives
 * encode → decode, oversize and malformed requests are refused with typed errors without stopping
 * the shard, a garbage Opus packet fails only its own item, and singers are spread over shards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ShardPool } from '../../../src/apps/choir/shards.ts';
import { tone, goertzel } from '../../../src/apps/choir/dsp.ts';
import { MAX_DATA_BYTES, MAX_JSON_BYTES } from '../../../src/apps/choir/rpc.ts';

let pool: ShardPool;
before(() => { pool = new ShardPool({ count: 2, bitrate: 64_000, complexity: 5, timeoutMs: 5000 }); });
after(async () => { await pool.close(); });

const codeOf = async (p: Promise<unknown>) => { try { await p; return null; } catch (e) { return (e as { code?: string }).code ?? String(e); } };
const enc = new TextEncoder();

describe('choir codec shards', () => {
  it('round-trips a 440 Hz tone through encode → decode across the shard RPC', async () => {
    const s = 1;
    pool.pin(s);
    let heard = 0;
    for (let f = 0; f < 10; f++) {
      const packet = await pool.encode(s, tone(440, 960, 0.5, f * 960));
      assert.ok(packet.length > 0 && packet.length < 400, `a 20 ms packet (${packet.length} bytes)`);
      const pcm = await pool.decode(s, packet);
      assert.equal(pcm.length, 960);
      if (f >= 2) heard = Math.min(heard || 1, goertzel(pcm, 440));
    }
    assert.ok(heard > 0.4, `the tone comes back at ~0.5 after the codec's warm-up (got ${heard})`);
  });

  it('refuses oversize JSON and data, on the owner side and in the shard', async () => {
    assert.equal(await codeOf(pool.call(0, 'ping', 1, new Uint8Array(MAX_DATA_BYTES + 1))), 'CHOIR_RPC_TOO_LARGE');
    // lengths that lie: the shard reads the header and refuses, and keeps serving
    const big = await pool.rawRpc(0, enc.encode('{"items":[]}'), new Uint8Array(0), { json: MAX_JSON_BYTES + 1 });
    assert.equal((big.json as { err: string }).err, 'CHOIR_RPC_TOO_LARGE');
    const bigData = await pool.rawRpc(0, enc.encode('{"items":[]}'), new Uint8Array(0), { data: MAX_DATA_BYTES + 1 });
    assert.equal((bigData.json as { err: string }).err, 'CHOIR_RPC_TOO_LARGE');
    const { encodeJson } = await import('../../../src/apps/choir/rpc.ts');
    assert.throws(() => encodeJson({ x: 'y'.repeat(MAX_JSON_BYTES) }), { code: 'CHOIR_RPC_TOO_LARGE' });
    const echoed = await pool.call(0, 'ping', 1, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...echoed], [1, 2, 3], 'the shard still answers');
  });

  it('refuses malformed requests with a typed error', async () => {
    const bad = await pool.rawRpc(1, enc.encode('{not json'), new Uint8Array(0));
    assert.equal((bad.json as { err: string }).err, 'CHOIR_RPC_MALFORMED');
    const noItems = await pool.rawRpc(1, enc.encode('{"x":1}'), new Uint8Array(0));
    assert.equal((noItems.json as { err: string }).err, 'CHOIR_RPC_MALFORMED');
    const mismatch = await pool.rawRpc(1, enc.encode('{"items":[{"op":"ping","s":1,"len":5}]}'), new Uint8Array(2));
    assert.equal((mismatch.json as { err: string }).err, 'CHOIR_RPC_MALFORMED');
    const unknownOp = await pool.rawRpc(1, enc.encode('{"items":[{"op":"zap","s":1,"len":0}]}'), new Uint8Array(0));
    assert.equal((unknownOp.json as { items: { err: string }[] }).items[0].err, 'CHOIR_RPC_MALFORMED');
    assert.deepEqual([...(await pool.call(1, 'ping', 1, new Uint8Array([9])))], [9]);
  });

  it('a garbage Opus packet fails its own frame only; the shard and the other frames go on', async () => {
    const a = 10, b = 11;
    pool.pin(a);
    pool.pin(b);
    const good = await pool.encode(b, tone(440, 960, 0.5));
    const results = await Promise.allSettled([
      pool.decode(a, new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02, 0x03, 0xff])),
      pool.decode(b, good),
      pool.decode(a, new Uint8Array(2000)),
    ]);
    assert.equal(results[0].status, 'rejected');
    assert.equal((results[0] as PromiseRejectedResult).reason.code, 'CHOIR_BAD_OPUS');
    assert.equal(results[1].status, 'fulfilled');
    assert.equal((results[1] as PromiseFulfilledResult<Int16Array>).value.length, 960);
    assert.equal(results[2].status, 'rejected');
    assert.equal((results[2] as PromiseRejectedResult).reason.code, 'CHOIR_BAD_OPUS');
    const again = await pool.decode(a, await pool.encode(a, tone(440, 960)));
    assert.equal(again.length, 960, 'the singer whose packet was garbage goes on');
  });

  it('pins singers to both shards and batches each shard\'s calls into one RPC', async () => {
    const ids = [20, 21, 22, 23];
    const shards = ids.map((id) => pool.pin(id));
    assert.deepEqual(new Set(shards), new Set([0, 1]), 'singers on both shards');
    const before0 = pool.rpcCount(0), before1 = pool.rpcCount(1);
    const packets = await Promise.all(ids.map((id, i) => pool.encode(id, tone(440 + 10 * i, 960))));
    assert.equal(packets.length, 4);
    assert.equal(pool.rpcCount(0) - before0, 1, 'one RPC for shard 0\'s two singers');
    assert.equal(pool.rpcCount(1) - before1, 1, 'one RPC for shard 1\'s two singers');
    for (const id of ids) pool.unpin(id);
  });

  it('--choir-batch-ms: frames sent over several turns of the loop gather into fewer RPCs, each answered', async () => {
    const batched = new ShardPool({ count: 1, bitrate: 64_000, complexity: 5, timeoutMs: 5000, batchMs: 10 });
    try {
      const ids = Array.from({ length: 20 }, (_, i) => 100 + i);
      for (const id of ids) batched.pin(id);
      await batched.call(0, 'ping', 1, new Uint8Array(0)); // the thread started
      const rpcs0 = batched.rpcCount(0);
      const frames: Promise<{ pcm: Int16Array | null; opus: Uint8Array | null }>[] = [];
      const packet = await pool.encode(1, tone(440, 960, 0.5));
      for (const id of ids) {
        frames.push(batched.frame(id, packet, tone(330, 960, 0.5)));
        await new Promise((r) => setImmediate(r)); // each frame in its own turn, as sockets deliver them
      }
      const done = await Promise.all(frames);
      for (const d of done) {
        assert.equal(d.pcm?.length, 960, 'the voice decoded');
        assert.ok(d.opus && d.opus.length > 0, 'the mix encoded');
      }
      const rpcs = batched.rpcCount(0) - rpcs0;
      // Without the window these 20 turns made ~9 RPCs here (each turn's frame leaves while a lane is free).
      assert.ok(rpcs >= 1 && rpcs <= 4, `20 frames in ${rpcs} RPCs`);
    } finally {
      await batched.close();
    }
  });

  it('frames(): a message\'s frames go as one job in one RPC, in order: each voice decoded and each mix encoded where asked', async () => {
    const s = 30;
    const shard = pool.pin(s);
    await pool.call(shard, 'ping', s, new Uint8Array(0)); // its thread started
    const voice = await Promise.all([440, 660, 880, 550, 770].map((hz, i) => pool.encode(31, tone(hz, 960, 0.5, i * 960)).catch(() => null)));
    assert.equal(voice.some((v) => v === null), true, 'singer 31 is not pinned: encode refuses');
    pool.pin(31);
    const packets = [];
    for (let i = 0; i < 5; i++) packets.push(await pool.encode(31, tone(440, 960, 0.5, i * 960)));
    const rpcs = pool.rpcCount(shard);
    const framesBefore = pool.figures()[shard].jobs;
    // frame 2 sings nothing; frame 3 asks no mix
    const sent = [packets[0], packets[1], null, packets[3], packets[4]];
    const mixes = [tone(330, 960, 0.5), tone(330, 960, 0.5, 960), tone(330, 960, 0.5, 1920), null, tone(330, 960, 0.5, 2880)];
    const done = await pool.frames(s, sent, mixes, [true, false, false, true, false]);
    assert.equal(pool.rpcCount(shard) - rpcs, 1, 'one RPC for the message');
    assert.equal(pool.figures()[shard].jobs - framesBefore, 5, 'the figures count its five frames (brigade_choir_shard_jobs_total)');
    assert.deepEqual(done.pcm.map((p) => p?.length ?? null), [960, 960, null, 960, 960]);
    assert.deepEqual(done.opus.map((o) => o !== null), [true, true, true, false, true]);
    // The voices are the singer's 440 Hz, not the mixes' 330 (a decoder restarted at frame 3 is still warming up: no level asserted).
    for (const i of [1, 4]) {
      const v = goertzel(done.pcm[i]!, 440), m = goertzel(done.pcm[i]!, 330);
      assert.ok(v > 0.1 && v > 5 * m, `frame ${i}'s voice: 440 Hz ${v.toFixed(3)}, 330 Hz ${m.toFixed(3)}`);
    }
    assert.ok(done.epoch >= 1);
    const nothing = await pool.frames(s, [null, null], [null, null], [false, false]);
    assert.deepEqual([nothing.pcm, nothing.opus, nothing.epoch], [[null, null], [null, null], 0], 'a message with no codec work settles at once');
    pool.unpin(31);
  });

  it('frames() with opusHeadroom: the message\'s mixes share one buffer, each with that many free bytes in front, and a reply written around one leaves the others whole', async () => {
    const { encodeReplyInPlace, decodeReply, REPLY_HEADER_BYTES } = await import('../../../src/apps/choir/wire.ts');
    const roomy = new ShardPool({ count: 1, bitrate: 64_000, complexity: 5, timeoutMs: 5000, opusHeadroom: REPLY_HEADER_BYTES });
    try {
      roomy.pin(1);
      const mixes = [330, 440, 550, 660].map((hz, i) => tone(hz, 960, 0.5, i * 960));
      const done = await roomy.frames(1, [null, null, null, null], mixes, [false, false, false, false]);
      assert.equal(done.opusHeadroom, REPLY_HEADER_BYTES);
      const opus = done.opus.map((o) => o!);
      const copies = opus.map((o) => o.slice());
      assert.equal(new Set(opus.map((o) => o.buffer)).size, 1, 'one buffer for the message\'s mixes');
      for (let i = 0; i < opus.length; i++) {
        assert.ok(opus[i].byteOffset >= (i === 0 ? 0 : opus[i - 1].byteOffset + opus[i - 1].length) + REPLY_HEADER_BYTES, `mix ${i} has ${REPLY_HEADER_BYTES} free bytes in front`);
      }
      const replies = opus.map((o, i) => encodeReplyInPlace({ clock: 1, readPos: i * 960, song: null, voice: 'none', codecEpoch: done.epoch, opus: o }));
      for (let i = 0; i < opus.length; i++) {
        const back = decodeReply(replies[i]);
        assert.equal(back.readPos, i * 960);
        assert.deepEqual([...back.opus], [...copies[i]], `mix ${i} is whole after every reply was written`);
      }
    } finally {
      await roomy.close();
    }
  });

  it('the shard\'s reply gives each item\'s output length as a number', async () => {
    const raw = await pool.rawRpc(1, enc.encode('{"items":[{"op":"ping","s":1,"len":3},{"op":"ping","s":1,"len":2}]}'), new Uint8Array([1, 2, 3, 0, 0, 0, 0, 0, 4, 5]));
    assert.deepEqual((raw.json as { items: unknown[] }).items, [3, 2]);
    assert.deepEqual([...raw.data], [1, 2, 3, 0, 0, 0, 0, 0, 4, 5]);
  });

  it('frames(): one bad packet refuses the whole message (CHOIR_BAD_OPUS) and its decoded frames go back to the pool', async () => {
    const { pcmFrames } = await import('../../../src/apps/choir/frame-pool.ts');
    const s = 32;
    pool.pin(s);
    const good = await pool.encode(s, tone(440, 960, 0.5));
    const free = pcmFrames.size;
    const refused = await codeOf(pool.frames(s, [good, new Uint8Array([0xff, 0xff, 0xff, 1, 2, 3, 0xff]), good], [null, null, null], [true, false, true]));
    assert.equal(refused, 'CHOIR_BAD_OPUS');
    assert.ok(pcmFrames.size >= free + 2, `the two frames decoded are back in the pool (${free} → ${pcmFrames.size})`);
    const again = await pool.frames(s, [good], [tone(220, 960)], [true]);
    assert.equal(again.pcm[0]?.length, 960, 'the singer goes on');
  });

  it('the owner codecs\' frames(): in order, and one bad packet refuses the message with its decoded frames back in the pool', async () => {
    const { OwnerCodecs } = await import('../../../src/apps/choir/owner-codecs.ts');
    const { pcmFrames } = await import('../../../src/apps/choir/frame-pool.ts');
    const owner = new OwnerCodecs({ bitrate: 64_000, complexity: 5 });
    try {
      owner.pin(1);
      const good = await owner.encode(1, tone(440, 960, 0.5));
      const done = await owner.frames(1, [good, null], [null, tone(330, 960, 0.5)], [true, false]);
      assert.deepEqual([done.pcm.map((p) => p?.length ?? null), done.opus.map((o) => o !== null), done.epoch], [[960, null], [false, true], 1]);
      const free = pcmFrames.size;
      const refused = await codeOf(owner.frames(1, [good, new Uint8Array([0xff, 0xff, 0xff, 1, 2, 3, 0xff]), good], [null, null, null], [true, false, true]));
      assert.equal(refused, 'CHOIR_BAD_OPUS');
      assert.ok(pcmFrames.size >= free + 2, `the two frames decoded are back in the pool (${free} → ${pcmFrames.size})`);
    } finally {
      await owner.close();
    }
  });

  it('frames(): a message larger than one RPC holds (60 ms frames) goes as several jobs and settles in order', async () => {
    const big = new ShardPool({ count: 1, bitrate: 32_000, complexity: 5, timeoutMs: 5000, frameSamples: 2880 });
    try {
      const s = 40;
      big.pin(s);
      const n = 30; // 30 × (5,760 PCM in + 5,760 out + a packet): over 200 KB each way in one RPC
      const packets: Uint8Array[] = [];
      for (let i = 0; i < n; i++) packets.push(await big.encode(s, tone(300 + 20 * i, 2880, 0.5, i * 2880)));
      const rpcs = big.rpcCount(0);
      const mixes = Array.from({ length: n }, (_, i) => tone(300 + 20 * i, 2880, 0.5, i * 2880));
      const done = await big.frames(s, packets, mixes, Array.from({ length: n }, (_, i) => i === 0));
      assert.ok(big.rpcCount(0) - rpcs >= 2, `several RPCs (${big.rpcCount(0) - rpcs})`);
      assert.equal(done.pcm.length, n);
      assert.equal(done.opus.filter((o) => o && o.length > 0).length, n, 'every mix encoded');
      // In order: frame i's voice is its own tone (300 + 20 i Hz), louder there than its neighbour's.
      for (const i of [5, 20, 29]) {
        const own = goertzel(done.pcm[i]!, 300 + 20 * i), other = goertzel(done.pcm[i]!, 300 + 20 * (i - 1));
        assert.ok(own > other, `frame ${i}: its tone ${own.toFixed(3)} over the one before's ${other.toFixed(3)}`);
      }
    } finally {
      await big.close();
    }
  });

  it('poll() reads a reply that is there while the owner\'s thread is busy, without a turn of its loop; off, it reads none', async () => {
    // The owner's thread is kept busy (no turn of the event loop, so Atomics.waitAsync's task never
    // runs) after each RPC goes out; poll() is what finds the reply. A reply can beat the owner's
    // waitAsync call (nothing to end then), so several tries, of which at least one must be ended by poll.
    const s = 40;
    const shard = pool.pin(s);
    const busyUntilPolled = () => {
      const until = Date.now() + 300;
      let ended = 0;
      while (ended === 0 && Date.now() < until) ended = pool.poll();
      return ended;
    };
    await pool.call(shard, 'ping', s, new Uint8Array(0)); // its thread started
    let ended = 0;
    for (let k = 0; k < 20 && ended === 0; k++) {
      const p = pool.call(shard, 'ping', s, new Uint8Array([k]));
      await new Promise((r) => setImmediate(r)); // the RPC goes out in this turn (no --choir-batch-ms here)
      ended = busyUntilPolled();
      assert.deepEqual([...(await p)], [k], 'the reply is read and handed out');
    }
    assert.equal(ended, 1, 'poll() ended the wait of the lane whose reply was there');
    const off = new ShardPool({ count: 1, bitrate: 64_000, complexity: 5, timeoutMs: 5000, pollReplies: false });
    try {
      off.pin(s);
      await off.call(0, 'ping', s, new Uint8Array(0)); // its thread started
      const p = off.call(0, 'ping', s, new Uint8Array([1]));
      await new Promise((r) => setImmediate(r));
      assert.equal(busyUntilPolledOn(off), 0, 'with pollReplies false the reply waits for waitAsync');
      assert.deepEqual([...(await p)], [1]);
    } finally {
      await off.close();
    }
  });
});

/** Keeps this thread busy for 300 ms calling `pool.poll()`; what it ended. */
function busyUntilPolledOn(p: ShardPool): number {
  const until = Date.now() + 300;
  let ended = 0;
  while (Date.now() < until) ended += p.poll();
  return ended;
}
