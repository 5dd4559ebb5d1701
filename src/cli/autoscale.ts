/**
 * `brigade autoscale --policy FILE [--print]`: the monitoring agent that scales Brigade nodes on
 * connects/s and messages/s (src/autoscale). Parses its few flags, loads the policy, wires the
 * logger and the status output, and stops its nodes on SIGTERM/SIGINT. Resolves with the exit code.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { LocalAgent, PrintAgent } from '../autoscale/agent.ts';
import { loadPolicy, PolicyError, type Policy } from '../autoscale/policy.ts';
import { StatusPublisher } from '../autoscale/status.ts';
import { persistentSecret } from './serve.ts';

export const autoscaleUsage = `brigade autoscale — start and stop local Brigade nodes on load (and job workers on queue depth), or print the counts to run

Usage:
  brigade autoscale --policy FILE                 run nodes on this machine (local mode)
  brigade autoscale --policy FILE --print         watch the policy's "nodes" and print one JSON line per interval

Options:
  --policy FILE          the policy (JSON; fields in docs/OPERATIONS.md#autoscaling)   BRIGADE_AUTOSCALE_POLICY
  --print                print the desired count instead of running nodes
  --status-file PATH     write the status JSON there after every round (overrides status.file)
  --status-port N        serve GET /status on 127.0.0.1:N, 0 = any free port (overrides status.port)
  --log-level LEVEL      pino level (default info)                                     BRIGADE_LOG_LEVEL
`;

interface Flags {
  policy: string;
  print: boolean;
  statusFile: string | null;
  statusPort: number | null;
  logLevel: string;
}

class UsageError extends Error {}

function parseFlags(argv: string[], env: NodeJS.ProcessEnv): Flags {
  const flags: Flags = { policy: env.BRIGADE_AUTOSCALE_POLICY ?? '', print: false, statusFile: null, statusPort: null, logLevel: env.BRIGADE_LOG_LEVEL ?? 'info' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = () => {
      const v = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case '--policy': flags.policy = value(); break;
      case '--print': flags.print = true; break;
      case '--status-file': flags.statusFile = value(); break;
      case '--status-port': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--status-port must be a port number (0 = any), got ${JSON.stringify(v)}`);
        flags.statusPort = n;
        break;
      }
      case '--log-level': flags.logLevel = value(); break;
      default: throw new UsageError(`unknown option ${JSON.stringify(arg)}; see brigade autoscale --help`);
    }
  }
  if (!flags.policy) throw new UsageError('--policy FILE is required; see brigade autoscale --help');
  if (!pino.levels.values[flags.logLevel]) throw new UsageError(`--log-level must be one of ${Object.keys(pino.levels.values).join(', ')}`);
  return flags;
}

export async function runAutoscale(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(autoscaleUsage);
    return 0;
  }
  let flags: Flags;
  let policy: Policy;
  try {
    flags = parseFlags(argv, env);
    policy = loadPolicy(flags.policy, flags.print ? 'print' : 'local');
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`brigade autoscale: ${err.message}\n`);
      return 2;
    }
    if (err instanceof PolicyError) {
      process.stderr.write(`brigade autoscale: ${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (flags.statusFile !== null) policy.status.file = flags.statusFile;
  if (flags.statusPort !== null) policy.status.port = flags.statusPort;

  // In --print mode stdout carries only the JSON lines; the log goes to stderr.
  const logger = pino({ level: flags.logLevel, base: { pid: process.pid, role: 'autoscale' } }, pino.destination(flags.print ? 2 : 1));
  const status = new StatusPublisher(policy.status, (err) => logger.error({ err: err.message, file: policy.status.file }, 'could not write the status file'));
  let statusPort: number | null;
  try {
    statusPort = await status.listen();
  } catch (err) {
    process.stderr.write(`brigade autoscale: status port ${policy.status.host}:${policy.status.port}: ${(err as Error).message}\n`);
    return 2;
  }
  if (statusPort !== null) logger.info({ port: statusPort, host: policy.status.host }, 'autoscale status listening');

  let agent: LocalAgent | PrintAgent;
  if (flags.print) {
    agent = new PrintAgent(policy, logger, status, (line) => process.stdout.write(line + '\n'));
  } else {
    // The nodes share one data directory's secrets (identity tokens valid on every node): create
    // them once here, before any node starts, as `serve --workers` does.
    const data = resolve(policy.local.data);
    mkdirSync(data, { recursive: true });
    const nodeEnv: NodeJS.ProcessEnv = {
      ...process.env,
      BRIGADE_ADMIN_TOKEN: env.BRIGADE_ADMIN_TOKEN || persistentSecret(data, 'admin-token', ''),
      BRIGADE_IDENTITY_SECRET: env.BRIGADE_IDENTITY_SECRET || persistentSecret(data, 'identity-secret', ''),
      ...policy.local.env,
    };
    // Default node command: this same CLI (and Node flags, e.g. a loader), subcommand `serve`.
    const command = policy.local.command ?? [process.execPath, ...process.execArgv, process.argv[1], 'serve'];
    // Worker pools: nodes and workers share one worker key, made here once like the secrets above.
    if (policy.workers.length > 0) {
      nodeEnv.BRIGADE_JOBS_WORKER_KEY = env.BRIGADE_JOBS_WORKER_KEY || policy.local.env.BRIGADE_JOBS_WORKER_KEY || persistentSecret(data, 'jobs-worker-key', '');
    }
    const workerEnv: NodeJS.ProcessEnv = { ...process.env, BRIGADE_JOBS_WORKER_KEY: nodeEnv.BRIGADE_JOBS_WORKER_KEY };
    const local = new LocalAgent({ ...policy, local: { ...policy.local, data } }, command, nodeEnv, logger, status, workerEnv);
    // Whatever ends this process, leave no node or worker behind (the graceful path below runs first).
    process.once('exit', () => local.killAllNow());
    agent = local;
  }
  agent.start();

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      agent.stop(signal).then(() => status.close()).then(() => {
        logger.info({ signal }, 'autoscale stopped');
        logger.flush();
        done(0);
      }, (err) => {
        logger.error({ err }, 'autoscale stop failed');
        done(1);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
