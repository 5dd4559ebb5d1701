/**
 * Settings, lowest precedence first: defaults, a JSON config file (--config FILE or
 * BRIGADE_CONFIG), environment variables (BRIGADE_TICK_MS for tickMs), command-line flags
 * (--tick-ms). Every key below can be set all four ways.
 */
import { readFileSync } from 'node:fs';
import { defaultCoreOptions, type CoreOptions } from '../core/index.ts';
import { defaultTrackerOptions, type TrackerOptions } from '../apps/tracker/options.ts';

/**
 * Every core option (units in src/core/options.ts) and every tracker option (units in
 * src/apps/tracker/options.ts) is a setting too, under the same name.
 */
export interface Config extends CoreOptions, TrackerOptions {
  host: string;
  port: number;
  /** Directory for the embedded engine's SQLite file and generated secrets. */
  data: string;
  logLevel: string;
  /** redis://host:port — use the Redis engine (many processes and machines); empty = embedded SQLite. */
  redis: string;
  /** Key prefix in Redis, so several deployments can share one Redis. */
  redisPrefix: string;
  /** Node processes on this machine (node:cluster, one port); more than 1 needs --redis. */
  workers: number;
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
  /** Bearer token for admin routes; generated into DATA/admin-token when empty. */
  adminToken: string;
  /** HMAC key for identity tokens; generated into DATA/identity-secret when empty. */
  identitySecret: string;
  // place
  /** Canvases as name:WIDTHxHEIGHT, comma-separated. */
  placeCanvases: string;
  /** Palette as comma-separated #rrggbb; empty = the 16 r/place colours. */
  placePalette: string;
  /** Per-user cooldown between edits, ms; 0 disables it. */
  placeCooldownMs: number;
  /** A PNG snapshot is rendered at most this often per canvas, ms. */
  placePngMinIntervalMs: number;
}

export const defaultConfig: Config = {
  host: '0.0.0.0',
  port: 8080,
  data: './data',
  logLevel: 'info',
  redis: '',
  redisPrefix: 'brigade:',
  workers: 1,
  ...defaultCoreOptions,
  retainEvents: 100_000,
  keepSnapshots: 8,
  maxFrameBytes: 64 * 1024,
  maxFramesPerSecond: 200,
  maxConnections: 0,
  maxConnectionsPerIp: 0,
  trustProxy: false,
  adminToken: '',
  identitySecret: '',
  placeCanvases: 'main:1000x1000',
  placePalette: '',
  placeCooldownMs: 5 * 60_000,
  placePngMinIntervalMs: 1000,
  ...defaultTrackerOptions,
};

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const snake = (k: string) => 'BRIGADE_' + k.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

export class ConfigError extends Error {}

function coerce(key: keyof Config, raw: unknown, source: string): Config[keyof Config] {
  const want = typeof defaultConfig[key];
  if (want === 'number') {
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${source}: ${key} must be a non-negative number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (want === 'boolean') {
    if (raw === true || raw === 'true' || raw === '1' || raw === '') return true;
    if (raw === false || raw === 'false' || raw === '0') return false;
    throw new ConfigError(`${source}: ${key} must be true or false, got ${JSON.stringify(raw)}`);
  }
  return String(raw);
}

/** Resolves the configuration from file, environment and flags (`--key value` or `--key=value`). */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const config: Config = { ...defaultConfig };
  const keys = Object.keys(defaultConfig) as (keyof Config)[];
  const byFlag = new Map(keys.map((k) => [kebab(k), k]));
  const flags = new Map<keyof Config, string>();
  let configFile = env.BRIGADE_CONFIG ?? '';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}; see --help`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const isBool = typeof defaultConfig[byFlag.get(name) as keyof Config] === 'boolean';
    const value = eq >= 0 ? arg.slice(eq + 1) : isBool && (argv[i + 1] ?? '--').startsWith('--') ? 'true' : argv[++i];
    if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    if (name === 'config') { configFile = value; continue; }
    const key = byFlag.get(name);
    if (!key) throw new ConfigError(`unknown option --${name}; see --help`);
    flags.set(key, value);
  }
  if (configFile) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${configFile}: ${(err as Error).message}`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      if (!(k in defaultConfig)) throw new ConfigError(`config file ${configFile}: unknown key ${k}`);
      (config as any)[k] = coerce(k as keyof Config, v, configFile);
    }
  }
  for (const k of keys) {
    const v = env[snake(k)];
    if (v !== undefined) (config as any)[k] = coerce(k, v, snake(k));
  }
  for (const [k, v] of flags) (config as any)[k] = coerce(k, v, `--${kebab(k)}`);
  // The tick's grid is multiples of tickMs (src/core/hub.ts): it must be a whole, positive number
  // of milliseconds, and the adaptive tick can only stretch upward from it.
  if (!Number.isInteger(config.tickMs) || config.tickMs < 1) {
    throw new ConfigError(`tickMs must be a whole number of milliseconds, at least 1, got ${config.tickMs}`);
  }
  if (config.maxTickMs < config.tickMs) {
    throw new ConfigError(`maxTickMs (${config.maxTickMs}) must be at least tickMs (${config.tickMs})`);
  }
  return config;
}

export function configHelp(): string {
  return (Object.keys(defaultConfig) as (keyof Config)[])
    .map((k) => `  --${kebab(k).padEnd(34)} ${snake(k).padEnd(40)} default ${JSON.stringify(defaultConfig[k])}`)
    .join('\n');
}

/** The core's options out of a configuration. */
export function coreOptionsOf(config: Config): CoreOptions {
  const out = { ...defaultCoreOptions };
  for (const k of Object.keys(defaultCoreOptions) as (keyof CoreOptions)[]) out[k] = config[k];
  return out;
}
