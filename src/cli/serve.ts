/**
 * `brigade serve`: wires an engine, the hub, the apps and the gateway together (the only place
 * that knows all of them), and shuts them down in order on SIGTERM/SIGINT.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Hub, hasDirectMessages, hasMembership } from '../core/index.ts';
import { EmbeddedEngine, RedisEngine } from '../engines/index.ts';
import type { Engine } from '../core/index.ts';
import { Gateway, IdentityIssuer, createMetrics, type HttpRoute } from '../gateway/index.ts';
import { DEFAULT_PALETTE, PlaceChannelType, placeRoutes } from '../apps/place/index.ts';
import { Tracker, trackerHttpRoutes, trackerOptionsOf, trackerWsRoutes } from '../apps/tracker/index.ts';
import { coreOptionsOf, type Config } from './config.ts';
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

export function parseCanvases(spec: string, palette: string[]): Record<string, { width: number; height: number; palette: string[] }> {
  const out: Record<string, { width: number; height: number; palette: string[] }> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]+):(\d+)x(\d+)$/.exec(part);
    if (!m) throw new Error(`placeCanvases: ${JSON.stringify(part)} is not name:WIDTHxHEIGHT`);
    out[m[1]] = { width: Number(m[2]), height: Number(m[3]), palette };
  }
  return out;
}

export function webRoot(): string {
  // dist/cli.js → dist/web; src/cli/serve.ts (under tsx) → dist/web as well.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'web'), join(here, '../../dist/web')]) if (existsSync(candidate)) return candidate;
  return '';
}

export async function serve(config: Config): Promise<Running> {
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } });
  const dataDir = resolve(config.data);
  mkdirSync(dataDir, { recursive: true });

  const retention = { retainEvents: config.retainEvents, keepSnapshots: config.keepSnapshots };
  const engine: Engine = config.redis
    ? new RedisEngine({ url: config.redis, prefix: config.redisPrefix, retention, logger })
    : new EmbeddedEngine({ path: join(dataDir, 'brigade.sqlite'), retention, logger });
  await engine.open();

  const palette = config.placePalette ? config.placePalette.split(',').map((s) => s.trim()) : [...DEFAULT_PALETTE];
  const place = new PlaceChannelType({ canvases: parseCanvases(config.placeCanvases, palette), cooldownMs: config.placeCooldownMs });

  let metrics: ReturnType<typeof createMetrics> | null = null;
  const hub = new Hub({
    engine,
    types: [place],
    logger,
    observer: { tick: (ms) => metrics?.observer.tick(ms), batch: (n) => metrics?.observer.batch(n) },
    options: coreOptionsOf(config),
  });
  metrics = createMetrics(hub.stats, { engine: engine.kind }, () => hub.maxBufferedBytes());
  const adminToken = persistentSecret(dataDir, 'admin-token', config.adminToken);
  if (!config.redis && config.workers > 1) throw new Error('--workers > 1 needs --redis: the embedded engine serves one process');
  const identity = new IdentityIssuer(persistentSecret(dataDir, 'identity-secret', config.identitySecret));
  const routes: HttpRoute[] = placeRoutes(hub, place, { adminToken, pngMinIntervalMs: config.placePngMinIntervalMs });
  if (!hasDirectMessages(engine) || !hasMembership(engine)) throw new Error(`the ${engine.kind} engine lacks direct messages or membership, which the tracker needs`);
  const tracker = new Tracker(trackerOptionsOf(config), { engine, coreStats: hub.stats, logger, maxBufferedBytes: config.maxBufferedBytes, registry: metrics.registry });
  routes.push(...trackerHttpRoutes(tracker));

  const maxConnections = effectiveMaxConnections(config.maxConnections, openFileSoftLimit());
  const gateway = new Gateway(
    {
      host: config.host, port: config.port, maxFrameBytes: config.maxFrameBytes, maxFramesPerSecond: config.maxFramesPerSecond, trustProxy: config.trustProxy, webRoot: webRoot(),
      maxConnections, maxConnectionsPerIp: Math.floor(config.maxConnectionsPerIp),
    },
    {
      hub, identity, metrics, logger, routes, wsRoutes: trackerWsRoutes(tracker),
      apps: [
        { name: 'place', path: '/place', description: 'A shared pixel canvas (r/place)' },
        { name: 'tracker', path: '/tracker', description: 'WebTorrent tracker: swarms, peers and messages/s per node, live' },
      ],
    },
  );
  hub.start();
  tracker.start();
  const address = await gateway.listen();
  logger.info({ port: address.port, worker: process.env.BRIGADE_WORKER ?? null, data: dataDir, engine: engine.kind, nodeFlags: process.execArgv, maxConnections: maxConnections || null, adminTokenFile: config.adminToken ? null : join(dataDir, 'admin-token') }, 'brigade listening');

  let closing: Promise<void> | null = null;
  const shutdown = (reason: string) => {
    closing ??= (async () => {
      logger.info({ reason }, 'shutting down: no new connections, flushing the tick');
      gateway.stopAccepting();
      await hub.stop();
      await gateway.closeClients();
      await tracker.stop(); // after the clients' peers left their swarms, before the engine closes
      await engine.close();
      logger.info({}, 'shut down');
    })();
    return closing;
  };
  return { gateway, hub, port: address.port, shutdown };
}
