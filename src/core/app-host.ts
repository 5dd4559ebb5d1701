/**
 * Runs apps on the core: gives each its AppCore (the ports of app.ts), collects what it
 * registers (channel types into the hub, routes and socket paths for the gateway, request kinds
 * into the router, tick callbacks on the grid), and stops them in reverse order.
 */
import { registerErrorCodes } from '../protocol/index.ts';
import type {
  App, AppCore, AppHandle, AppListing, AppOptions, CoreLimits, HttpRoute, SocketAcceptor, TickCallback, TickOptions,
} from './app.ts';
import { hasClaims, hasDirectMessages, hasHeldClaims, hasJobQueues, hasMembership, type Engine } from './engine.ts';
import { everyOnGrid, type GridTimer } from './grid-timer.ts';
import type { Hub } from './hub.ts';
import type { Logger } from './options.ts';

export interface AppHostDeps {
  hub: Hub;
  engine: Engine;
  logger: Logger;
  limits: CoreLimits;
  /** The node's metrics registry (prom-client), handed to apps as AppCore.metricsRegistry. */
  metricsRegistry: unknown;
  /** Persistent secrets (AppCore.secret). */
  secret(name: string, given: string): string;
  /** This node's own public URL (AppCore.publicUrl); "" when the node does not know it. */
  publicUrl?: () => string;
}

/** An app to run, with its resolved options. */
export interface AppRun {
  app: App<any>;
  options: AppOptions;
}

/** Socket paths the core protocol keeps for itself. */
const RESERVED_PATHS = new Set(['/ws']);

export class AppHost {
  readonly nodeId: string;
  readonly httpRoutes: HttpRoute[] = [];
  readonly socketRoutes = new Map<string, { app: string; accept: SocketAcceptor }>();
  readonly listing: AppListing[] = [];
  private readonly handles: { name: string; handle: AppHandle }[] = [];
  private readonly timers: GridTimer[] = [];

  constructor(private readonly deps: AppHostDeps) {
    this.nodeId = deps.hub.nodeId;
  }

  /**
   * Starts each app in order (after registering its error codes). Refuses, before starting any,
   * an app whose engine abilities are missing or two apps of one name.
   */
  async start(runs: AppRun[], knownApps: string[] = runs.map((r) => r.app.name)): Promise<void> {
    const { engine, hub } = this.deps;
    const names = new Set<string>();
    for (const { app } of runs) {
      if (names.has(app.name)) throw new Error(`app ${app.name} is listed twice`);
      names.add(app.name);
      for (const need of app.needs ?? []) {
        const has = need === 'direct' ? hasDirectMessages(engine) : need === 'membership' ? hasMembership(engine)
          : need === 'jobs' ? hasJobQueues(engine) : hasClaims(engine);
        if (!has) throw new Error(`app ${app.name} needs the engine's ${need} ability, which the ${engine.kind} engine lacks`);
      }
    }
    hub.requests.know(knownApps);
    for (const run of runs) {
      if (run.app.errors) registerErrorCodes(run.app.errors);
      const handle = await run.app.start(this.coreFor(run));
      this.handles.push({ name: run.app.name, handle: handle ?? {} });
      this.listing.push({ name: run.app.name, description: run.app.description, path: run.app.page ?? '' });
      this.deps.logger.info({ app: run.app.name }, 'app started');
    }
  }

  /** Stops tick callbacks, then every app, last started first. */
  async stop(): Promise<void> {
    await Promise.all(this.timers.splice(0).map((t) => t.stop()));
    for (const { name, handle } of this.handles.splice(0).reverse()) {
      try {
        await handle.stop?.();
      } catch (err) {
        this.deps.logger.error({ app: name, err: String(err) }, 'app stop failed');
      }
    }
  }

  private coreFor(run: AppRun): AppCore<any> {
    const { hub, engine, logger } = this.deps;
    const name = run.app.name;
    hub.requests.run(name);
    const host = this;
    return {
      options: Object.freeze({ ...run.options }),
      nodeId: this.nodeId,
      logger,
      limits: this.deps.limits,
      stats: hub.stats,
      channels: hub,
      direct: hasDirectMessages(engine) ? engine : null,
      membership: hasMembership(engine) ? engine : null,
      claims: hasClaims(engine) ? engine : null,
      heldClaims: hasHeldClaims(engine) ? engine : null,
      publicUrl: () => this.deps.publicUrl?.() ?? '',
      jobs: hasJobQueues(engine) ? engine : null,
      metricsRegistry: this.deps.metricsRegistry,
      secret: (secretName, given) => this.deps.secret(secretName, given),
      channelType: (type) => hub.addType(type),
      http: (route) => { host.httpRoutes.push(route); },
      socket(path, accept) {
        if (!path.startsWith('/') || RESERVED_PATHS.has(path)) throw new Error(`${name}: socket path ${JSON.stringify(path)} is reserved or not absolute`);
        const holder = host.socketRoutes.get(path);
        if (holder) throw new Error(`${name}: socket path ${path} is already ${holder.app}'s`);
        host.socketRoutes.set(path, { app: name, accept });
      },
      request: (kind, handler) => hub.requests.register(name, kind, handler),
      tick(intervalMs: number, fn: TickCallback, options?: TickOptions) {
        const timer = everyOnGrid(intervalMs, fn, (err) => logger.error({ app: name, err: String(err) }, 'app tick failed'), options?.onDemand === true);
        host.timers.push(timer);
        return timer;
      },
    };
  }
}
