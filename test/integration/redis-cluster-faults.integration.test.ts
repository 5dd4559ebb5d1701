/**
 * Fault test (b) of issue 22: a real Redis Cluster on loopback (3 primaries, each with a replica,
 * cluster-require-full-coverage no; test/helpers/redis-cluster.ts) under two real Brigade nodes
 * with --redis-min-replicas-acked 1, one exactly-once publisher per canvas (retrying with the same
 * stamps, test/helpers/once-publisher.ts) and one viewer per canvas. The primary of one shard is
 * killed with SIGKILL; its replica takes over; the old primary is started again as systemd would
 * and rejoins as the new primary's replica.
 *
 * - the canvases on the killed shard pause and resume (their publishes are answered once more);
 * - the canvases on the other shards never stop: they are acknowledged while the shard is down;
 * - nothing acknowledged is lost: every acknowledged publish is in its canvas's log at its
 *   version, once; every viewer reaches the head with no gap.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient, type Subscription } from '../../src/sdk/index.ts';
import { RedisEngine } from '../../src/engines/index.ts';
import { keySlot } from '../../src/engines/redis-slot.ts';
import { parseHostPorts } from '../../src/engines/redis-target.ts';
import { SIDE, sleep, smallCodec } from '../helpers/fault-kit.ts';
import { eventually } from '../helpers/eventually.ts';
import { OncePublisher } from '../helpers/once-publisher.ts';
import { identity } from '../helpers/place-client.ts';
import { startRedisCluster, type RedisClusterDeployment } from '../helpers/redis-cluster.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { metric } from '../helpers/metrics.ts';

const CANVASES = 9;
const PREFIX = 'cf:';
const LIMIT = { timeout: 150_000 };

const servers: ServerProcess[] = [];
const closers: Array<() => void> = [];
let cluster: RedisClusterDeployment | null = null;
process.on('exit', () => {
  for (const s of servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
});
after(async () => {
  for (const close of closers.splice(0)) close();
  for (const s of servers.splice(0)) {
    await s.kill();
    s.cleanup();
  }
  await cluster?.destroy();
});

/** Publish `seq` of canvas k: a pixel and colour no other seq of it uses, so its log shows each. */
function editOf(seq: number): Uint8Array {
  return smallCodec.encode(seq % SIDE, Math.floor(seq / SIDE) % SIDE, Math.floor(seq / (SIDE * SIDE)) % 16);
}

interface CanvasViewer { sub: Subscription; expected: number; gaps: string[] }

function canvasViewer(url: string, channel: string): CanvasViewer {
  const client = new BrigadeClient(url, { WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  closers.push(() => client.close());
  const v: CanvasViewer = { sub: undefined as unknown as Subscription, expected: 0, gaps: [] };
  v.sub = client.subscribe(channel, {
    onBatch(first, events) {
      if (first !== v.expected) v.gaps.push(`batch at ${first}, expected ${v.expected}`);
      v.expected = first + events.length;
    },
    onSnapshot(version) {
      v.expected = version;
    },
  });
  return v;
}

describe('Redis Cluster: kill -9 one primary under two nodes', () => {
  it('the killed shard\'s canvases pause and resume, the others never stop, nothing acknowledged is lost', LIMIT, async (t) => {
    cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1, requireFullCoverage: false });
    const channels = Array.from({ length: CANVASES }, (_, i) => `place:c${i}`);
    const shardOf = await Promise.all(channels.map((c) => cluster!.primaryPortOf(keySlot(c))));
    const killedPort = shardOf[0];
    const onKilled = channels.filter((_, i) => shardOf[i] === killedPort);
    const elsewhere = channels.filter((_, i) => shardOf[i] !== killedPort);
    assert.ok(onKilled.length >= 1 && new Set(shardOf).size === 3, 'canvases on every shard');

    const args = ['--redis-cluster', cluster.nodeList, '--redis-prefix', PREFIX, '--redis-min-replicas-acked', '1', '--redis-replica-ack-timeout-ms', '500',
      '--identity-secret', 'cluster-fault-test-secret', '--place-canvases', channels.map((c) => `${c.slice(6)}:${SIDE}x${SIDE}`).join(','),
      '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0', '--tick-ms', '50', '--place-png-min-interval-ms', '0'];
    const nodes = [await startServer(args), await startServer(args)];
    servers.push(...nodes);
    const viewers = channels.map((c, i) => canvasViewer(nodes[(i + 1) % 2].wsUrl, c));
    const publishers = new Map<string, OncePublisher>();
    for (const [i, channel] of channels.entries()) {
      const n = nodes[i % 2];
      const token = await identity(n.url);
      const p = new OncePublisher({ urls: [`${n.wsUrl}?token=${encodeURIComponent(token)}`], channel, producer: `cf-${i}`, payload: editOf });
      await p.connect();
      publishers.set(channel, p);
      closers.push(() => p.close());
    }
    let publishing = true;
    closers.push(() => { publishing = false; });
    const loops = [...publishers.values()].map(async (p) => {
      while (publishing) {
        if (p.outstanding < 4) p.publishNext();
        await sleep(30);
      }
    });
    const acked = (channel: string) => publishers.get(channel)!.acked.size;
    await eventually(() => channels.every((c) => acked(c) >= 20), { what: 'publishes acknowledged on every canvas before the kill', timeoutMs: 30_000 });

    // The nodes' first ticks on a fresh cluster are slow (scripts loaded, replicas still syncing),
    // which stretches their adaptive tick; the kill comes once both are back near --tick-ms (50 ms;
    // on a loaded machine it moves between 50 and 100 by itself).
    const tickInterval = async (n: ServerProcess) => Number(/^brigade_tick_interval_ms(?:{[^}]*})? (\S+)$/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1]);
    await eventually(async () => (await Promise.all(nodes.map(tickInterval))).every((ms) => ms <= 100), { what: 'both nodes ticking near --tick-ms again', timeoutMs: 60_000, intervalMs: 100 });
    // The pace before the kill, over 2 s, for the report.
    const paceFrom = new Map(channels.map((c) => [c, acked(c)]));
    const paceFromAt = Date.now();
    await sleep(2000);
    const atKill = new Map(channels.map((c) => [c, acked(c)]));
    const paceBefore = elsewhere.map((c) => (atKill.get(c)! - paceFrom.get(c)!) / ((Date.now() - paceFromAt) / 1000));
    const killed = cluster.servers.find((s) => s.port === killedPort)!;
    const killedAt = Date.now();
    await killed.kill();
    // Until the replica has taken over, the killed shard has no primary: its canvases wait.
    const slot = keySlot(onKilled[0]);
    await eventually(async () => (await cluster!.primaryPortOf(slot)) !== killedPort, { what: 'the replica to take over', timeoutMs: 30_000, intervalMs: 100 });
    await cluster.waitHealthy(30_000);
    const failedOverMs = Date.now() - killedAt;
    if (process.env.FAULTS_DEBUG) {
      for (const n of nodes) console.log(`--- node ${n.port} ---\n${n.logs.slice(-30).join('\n')}`);
      console.log(channels.map((c) => `${c}: ${atKill.get(c)} -> ${acked(c)} ${shardOf[channels.indexOf(c)] === killedPort ? '(killed shard)' : ''}`).join('\n'));
    }
    const atFailover = new Map(channels.map((c) => [c, acked(c)]));
    const failedOverAt = Date.now();
    for (const c of elsewhere) {
      assert.ok(atFailover.get(c)! > atKill.get(c)!, `${c} (another shard) was acknowledged while the killed shard had no primary`);
    }
    // The promoted replica has no replica of its own, so WAIT 1 fails there and the killed shard's
    // canvases stay paused until the old primary is back. Meanwhile the other shards keep
    // committing: each of their canvases gets 20 more acknowledged versions, and the paused ones none.
    await eventually(() => elsewhere.every((c) => acked(c) >= atFailover.get(c)! + 20), {
      what: () => `20 more acknowledged on every other shard's canvas while the killed shard is paused (${elsewhere.map((c) => acked(c) - atFailover.get(c)!).join(', ')})`,
      timeoutMs: 30_000,
    });
    const pausedSeconds = (Date.now() - failedOverAt) / 1000;
    const paceDuring = elsewhere.map((c) => (acked(c) - atFailover.get(c)!) / pausedSeconds);
    for (const c of onKilled) assert.equal(acked(c), atFailover.get(c), `${c} (killed shard) acknowledged nothing while its shard had no replica`);
    const versionsOf = (c: string) => new Set(publishers.get(c)!.acked.values());
    for (const c of elsewhere) {
      assert.ok(versionsOf(c).size >= atFailover.get(c)! + 20, `${c}: the acknowledgements during the pause are new versions`);
    }
    // As systemd would: the old primary comes back and the cluster makes it the new one's replica,
    // so WAIT 1 is answered again on that shard.
    await killed.restart();
    await eventually(() => onKilled.every((c) => acked(c) >= atKill.get(c)! + 20), {
      what: () => `20 more acknowledged on the killed shard's canvases (${onKilled.map((c) => acked(c) - atKill.get(c)!).join(', ')})`, timeoutMs: 60_000,
    });
    const resumedMs = Date.now() - killedAt;
    publishing = false;
    await Promise.all(loops);
    await eventually(() => [...publishers.values()].every((p) => p.outstanding === 0), {
      what: () => `every publish answered with a version (outstanding: ${[...publishers.values()].map((p) => p.outstanding).join(', ')})`, timeoutMs: 40_000,
    });

    // Each node says which primaries it uses now: the promoted replica in place of the killed one,
    // in its log and in brigade_redis_primary; and it logged the killed shard's appends in doubt.
    const promotedPort = await cluster.primaryPortOf(slot);
    for (const n of nodes) {
      await eventually(async () => {
        const text = await (await fetch(`${n.url}/metrics`)).text();
        const address = /^brigade_redis_primary\{address="([^"]+)"[^}]*\} 1$/m.exec(text)?.[1] ?? '';
        return address.split(',').includes(`127.0.0.1:${promotedPort}`) && !address.split(',').includes(`127.0.0.1:${killedPort}`);
      }, { what: `node ${n.port}'s brigade_redis_primary to name the promoted primary ${promotedPort}, not ${killedPort}`, timeoutMs: 20_000 });
      assert.ok(await metric(n.url, 'brigade_redis_primary_changes_total') >= 1, 'the failover counted');
      assert.ok(n.logs.some((l) => l.includes('"redis cluster primaries changed (failover followed)"') && l.includes(`127.0.0.1:${promotedPort}`)),
        'the new primaries logged');
    }
    assert.ok(nodes.some((n) => n.logs.some((l) => /"msg":"(append in doubt; its publishes are tried again each tick with the same stamps|append failed; publishes refused until the store answers again)"/.test(l))),
      'the killed shard\'s failed appends logged, saying whether they are in doubt or refused');

    // The logs as the cluster holds them now, read by a fresh engine.
    const auditor = new RedisEngine({ target: { kind: 'cluster', nodes: parseHostPorts(cluster.nodeList, 'redisCluster') }, prefix: PREFIX,
      retention: { retainEvents: 100_000, keepSnapshots: 8 }, logger: { warn: () => undefined } });
    await auditor.open();
    let total = 0;
    let lost = 0;
    let duplicated = 0;
    try {
      for (const channel of channels) {
        const p = publishers.get(channel)!;
        assert.deepEqual(p.badlyAnswered(), [], `${channel}: one answer per request`);
        assert.deepEqual(p.finalErrors, [], `${channel}: no final refusal`);
        assert.deepEqual(p.conflicts, [], `${channel}: no publish acknowledged at two versions`);
        const { head } = await auditor.info(channel);
        const log = await auditor.read(channel, 0, head);
        assert.equal(log.length, head, `${channel}: the whole log is readable`);
        const at = new Map<string, number[]>();
        log.forEach((e, v) => {
          const key = Buffer.from(e.payload).toString('hex');
          at.set(key, [...(at.get(key) ?? []), v]);
        });
        for (const [seq, version] of p.acked) {
          total++;
          const where = at.get(Buffer.from(editOf(seq)).toString('hex')) ?? [];
          if (where.length > 1) duplicated++;
          if (!where.includes(version)) lost++;
        }
        const v = viewers[channels.indexOf(channel)];
        await eventually(() => v.sub.version >= head, { what: () => `the viewer of ${channel} at the head ${head} (at ${v.sub.version})`, timeoutMs: 30_000 });
        assert.deepEqual(v.gaps, [], `${channel}: the viewer applied batches with no gap`);
      }
    } finally {
      await auditor.close();
    }
    t.diagnostic(`killed the primary of ${onKilled.length} of ${CANVASES} canvases; the cluster was whole again ${failedOverMs} ms after the kill; `
      + `meanwhile the other shards' canvases got ${elsewhere.map((c) => atFailover.get(c)! - atKill.get(c)!).join(', ')} acknowledgements; `
      + `their pace before the kill ${paceBefore.map((r) => r.toFixed(0)).join(', ')}/s, after the failover with the killed shard paused ${paceDuring.map((r) => r.toFixed(0)).join(', ')}/s; `
      + `the killed shard's canvases had 20 more ${resumedMs} ms after the kill; ${total} acknowledged, ${lost} lost, ${duplicated} twice in the log`);
    assert.equal(lost, 0, 'no acknowledged publish lost');
    assert.equal(duplicated, 0, 'no publish committed twice');
  });
});
