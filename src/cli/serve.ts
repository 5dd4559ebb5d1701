/**
 * `brigade serve`: wires an engine, the hub, the apps and the gateway together (the only place
 * that knows all of them), and shuts them down in order on SIGTERM/SIGINT.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { AppHost, Hub } from '../core/index.ts';
import { EmbeddedEngine, RedisEngine, type SqliteCheckpoint, type SqliteSynchronous } from '../engines/index.ts';
import type { Engine } from '../core/index.ts';
import { Gateway, IdentityIssuer, createMetrics } from '../gateway/index.ts';
import { allApps } from './apps.ts';
import { clusterStragglerMsOf, coreOptionsOf, redisTargetOf, selectedApps, type Config } from './config.ts';
import { redisMetrics } from './redis-metrics.ts';
import { effectiveMaxConnections, openFileSoftLimit } from './limits.ts';

export interface Running {
  gateway: Gateway;
  hub: Hub;
  port: number;
  shutdown(reason: string): Promise<void>;
}

/**
 * Reads a secret from DATA/name, creating it on first start so tokens survive restarts. Nodes that
 * share a data directory (--workers) share it; separate machines pass --identity-secret and
 * --admin-token.
 */
export function persistentSecret(dataDir: string, name: string, given: string): string {
  if (given) return given;
  const path = join(dataDir, name);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}

export function webRoot(): string {
  // dist/cli.js → dist/web; src/cli/serve.ts (under tsx) → dist/web as well.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'web'), join(here, '../../dist/web')]) if (existsSync(candidate)) return candidate;
  return '';
}

/** The engine the configuration names (Redis, or the data directory's SQLite file), opened. */
export async function openEngine(config: Config, logger: pino.Logger): Promise<Engine> {
  const dataDir = resolve(config.data);
  mkdirSync(dataDir, { recursive: true });
  const retention = { retainEvents: config.retainEvents, keepSnapshots: config.keepSnapshots };
  const target = redisTargetOf(config);
  const redis = target
    ? new RedisEngine({
      target, prefix: config.redisPrefix, retention, logger,
      minReplicasAcked: config.redisMinReplicasAcked, replicaAckTimeoutMs: config.redisReplicaAckTimeoutMs,
      // On a cluster, a shard this far behind the others is not waited for (its part in doubt).
      straggleMs: clusterStragglerMsOf(config),
    })
    : null;
  const engine: Engine = redis ?? new EmbeddedEngine({
      path: join(dataDir, 'brigade.sqlite'), retention, logger, synchronous: config.sqliteSynchronous as SqliteSynchronous,
      checkpoint: config.sqliteCheckpoint as SqliteCheckpoint,
    });
  await engine.open();
  return engine;
}

export async function serve(config: Config): Promise<Running> {
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } });
  const dataDir = resolve(config.data);
  const engine = await openEngine(config, logger);
  const redis = engine instanceof RedisEngine ? engine : null;

  let metrics: ReturnType<typeof createMetrics> | null = null;
  const hub = new Hub({
    engine,
    types: [],
    logger,
    observer: { tick: (ms) => metrics?.observer.tick(ms), batch: (n) => metrics?.observer.batch(n) },
    options: coreOptionsOf(config),
  });
  metrics = createMetrics(hub.stats, { engine: engine.kind }, () => hub.maxBufferedBytes(), config.metricsLoopLagMs);
  if (redis) redisMetrics(metrics.registry, redis);
  if (!redis && config.workers > 1) throw new Error('--workers > 1 needs --redis: the embedded engine serves one process');
  const identity = new IdentityIssuer(persistentSecret(dataDir, 'identity-secret', config.identitySecret));

  // Every app runs on the App contract (src/core/app.ts): the host gives each its ports and
  // collects its channel types, routes, socket paths, requests and ticks.
  let ownPort = 0; // known once the node listens on its own port
  let ownPortKnown = false;
  // "" until then (AppCore.publicUrl): a tick that runs before (an app publishing its URL to other
  // nodes) must not hand out port 0 or, for a cluster worker, the shared port.
  const publicUrl = () => (!ownPortKnown ? '' : (config.publicUrl || `http://${config.host === '0.0.0.0' || config.host === '::' ? hostname() : config.host}:{port}`)
    .replaceAll('{port}', String(ownPort)));
  const apps = new AppHost({
    hub, engine, logger, metricsRegistry: metrics.registry, publicUrl,
    limits: { maxBufferedBytes: config.maxBufferedBytes, maxFrameBytes: config.maxFrameBytes },
    secret: (name, given) => persistentSecret(dataDir, name, given),
  });
  await apps.start(selectedApps(config).map((app) => ({ app, options: config.app[app.name] })), allApps.map((a) => a.name));

  const maxConnections = effectiveMaxConnections(config.maxConnections, openFileSoftLimit());
  const gateway = new Gateway(
    {
      host: config.host, port: config.port, maxFrameBytes: config.maxFrameBytes, maxFramesPerSecond: config.maxFramesPerSecond, trustProxy: config.trustProxy, webRoot: webRoot(),
      maxConnections, maxConnectionsPerIp: Math.floor(config.maxConnectionsPerIp),
      identityPerMinutePerIp: config.identityPerMinutePerIp,
    },
    { hub, identity, metrics, logger, routes: apps.httpRoutes, sockets: apps.socketRoutes, apps: apps.listing },
  );
  hub.start();
  const address = await gateway.listen();
  ownPort = address.port;
  // A cluster worker always opens its own port (the shared one reaches any worker).
  const worker = process.env.BRIGADE_WORKER;
  if (config.nodePort > 0 || worker !== undefined) {
    ownPort = await gateway.listenNodePort(config.nodePort > 0 ? config.nodePort + Number(worker ?? 0) : 0);
  }
  ownPortKnown = true;
  logger.info({ port: address.port, nodePort: ownPort, publicUrl: publicUrl(), worker: worker ?? null, data: dataDir, engine: engine.kind, apps: apps.listing.map((a) => a.name), nodeId: apps.nodeId, nodeFlags: process.execArgv, maxConnections: maxConnections || null }, 'brigade listening');

  let closing: Promise<void> | null = null;
  const shutdown = (reason: string) => {
    let step = 'stop accepting';
    closing ??= new Promise<void>((resolve, reject) => {
      // A step that never ends (an engine that does not answer, a close that never completes) must
      // not keep the process: past --shutdown-timeout-ms the stop fails, naming the step.
      const deadline = setTimeout(() => reject(new Error(`shutdown did not finish in ${config.shutdownTimeoutMs} ms: stuck at "${step}"`)), config.shutdownTimeoutMs);
      deadline.unref();
      (async () => {
        logger.info({ reason }, 'shutting down: no new connections, flushing the tick');
        gateway.stopAccepting();
        step = 'flush the tick';
        await hub.stop();
        step = 'close the clients';
        await gateway.closeClients();
        step = 'stop the apps';
        await apps.stop(); // after the clients are gone (the tracker's peers left their swarms), before the engine closes
        step = 'close the engine';
        await engine.close();
        logger.info({}, 'shut down');
      })().then(() => { clearTimeout(deadline); resolve(); }, (err) => { clearTimeout(deadline); reject(err); });
    });
    return closing;
  };
  return { gateway, hub, port: address.port, shutdown };
}
