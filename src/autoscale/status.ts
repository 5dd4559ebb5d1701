/**
 * The autoscaler's status (nodes with ports, pids, figures; the last decision) for people and
 * tools: rewritten atomically to a file (write + rename, so a reader never sees half of it) and/or
 * served as `GET /status` on a small HTTP port.
 */
import { createServer, type Server } from 'node:http';
import { renameSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { StatusPolicy } from './policy.ts';

export class StatusPublisher {
  private current: unknown = { starting: true };
  private server: Server | null = null;
  private writeError: string | null = null;

  constructor(private readonly policy: StatusPolicy, private readonly onWriteError: (err: Error) => void = () => {}) {}

  /** Starts the HTTP endpoint if configured; resolves with its port (or null). */
  async listen(): Promise<number | null> {
    if (this.policy.port < 0) return null;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end(JSON.stringify({ error: 'METHOD_NOT_ALLOWED', message: 'GET /status' }));
      } else if (path === '/status') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(this.current));
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'NOT_FOUND', message: 'GET /status' }));
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.policy.port, this.policy.host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  publish(status: unknown): void {
    this.current = status;
    const file = this.policy.file;
    if (!file) return;
    try {
      writeFileSync(file + '.tmp', JSON.stringify(status, null, 2) + '\n');
      renameSync(file + '.tmp', file);
      this.writeError = null;
    } catch (err) {
      // Report once per distinct error, not once per interval.
      if ((err as Error).message !== this.writeError) this.onWriteError(err as Error);
      this.writeError = (err as Error).message;
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); });
  }
}
