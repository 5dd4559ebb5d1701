/**
 * Starts a real nginx (Debian's /usr/sbin/nginx) in front of Brigade nodes, running the shipped
 * deploy/nginx/brigade.conf: the file is read as it is and only its node addresses, listen port
 * and /var paths are replaced (each must be found, so the test and the example cannot drift
 * apart). A small main config written here includes it inside http{}, the way Debian's
 * nginx.conf includes conf.d/*.conf, with every temp path under a temp directory, so nginx needs
 * no root paths. The helper stops only the nginx it started (by PID), and signals it when the
 * test process exits, so a failing test leaves nothing behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';
import { eventually } from './eventually.ts';

const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export const BRIGADE_CONF = fileURLToPath(new URL('../../deploy/nginx/brigade.conf', import.meta.url));

/** The example values in brigade.conf that a deployment (and this helper) replaces. */
export const EXAMPLE_NODES = ['10.0.0.11:8080', '10.0.0.12:8080'] as const;
const EXAMPLE_LISTEN = 'listen 80;';
const EXAMPLE_CACHE_DIR = '/var/lib/nginx/brigade-cache';
const EXAMPLE_LOG_DIR = '/var/log/nginx/';

export interface NginxOptions {
  /** host:port of each Brigade node, in the order of EXAMPLE_NODES. */
  nodes: string[];
}

export interface Nginx {
  /** PID of the nginx master process. */
  readonly pid: number;
  port: number;
  url: string;
  wsUrl: string;
  /** Prefix directory: rendered config, temp paths, cache, access log. */
  dir: string;
  /** What nginx wrote to stderr (its error log). */
  stderr(): string;
  /** brigade.conf's access log (format `brigade`: upstream=... cache=...). */
  accessLog(): string;
  /** SIGTERM (fast shutdown: the master stops its workers) and wait for the exit. */
  stop(): Promise<void>;
  /** stop(), then remove the temp directory. */
  destroy(): Promise<void>;
}

/** Replaces every occurrence of `from`; throws when there is none (the example changed). */
function replaceExample(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`${BRIGADE_CONF} no longer contains ${JSON.stringify(from)}; update test/helpers/nginx.ts`);
  return text.split(from).join(to);
}

/** brigade.conf with the example addresses, port and paths replaced. */
export function renderBrigadeConf(text: string, values: { nodes: string[]; port: number; dir: string }): string {
  if (values.nodes.length !== EXAMPLE_NODES.length) throw new Error(`brigade.conf lists ${EXAMPLE_NODES.length} nodes; got ${values.nodes.length}`);
  let out = text;
  EXAMPLE_NODES.forEach((example, i) => { out = replaceExample(out, `server ${example} `, `server ${values.nodes[i]} `); });
  out = replaceExample(out, EXAMPLE_LISTEN, `listen 127.0.0.1:${values.port};`);
  out = replaceExample(out, EXAMPLE_CACHE_DIR, join(values.dir, 'cache'));
  out = replaceExample(out, EXAMPLE_LOG_DIR, values.dir + '/');
  return out;
}

/** Modules this nginx was built without (`nginx -V`), so their temp paths are not configured. */
function builtWithout(): Set<string> {
  const r = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${NGINX} (Debian package nginx): ${r.error.message}`);
  return new Set([...(r.stderr + r.stdout).matchAll(/--without-http_(\w+)_module/g)].map((m) => m[1]));
}

function mainConf(dir: string, include: string): string {
  const without = builtWithout();
  const temp = [
    `client_body_temp_path ${join(dir, 'client_body')};`,
    `proxy_temp_path ${join(dir, 'proxy')};`,
    ...(['fastcgi', 'uwsgi', 'scgi'] as const)
      .filter((m) => !without.has(m))
      .map((m) => `${m}_temp_path ${join(dir, m)};`),
  ];
  return [
    // As root, nginx runs its workers as nobody; they write cache and temp files under `dir`,
    // which nginx chowns for them (startNginx makes the directory itself traversable).
    'worker_processes 1;',
    'events { worker_connections 1024; }',
    'http {',
    ...temp.map((l) => '    ' + l),
    `    access_log ${join(dir, 'access.log')};`,
    `    include ${include};`,
    '}',
    '',
  ].join('\n');
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-nginx-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const brigadeConf = join(dir, 'brigade.conf');
  writeFileSync(brigadeConf, renderBrigadeConf(readFileSync(BRIGADE_CONF, 'utf8'), { nodes: options.nodes, port, dir }));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, mainConf(dir, brigadeConf));
  const globals = `daemon off; pid ${join(dir, 'nginx.pid')}; error_log stderr notice;`;

  const proc: ChildProcess = spawn(NGINX, ['-p', dir + '/', '-e', 'stderr', '-c', conf, '-g', globals], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let spawnError: Error | null = null;
  proc.once('error', (err) => { spawnError = err; });
  proc.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const running = (): boolean => spawnError === null && proc.exitCode === null && proc.signalCode === null;
  const killOnExit = (): void => {
    if (running()) proc.kill('SIGTERM');
  };
  process.on('exit', killOnExit);

  const stop = async (): Promise<void> => {
    if (running()) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => { if (running()) proc.kill('SIGKILL'); }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
  };

  // Ready once it proxies: /healthz through nginx answers 200.
  let failure = '';
  try {
    const state = await eventually(async () => {
      if (spawnError || !running()) return 'gone';
      const res = await fetch(`http://127.0.0.1:${port}/healthz`); // throws while not listening yet
      await res.arrayBuffer();
      return res.status === 200 && 'ready';
    }, { what: 'nginx to proxy /healthz', timeoutMs: START_TIMEOUT_MS, intervalMs: 50 });
    if (state === 'gone') failure = spawnError ? `could not be spawned: ${(spawnError as Error).message}` : 'exited';
  } catch (err) {
    failure = (err as Error).message;
  }
  if (failure) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx ${failure}; output:\n${output}`);
  }

  return {
    get pid() {
      return proc.pid!;
    },
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    dir,
    stderr: () => output,
    accessLog: () => {
      try {
        return readFileSync(join(dir, 'brigade.access.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
