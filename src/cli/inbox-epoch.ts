/**
 * `brigade inbox new-epoch`: starts a new inbox epoch, after restoring an older copy of the data
 * (docs/inbox.md "Epochs"). A restored store reuses sequence numbers that devices may already
 * hold with other messages behind them; a new epoch makes every device's next sync a `reset` and a
 * full resync, so none of them trusts a reused seq.
 *
 * It appends one `epoch` event (a random generation) to the `inbox:messages` log through the same
 * engine options as `brigade serve` (--data DIR, or --redis URL --redis-prefix P, or --config):
 * with the embedded engine, run it while the node is stopped (one process owns the SQLite file);
 * on Redis, running nodes fold it live and reset their connected devices at once.
 */
import { randomInt } from 'node:crypto';
import pino from 'pino';
import { MESSAGES_CHANNEL, encodeEvent, inboxEpoch } from '../apps/inbox/world.ts';
import { loadConfigOrReport } from './config.ts';
import { openEngine } from './serve.ts';

const usage = `brigade inbox new-epoch [--data DIR | --redis URL [--redis-prefix P]] [--config FILE]

Starts a new inbox epoch: run it after restoring an older copy of the data (with the embedded
engine, while the node is stopped). Every device's next sync is then a full resync.
`;

export async function runInbox(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'new-epoch' || rest.includes('--help')) {
    (sub === 'new-epoch' || sub === '--help' ? process.stdout : process.stderr).write(usage);
    return sub === 'new-epoch' || sub === '--help' ? 0 : 2;
  }
  const config = loadConfigOrReport(rest);
  if (!config) return 2;
  const logger = pino({ level: 'warn' });
  const engine = await openEngine(config, logger);
  try {
    const generation = randomInt(1, 2 ** 32);
    const now = Date.now();
    const [result] = await engine.append([{
      channel: MESSAGES_CHANNEL,
      events: [{ payload: encodeEvent({ t: 'epoch', n: generation, at: now }), publisher: 'operator', timeMs: now }],
    }]);
    const epoch = inboxEpoch(result.epoch, generation);
    process.stdout.write(`${JSON.stringify({ msg: 'new inbox epoch', epoch, seq: result.version + 1, engine: engine.kind })}\n`);
    return 0;
  } finally {
    await engine.close();
  }
}
