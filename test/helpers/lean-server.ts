/**
 * A plain HTTP server on a free loopback port whose upgrades go to the lean WebSocket server
 * (src/gateway/lean-ws.ts), for tests of it and of what writes through it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { acceptLeanUpgrade, type LeanSocket, type LeanSocketOptions } from '../../src/gateway/lean-ws.ts';

export interface LeanServer {
  url: string;
  port: number;
  /** The next socket accepted (in order of acceptance). */
  next(): Promise<LeanSocket>;
  close(): Promise<void>;
}

export async function startLeanServer(options: LeanSocketOptions): Promise<LeanServer> {
  const accepted: LeanSocket[] = [];
  const waiting: Array<(s: LeanSocket) => void> = [];
  const open = new Set<LeanSocket>();
  const http: Server = createServer((_req, res) => { res.statusCode = 426; res.end(); });
  http.on('upgrade', (req, socket, head) => {
    const lean = acceptLeanUpgrade(req, socket, head, { ...options, registry: open });
    if (!lean) return;
    const w = waiting.shift();
    if (w) w(lean);
    else accepted.push(lean);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    next: () => new Promise((resolve) => {
      const s = accepted.shift();
      if (s) resolve(s);
      else waiting.push(resolve);
    }),
    close: async () => {
      for (const s of open) s.terminate();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
