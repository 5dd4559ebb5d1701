/**
 * Every publish gets exactly one answer, and a retry never commits twice (issue 20), tried with a
 * client written from PROTOCOL.md alone (test/helpers/once-publisher.ts) against real nodes and a
 * real redis-server: Redis frozen with SIGSTOP under publishers that retry every refusal and every
 * OUTCOME_UNKNOWN with the same stamp, and publishers that lose their connection and re-send what
 * was unanswered to another node.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CANVAS_ARGS, CHANNEL, SIDE, readLog, sleep, smallCodec } from '../helpers/fault-kit.ts';
import { eventually } from '../helpers/eventually.ts';
import { OncePublisher } from '../helpers/once-publisher.ts';
import { identity } from '../helpers/place-client.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { metric } from '../helpers/metrics.ts';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';

const started: { servers: ServerProcess[]; redis: RedisServer[]; publishers: OncePublisher[] } = { servers: [], redis: [], publishers: [] };

after(async () => {
  for (const p of started.publishers.splice(0)) p.close();
  for (const s of started.servers.splice(0)) {
    await s.kill();
    s.cleanup();
  }
  for (const r of started.redis.splice(0)) await r.destroy();
});

/** Publisher k's seq s: a pixel no other (k, s) sets, colour k, so the log shows each publish. */
function editOf(k: number, seq: number): Uint8Array {
  const cell = (seq - 1) % (SIDE * SIDE);
  return smallCodec.encode(cell % SIDE, Math.floor(cell / SIDE), k % 16);
}

async function node(redis: RedisServer, extra: string[] = []): Promise<ServerProcess> {
  // One identity secret for every node, as a deployment has: a token works on any of them.
  const s = await startServer(['--redis', redis.url, '--identity-secret', 'exactly-once-test-secret', ...CANVAS_ARGS, '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0', '--tick-ms', '50', ...extra]);
  started.servers.push(s);
  return s;
}

/** Checks the log against what the publishers were told: each publish once, at its acknowledged version. */
function checkLog(log: Uint8Array[], publishers: OncePublisher[]): void {
  const seen = new Map<string, number>();
  for (let v = 0; v < log.length; v++) {
    const key = Buffer.from(log[v]).toString('hex');
    assert.ok(!seen.has(key), `an edit committed twice: at ${seen.get(key)} and ${v}`);
    seen.set(key, v);
  }
  let total = 0;
  publishers.forEach((p, k) => {
    for (let seq = 1; seq <= p.published; seq++) {
      const v = p.acked.get(seq);
      assert.notEqual(v, undefined, `publisher ${k} seq ${seq} never acknowledged`);
      assert.equal(seen.get(Buffer.from(editOf(k, seq)).toString('hex')), v, `publisher ${k} seq ${seq}: acknowledged at ${v}, in the log elsewhere`);
    }
    total += p.published;
  });
  assert.equal(log.length, total, 'the log holds exactly the publishes made');
}

describe('exactly once', () => {
  it('Redis frozen with SIGSTOP for 8 s under 6 retrying publishers: nothing twice, nothing acknowledged lost, one answer per request', async () => {
    const redis = await startRedis({ appendonly: true });
    started.redis.push(redis);
    const server = await node(redis);
    const publishers: OncePublisher[] = [];
    for (let k = 0; k < 6; k++) {
      const token = await identity(server.url);
      const p = new OncePublisher({ urls: [`${server.wsUrl}?token=${encodeURIComponent(token)}`], channel: CHANNEL, producer: `raw-${k}`, payload: (seq) => editOf(k, seq) });
      await p.connect();
      publishers.push(p);
      started.publishers.push(p);
    }
    let publishing = true;
    const loops = publishers.map(async (p) => {
      while (publishing) {
        p.publishNext();
        await sleep(50);
      }
    });
    await eventually(() => publishers.every((p) => p.acked.size >= 10), { what: 'publishes acknowledged before the freeze' });
    process.kill(redis.pid, 'SIGSTOP');
    try {
      await sleep(8000);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    await sleep(2000);
    publishing = false;
    await Promise.all(loops);
    await eventually(() => publishers.every((p) => p.outstanding === 0), {
      what: () => `every publish acknowledged (outstanding: ${publishers.map((p) => p.outstanding).join(', ')})`, timeoutMs: 60_000,
    });
    for (const p of publishers) {
      assert.deepEqual(p.badlyAnswered(), []);
      assert.deepEqual(p.finalErrors, []);
      assert.deepEqual(p.conflicts, []);
    }
    // The freeze really left appends in doubt, and the node resolved them.
    assert.ok(await metric(server.url, 'brigade_appends_in_doubt_total') >= 1, 'an append was in doubt');
    const head = (await (await fetch(`${server.url}/api/place/main/info`)).json() as { version: number }).version;
    const fresh = await node(redis);
    checkLog(await readLog(fresh.wsUrl, head), publishers);
  });

  it('publishers cut off mid-stream re-send every unanswered publish to another node: 0 duplicates in the log', async () => {
    const redis = await startRedis({ appendonly: true });
    started.redis.push(redis);
    const a = await node(redis);
    const b = await node(redis);
    const publishers: OncePublisher[] = [];
    for (let k = 0; k < 3; k++) {
      const token = encodeURIComponent(await identity(a.url));
      const p = new OncePublisher({ urls: [`${a.wsUrl}?token=${token}`, `${b.wsUrl}?token=${token}`], channel: CHANNEL, producer: `cut-${k}`, payload: (seq) => editOf(k, seq) });
      await p.connect();
      publishers.push(p);
      started.publishers.push(p);
    }
    for (let round = 0; round < 3; round++) {
      // A burst, then the connection cut at once: most of it is committed with the answers lost.
      for (const p of publishers) for (let i = 0; i < 100; i++) p.publishNext();
      for (const p of publishers) p.cut();
      for (const p of publishers) await p.connect(); // the other node; re-sends what is unanswered
      await eventually(() => publishers.every((p) => p.outstanding === 0), {
        what: () => `every publish acknowledged (round ${round}; outstanding ${publishers.map((p) => p.outstanding).join(', ')}; `
          + `refused ${publishers.map((p) => JSON.stringify([...p.temporary]) + p.finalErrors.slice(0, 2).join(';')).join(' | ')})`,
        timeoutMs: 30_000,
      });
    }
    for (const p of publishers) {
      assert.deepEqual(p.badlyAnswered(), []);
      assert.deepEqual(p.finalErrors, []);
      assert.deepEqual(p.conflicts, []);
    }
    // Re-sent publishes that had been committed were recognised (on the node they were re-sent to).
    assert.ok(await metric(b.url, 'brigade_publish_repeats_total') + await metric(a.url, 'brigade_publish_repeats_total') >= 1, 'some re-sends were repeats');
    const head = (await (await fetch(`${a.url}/api/place/main/info`)).json() as { version: number }).version;
    const fresh = await node(redis);
    checkLog(await readLog(fresh.wsUrl, head), publishers);
  });

  it('the SDK re-sends its unanswered publishes after its node is killed: each committed once, every promise resolved', async () => {
    const redis = await startRedis({ appendonly: true });
    started.redis.push(redis);
    const a = await node(redis);
    const b = await node(redis);
    const token = await identity(a.url);
    const client = new BrigadeClient([a.wsUrl, b.wsUrl], { token, WebSocket: WebSocket as never, reconnect: { minDelayMs: 20, maxDelayMs: 100 }, publishTimeoutMs: 30_000 });
    try {
      await client.ready();
      const n = 400;
      const versions: Promise<number>[] = [];
      for (let seq = 1; seq <= n; seq++) {
        versions.push(client.publish(CHANNEL, editOf(0, seq)));
        if (seq === n / 2) await sleep(120); // some are committed and acknowledged, some committed only
      }
      await a.kill(); // mid-stream: some committed without their ACK, some never appended
      const got = await Promise.all(versions);
      assert.equal(new Set(got).size, n, 'one version per publish');
      const head = (await (await fetch(`${b.url}/api/place/main/info`)).json() as { version: number }).version;
      const log = await readLog((await node(redis)).wsUrl, head);
      assert.equal(log.length, n, 'each publish committed once');
      for (let seq = 1; seq <= n; seq++) {
        assert.deepEqual([...log[got[seq - 1]]], [...editOf(0, seq)], `publish ${seq} is at the version its promise gave`);
      }
    } finally {
      client.close();
    }
  });
});
