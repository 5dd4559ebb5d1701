/**
 * Settings the tick depends on are checked before anything starts: a clear ConfigError (the CLI
 * prints it and exits 2), never a node ticking on a broken grid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/cli/config.ts';

test('tick settings: whole positive milliseconds, and a maximum no lower than the tick', () => {
  assert.equal(loadConfig(['--tick-ms', '200', '--max-tick-ms', '3000']).maxTickMs, 3000);
  assert.equal(loadConfig(['--fan-out-grace-ms', '40']).fanOutGraceMs, 40);
  for (const [argv, message] of [
    [['--tick-ms', '0'], /tickMs must be a whole number of milliseconds, at least 1, got 0/],
    [['--tick-ms', '2.5'], /tickMs must be a whole number/],
    [['--tick-ms', '300', '--max-tick-ms', '100'], /maxTickMs \(100\) must be at least tickMs \(300\)/],
    [['--fan-out-grace-ms', '-1'], /fanOutGraceMs must be a non-negative number/],
  ] as const) {
    assert.throws(() => loadConfig([...argv], {}), (err: unknown) => err instanceof ConfigError && message.test(err.message), argv.join(' '));
  }
  assert.throws(() => loadConfig([], { BRIGADE_TICK_MS: '0' }), ConfigError, 'the environment is checked too');
});

test('app options: one section per app, by file, environment and flag, with the flat and alias names too', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'brigade-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ tickMs: 50, apps: { enabled: ['place'], place: { cooldownMs: 1234, canvases: 'a:10x10' }, tracker: { intervalMs: 60000 } } }));
    let c = loadConfig(['--config', file], {});
    assert.equal(c.tickMs, 50);
    assert.equal(c.apps, 'place');
    assert.equal(c.app.place.cooldownMs, 1234);
    assert.equal(c.app.place.canvases, 'a:10x10');
    assert.equal(c.app.tracker.intervalMs, 60000);
    assert.equal(c.app.tracker.maxOffers, 10, 'defaults fill the rest');
    // Environment beats the file, flags beat the environment.
    c = loadConfig(['--config', file, '--place-cooldown-ms', '7'], { BRIGADE_PLACE_COOLDOWN_MS: '99', BRIGADE_TRACKER_INTERVAL_MS: '30000' });
    assert.equal(c.app.place.cooldownMs, 7);
    assert.equal(c.app.tracker.intervalMs, 30000);
    // The flat file key of before and the alias of a moved option.
    writeFileSync(file, JSON.stringify({ placeCooldownMs: 5, adminToken: 'tok' }));
    c = loadConfig(['--config', file], {});
    assert.equal(c.app.place.cooldownMs, 5);
    assert.equal(c.app.place.adminToken, 'tok');
    assert.equal(c.app.jobs.adminToken, 'tok', 'an alias two apps share sets both');
    assert.equal(loadConfig(['--admin-token', 'x'], {}).app.place.adminToken, 'x');
    assert.equal(loadConfig(['--place-admin-token', 'y'], {}).app.place.adminToken, 'y');
    // Refusals: an unknown app or option, a bad value, an app's own check.
    for (const [content, message] of [
      [{ apps: { nope: {} } }, /apps\.nope: no such app/],
      [{ apps: { place: { colour: 1 } } }, /apps\.place\.colour: unknown option/],
      [{ apps: { place: { cooldownMs: 'soon' } } }, /placeCooldownMs must be a non-negative number/],
      [{ apps: { place: { canvases: 'a:0x0' } } }, /placeCanvases \(--place-canvases\)/],
      [{ apps: { enabled: 'place,chess' } }, /no app named "chess"/],
    ] as const) {
      writeFileSync(file, JSON.stringify(content));
      assert.throws(() => loadConfig(['--config', file], {}), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify(content));
    }
    assert.throws(() => loadConfig(['--apps', 'tracker,x'], {}), /no app named "x"/);
    assert.throws(() => loadConfig(['--tracker-tick-ms', '0'], {}), /trackerTickMs/);
    // The inbox's device lease: flag, environment, file; a whole number of ms, at least 1000.
    assert.equal(loadConfig([], {}).app.inbox.deviceLeaseMs, 60000);
    assert.equal(loadConfig(['--inbox-device-lease-ms', '300000'], {}).app.inbox.deviceLeaseMs, 300000);
    assert.equal(loadConfig([], { BRIGADE_INBOX_DEVICE_LEASE_MS: '5000' }).app.inbox.deviceLeaseMs, 5000);
    writeFileSync(file, JSON.stringify({ apps: { inbox: { deviceLeaseMs: 9000 } } }));
    assert.equal(loadConfig(['--config', file], {}).app.inbox.deviceLeaseMs, 9000);
    for (const argv of [['--inbox-device-lease-ms', '999'], ['--inbox-device-lease-ms', '1500.5'], ['--inbox-device-lease-ms', 'soon']]) {
      assert.throws(() => loadConfig(argv, {}), (err: unknown) => err instanceof ConfigError && /deviceLeaseMs/i.test(err.message), argv.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Redis shapes: sentinels and master name, cluster nodes, by file, environment and flag; bad combinations refused', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { redisTargetOf } = await import('../../src/cli/config.ts');
  const dir = mkdtempSync(join(tmpdir(), 'brigade-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ redisSentinels: '10.0.0.1:26379,[::1]:26380', redisMasterName: 'main', redisMinReplicasAcked: 1 }));
    const c = loadConfig(['--config', file], {});
    assert.deepEqual(redisTargetOf(c), {
      kind: 'sentinel', masterName: 'main', sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }],
    });
    assert.equal(c.redisMinReplicasAcked, 1);
    assert.equal(c.redisReplicaAckTimeoutMs, 1000);
    const env = loadConfig(['--redis-master-name', 'other', '--redis-replica-ack-timeout-ms', '250'], {
      BRIGADE_REDIS_SENTINELS: 'a:1', BRIGADE_REDIS_MASTER_NAME: 'ignored', BRIGADE_REDIS_MIN_REPLICAS_ACKED: '2',
    });
    assert.deepEqual(redisTargetOf(env), { kind: 'sentinel', masterName: 'other', sentinels: [{ host: 'a', port: 1 }] });
    assert.equal(env.redisMinReplicasAcked, 2);
    assert.equal(env.redisReplicaAckTimeoutMs, 250);
    assert.equal(loadConfig(['--redis-sentinels', 'a:1', '--redis-master-name', 'm'], { BRIGADE_REDIS_REPLICA_ACK_TIMEOUT_MS: '300' }).redisReplicaAckTimeoutMs, 300);
    writeFileSync(file, JSON.stringify({ redisSentinels: 'a:1', redisMasterName: 'm', redisReplicaAckTimeoutMs: 400 }));
    assert.equal(loadConfig(['--config', file], {}).redisReplicaAckTimeoutMs, 400);
    assert.deepEqual(redisTargetOf(loadConfig(['--redis-sentinels', 'a:1', '--redis-master-name', 'm', '--redis-sentinel-password', 'sp'], {
      BRIGADE_REDIS_MASTER_PASSWORD: 'mp',
    })), { kind: 'sentinel', masterName: 'm', sentinels: [{ host: 'a', port: 1 }], sentinelPassword: 'sp', password: 'mp' });
    assert.deepEqual(redisTargetOf(loadConfig(['--redis', 'redis://h:1'], {})), { kind: 'single', url: 'redis://h:1' });
    assert.equal(redisTargetOf(loadConfig([], {})), null);
    writeFileSync(file, JSON.stringify({ redisCluster: '10.0.0.1:7000,10.0.0.2:7000' }));
    assert.deepEqual(redisTargetOf(loadConfig(['--config', file], {})), {
      kind: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }],
    });
    assert.deepEqual(redisTargetOf(loadConfig(['--config', file], { BRIGADE_REDIS_CLUSTER: 'e:1' })), { kind: 'cluster', nodes: [{ host: 'e', port: 1 }] });
    assert.deepEqual(redisTargetOf(loadConfig(['--redis-cluster', 'f:2,[::1]:3'], { BRIGADE_REDIS_CLUSTER: 'e:1' })), {
      kind: 'cluster', nodes: [{ host: 'f', port: 2 }, { host: '::1', port: 3 }],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [argv, message] of [
    [['--redis-sentinels', 'a:1'], /--redis-sentinels needs --redis-master-name/],
    [['--redis-master-name', 'm'], /--redis-master-name needs --redis-sentinels/],
    [['--redis', 'redis://h:1', '--redis-master-password', 'p'], /are for --redis-sentinels/],
    [['--redis-sentinel-password', 'p'], /are for --redis-sentinels/],
    [['--redis', 'redis://h:1', '--redis-sentinels', 'a:1', '--redis-master-name', 'm'], /not both/],
    [['--redis-sentinels', 'a:1,b', '--redis-master-name', 'm'], /redisSentinels: "b" is not host:port/],
    [['--redis-sentinels', 'a:70000', '--redis-master-name', 'm'], /port 1-65535/],
    [['--redis-min-replicas-acked', '1'], /needs --redis, --redis-sentinels or --redis-cluster/],
    [['--redis', 'redis://h:1', '--redis-cluster', 'a:1'], /not several/],
    [['--redis-cluster', 'a:1', '--redis-sentinels', 'b:2'], /not several/],
    [['--redis-cluster', 'a:1', '--redis-master-name', 'm'], /a cluster has a primary per shard/],
    [['--redis-cluster', 'a:1,:2'], /redisCluster: ":2" is not host:port/],
    [['--redis', 'redis://h:1', '--redis-min-replicas-acked', '1.5'], /whole number of replicas/],
    [['--redis', 'redis://h:1', '--redis-replica-ack-timeout-ms', '0'], /at least 1 ms/],
    [['--sqlite-synchronous', 'off'], /sqliteSynchronous must be full or normal, got "off"/],
    [['--redis', 'redis://h:1', '--sqlite-synchronous', 'normal'], /embedded engine's: with --redis/],
    [['--sqlite-checkpoint', 'off'], /sqliteCheckpoint must be thread or inline, got "off"/],
    [['--redis', 'redis://h:1', '--sqlite-checkpoint', 'inline'], /no SQLite file to checkpoint/],
  ] as const) {
    assert.throws(() => loadConfig([...argv], {}), (err: unknown) => err instanceof ConfigError && message.test(err.message), argv.join(' '));
  }
});

test('--redis-cluster-straggler-ms: half a tick by default, set by file, environment or flag; bad values refused', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { clusterStragglerMsOf } = await import('../../src/cli/config.ts');
  const cluster = ['--redis-cluster', 'a:1'];
  assert.equal(clusterStragglerMsOf(loadConfig(cluster, {})), 50, 'half of the default --tick-ms (100)');
  assert.equal(clusterStragglerMsOf(loadConfig([...cluster, '--tick-ms', '30'], {})), 15);
  assert.equal(clusterStragglerMsOf(loadConfig([...cluster, '--tick-ms', '1'], {})), 1, 'never 0');
  assert.equal(clusterStragglerMsOf(loadConfig([...cluster, '--redis-cluster-straggler-ms', '400'], {})), 400);
  assert.equal(clusterStragglerMsOf(loadConfig(cluster, { BRIGADE_REDIS_CLUSTER_STRAGGLER_MS: '250' })), 250);
  assert.equal(clusterStragglerMsOf(loadConfig([...cluster, '--redis-cluster-straggler-ms=0'], { BRIGADE_REDIS_CLUSTER_STRAGGLER_MS: '250' })), 50,
    'the flag wins, and 0 is half a tick again');
  const dir = mkdtempSync(join(tmpdir(), 'brigade-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ redisCluster: 'a:1', redisClusterStragglerMs: 1200 }));
    assert.equal(clusterStragglerMsOf(loadConfig(['--config', file], {})), 1200);
    writeFileSync(file, JSON.stringify({ redisCluster: 'a:1', redisClusterStragglerMs: '1e3x' }));
    assert.throws(() => loadConfig(['--config', file], {}), (err: unknown) => err instanceof ConfigError && /redisClusterStragglerMs must be a non-negative number/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [argv, env, message] of [
    [[...cluster, '--redis-cluster-straggler-ms', '-5'], {}, /redisClusterStragglerMs must be a non-negative number, got "-5"/],
    [[...cluster, '--redis-cluster-straggler-ms', 'soon'], {}, /must be a non-negative number, got "soon"/],
    [[...cluster, '--redis-cluster-straggler-ms', '12.5'], {}, /whole number of milliseconds/],
    [cluster, { BRIGADE_REDIS_CLUSTER_STRAGGLER_MS: '' }, /BRIGADE_REDIS_CLUSTER_STRAGGLER_MS: redisClusterStragglerMs must be a non-negative number/],
    [['--redis', 'redis://h:1', '--redis-cluster-straggler-ms', '100'], {}, /is for --redis-cluster/],
    [['--redis-cluster-straggler-ms', '100'], {}, /is for --redis-cluster/],
  ] as const) {
    assert.throws(() => loadConfig([...argv], env), (err: unknown) => err instanceof ConfigError && message.test(err.message), argv.join(' '));
  }
});

test('--sqlite-synchronous: full by default, normal when asked (flag or environment)', () => {
  assert.equal(loadConfig([], {}).sqliteSynchronous, 'full');
  assert.equal(loadConfig(['--sqlite-synchronous', 'normal'], {}).sqliteSynchronous, 'normal');
  assert.equal(loadConfig([], { BRIGADE_SQLITE_SYNCHRONOUS: 'normal' }).sqliteSynchronous, 'normal');
  assert.equal(loadConfig(['--redis', 'redis://h:1', '--sqlite-synchronous', 'full'], {}).sqliteSynchronous, 'full');
});

test('--sqlite-checkpoint: thread by default, inline when asked (flag or environment)', () => {
  assert.equal(loadConfig([], {}).sqliteCheckpoint, 'thread');
  assert.equal(loadConfig(['--sqlite-checkpoint', 'inline'], {}).sqliteCheckpoint, 'inline');
  assert.equal(loadConfig([], { BRIGADE_SQLITE_CHECKPOINT: 'inline' }).sqliteCheckpoint, 'inline');
  assert.equal(loadConfig(['--redis', 'redis://h:1'], {}).sqliteCheckpoint, 'thread');
});
