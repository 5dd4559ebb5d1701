/**
 * The Redis engine through Redis Sentinel (real redis-server primary and replica, three real
 * sentinels on loopback; test/helpers/redis-sentinel.ts): it finds the primary, says which one it
 * uses, follows a failover by itself, refuses wrong sentinels or master names with typed errors,
 * and with minReplicasAcked never resolves an append its replicas did not acknowledge.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisEngine } from '../../src/engines/index.ts';
import type { RedisEngineOptions } from '../../src/engines/redis-engine.ts';
import { parseHostPorts } from '../../src/engines/redis-target.ts';
import { BrigadeError } from '../../src/protocol/index.ts';
import { MASTER_NAME, startSentinelDeployment, type SentinelDeployment } from '../helpers/redis-sentinel.ts';
import { freePort } from '../../src/sim/child.ts';
import { eventually } from '../helpers/eventually.ts';
import { startServer } from '../helpers/server-process.ts';
import { CANVAS_ARGS, CHANNEL, smallCodec } from '../helpers/fault-kit.ts';
import { metric } from '../helpers/metrics.ts';
import { OncePublisher } from '../helpers/once-publisher.ts';
import { identity } from '../helpers/place-client.ts';

const encoder = new TextEncoder();
const retention = { retainEvents: 100, keepSnapshots: 2 };

function events(n: number, tag: string) {
  return Array.from({ length: n }, (_, i) => ({ payload: encoder.encode(`${tag}${i}`), publisher: 'u', timeMs: 1 }));
}

function hasCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof BrigadeError, `expected a BrigadeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

describe('redis engine through Sentinel', { concurrency: 1 }, () => {
  let d: SentinelDeployment;
  const engines: RedisEngine[] = [];
  const lines: Array<{ msg: string; obj: Record<string, unknown> }> = [];
  const logger = {
    warn: (obj: object, msg: string) => { lines.push({ msg, obj: obj as Record<string, unknown> }); },
    info: (obj: object, msg: string) => { lines.push({ msg, obj: obj as Record<string, unknown> }); },
  };
  const engine = (extra: Partial<RedisEngineOptions> = {}): RedisEngine => {
    const e = new RedisEngine({
      target: { kind: 'sentinel', sentinels: parseHostPorts(d.sentinelList, 'test'), masterName: MASTER_NAME },
      prefix: 'sent:', retention, logger, ...extra,
    });
    engines.push(e);
    return e;
  };

  before(async () => {
    d = await startSentinelDeployment({ replicas: 1 });
  });
  after(async () => {
    for (const e of engines) await e.close().catch(() => undefined);
    await d?.destroy();

  });

  it('refuses wrong sentinel addresses and a wrong master name with typed errors, and connects nowhere', async () => {
    const nowhere = await freePort();
    const wrongAddresses = new RedisEngine({
      target: { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: nowhere }], masterName: MASTER_NAME }, retention, logger,
    });
    await assert.rejects(wrongAddresses.open(), hasCode('REDIS_SENTINELS_UNREACHABLE'));
    assert.equal(wrongAddresses.isReady(), false);
    await wrongAddresses.close();
    const wrongName = engine({ target: { kind: 'sentinel', sentinels: parseHostPorts(d.sentinelList, 'test'), masterName: 'no-such-master' } });
    await assert.rejects(wrongName.open(), (err: unknown) => hasCode('REDIS_MASTER_UNKNOWN')(err) && /no-such-master/.test((err as Error).message));
    assert.equal(wrongName.isReady(), false);
    // A data server's address where a sentinel's belongs: it does not speak SENTINEL.
    const dataServer = new RedisEngine({
      target: { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: d.servers[0].port }], masterName: MASTER_NAME }, retention, logger,
    });
    await assert.rejects(dataServer.open(), (err: unknown) => hasCode('REDIS_SENTINELS_UNREACHABLE')(err) && /unknown command/i.test((err as Error).message));
    await dataServer.close();
    // One wrong address among right ones is no error: the others name the primary.
    const someWrong = new RedisEngine({
      target: { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: nowhere }, ...parseHostPorts(d.sentinelList, 'test')], masterName: MASTER_NAME },
      retention, logger: { warn: () => undefined },
    });
    try {
      await someWrong.open();
      assert.equal(someWrong.primaryAddress(), `127.0.0.1:${await d.primaryPort()}`);
    } finally {
      await someWrong.close();
    }
  });

  it('the CLI refuses them too: exit 2 with the code and what to check', async () => {
    const nowhere = await freePort();
    await assert.rejects(startServer(['--redis-sentinels', `127.0.0.1:${nowhere}`, '--redis-master-name', MASTER_NAME]),
      /exited with 2: brigade: REDIS_SENTINELS_UNREACHABLE: .*--redis-sentinels/);
    await assert.rejects(startServer(['--redis-sentinels', d.sentinelList, '--redis-master-name', 'nope']),
      /exited with 2: brigade: REDIS_MASTER_UNKNOWN: .*"nope"/);
    await assert.rejects(startServer(['--redis-sentinels', 'no-port-here', '--redis-master-name', 'x']), /exited with 2: brigade: redisSentinels: "no-port-here" is not host:port/);
    await assert.rejects(startServer(['--redis-sentinels', d.sentinelList]), /exited with 2: brigade: --redis-sentinels needs --redis-master-name/);
  });

  it('with minReplicasAcked more than the replicas there are, an append is in doubt after the bound, never acknowledged; its retry finds it once', async () => {
    const strict = engine({ minReplicasAcked: 2, replicaAckTimeoutMs: 200 });
    await strict.open();
    const stamp = [{ producer: 'p-strict', seq: 1, count: 2 }];
    const started = Date.now();
    await assert.rejects(strict.append([{ channel: 'strict', events: events(2, 's'), publishes: stamp }]),
      (err: unknown) => hasCode('OUTCOME_UNKNOWN')(err) && /[01] of the 2 replicas/.test((err as Error).message)); // 0 when the one replica is slower than the 200 ms bound on a loaded machine
    assert.ok(Date.now() - started < 5000, 'the ACK waited no longer than about its bound');
    assert.equal(strict.replicaAckShortfalls, 1);
    // It is committed on the primary (and on the one replica): the same stamps find it, once.
    const one = engine({ minReplicasAcked: 1, replicaAckTimeoutMs: 2000 });
    await one.open();
    const [again] = await one.append([{ channel: 'strict', events: events(2, 's'), publishes: stamp }]);
    assert.deepEqual(again.firsts, [0]);
    assert.equal((await one.info('strict')).head, 2, 'appended once');
    const [next] = await one.append([{ channel: 'strict', events: events(1, 'n') }]);
    assert.equal(next.version, 2);
  });

  it('a replica that never acknowledges (frozen) under a node with --redis-min-replicas-acked 1: the publish is never acknowledged, answered OUTCOME_UNKNOWN past --outcome-unknown-after-ms; re-sent with the same stamp once the replica answers, it is acknowledged once', async () => {
    const node = await startServer(['--redis-sentinels', d.sentinelList, '--redis-master-name', MASTER_NAME, '--redis-prefix', 'frozen:',
      '--redis-min-replicas-acked', '1', '--redis-replica-ack-timeout-ms', '200', '--outcome-unknown-after-ms', '1500',
      '--identity-secret', 'frozen-replica-secret', ...CANVAS_ARGS, '--publish-per-second-per-ip', '0', '--place-png-min-interval-ms', '0']);
    const replica = d.servers[1];
    let publisher: OncePublisher | null = null;
    try {
      publisher = new OncePublisher({ urls: [`${node.wsUrl}?token=${encodeURIComponent(await identity(node.url))}`], channel: CHANNEL, producer: 'frozen', payload: (seq) => smallCodec.encode(seq, 1, 2) });
      await publisher.connect();
      publisher.publishNext();
      await eventually(() => publisher!.acked.size === 1, { what: 'the first publish acknowledged with the replica answering', timeoutMs: 20_000 });
      process.kill(replica.pid, 'SIGSTOP');
      try {
        publisher.publishNext();
        await eventually(() => (publisher!.temporary.get('OUTCOME_UNKNOWN') ?? 0) >= 1, { what: 'OUTCOME_UNKNOWN past the bound', timeoutMs: 20_000 });
        assert.equal(publisher.acked.has(2), false, 'never acknowledged while no replica has it');
        assert.ok(await metric(node.url, 'brigade_redis_replica_ack_shortfalls_total') >= 1, 'the shortfalls counted');
        assert.ok(await metric(node.url, 'brigade_outcomes_unknown_total') >= 1);
        assert.ok(node.logs.some((l) => l.includes('"msg":"append in doubt; its publishes are tried again each tick with the same stamps"')
          && /0 of the 1 replicas asked for acknowledged it within 200 ms/.test(l)), 'the log line says why: no replica acknowledged within the bound');
      } finally {
        process.kill(replica.pid, 'SIGCONT');
      }
      // The publisher re-sends it with the same stamp: committed once, at the version after the first.
      await eventually(() => publisher!.acked.size === 2, { what: 'acknowledged once the replica answers', timeoutMs: 20_000 });
      assert.deepEqual([...publisher.acked], [[1, 0], [2, 1]]);
      assert.deepEqual(publisher.badlyAnswered(), []);
      assert.deepEqual(publisher.conflicts, []);
      const log = engine({ prefix: 'frozen:' });
      await log.open();
      assert.deepEqual((await log.read(CHANNEL, 0, 10)).map((e) => [...e.payload]), [1, 2].map((seq) => [...smallCodec.encode(seq, 1, 2)]), 'each publish in the log once');
    } finally {
      publisher?.close();
      await node.kill();
      node.cleanup();
    }
  });

  it('says which primary it uses, drops readiness while none is reachable, and follows a failover by itself', async () => {
    const e = engine({ minReplicasAcked: 1, replicaAckTimeoutMs: 2000, commandTimeoutMs: 2000 });
    await e.open();
    const firstPort = await d.primaryPort();
    assert.equal(e.primaryAddress(), `127.0.0.1:${firstPort}`);
    assert.ok(lines.some((l) => l.msg === 'redis primary in use' && l.obj.primary === `127.0.0.1:${firstPort}`), 'logged the primary in use');
    const [a] = await e.append([{ channel: 'fo', events: events(3, 'a') }]);
    assert.equal(a.version, 0);

    const primary = d.servers.find((s) => s.port === firstPort)!;
    await primary.kill();
    await eventually(() => !e.isReady(), { what: 'readiness to drop with the primary gone', timeoutMs: 10_000 });
    await assert.rejects(e.append([{ channel: 'fo', events: events(1, 'x') }]), hasCode('UNAVAILABLE'));
    const newPort = await d.failedOverFrom(firstPort);
    await eventually(() => e.isReady(), { what: () => `the engine on the new primary (${JSON.stringify(lines.slice(-5))} ${(e as any).conns?.cmd?.status} ${(e as any).conns?.appendConn?.status})`, timeoutMs: 20_000 });
    assert.equal(e.primaryAddress(), `127.0.0.1:${newPort}`);
    assert.equal(e.primaryChanges, 1);
    assert.ok(lines.some((l) => l.msg === 'redis primary changed (failover followed)' && l.obj.primary === `127.0.0.1:${newPort}`));
    // The new primary has no replica until the old one comes back as one: acknowledged means replicated.
    await assert.rejects(e.append([{ channel: 'fo', events: events(1, 'y'), publishes: [{ producer: 'p-fo', seq: 1, count: 1 }] }]), hasCode('OUTCOME_UNKNOWN'));
    await primary.restart(); // as systemd would; the sentinels make it a replica of the new primary
    await eventually(async () => {
      try {
        const [r] = await e.append([{ channel: 'fo', events: events(1, 'y'), publishes: [{ producer: 'p-fo', seq: 1, count: 1 }] }]);
        assert.deepEqual(r.firsts, [3], 'the in-doubt publish committed once, after the 3 acknowledged before the failover');
        return true;
      } catch (err) {
        if (err instanceof BrigadeError && (err.code === 'OUTCOME_UNKNOWN' || err.code === 'UNAVAILABLE')) return false;
        throw err;
      }
    }, { what: 'the old primary back as a replica, acknowledging', timeoutMs: 40_000, intervalMs: 250 });
    assert.equal((await e.info('fo')).head, 4);
  });
});

describe('redis engine through Sentinel with passwords (requirepass on the sentinels and on the data servers)', { concurrency: 1 }, () => {
  let d: SentinelDeployment;
  const engines: RedisEngine[] = [];
  const quiet = { warn: () => undefined };
  const engine = (passwords: { sentinelPassword?: string; password?: string }): RedisEngine => {
    const e = new RedisEngine({
      target: { kind: 'sentinel', sentinels: parseHostPorts(d.sentinelList, 'test'), masterName: MASTER_NAME, ...passwords },
      prefix: 'sentpw:', retention, logger: quiet, commandTimeoutMs: 2000,
    });
    engines.push(e);
    return e;
  };

  before(async () => {
    d = await startSentinelDeployment({ replicas: 1, password: 'data-secret', sentinelPassword: 'sentinel-secret' });
  });
  after(async () => {
    for (const e of engines) await e.close().catch(() => undefined);
    await d?.destroy();
  });

  it('with both passwords: finds the primary, appends and reads back', async () => {
    const e = engine({ sentinelPassword: 'sentinel-secret', password: 'data-secret' });
    await e.open();
    assert.equal(e.primaryAddress(), `127.0.0.1:${d.servers[0].port}`);
    const [r] = await e.append([{ channel: 'pw', events: events(3, 'p') }]);
    assert.equal(r.version, 0);
    assert.deepEqual((await e.read('pw', 0, 10)).map((ev) => new TextDecoder().decode(ev.payload)), ['p0', 'p1', 'p2']);
  });

  it('without the sentinels\' password or with a wrong one: REDIS_SENTINEL_AUTH, naming the flag', async () => {
    for (const sentinelPassword of [undefined, 'wrong']) {
      await assert.rejects(engine({ sentinelPassword, password: 'data-secret' }).open(), (err: unknown) => {
        hasCode('REDIS_SENTINEL_AUTH')(err);
        assert.match((err as Error).message, /--redis-sentinel-password/);
        return true;
      });
    }
  });

  it('without the data servers\' password: the open fails (UNAVAILABLE), nothing is written', async () => {
    await assert.rejects(engine({ sentinelPassword: 'sentinel-secret' }).open(), hasCode('UNAVAILABLE'));
  });
});

