/**
 * Command-line options of the peer servers (bench/peers/*.ts), validated up front: a bad flag
 * stops the process with exit code 2 and one line on stderr saying which flag, what it got and
 * what is allowed, before anything listens. Peers are benchmark fixtures started by `brigade
 * bench` with explicit flags, so there is no config file or environment layer here.
 */
import { parseArgs } from 'node:util';

export interface PeerConfig {
  host: string;
  port: number;
  /** Batch interval of the ticked peers (socket.io, net); same meaning as Brigade's --tick-ms. */
  tickMs: number;
  width: number;
  height: number;
  /** Palette size: colours are 0 .. colours-1 (Brigade's place default is 16). */
  colours: number;
  /** Largest editor message accepted (wire bytes); bigger ones are refused and the connection closed. */
  maxMessageBytes: number;
  /** How often the bytes still buffered for viewers are summed, for the peak in the stats. */
  sampleMs: number;
}

/** Thrown for bad flags; the entry point prints `message` and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface IntSpec { flag: string; min: number; max: number; def: number }

const INTS: Record<Exclude<keyof PeerConfig, 'host'>, IntSpec> = {
  port: { flag: 'port', min: 0, max: 65535, def: 0 },
  tickMs: { flag: 'tick-ms', min: 1, max: 60_000, def: 100 },
  width: { flag: 'width', min: 1, max: 16_384, def: 1000 },
  height: { flag: 'height', min: 1, max: 16_384, def: 1000 },
  colours: { flag: 'colours', min: 1, max: 256, def: 16 },
  maxMessageBytes: { flag: 'max-message-bytes', min: 16, max: 64 * 1024 * 1024, def: 64 * 1024 },
  sampleMs: { flag: 'sample-ms', min: 10, max: 600_000, def: 1000 },
};

export function usage(name: string): string {
  const lines = Object.values(INTS).map((s) => `  --${s.flag} N   integer ${s.min}..${s.max} (default ${s.def})`);
  return [`usage: node --import tsx bench/peers/${name}.ts [--host H] [flags]`, '  --host H   address to listen on (default 127.0.0.1)', ...lines].join('\n');
}

export function parsePeerArgs(name: string, argv: string[]): PeerConfig {
  const options: Record<string, { type: 'string' }> = { host: { type: 'string' } };
  for (const s of Object.values(INTS)) options[s.flag] = { type: 'string' };
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }) as { values: Record<string, string | undefined> });
  } catch (err) {
    throw new UsageError(`${name}: ${(err as Error).message}\n${usage(name)}`);
  }
  const host = values.host ?? '127.0.0.1';
  if (host.length === 0) throw new UsageError(`${name}: --host must not be empty`);
  const out = { host } as PeerConfig;
  for (const [key, s] of Object.entries(INTS) as [keyof typeof INTS, IntSpec][]) {
    const raw = values[s.flag];
    if (raw === undefined) { out[key] = s.def; continue; }
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < s.min || n > s.max) {
      throw new UsageError(`${name}: --${s.flag} must be an integer ${s.min}..${s.max}, got ${JSON.stringify(raw)}`);
    }
    out[key] = n;
  }
  if (out.width * out.height > 64 * 1024 * 1024) {
    throw new UsageError(`${name}: --width x --height must be at most ${64 * 1024 * 1024} pixels, got ${out.width * out.height}`);
  }
  return out;
}
