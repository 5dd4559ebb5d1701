/**
 * Settings, lowest precedence first: defaults, a JSON config file (--config FILE or
 * BRIGADE_CONFIG), environment variables, command-line flags. Every key can be set all four ways:
 *
 * - the node's own settings: file key `tickMs`, `BRIGADE_TICK_MS`, `--tick-ms`;
 * - each app's options, one section per app (src/core/app.ts `App.options`): file key
 *   `apps.place.cooldownMs`, `BRIGADE_PLACE_COOLDOWN_MS`, `--place-cooldown-ms`. The flat file key
 *   `placeCooldownMs` is read too, and an option's `alias` (place's `adminToken`) names a
 *   top-level setting it also answers to.
 *
 * `--apps place,tracker` (file key `apps.enabled`, `BRIGADE_APPS`) runs a subset; default: all.
 */
import { readFileSync } from 'node:fs';
import type { App, AppOptions, OptionSpec, OptionValue } from '../core/app.ts';
import { defaultCoreOptions, type CoreOptions } from '../core/index.ts';
import { allApps } from './apps.ts';
import { parseHostPorts, type RedisTarget } from '../engines/redis-target.ts';
import { SQLITE_CHECKPOINT, SQLITE_SYNCHRONOUS, type SqliteCheckpoint, type SqliteSynchronous } from '../engines/index.ts';

/** Every core option (units in src/core/options.ts) is a setting too, under the same name. */
export interface NodeConfig extends CoreOptions {
  host: string;
  port: number;
  /** Directory for the embedded engine's SQLite file and generated secrets. */
  data: string;
  logLevel: string;
  /** redis://host:port — use the Redis engine (many processes and machines); empty = embedded SQLite. */
  redis: string;
  /** Key prefix in Redis, so several deployments can share one Redis. */
  redisPrefix: string;
  /**
   * Redis Sentinel instead of --redis: the sentinels' `host:port,host:port,…`; the node finds the
   * primary of --redis-master-name through them and follows its failovers. Empty = not used.
   */
  redisSentinels: string;
  /** The master name the sentinels monitor (their `sentinel monitor NAME …` line); with --redis-sentinels. */
  redisMasterName: string;
  /** The sentinels' password (their `requirepass`); with --redis-sentinels. Empty = none. */
  redisSentinelPassword: string;
  /** The primary's and replicas' password (their `requirepass`); with --redis-sentinels. Empty = none. */
  redisMasterPassword: string;
  /**
   * Redis Cluster instead of --redis: some of its nodes' `host:port,host:port,…` (the node learns
   * the rest and the slot map from them); channels, queues and sets spread over its shards by
   * slot. Empty = not used.
   */
  redisCluster: string;
  /**
   * Cluster: once one shard has answered the whole of a tick's append, how much longer the other
   * shards are waited for, ms (plus twice as long as that shard took); a shard still silent then is
   * left running and its part answered in doubt (sent again with the same stamps a tick or more
   * later). Longer: fewer parts left behind on a loaded cluster, but a stalled or failing shard holds
   * every tick's ACKs that much longer. 0 = half of --tick-ms. Only with --redis-cluster.
   */
  redisClusterStragglerMs: number;
  /**
   * How often the event-loop lag in /metrics (`brigade_process_nodejs_eventloop_lag_*`) is sampled,
   * ms: one timer wake-up per sample, idle or not. 1000 keeps an idle node asleep and shows every
   * stall of a second or more; 10 (prom-client's default) shows short stalls too, at 100 wake-ups a
   * second (the latency benchmarks use it).
   */
  metricsLoopLagMs: number;
  /**
   * Longest a graceful shutdown (SIGTERM/SIGINT) may take, ms: past it the node logs the step it
   * was stuck in (an engine that does not answer, a client that never closes) and exits 1, so a
   * stop always ends and an orchestrator's SIGKILL is never the only way out.
   */
  shutdownTimeoutMs: number;
  /**
   * Replicas that must hold a tick's append before its publishes are acknowledged (WAIT after the
   * append script); 0 = acknowledge once the primary has it (a failover may then lose it).
   */
  redisMinReplicasAcked: number;
  /**
   * Longest a tick waits for --redis-min-replicas-acked replicas, ms; past it the publishes are
   * in doubt and tried again with the same stamps (OUTCOME_UNKNOWN after --outcome-unknown-after-ms).
   */
  redisReplicaAckTimeoutMs: number;
  /**
   * The embedded engine's SQLite `synchronous` (WAL): 'full' (default) fsyncs the WAL at every
   * commit, so an acknowledged step survives a power loss; 'normal' fsyncs only at checkpoints, so
   * an acknowledged step survives the process's crash (kill -9) but a power loss or an OS crash may
   * lose the last commits (plainjob's setting). Refused with Redis (it has its own: appendfsync).
   */
  sqliteSynchronous: string;
  /**
   * Who checkpoints the embedded engine's WAL: 'thread' (default) a second connection in a worker
   * thread, PASSIVE, so no commit on the node's loop copies pages or fsyncs the database file;
   * 'inline' SQLite's own automatic checkpoint inside the commit that passes 1,000 pages. Neither
   * changes what an acknowledged step promises (src/engines/sqlite-checkpointer.ts). Refused with Redis.
   */
  sqliteCheckpoint: string;
  /** Node processes on this machine (node:cluster, one port); more than 1 needs --redis. */
  workers: number;
  /**
   * A second port this node serves alone, so clients can be sent to it (choir's rooms): 0 = none;
   * each `--workers` worker always opens one: this port + its index, or any free port when 0.
   */
  nodePort: number;
  /**
   * The base URL at which clients reach this node alone, `{port}` standing for its own port (the
   * node port when open, else --port); empty = `http://<host>:{port}` (the machine's hostname for 0.0.0.0).
   */
  publicUrl: string;
  // engine retention
  /** Log events kept behind the newest snapshot. */
  retainEvents: number;
  /** Snapshots kept per channel (rollback can reach back to the oldest). */
  keepSnapshots: number;
  // gateway
  maxFrameBytes: number;
  maxFramesPerSecond: number;
  /**
   * WebSocket connections one process holds at most; 0 = automatic: the open-file limit less 512
   * (so files, Redis and the listening socket always have descriptors), or none where it cannot be read.
   */
  maxConnections: number;
  /** WebSocket connections one client address may hold per process; 0 = no limit. */
  maxConnectionsPerIp: number;
  trustProxy: boolean;
  /**
   * Identity tokens (`POST /api/identity`) one client address may mint per minute, per process, with
   * a burst of as many (a token bucket); past it HTTP 429 RATE_LIMITED with Retry-After. 0 = no limit.
   */
  identityPerMinutePerIp: number;
  /** HMAC key for identity tokens; generated into DATA/identity-secret when empty. */
  identitySecret: string;
  /** Apps to run, comma-separated (`place,tracker`); empty = every app. */
  apps: string;
}

export interface Config extends NodeConfig {
  /** Each app's resolved options, by app name (every known app, run or not). */
  app: Record<string, AppOptions>;
}

export const defaultNodeConfig: NodeConfig = {
  host: '0.0.0.0',
  port: 8080,
  data: './data',
  logLevel: 'info',
  redis: '',
  redisPrefix: 'brigade:',
  redisSentinels: '',
  redisMasterName: '',
  redisSentinelPassword: '',
  redisMasterPassword: '',
  redisCluster: '',
  redisClusterStragglerMs: 0,
  metricsLoopLagMs: 1000,
  shutdownTimeoutMs: 10_000,
  redisMinReplicasAcked: 0,
  redisReplicaAckTimeoutMs: 1000,
  sqliteSynchronous: 'full',
  sqliteCheckpoint: 'thread',
  workers: 1,
  nodePort: 0,
  publicUrl: '',
  ...defaultCoreOptions,
  retainEvents: 100_000,
  keepSnapshots: 8,
  maxFrameBytes: 64 * 1024,
  maxFramesPerSecond: 200,
  maxConnections: 0,
  maxConnectionsPerIp: 0,
  trustProxy: false,
  identityPerMinutePerIp: 10,
  identitySecret: '',
  apps: '',
};

/** The defaults of every setting, apps' options included. */
export const defaultConfig: Config = { ...defaultNodeConfig, app: appDefaults(allApps) };

function appDefaults(apps: readonly App<any>[]): Record<string, AppOptions> {
  const out: Record<string, AppOptions> = {};
  for (const app of apps) {
    const o: AppOptions = {};
    for (const [k, spec] of Object.entries(app.options) as [string, OptionSpec][]) o[k] = spec.default;
    out[app.name] = o;
  }
  return out;
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const snake = (k: string) => 'BRIGADE_' + k.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
const capital = (k: string) => k[0].toUpperCase() + k.slice(1);

export class ConfigError extends Error {}

/** One setting: where it lives in Config and what its default says about its type. */
interface Setting {
  /** The flat camelCase name: `tickMs`, `placeCooldownMs`. */
  name: string;
  defaultValue: OptionValue;
  /** Other flat names it answers to (an option's alias). */
  aliases: string[];
  set(config: Config, value: OptionValue): void;
  /** For app options: the app and option names. */
  app?: { name: string; option: string; spec: OptionSpec };
}

function settings(apps: readonly App<any>[]): Setting[] {
  const out: Setting[] = [];
  for (const name of Object.keys(defaultNodeConfig) as (keyof NodeConfig)[]) {
    out.push({ name, defaultValue: defaultNodeConfig[name], aliases: [], set: (c, v) => { (c as any)[name] = v; } });
  }
  for (const app of apps) {
    for (const [option, spec] of Object.entries(app.options) as [string, OptionSpec][]) {
      out.push({
        name: app.name + capital(option), defaultValue: spec.default, aliases: spec.alias ? [spec.alias] : [],
        set: (c, v) => { c.app[app.name][option] = v; }, app: { name: app.name, option, spec },
      });
    }
  }
  return out;
}

function coerce(s: Setting, raw: unknown, source: string): OptionValue {
  const want = typeof s.defaultValue;
  if (want === 'number') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${source}: ${s.name} must be a non-negative number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (want === 'boolean') {
    if (raw === true || raw === 'true' || raw === '1' || raw === '') return true;
    if (raw === false || raw === 'false' || raw === '0') return false;
    throw new ConfigError(`${source}: ${s.name} must be true or false, got ${JSON.stringify(raw)}`);
  }
  if (typeof raw === 'object' && raw !== null) throw new ConfigError(`${source}: ${s.name} must be a string, got ${JSON.stringify(raw)}`);
  return String(raw);
}

/** Resolves the configuration from file, environment and flags (`--key value` or `--key=value`). */
/** loadConfig for a command: a ConfigError is written to stderr as "brigade: …" and gives null (exit 2). */
export function loadConfigOrReport(argv: string[]): Config | null {
  try {
    return loadConfig(argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`brigade: ${err.message}\n`);
    return null;
  }
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env, apps: readonly App<any>[] = allApps): Config {
  const config: Config = { ...defaultNodeConfig, app: appDefaults(apps) };
  const all = settings(apps);
  // A name may stand for several settings: an alias several apps share (place's and jobs'
  // `adminToken`) sets each of them.
  const byFlag = new Map<string, Setting[]>();
  const byFlat = new Map<string, Setting[]>();
  for (const s of all) {
    for (const n of [s.name, ...s.aliases]) {
      byFlag.set(kebab(n), [...(byFlag.get(kebab(n)) ?? []), s]);
      byFlat.set(n, [...(byFlat.get(n) ?? []), s]);
    }
  }
  const flags: [Setting, string, string][] = [];
  let configFile = env.BRIGADE_CONFIG ?? '';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}; see --help`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const isBool = typeof byFlag.get(name)?.[0].defaultValue === 'boolean';
    const value = eq >= 0 ? arg.slice(eq + 1) : isBool && (argv[i + 1] ?? '--').startsWith('--') ? 'true' : argv[++i];
    if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    if (name === 'config') { configFile = value; continue; }
    const settingsNamed = byFlag.get(name);
    if (!settingsNamed) throw new ConfigError(`unknown option --${name}; see --help`);
    for (const s of settingsNamed) flags.push([s, value, `--${name}`]);
  }
  if (configFile) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${configFile}: ${(err as Error).message}`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      if (k === 'apps' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
        readAppSections(config, v as Record<string, unknown>, apps, all, configFile);
        continue;
      }
      const named = byFlat.get(k);
      if (!named) throw new ConfigError(`config file ${configFile}: unknown key ${k}`);
      for (const s of named) s.set(config, coerce(s, Array.isArray(v) && k === 'apps' ? v.join(',') : v, configFile));
    }
  }
  for (const s of all) {
    for (const n of [...s.aliases, s.name]) {
      const v = env[snake(n)];
      if (v !== undefined) s.set(config, coerce(s, v, snake(n)));
    }
  }
  for (const [s, v, source] of flags) s.set(config, coerce(s, v, source));
  check(config, apps, all);
  return config;
}

/** The file's `apps` object: `enabled` (the list to run) and one section per app. */
function readAppSections(config: Config, sections: Record<string, unknown>, apps: readonly App<any>[], all: Setting[], file: string): void {
  for (const [name, section] of Object.entries(sections)) {
    if (name === 'enabled') {
      config.apps = Array.isArray(section) ? section.join(',') : String(section);
      continue;
    }
    const app = apps.find((a) => a.name === name);
    if (!app) throw new ConfigError(`config file ${file}: apps.${name}: no such app; apps: ${apps.map((a) => a.name).join(', ')}`);
    if (typeof section !== 'object' || section === null) throw new ConfigError(`config file ${file}: apps.${name} must be an object of options`);
    for (const [option, v] of Object.entries(section)) {
      const s = all.find((x) => x.app?.name === name && x.app.option === option);
      if (!s) throw new ConfigError(`config file ${file}: apps.${name}.${option}: unknown option; options: ${Object.keys(app.options).join(', ')}`);
      s.set(config, coerce(s, v, `${file} apps.${name}.${option}`));
    }
  }
}

function check(config: Config, apps: readonly App<any>[], all: Setting[]): void {
  // The tick's grid is multiples of tickMs (src/core/tick-clock.ts): it must be a whole, positive number
  // of milliseconds, and the adaptive tick can only stretch upward from it.
  if (!Number.isInteger(config.tickMs) || config.tickMs < 1) {
    throw new ConfigError(`tickMs must be a whole number of milliseconds, at least 1, got ${config.tickMs}`);
  }
  if (config.maxTickMs < config.tickMs) {
    throw new ConfigError(`maxTickMs (${config.maxTickMs}) must be at least tickMs (${config.tickMs})`);
  }
  redisTargetOf(config);
  if (!Number.isInteger(config.redisMinReplicasAcked)) {
    throw new ConfigError(`redisMinReplicasAcked must be a whole number of replicas, got ${config.redisMinReplicasAcked}`);
  }
  if (config.redisMinReplicasAcked > 0 && !usesRedis(config)) {
    throw new ConfigError('redisMinReplicasAcked needs --redis, --redis-sentinels or --redis-cluster: the embedded engine has no replicas');
  }
  if (!Number.isInteger(config.metricsLoopLagMs) || config.metricsLoopLagMs < 1 || config.metricsLoopLagMs > 60_000) {
    throw new ConfigError(`metricsLoopLagMs must be a whole number of milliseconds from 1 to 60000, got ${config.metricsLoopLagMs}`);
  }
  if (!Number.isInteger(config.shutdownTimeoutMs) || config.shutdownTimeoutMs < 100 || config.shutdownTimeoutMs > 3_600_000) {
    throw new ConfigError(`shutdownTimeoutMs must be a whole number of milliseconds from 100 to 3600000, got ${config.shutdownTimeoutMs}`);
  }
  if (!Number.isInteger(config.redisClusterStragglerMs)) {
    throw new ConfigError(`redisClusterStragglerMs must be a whole number of milliseconds (0 = half of --tick-ms), got ${config.redisClusterStragglerMs}`);
  }
  if (config.redisClusterStragglerMs > 0 && !config.redisCluster) {
    throw new ConfigError('redisClusterStragglerMs is for --redis-cluster: one server or a Sentinel primary has no other shard to wait for');
  }
  if (config.redisReplicaAckTimeoutMs < 1) {
    throw new ConfigError(`redisReplicaAckTimeoutMs must be at least 1 ms (WAIT with 0 would wait forever), got ${config.redisReplicaAckTimeoutMs}`);
  }
  if (!SQLITE_SYNCHRONOUS.includes(config.sqliteSynchronous as SqliteSynchronous)) {
    throw new ConfigError(`sqliteSynchronous must be ${SQLITE_SYNCHRONOUS.join(' or ')}, got ${JSON.stringify(config.sqliteSynchronous)}`);
  }
  if (config.sqliteSynchronous !== 'full' && usesRedis(config)) {
    throw new ConfigError('sqliteSynchronous is the embedded engine\'s: with --redis, Redis\'s own appendfsync decides what a power loss costs');
  }
  if (!SQLITE_CHECKPOINT.includes(config.sqliteCheckpoint as SqliteCheckpoint)) {
    throw new ConfigError(`sqliteCheckpoint must be ${SQLITE_CHECKPOINT.join(' or ')}, got ${JSON.stringify(config.sqliteCheckpoint)}`);
  }
  if (config.sqliteCheckpoint !== 'thread' && usesRedis(config)) {
    throw new ConfigError('sqliteCheckpoint is the embedded engine\'s: with --redis there is no SQLite file to checkpoint');
  }
  selectedApps(config, apps);
  for (const s of all) {
    if (!s.app?.spec.validate) continue;
    const why = s.app.spec.validate(config.app[s.app.name][s.app.option]);
    if (why) throw new ConfigError(`${s.name} (--${kebab(s.name)}): ${why}`);
  }
}

/** Whether the node runs on Redis (one server or through Sentinel) rather than the embedded engine. */
export function usesRedis(config: Pick<NodeConfig, 'redis' | 'redisSentinels'> & Partial<Pick<NodeConfig, 'redisCluster'>>): boolean {
  return config.redis !== '' || config.redisSentinels !== '' || (config.redisCluster ?? '') !== '';
}

/**
 * How long a cluster append waits for the other shards once one has answered, ms (the Redis
 * engine's straggleMs): --redis-cluster-straggler-ms, or half a tick when 0, so a tick that waits
 * for a failing shard still fits its interval (no adaptive stretch).
 */
export function clusterStragglerMsOf(config: Pick<NodeConfig, 'redisClusterStragglerMs' | 'tickMs'>): number {
  return config.redisClusterStragglerMs > 0 ? config.redisClusterStragglerMs : Math.max(1, Math.floor(config.tickMs / 2));
}

/** Where the Redis engine finds Redis; null for the embedded engine. Throws ConfigError on a bad combination. */
export function redisTargetOf(
  config: Pick<NodeConfig, 'redis' | 'redisSentinels' | 'redisMasterName'> & Partial<Pick<NodeConfig, 'redisCluster' | 'redisSentinelPassword' | 'redisMasterPassword'>>,
): RedisTarget | null {
  if (!config.redisSentinels && (config.redisSentinelPassword || config.redisMasterPassword)) {
    throw new ConfigError('--redis-sentinel-password and --redis-master-password are for --redis-sentinels (with --redis, put the password in the URL)');
  }
  if (config.redisCluster) {
    if (config.redis || config.redisSentinels) {
      throw new ConfigError('give one of --redis (one server), --redis-sentinels (a Sentinel-managed primary) or --redis-cluster, not several');
    }
    if (config.redisMasterName) throw new ConfigError('--redis-master-name is for --redis-sentinels; a cluster has a primary per shard');
    try {
      return { kind: 'cluster', nodes: parseHostPorts(config.redisCluster, 'redisCluster') };
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  if (config.redisSentinels) {
    if (config.redis) throw new ConfigError('give --redis (one server) or --redis-sentinels (a Sentinel-managed primary), not both');
    if (!config.redisMasterName) throw new ConfigError('--redis-sentinels needs --redis-master-name: the name the sentinels monitor the primary under');
    let sentinels;
    try {
      sentinels = parseHostPorts(config.redisSentinels, 'redisSentinels');
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    return {
      kind: 'sentinel', sentinels, masterName: config.redisMasterName,
      ...(config.redisSentinelPassword ? { sentinelPassword: config.redisSentinelPassword } : {}),
      ...(config.redisMasterPassword ? { password: config.redisMasterPassword } : {}),
    };
  }
  if (config.redisMasterName) throw new ConfigError('--redis-master-name needs --redis-sentinels');
  return config.redis ? { kind: 'single', url: config.redis } : null;
}

/** The apps `config.apps` names, in the order given (every app when empty); unknown names refused. */
export function selectedApps(config: Pick<Config, 'apps'>, apps: readonly App<any>[] = allApps): App<any>[] {
  const names = config.apps.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) return [...apps];
  const out: App<any>[] = [];
  for (const n of names) {
    const app = apps.find((a) => a.name === n);
    if (!app) throw new ConfigError(`apps: no app named ${JSON.stringify(n)}; apps: ${apps.map((a) => a.name).join(', ')}`);
    if (!out.includes(app)) out.push(app);
  }
  return out;
}

export function configHelp(apps: readonly App<any>[] = allApps): string {
  const line = (name: string, value: OptionValue, help = '') =>
    `  --${kebab(name).padEnd(34)} ${snake(name).padEnd(40)} default ${JSON.stringify(value)}${help ? `  ${help}` : ''}`;
  const lines = (Object.keys(defaultNodeConfig) as (keyof NodeConfig)[]).map((k) => line(k, defaultNodeConfig[k]));
  for (const app of apps) {
    lines.push('', `  ${app.name}: ${app.description} (config file: apps.${app.name}.<option>)`);
    for (const [option, spec] of Object.entries(app.options) as [string, OptionSpec][]) {
      lines.push(line(app.name + capital(option), spec.default, spec.help + (spec.alias ? ` (also --${kebab(spec.alias)})` : '')));
    }
  }
  return lines.join('\n');
}

/** The core's options out of a configuration. */
export function coreOptionsOf(config: Config): CoreOptions {
  const out = { ...defaultCoreOptions };
  for (const k of Object.keys(defaultCoreOptions) as (keyof CoreOptions)[]) out[k] = config[k];
  return out;
}
