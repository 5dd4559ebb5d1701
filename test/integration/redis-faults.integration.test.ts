/**
 * Faults of nodes over one real Redis: a node killed with SIGKILL under 1,000 clients, Redis
 * restarted, Redis unreachable for a while, a node frozen (SIGSTOP) while the others go on, and a
 * node loading the channel while batches arrive. Each test starts its own redis-server and node
 * processes on free ports and stops only those (by PID). The canvas is small (64x64) so a thousand
 * SDK viewers fit in this process; its edits collide often, which makes order mistakes visible.
 */
import { afterEach, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { BrigadeError } from '../../src/protocol/index.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { identity, prng } from '../helpers/place-client.ts';
import { metric } from '../helpers/metrics.ts';
import {
  CANVAS_ARGS, CHANNEL, WireRecorder, lightViewer, nodeCanvasAt, readLog, readyStatus, redisEpoch, redisHead,
  replayCanvas, samePixels, sleep, smallEdit, type LightViewer,
} from '../helpers/fault-kit.ts';
import { eventually } from '../helpers/eventually.ts';

const SECRET = 'shared-secret-for-tests-0123456789';
const common = [
  '--tick-ms', '50', '--place-png-min-interval-ms', '0', '--publish-per-second-per-ip', '0',
  '--max-frames-per-second', '0', '--identity-secret', SECRET, ...CANVAS_ARGS,
];

// What a test started, so a failing one leaves nothing behind.
const started: { servers: ServerProcess[]; redis: RedisServer[]; closers: Array<() => void> } = { servers: [], redis: [], closers: [] };

// Bounds each test; a failing one stops early at its first waitFor timeout anyway.
const LIMIT = { timeout: 90_000 };

// Should the test process die mid-test, take the node processes it started along (Redis helpers do the same).
process.on('exit', () => {
  for (const s of started.servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
});

afterEach(async () => {
  if (process.env.FAULTS_DEBUG) {
    for (const s of started.servers) console.log(`--- node ${s.port} (pid ${s.proc.pid}) ---\n${s.logs.filter((l) => !l.includes('"level":30')).slice(-20).join('\n')}`);
  }
  for (const close of started.closers.splice(0)) close();
  for (const s of started.servers.splice(0)) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGCONT');
    await s.kill();
    s.cleanup();
  }
  for (const r of started.redis.splice(0)) await r.destroy();
});

async function redisServer(appendonly: boolean): Promise<RedisServer> {
  const r = await startRedis({ appendonly });
  started.redis.push(r);
  return r;
}

async function node(redis: RedisServer, prefix: string, extra: string[] = []): Promise<ServerProcess> {
  const s = await startServer([...common, '--redis', redis.url, '--redis-prefix', prefix, ...extra]);
  started.servers.push(s);
  return s;
}

function editor(urls: string | string[], token: string): BrigadeClient {
  const c = new BrigadeClient(urls, { token, WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  started.closers.push(() => c.close());
  return c;
}

function track(v: LightViewer): LightViewer {
  started.closers.push(() => v.close());
  return v;
}

interface Writers {
  acked: Map<number, Uint8Array>;
  /** Acknowledged publishes of each loop (loop i publishes through clients[i % clients.length]). */
  ackedPerLoop: number[];
  /** Publishes refused or lost, by error code. */
  failures: Map<string, number>;
  /** Problems that fail the test (a version acknowledged twice, an unexpected error). */
  problems: string[];
  stop(): Promise<void>;
}

/**
 * Publish loops, one publish in flight per loop, recording acknowledged (version → payload).
 * `allowed` are the error codes a fault may cause; a refused publish is retried with a new edit.
 */
function startWriters(clients: BrigadeClient[], loops: number, seed: number, allowed: string[]): Writers {
  const w: Writers = { acked: new Map(), ackedPerLoop: new Array(loops).fill(0), failures: new Map(), problems: [], stop: async () => {} };
  let stopping = false;
  const loop = async (client: BrigadeClient, rand: () => number, index: number) => {
    while (!stopping) {
      if (!client.connected) {
        await Promise.race([client.ready(), sleep(100)]).catch(() => sleep(100));
        continue;
      }
      const edit = smallEdit(rand);
      try {
        const v = await client.publish(CHANNEL, edit);
        if (w.acked.has(v)) w.problems.push(`version ${v} acknowledged twice`);
        w.acked.set(v, edit);
        w.ackedPerLoop[index]++;
      } catch (err) {
        const code = err instanceof BrigadeError ? err.code : String(err);
        w.failures.set(code, (w.failures.get(code) ?? 0) + 1);
        if (!allowed.includes(code)) w.problems.push(`publish failed with ${code}: ${(err as Error).message}`);
        await sleep(20);
      }
    }
  };
  const running = Array.from({ length: loops }, (_, i) => loop(clients[i % clients.length], prng(seed + i), i));
  w.stop = async () => {
    stopping = true;
    await Promise.all(running);
  };
  started.closers.unshift(() => { stopping = true; });
  return w;
}

/** Every acknowledged edit is in the replayed log at its version. */
function assertAckedInLog(acked: Map<number, Uint8Array>, log: Uint8Array[]): void {
  for (const [version, edit] of acked) {
    assert.ok(log[version], `acknowledged version ${version} is in the log`);
    assert.deepEqual(log[version], edit, `acknowledged edit at version ${version} is the one published`);
  }
}

describe('nodes over Redis: faults', { concurrency: 1 }, () => {
  it('kill -9 one of three nodes while 1,000 clients stream edits: nothing acknowledged is lost, everyone converges', LIMIT, async (t) => {
    const redis = await redisServer(false);
    const prefix = 'kill:';
    const nodes = await Promise.all([0, 1, 2].map(() => node(redis, prefix, ['--snapshot-every', '500'])));
    const urls = nodes.map((n) => n.wsUrl);
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => identity(nodes[i % 3].url)));

    // 1,000 viewers, client i starting on node i % 3 and moving on to the next after a drop.
    const viewers: LightViewer[] = [];
    for (let i = 0; i < 1000; i++) {
      const rotated = [...urls.slice(i % 3), ...urls.slice(0, i % 3)];
      viewers.push(track(lightViewer(rotated, { token: i < 50 ? tokens[i] : undefined })));
      if (i % 100 === 99) await eventually(() => viewers.every((v) => v.sub.synced), { what: 'viewers to take their first snapshot' });
    }
    for (let n = 0; n < 3; n++) assert.equal(viewers.filter((v) => v.client.url === urls[n]).length, n === 0 ? 334 : 333);

    const writers = startWriters(viewers.slice(0, 50).map((v) => v.client), 50, 1000, ['DISCONNECTED']);
    await eventually(() => writers.acked.size >= 300, { what: '300 acknowledged edits' });
    const ackedBeforeKill = writers.acked.size;
    await nodes[0].kill();
    const moved = viewers.filter((_, i) => i % 3 === 0);
    const movedLoops = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 3 === 0);
    // Clients of the dead node reconnect to the others and go on publishing there.
    await eventually(() => moved.every((v) => v.client.connected && v.client.url !== urls[0]), { what: 'the dead node\'s clients to reconnect elsewhere', timeoutMs: 30_000 });
    // Counted from here, every acknowledgement of a moved publisher comes from a surviving node: its
    // old connection is closed and node 0 is gone. (Counting from before the kill raced twice over:
    // an ack node 0 had already written could land after the count and pass for one from elsewhere,
    // and the 700 edits could all come from the other loops while the moved ones were still
    // reconnecting, so a moved loop could be stopped before its first publish on a new node.)
    const perLoopAtMove = [...writers.ackedPerLoop];
    await eventually(
      () => writers.acked.size >= ackedBeforeKill + 700 && movedLoops.every((i) => writers.ackedPerLoop[i] > perLoopAtMove[i]),
      { what: () => `700 more acknowledged edits after the kill (${writers.acked.size - ackedBeforeKill}) and one on a surviving node from every publisher first on the killed node (missing: ${movedLoops.filter((i) => writers.ackedPerLoop[i] <= perLoopAtMove[i]).join(', ')})`, timeoutMs: 30_000 },
    );
    await writers.stop();
    assert.deepEqual(writers.problems, []);
    t.diagnostic(`${ackedBeforeKill} acknowledged before the kill, ${writers.acked.size} in all; failures ${JSON.stringify(Object.fromEntries(writers.failures))}`);
    for (const i of movedLoops) {
      assert.ok(writers.ackedPerLoop[i] > perLoopAtMove[i], `publisher ${i}, first on the killed node, went on publishing on another`);
    }

    const head = await redisHead(redis.url, prefix);
    const maxAcked = Math.max(...writers.acked.keys());
    assert.ok(head > maxAcked, `head ${head} covers every acknowledged version (max ${maxAcked})`);
    const [c1, c2] = [await nodeCanvasAt(nodes[1].url, head), await nodeCanvasAt(nodes[2].url, head)];
    assert.ok(samePixels(c1, c2), 'the surviving nodes\' canvases are byte-identical at the head');

    await eventually(() => viewers.every((v) => v.sub.version >= head), { what: 'every client to reach the head', timeoutMs: 30_000 });
    for (const [i, v] of viewers.entries()) {
      assert.equal(v.sub.version, head, `client ${i} stops at the head`);
      assert.deepEqual(v.discontinuities, [], `client ${i} saw batches in order`);
      assert.ok(samePixels(v.pixels, c1), `client ${i}'s canvas equals the nodes' snapshot.bin at ${head}`);
      assert.notEqual(v.client.url, urls[0], `client ${i} is on a surviving node`);
    }

    // A fresh node replays the whole log from Redis.
    t.diagnostic(`head ${head}; ${moved.filter((v) => v.snapshots > 1).length} of ${moved.length} moved clients resumed from a snapshot`);
    const auditor = await node(redis, prefix, ['--snapshot-every', '500']);
    const log = await readLog(auditor.wsUrl, head);
    assertAckedInLog(writers.acked, log);
    assert.ok(samePixels(replayCanvas(log), c1), 'a full replay of the log gives the nodes\' canvas');
  });

  it('Redis restarted (AOF): nodes reconnect and resume; nothing acknowledged is lost; no gap or duplicate, on the wire too', LIMIT, async (t) => {
    const redis = await redisServer(true);
    const prefix = 'restart:';
    const [a, b] = await Promise.all([node(redis, prefix), node(redis, prefix)]);
    const viewers = [a, a, b, b].map((n) => track(lightViewer(n.wsUrl, { mode: 'version', recordVersions: true })));
    const wires = [new WireRecorder(a.wsUrl), new WireRecorder(b.wsUrl)];
    started.closers.push(() => wires.forEach((w) => w.close()));
    await Promise.all(wires.map((w) => w.opened()));
    const editors = await Promise.all([a, b, a, b].map(async (n) => editor(n.wsUrl, await identity(n.url))));
    await Promise.all(editors.map((e) => e.ready()));

    const writers = startWriters(editors, 8, 2000, ['UNAVAILABLE']);
    await eventually(() => writers.acked.size >= 300, { what: '300 acknowledged edits' });
    await redis.restart();
    const ackedAtRestart = writers.acked.size;
    await eventually(() => writers.acked.size >= ackedAtRestart + 300, { what: '300 acknowledged edits after the restart', timeoutMs: 30_000 });
    await writers.stop();
    assert.deepEqual(writers.problems, []);
    assert.ok(editors.every((e) => e.connected), 'clients stayed connected to their nodes');
    for (const n of [a, b]) assert.equal(await readyStatus(n.url), 200, 'the nodes are ready again');
    t.diagnostic(`${ackedAtRestart} acknowledged before the restart, ${writers.acked.size} in all; refused ${JSON.stringify(Object.fromEntries(writers.failures))}`);

    const head = await redisHead(redis.url, prefix);
    assert.ok(head > Math.max(...writers.acked.keys()), 'the head covers every acknowledged version');
    const [ca, cb] = [await nodeCanvasAt(a.url, head), await nodeCanvasAt(b.url, head)];
    assert.ok(samePixels(ca, cb), 'both nodes\' canvases are byte-identical at the head');

    await eventually(() => viewers.every((v) => v.sub.version >= head) && wires.every((w) => w.end >= head), { what: 'viewers to reach the head' });
    const expected = Array.from({ length: head }, (_, i) => i);
    for (const [i, v] of viewers.entries()) {
      assert.deepEqual(v.discontinuities, [], `viewer ${i}: each onBatch starts where the previous one ended`);
      assert.equal(v.snapshots, 0, `viewer ${i} needed no snapshot`);
      assert.deepEqual(v.versions, expected, `viewer ${i} received 0..${head - 1}, each once, in order`);
      assert.ok(samePixels(v.pixels, ca), `viewer ${i}'s canvas equals the nodes'`);
    }
    for (const [i, w] of wires.entries()) {
      assert.deepEqual(w.problems, [], `wire ${i}: no gap, repeat, snapshot or error`);
      assert.equal(w.contiguousEnd(), head, `wire ${i}: BATCH frames carry 0..${head - 1}, each once, in order`);
      assert.equal(w.closedUnexpectedly, false);
    }

    const auditor = await node(redis, prefix);
    const log = await readLog(auditor.wsUrl, head);
    assertAckedInLog(writers.acked, log);
    assert.ok(samePixels(replayCanvas(log), ca), 'a full replay of the restored log gives the nodes\' canvas');
  });

  it('Redis restarted WITHOUT AOF (data lost) under live clients on two nodes: every node and client moves to the new epoch and converges', LIMIT, async (t) => {
    const redis = await redisServer(false);
    const prefix = 'lost:';
    const [a, b] = await Promise.all([node(redis, prefix, ['--snapshot-every', '200']), node(redis, prefix, ['--snapshot-every', '200'])]);
    const viewers = [a, a, b, b].map((n, i) => track(lightViewer(n.wsUrl, { mode: i % 2 === 0 ? 'version' : 'snapshot' })));
    // What each client says about epochs: the client's 'epoch' event.
    const changes = viewers.map((v) => {
      const seen: Array<{ previousEpoch: number; epoch: number; version: number }> = [];
      v.client.on('epoch', (c) => seen.push({ previousEpoch: c.previousEpoch, epoch: c.epoch, version: c.version }));
      return seen;
    });
    const editors = await Promise.all([a, b, a, b].map(async (n) => editor(n.wsUrl, await identity(n.url))));
    await Promise.all(editors.map((e) => e.ready()));

    const before = startWriters(editors, 4, 3000, ['UNAVAILABLE']);
    await eventually(() => before.acked.size >= 300, { what: '300 acknowledged edits' });
    await before.stop();
    assert.deepEqual(before.problems, []);
    const oldHead = await redisHead(redis.url, prefix);
    await eventually(() => viewers.every((v) => v.sub.version === oldHead), { what: 'every client at the old head' });
    const oldEpoch = viewers[0].sub.epoch;
    assert.ok(oldEpoch > 0 && viewers.every((v) => v.sub.epoch === oldEpoch), 'one epoch everywhere before');

    await redis.restart(); // no AOF, no RDB: Redis comes back empty
    // Publishing goes on through the same connections as soon as Redis is back, in the new log.
    const afterRestart = startWriters(editors, 4, 4000, ['UNAVAILABLE']);
    await eventually(() => afterRestart.acked.size >= 100, { what: '100 acknowledged edits in the new log', timeoutMs: 30_000 });
    await afterRestart.stop();
    assert.deepEqual(afterRestart.problems, []);
    t.diagnostic(`old head ${oldHead}; new log: ${afterRestart.acked.size} acknowledged; failures ${JSON.stringify(Object.fromEntries(afterRestart.failures))}`);

    const head = await redisHead(redis.url, prefix);
    const newEpoch = await redisEpoch(redis.url, prefix);
    assert.notEqual(newEpoch, oldEpoch, 'Redis started a new epoch');
    assert.ok(Math.max(...afterRestart.acked.keys()) < head, 'every acknowledgement counts in the new log');
    const [ca, cb] = [await nodeCanvasAt(a.url, head), await nodeCanvasAt(b.url, head)];
    assert.ok(samePixels(ca, cb), 'both nodes hold the same canvas at the new head');
    for (const n of [a, b]) assert.ok(await metric(n.url, 'brigade_epoch_changes_total') >= 1, `node ${n.port} noticed the new epoch`);

    await eventually(() => viewers.every((v) => v.sub.epoch === newEpoch && v.sub.version === head), { what: 'every client at the new head of the new epoch', timeoutMs: 30_000 });
    for (const [i, v] of viewers.entries()) {
      assert.deepEqual(v.discontinuities, [], `client ${i} applied no batch out of place`);
      assert.ok(samePixels(v.pixels, ca), `client ${i}'s canvas equals the nodes' at the new head`);
      assert.ok(changes[i].length >= 1, `client ${i} was told its log was replaced`);
      assert.equal(changes[i][0].previousEpoch, oldEpoch, `client ${i}'s first change leaves the old epoch`);
      assert.equal(changes[i].at(-1)!.epoch, newEpoch, `client ${i} ends in the new epoch`);
    }

    // The new log alone gives that canvas: nothing of the lost one was mixed in.
    const auditor = await node(redis, prefix);
    const log = await readLog(auditor.wsUrl, head);
    assertAckedInLog(afterRestart.acked, log);
    assert.ok(samePixels(replayCanvas(log), ca), 'a full replay of the new log gives the nodes\' canvas');
  });

  it('Redis unreachable: publishes are refused with UNAVAILABLE, viewers keep their state, /readyz is 503; service resumes by itself', LIMIT, async () => {
    const redis = await redisServer(true);
    const prefix = 'down:';
    const [a, b] = await Promise.all([node(redis, prefix), node(redis, prefix)]);
    const viewers = [a, a, b, b].map((n) => track(lightViewer(n.wsUrl)));
    const [ea, eb] = await Promise.all([a, b].map(async (n) => editor(n.wsUrl, await identity(n.url))));
    await Promise.all([ea.ready(), eb.ready()]);
    const rand = prng(3000);
    const acked = new Map<number, Uint8Array>();
    await Promise.all(Array.from({ length: 60 }, async (_, i) => {
      const edit = smallEdit(rand);
      acked.set(await (i % 2 ? ea : eb).publish(CHANNEL, edit), edit);
    }));
    const before = 60;
    await eventually(() => viewers.every((v) => v.sub.version === before), { what: 'viewers to reach 60' });
    assert.equal(await readyStatus(a.url), 200);
    assert.equal(await readyStatus(b.url), 200);
    const held = viewers.map((v) => v.pixels.slice());

    await redis.stop();
    await eventually(async () => (await readyStatus(a.url)) === 503 && (await readyStatus(b.url)) === 503, { what: '/readyz to report 503 on both nodes' });
    const outageEnds = Date.now() + 3000;
    let refused = 0;
    while (Date.now() < outageEnds) {
      const results = await Promise.allSettled([ea, eb].map((e) => e.publish(CHANNEL, smallEdit(rand))));
      for (const r of results) {
        assert.equal(r.status, 'rejected', `a publish was acknowledged (version ${r.status === 'fulfilled' ? r.value : ''}) while Redis was down`);
        const err = (r as PromiseRejectedResult).reason;
        assert.ok(err instanceof BrigadeError, `refused with a BrigadeError, got ${err}`);
        assert.equal(err.code, 'UNAVAILABLE', `refused as UNAVAILABLE: ${err.message}`);
        assert.equal(err.temporary, true, 'UNAVAILABLE is temporary');
        refused++;
      }
      for (const [i, v] of viewers.entries()) {
        assert.ok(v.client.connected, `viewer ${i} stays connected`);
        assert.equal(v.sub.version, before, `viewer ${i} keeps its version`);
        assert.ok(samePixels(v.pixels, held[i]), `viewer ${i} keeps its pixels`);
      }
      assert.equal(await readyStatus(a.url), 503);
      assert.equal(await readyStatus(b.url), 503);
      await sleep(250);
    }
    assert.ok(refused >= 4);
    assert.ok(ea.connected && eb.connected, 'publishers stay connected');

    await redis.restart();
    await eventually(async () => (await readyStatus(a.url)) === 200 && (await readyStatus(b.url)) === 200, { what: '/readyz to report 200 again', timeoutMs: 20_000, intervalMs: 100 });
    assert.equal(await redisHead(redis.url, prefix), before, 'nothing refused was committed');
    const ea2 = smallEdit(rand);
    const eb2 = smallEdit(rand);
    const versions = [await ea.publish(CHANNEL, ea2), await eb.publish(CHANNEL, eb2)];
    assert.deepEqual(versions, [before, before + 1], 'new publishes are acknowledged at the next versions');
    acked.set(before, ea2);
    acked.set(before + 1, eb2);
    await eventually(() => viewers.every((v) => v.sub.version >= before + 2), { what: 'viewers on both nodes to see the new edits' });
    const [ca, cb] = [await nodeCanvasAt(a.url, before + 2), await nodeCanvasAt(b.url, before + 2)];
    assert.ok(samePixels(ca, cb));
    for (const [i, v] of viewers.entries()) {
      assert.equal(v.sub.version, before + 2);
      assert.deepEqual(v.discontinuities, [], `viewer ${i} saw batches in order`);
      assert.ok(samePixels(v.pixels, ca), `viewer ${i}'s canvas equals the nodes'`);
    }
    const log = await readLog(a.wsUrl, before + 2);
    assertAckedInLog(acked, log);
  });

  /**
   * Freezes node b with SIGSTOP for `freezeMs` while 8 publish loops go on through node a, then
   * SIGCONT: b must catch up (its reader resumes from its cursor, or, when the log was trimmed past
   * that cursor, b reloads the channel) and converge with a, and so must b's viewers.
   */
  async function frozenNode(t: TestContext, prefix: string, freezeMs: number, retention: string[]): Promise<ServerProcess> {
    const redis = await redisServer(false);
    const [a, b] = await Promise.all([node(redis, prefix, retention), node(redis, prefix, retention)]);
    const onA = [0, 1].map(() => track(lightViewer(a.wsUrl)));
    const onB = [0, 1].map(() => track(lightViewer(b.wsUrl)));
    await eventually(() => [...onA, ...onB].every((v) => v.sub.synced), { what: 'viewers to sync' });
    const editors = await Promise.all([0, 1].map(async () => editor(a.wsUrl, await identity(a.url))));
    await Promise.all(editors.map((e) => e.ready()));
    const writers = startWriters(editors, 8, 4000, []);
    await eventually(() => writers.acked.size >= 100, { what: '100 acknowledged edits' });

    const frozenFrom = await redisHead(redis.url, prefix);
    b.proc.kill('SIGSTOP');
    let frozenTo = 0;
    try {
      await sleep(freezeMs);
      frozenTo = await redisHead(redis.url, prefix);
    } finally {
      b.proc.kill('SIGCONT');
    }
    const ackedAtResume = writers.acked.size;
    await eventually(() => writers.acked.size >= ackedAtResume + 100, { what: '100 more acknowledged edits after SIGCONT' });
    await writers.stop();
    assert.deepEqual(writers.problems, []);
    t.diagnostic(`frozen from version ${frozenFrom} to ${frozenTo}; ${writers.acked.size} acknowledged`);
    assert.ok(frozenTo - frozenFrom > 300, `edits went on while the node was frozen (${frozenFrom} → ${frozenTo})`);

    const head = await redisHead(redis.url, prefix);
    const [ca, cb] = [await nodeCanvasAt(a.url, head), await nodeCanvasAt(b.url, head)];
    assert.ok(samePixels(ca, cb), 'the frozen node\'s snapshot.bin equals the other\'s at the same version');
    await eventually(() => [...onA, ...onB].every((v) => v.sub.version >= head), { what: 'every viewer to reach the head' });
    for (const [i, v] of [...onA, ...onB].entries()) {
      assert.equal(v.sub.version, head);
      assert.deepEqual(v.discontinuities, [], `viewer ${i} saw batches in order`);
      assert.ok(samePixels(v.pixels, ca), `viewer ${i}'s canvas converged`);
      assert.ok(v.client.connected, `viewer ${i} is still connected`);
    }
    return b;
  }

  it('a node frozen for 10 s (SIGSTOP) while edits go on through another catches up and converges after SIGCONT', LIMIT, async (t) => {
    const b = await frozenNode(t, 'stop:', 10_000, []);
    assert.ok(!b.logs.some((l) => l.includes('gap in committed batches')), 'the reader resumed from its cursor: no gap');
  });

  it('a frozen node whose unread batches were trimmed from the log meanwhile reloads the channel and converges', LIMIT, async (t) => {
    // Node a stores a snapshot every 200 events and trims the log to 100 behind it, so the batches
    // b has not read yet are gone when it wakes: its reader sees a gap, and b reloads the channel.
    const b = await frozenNode(t, 'trim:', 5_000, ['--snapshot-every', '200', '--keep-snapshots', '1', '--retain-events', '100']);
    assert.ok(b.logs.some((l) => l.includes('gap in committed batches')), 'the frozen node saw the gap');
  });

  it('a node that loads the channel while batches arrive applies them after the load and converges', LIMIT, async () => {
    const redis = await redisServer(false);
    const prefix = 'join:';
    const a = await node(redis, prefix, ['--tick-ms', '10']);
    const editors = await Promise.all([0, 1].map(async () => editor(a.wsUrl, await identity(a.url))));
    await Promise.all(editors.map((e) => e.ready()));
    const writers = startWriters(editors, 8, 5000, []);
    await eventually(() => writers.acked.size >= 2000, { what: '2,000 acknowledged edits' });
    // Small read chunks make loading the channel take many round trips, while batches keep coming.
    const joiners = await Promise.all([0, 1].map(() => node(redis, prefix, ['--max-events-per-frame', '16'])));
    const viewers = joiners.map((n) => track(lightViewer(n.wsUrl)));
    await eventually(() => viewers.every((v) => v.sub.synced), { what: 'viewers on the joining nodes to sync' });
    await eventually(() => writers.acked.size >= 3000, { what: '3,000 acknowledged edits' });
    await writers.stop();
    assert.deepEqual(writers.problems, []);

    const head = await redisHead(redis.url, prefix);
    const ca = await nodeCanvasAt(a.url, head);
    for (const n of joiners) assert.ok(samePixels(await nodeCanvasAt(n.url, head), ca), 'a joining node\'s canvas equals the first one\'s');
    await eventually(() => viewers.every((v) => v.sub.version >= head), { what: 'viewers to reach the head' });
    for (const v of viewers) assert.ok(samePixels(v.pixels, ca));
  });
});
