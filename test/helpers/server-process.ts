/**
 * Starts a real `brigade serve` process (the built dist/cli.js) on a free port with its own temp
 * data directory, for integration and end-to-end tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../bin/brigade.js', import.meta.url));
/** How long stop() waits for the exit after SIGTERM before it kills the process and fails. */
const STOP_TIMEOUT_MS = 30_000;

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  wsUrl: string;
  dataDir: string;
  adminToken: string;
  /** Lines the server logged (JSON strings). */
  logs: string[];
  /** What the server wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Removes the data directory. */
  cleanup(): void;
}

/** `executable`: run bin/brigade.js itself (its #! line and node flags), as `brigade` and `npm start` do. */
export async function startServer(args: string[] = [], options: { dataDir?: string; env?: Record<string, string>; executable?: boolean } = {}): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'brigade-test-'));
  const adminToken = 'test-admin-token';
  const serveArgs = ['serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir,
    '--admin-token', adminToken, '--place-cooldown-ms', '0', '--identity-per-minute-per-ip', '0', '--log-level', 'info', ...args];
  const proc = spawn(options.executable ? cli : process.execPath, options.executable ? serveArgs : [cli, ...serveArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const logs: string[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr += d; });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s; stderr: ${stderr}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        try {
          const rec = JSON.parse(line);
          if (rec.msg === 'brigade listening') { clearTimeout(timer); resolve(rec.port); }
        } catch { /* not JSON */ }
      }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}: ${stderr}`)); });
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc, port, dataDir, adminToken, logs,
    stderr: () => stderr,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      // The node bounds its own shutdown (--shutdown-timeout-ms, 10 s by default); one that outlives
      // this is killed, and the stop fails with what it printed, rather than hanging the test file.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), STOP_TIMEOUT_MS); });
      const code = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (code !== 'late') return code;
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`server did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM (killed); stderr: ${stderr.slice(-2000)}; last log lines: ${logs.slice(-5).join('\n')}`);
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    cleanup() {
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
