/**
 * Test helpers for `brigade autoscale`: start the real CLI (bin/brigade.js) with a policy written
 * to a temp file, collect its stdout JSON lines, read its status, wait for conditions, and open
 * real WebSocket connections to a node to raise its connects/s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const cli = fileURLToPath(new URL('../../bin/brigade.js', import.meta.url));

export interface Autoscaler {
  proc: ChildProcess;
  dir: string;
  /** Every stdout line parsed as JSON (local mode: pino records; --print: decision lines). */
  lines: Record<string, any>[];
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string | null>;
  /** SIGTERM, then SIGKILL after 20 s, and removes the temp directory. */
  destroy(): Promise<void>;
}

export function startAutoscaler(policy: object, args: string[] = []): Autoscaler {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-autoscale-'));
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy, null, 2));
  const proc = spawn(process.execPath, [cli, 'autoscale', '--policy', policyFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const lines: Record<string, any>[] = [];
  let buf = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(JSON.parse(line)); // every stdout line must be JSON
    }
  });
  proc.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | string | null>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  return {
    proc, dir, lines, exited,
    stderr: () => stderr,
    async destroy() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Opens and closes `n` WebSocket connections to a node's /ws, one after another. */
export async function churn(baseUrl: string, n: number): Promise<void> {
  const wsUrl = baseUrl.replace(/^http/, 'ws') + '/ws';
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      ws.once('open', () => ws.close());
      ws.once('close', () => resolve());
      ws.once('error', reject);
    });
  }
}

/** True while a process with this PID exists (a zombie counts as gone once reaped by its parent). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
