/** The `brigade` command. */
import { configHelp, loadConfigOrReport } from './config.ts';
import { serve } from './serve.ts';
import { isPrimaryOfCluster, runCluster } from './cluster.ts';
import { runAutoscale } from './autoscale.ts';
import { runBench } from '../sim/bench.ts';
import { runInbox } from './inbox-epoch.ts';
import { BrigadeError } from '../protocol/index.ts';

/** Startup refusals that mean "fix the configuration": exit 2 like a bad flag. */
const STARTUP_CODES = new Set(['REDIS_SENTINELS_UNREACHABLE', 'REDIS_MASTER_UNKNOWN', 'REDIS_SENTINEL_AUTH', 'REDIS_CLUSTER_DOWN']);

const usage = `brigade — a real-time server for live many-user apps

Usage:
  brigade serve [--port N] [--data DIR] [--config FILE] [options]
  brigade autoscale --policy FILE [--print]   (brigade autoscale --help)
  brigade bench [--viewers V] [--compare brigade,socketio,ws-json,net] [options]   (brigade bench --help)
  brigade inbox new-epoch [--data DIR | --redis URL]   (after restoring older data; docs/inbox.md)
  brigade --help

Every option can also be set in a JSON config file (--config FILE, keys as in the first
column without dashes, camelCase) or an environment variable (second column).
Flags beat environment variables, which beat the config file, which beats the defaults.

Options:
  --config FILE                        BRIGADE_CONFIG
${configHelp()}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'autoscale') return runAutoscale(rest);
  if (command === 'bench') return runBench(rest);
  if (command === 'inbox') return runInbox(rest);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help' || rest.includes('--help')) {
    process.stdout.write(usage);
    return command === undefined ? 1 : 0;
  }
  if (command !== 'serve') {
    process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${usage}`);
    return 2;
  }
  const config = loadConfigOrReport(rest);
  if (!config) return 2;
  if (isPrimaryOfCluster(config)) return runCluster(config);
  let running;
  try {
    running = await serve(config);
  } catch (err) {
    // A start that cannot work as configured (wrong sentinels, an unknown master name): its code
    // and what to check, not a stack.
    if (err instanceof BrigadeError && STARTUP_CODES.has(String(err.code))) {
      process.stderr.write(`brigade: ${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const stop = (signal: string) => {
    running.shutdown(signal).then(() => process.exit(0), (err) => {
      process.stderr.write(`shutdown failed: ${String((err as Error)?.message ?? err)}\n`);
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return -1; // keep running
}

main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exit(code); }, (err) => {
  process.stderr.write(`brigade: ${err?.stack ?? err}\n`);
  process.exit(1);
});
