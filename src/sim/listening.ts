/**
 * Starts `node bin/brigade.js <args>` and resolves once it logs 'brigade listening' (pino JSON on
 * stdout), keeping the last log lines for error messages. Shared by the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';

export interface StartedBrigade {
  proc: ChildProcess;
  pid: number;
  port: number;
  /** The last log lines (stdout and stderr), newest last. */
  logTail: string[];
}

/**
 * Calls `onLine` for every whole line `stream` gives (a partial last line waits for the rest). It
 * always drains the stream (a full pipe would block the child's logging, and so the child), and
 * drops a partial line past 1 MiB (no newline that far: not a log line worth keeping).
 */
export function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
    if (buf.length > 1 << 20) buf = '';
  });
}

/**
 * The node flags `brigade` ships with: those on bin/brigade.js's `#!/usr/bin/env -S node …` line.
 * The bench starts `node bin/brigade.js`, which skips that line, so it passes them itself and
 * measures Brigade as `brigade serve` runs.
 */
export function shippedNodeFlags(cli: string): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node(?:\s(.*))?$/.exec(first);
  return m?.[1] ? m[1].trim().split(/\s+/) : [];
}

/** `nodeArgs`: node's own flags, before the CLI (`--cpu-prof`, `--perf-basic-prof`…). */
export async function startBrigade(cli: string, args: string[], cwd: string, keepLines = 50, nodeArgs: string[] = []): Promise<StartedBrigade> {
  const proc = spawn(process.execPath, [...nodeArgs, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  const logTail: string[] = [];
  // BRIGADE_BENCH_SERVER_LOG=FILE: every line the server prints is appended there too (with
  // BRIGADE_BENCH_SERVER_NODE_ARGS=--trace-gc, its GC pauses).
  const logFile = process.env.BRIGADE_BENCH_SERVER_LOG;
  const keep = (line: string) => {
    logTail.push(line);
    if (logTail.length > keepLines) logTail.shift();
    if (logFile) appendFileSync(logFile, line + '\n');
  };
  onLines(proc.stderr!, keep);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`brigade did not start in 20 s:\n${logTail.join('\n')}`)); }, 20_000);
    onLines(proc.stdout!, (line) => {
      keep(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'brigade listening' && rec.port) { clearTimeout(timer); resolve(rec.port); }
      } catch { /* not JSON */ }
    });
    proc.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`brigade exited (${code ?? signal}) before listening:\n${logTail.join('\n')}`)); });
  });
  return { proc, pid: proc.pid!, port, logTail };
}
