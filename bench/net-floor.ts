/**
 * Node's floor per idle connection (issue 21, docs/BENCHMARKS.md "Idle memory per connection"): a
 * bare server that keeps each connection it accepts and does nothing else, its RSS (and JS heap)
 * before and after N idle connections from a client process, per connection. What any server on
 * Node's sockets pays before its own per-connection state.
 *
 *   node --max-semi-space-size=4 --expose-gc --import tsx bench/net-floor.ts server 10000 [net|ws]
 *
 * net: a `node:net` server (no-delay, a 'data' listener). ws: a `node:http` server upgrading every
 * request with the `ws` package (WebSocketServer, noServer, no permessage-deflate), each WebSocket
 * with a 'message' listener: what a server built on `ws` pays per idle connection.
 */
import net from 'node:net';
import http from 'node:http';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { WebSocket, WebSocketServer } from 'ws';

const N = Number(process.argv[3] ?? 10000);
const kind = process.argv[2] === 'client' ? process.argv[5] : (process.argv[4] ?? 'net');
if (kind !== 'net' && kind !== 'ws') throw new Error(`the kind is net or ws, got ${kind}`);
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
const settle = async () => { for (let i = 0; i < 3; i++) { (globalThis as { gc?: () => void }).gc?.(); await new Promise((r) => setTimeout(r, 300)); } };

if (process.argv[2] === 'client') {
  const port = Number(process.argv[4]); const socks: unknown[] = []; let open = 0;
  const up = () => { if (++open === N) process.send!('up'); };
  for (let i = 0; i < N; i++) {
    const localAddress = '127.0.0.' + (20 + (i % 5));
    if (kind === 'net') { const s = net.connect({ port, host: '127.0.0.1', localAddress }); s.on('connect', up); s.on('error', () => {}); socks.push(s); }
    else { const w = new WebSocket(`ws://127.0.0.1:${port}/`, { localAddress, perMessageDeflate: false }); w.on('open', up); w.on('error', () => {}); socks.push(w); }
    if (i % 200 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  process.on('message', () => process.exit(0));
} else {
  const conns = new Set<unknown>();
  let port: number;
  if (kind === 'net') {
    const srv = net.createServer((s) => { s.setNoDelay(true); s.on('data', () => {}); s.on('error', () => {}); conns.add(s); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    port = (srv.address() as net.AddressInfo).port;
  } else {
    const srv = http.createServer((_req, res) => res.end());
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    srv.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => { ws.on('message', () => {}); conns.add(ws); }));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    port = (srv.address() as net.AddressInfo).port;
  }
  await settle();
  const before = rss();
  const heapBefore = process.memoryUsage().heapUsed;
  const c = fork(new URL(import.meta.url).pathname, ['client', String(N), String(port), kind], { execArgv: ['--import', 'tsx'] });
  await new Promise((r) => c.once('message', r));
  await new Promise((r) => setTimeout(r, 1000));
  await settle();
  const per = (b: number) => (b / conns.size / 1024).toFixed(2);
  console.log(`${kind} server, ${conns.size} idle connections: ${per(rss() - before)} KB RSS per connection, of which JS heap ${per(process.memoryUsage().heapUsed - heapBefore)} KB`);
  c.send('stop');
  process.exit(0);
}
