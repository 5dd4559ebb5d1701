/**
 * Child-process helpers shared by `brigade bench` and the benchmarks in bench/: whether a child
 * has exited, waiting for it with a deadline, and a free loopback port for a server to bind.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export function exited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

/** Resolves true when `p` has exited, false if it has not after `ms`. */
export function waitExit(p: ChildProcess, ms: number): Promise<boolean> {
  if (exited(p)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

/** A port that was free on 127.0.0.1 a moment ago (for servers that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
