/**
 * Fault test (a) of issue 22: a real Sentinel deployment on loopback (one redis-server primary,
 * one replica, three sentinels; test/helpers/redis-sentinel.ts) under three real Brigade nodes,
 * six publishers that retry with the same stamps (test/helpers/once-publisher.ts) and 300
 * viewers. The primary is killed with SIGKILL; the sentinels promote the replica; the old primary
 * is started again as systemd would, and the sentinels make it the new primary's replica.
 *
 * - with --redis-min-replicas-acked 1: every acknowledged publish is in the log at its version,
 *   once; every viewer converges on the log's canvas with no gap.
 * - without it: acknowledged publishes the failover lost are counted and reported (not asserted
 *   zero: replication is asynchronous), and every viewer still converges (a log found below what
 *   a node delivered moves to a new epoch, so clients take a snapshot instead of a wrong history).
 */
import { afterEach, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { CANVAS_ARGS, CHANNEL, SIDE, lightViewer, nodeCanvasAt, readLog, redisHead, replayCanvas, samePixels, sleep, smallCodec, type LightViewer } from '../helpers/fault-kit.ts';
import { eventually } from '../helpers/eventually.ts';
import { OncePublisher } from '../helpers/once-publisher.ts';
import { identity } from '../helpers/place-client.ts';
import { MASTER_NAME, startSentinelDeployment, type SentinelDeployment } from '../helpers/redis-sentinel.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { metric } from '../helpers/metrics.ts';

const LIMIT = { timeout: 150_000 };
const VIEWERS = 300;
const PUBLISHERS = 6;

const started: { servers: ServerProcess[]; deployments: SentinelDeployment[]; closers: Array<() => void> } = { servers: [], deployments: [], closers: [] };

process.on('exit', () => {
  for (const s of started.servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
});

afterEach(async () => {
  if (process.env.FAULTS_DEBUG) {
    for (const s of started.servers) console.log(`--- node ${s.port} ---\n${s.logs.filter((l) => !/app tick failed|tick needs|tracker engine write/.test(l)).slice(-25).join('\n')}`);
  }
  for (const close of started.closers.splice(0)) close();
  for (const s of started.servers.splice(0)) {
    await s.kill();
    s.cleanup();
  }
  for (const d of started.deployments.splice(0)) await d.destroy();
});

/** Publisher k's seq s: a pixel and colour no other (k, s) of this test uses, so the log shows each publish. */
function editOf(k: number, seq: number): Uint8Array {
  const n = k * 2000 + seq;
  return smallCodec.encode(n % SIDE, Math.floor(n / SIDE) % SIDE, Math.floor(n / (SIDE * SIDE)) % 16);
}

async function node(d: SentinelDeployment, extra: string[]): Promise<ServerProcess> {
  const s = await startServer([
    '--redis-sentinels', d.sentinelList, '--redis-master-name', MASTER_NAME, '--redis-prefix', 'ha:',
    '--identity-secret', 'sentinel-fault-test-secret', ...CANVAS_ARGS, '--publish-per-second-per-ip', '0',
    '--max-frames-per-second', '0', '--tick-ms', '50', '--place-png-min-interval-ms', '0', ...extra,
  ]);
  started.servers.push(s);
  return s;
}

interface Outcome {
  acked: number;
  lost: number;
  duplicated: number;
  snapshotsAfterKill: number;
}

async function failover(t: TestContext, extra: string[]): Promise<Outcome> {
  const d = await startSentinelDeployment({ replicas: 1, sentinels: 3 });
  started.deployments.push(d);
  const nodes = [await node(d, extra), await node(d, extra), await node(d, extra)];
  const urls = nodes.map((n) => n.wsUrl);
  const firstPrimary = await d.primaryPort();
  for (const n of nodes) assert.ok(n.logs.some((l) => l.includes('"redis primary in use"') && l.includes(`127.0.0.1:${firstPrimary}`)), 'each node logs the primary it uses');

  const viewers: LightViewer[] = [];
  for (let i = 0; i < VIEWERS; i++) {
    const v = lightViewer([...urls.slice(i % 3), ...urls.slice(0, i % 3)]);
    viewers.push(v);
    started.closers.push(() => v.close());
  }
  await eventually(() => viewers.every((v) => v.sub.synced), { what: 'viewers to take their first snapshot', timeoutMs: 30_000 });

  const publishers: OncePublisher[] = [];
  for (let k = 0; k < PUBLISHERS; k++) {
    const n = nodes[k % 3];
    const token = await identity(n.url);
    const p = new OncePublisher({ urls: [`${n.wsUrl}?token=${encodeURIComponent(token)}`], channel: CHANNEL, producer: `ha-${k}`, payload: (seq) => editOf(k, seq) });
    await p.connect();
    publishers.push(p);
    started.closers.push(() => p.close());
  }
  let publishing = true;
  const loops = publishers.map(async (p) => {
    while (publishing) {
      if (p.outstanding < 4) p.publishNext();
      await sleep(30);
    }
  });
  started.closers.push(() => { publishing = false; });
  await eventually(() => publishers.every((p) => p.acked.size >= 30), { what: 'publishes acknowledged before the kill', timeoutMs: 30_000 });

  // Readiness is watched from before the kill: it must drop while no primary is reachable.
  let sawUnready = false;
  let watching = true;
  const readiness = (async () => {
    while (watching) {
      const status = await fetch(`${nodes[0].url}/readyz`).then((r) => r.status, () => 0);
      if (status === 503) sawUnready = true;
      await sleep(100);
    }
  })();
  const snapshotsBefore = viewers.reduce((n, v) => n + v.snapshots, 0);
  const ackedAtKill = publishers.map((p) => p.acked.size);
  const primary = d.servers.find((s) => s.port === firstPrimary)!;
  const killedAt = Date.now();
  await primary.kill();
  const newPrimary = await d.failedOverFrom(firstPrimary);
  const failedOverMs = Date.now() - killedAt;
  // As systemd would, but only once the failover is over (failover-timeout 3 s): an old primary
  // restarted empty while the sentinels were still reconfiguring was seen, in 3 of 10 runs, to
  // have the promoted replica resynced from it, losing the whole log (docs/OPERATIONS.md).
  await sleep(5000);
  await primary.restart(); // the sentinels turn it into the new primary's replica
  await eventually(() => publishers.every((p, k) => p.acked.size >= ackedAtKill[k] + 30), {
    what: () => `30 more acknowledged per publisher after the failover (${publishers.map((p, k) => p.acked.size - ackedAtKill[k]).join(', ')})`, timeoutMs: 60_000,
  });
  const resumedMs = Date.now() - killedAt;
  publishing = false;
  watching = false;
  await Promise.all([...loops, readiness]);
  await eventually(() => publishers.every((p) => p.outstanding === 0), {
    what: () => `every publish answered with a version (outstanding: ${publishers.map((p) => p.outstanding).join(', ')})`, timeoutMs: 40_000,
  });
  for (const p of publishers) {
    assert.deepEqual(p.badlyAnswered(), [], 'one answer per request');
    assert.deepEqual(p.finalErrors, []);
    assert.deepEqual(p.conflicts, [], 'no publish acknowledged at two versions');
  }
  assert.ok(sawUnready, '/readyz answered 503 while no primary was reachable');
  for (const n of nodes) {
    await eventually(async () => (await fetch(`${n.url}/readyz`)).status === 200, { what: 'readiness back' });
    assert.equal(await metric(n.url, 'brigade_redis_primary_changes_total'), 1, 'each node followed one failover');
    const text = await (await fetch(`${n.url}/metrics`)).text();
    assert.match(text, new RegExp(`brigade_redis_primary\\{address="127\\.0\\.0\\.1:${newPrimary}"[^}]*\\} 1`), 'the metric names the new primary');
  }

  // The log as the new primary holds it, through a fresh node.
  const head = await redisHead(`redis://127.0.0.1:${newPrimary}`, 'ha:');
  for (const n of nodes) await nodeCanvasAt(n.url, head, 30_000);
  const auditor = await node(d, extra);
  const log = await readLog(auditor.wsUrl, head, 30_000);
  const at = new Map<string, number[]>();
  log.forEach((e, v) => {
    const key = Buffer.from(e).toString('hex');
    at.set(key, [...(at.get(key) ?? []), v]);
  });
  let acked = 0;
  let lost = 0;
  let duplicated = 0;
  publishers.forEach((p, k) => {
    for (const [seq, version] of p.acked) {
      acked++;
      const where = at.get(Buffer.from(editOf(k, seq)).toString('hex')) ?? [];
      if (where.length > 1) duplicated++;
      if (!where.includes(version)) lost++;
    }
  });

  // Every viewer converges on the log's canvas, with no gap in what it applied.
  const canvas = replayCanvas(log);
  await eventually(() => viewers.every((v) => v.sub.version >= head), {
    what: () => `every viewer at the head ${head} (${viewers.filter((v) => v.sub.version < head).length} behind)`, timeoutMs: 30_000,
  });
  for (const [i, v] of viewers.entries()) {
    assert.equal(v.sub.version, head, `viewer ${i} stops at the head`);
    assert.deepEqual(v.discontinuities, [], `viewer ${i} applied batches with no gap`);
    assert.ok(samePixels(v.pixels, canvas), `viewer ${i}'s canvas is the log's`);
  }
  const snapshotsAfterKill = viewers.reduce((n, v) => n + v.snapshots, 0) - snapshotsBefore;
  const inDoubt = (await Promise.all(nodes.map((n) => metric(n.url, 'brigade_appends_in_doubt_total')))).reduce((a, b) => a + b, 0);
  const epochChanges = (await Promise.all(nodes.map((n) => metric(n.url, 'brigade_epoch_changes_total')))).reduce((a, b) => a + b, 0);
  t.diagnostic(`${extra.join(' ') || 'no replica acknowledgement'}: failover seen by the sentinels after ${failedOverMs} ms, `
    + `30 more acks per publisher ${resumedMs} ms after the kill; ${acked} acknowledged, ${lost} of them lost, ${duplicated} twice in the log; `
    + `head ${head}; appends in doubt ${inDoubt}; epoch changes ${epochChanges}; snapshots sent to viewers after the kill ${snapshotsAfterKill}`);
  return { acked, lost, duplicated, snapshotsAfterKill };
}

describe('Sentinel failover under three nodes, six publishers and 300 viewers', { concurrency: 1 }, () => {
  it('kill -9 the primary with --redis-min-replicas-acked 1: nothing acknowledged lost, each publish once, every viewer converges with no gap', LIMIT, async (t) => {
    const o = await failover(t, ['--redis-min-replicas-acked', '1', '--redis-replica-ack-timeout-ms', '500']);
    assert.equal(o.lost, 0, 'no acknowledged publish lost');
    assert.equal(o.duplicated, 0, 'no publish committed twice');
  });

  it('kill -9 the primary without it: the acknowledged publishes lost are measured and reported; every viewer still converges', LIMIT, async (t) => {
    const o = await failover(t, []);
    assert.equal(o.duplicated, 0, 'no publish committed twice');
    t.diagnostic(`without --redis-min-replicas-acked: ${o.lost} of ${o.acked} acknowledged publishes lost (${(100 * o.lost / o.acked).toFixed(2)} %)`);
  });
});
