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
 *
 * The connect floor (issue 17's reconnect storm, docs/benchmarks-inbox.md "The connect floor"):
 *
 *   node --max-semi-space-size=4 --import tsx bench/net-floor.ts rate 20000 {accept|ws|lean|raw}
 *
 * N connections from a client process (raw node:net, 200 in flight, a 127.0.0.x of its own), each
 * closed by the client as soon as it has what it came for; the server's own CPU per connection
 * (process.cpuUsage over the run) and the rate. accept: a `node:net` server that accepts and
 * closes. ws: `node:http` + `ws`'s handleUpgrade (its SHA-1 accept key, its WebSocket object).
 * lean: `node:http` + the gateway's own upgrade (gateway/lean-ws.ts) and nothing after it: what
 * Brigade's /ws costs before the core's session and the apps. raw: the same upgrade read off a
 * `node:net` socket without Node's HTTP parser (what a `/ws` that skipped it would save).
 */
import net from 'node:net';
import http from 'node:http';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { WebSocket, WebSocketServer } from 'ws';

const N = Number(process.argv[3] ?? 10000);
const kind = process.argv[2] === 'client' || process.argv[2] === 'rate-client' ? process.argv[5] : (process.argv[4] ?? 'net');
if (process.argv[2] === 'rate' || process.argv[2] === 'rate-client') await connectFloor(process.argv[2], kind);

else if (kind !== 'net' && kind !== 'ws') throw new Error(`the kind is net or ws, got ${kind}`);
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

/** The connect floor: see the header. Exits the process when done. */
async function connectFloor(role: string, what: string): Promise<void> {
  if (what !== 'accept' && what !== 'ws' && what !== 'lean' && what !== 'raw') throw new Error(`the rate kind is accept, ws, lean or raw, got ${what}`);
  const request = Buffer.from('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
    + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n', 'latin1');
  if (role === 'rate-client') {
    const port = Number(process.argv[4]);
    const { nextLocalPort } = await import('../src/sim/raw-ws.ts');
    const localAddress = '127.0.0.' + (60 + Math.floor(Math.random() * 100));
    // A warm-up round (JIT, the server's first compiles) first, not counted; then N counted.
    const round = async (n: number): Promise<number> => {
    let started = 0, done = 0, failed = 0;
    await new Promise<void>((resolve) => {
      const next = (): void => {
        if (started >= n) { if (done === n) resolve(); return; }
        started++;
        const s = net.connect({ port, host: '127.0.0.1', localAddress, localPort: nextLocalPort(localAddress), noDelay: true });
        let over = false;
        const end = (ok: boolean): void => { if (over) return; over = true; if (!ok) failed++; done++; s.destroy(); next(); };
        if (what === 'accept') s.on('end', () => end(true)); else { s.on('connect', () => s.write(request)); s.on('data', (d) => { if (d.includes('\r\n\r\n')) end(d.toString('latin1', 9, 12) === '101'); }); }
        s.on('error', () => end(false));
        s.on('close', () => end(what === 'accept'));
      };
      for (let i = 0; i < 200; i++) next();
    });
    return failed;
    };
    await round(Math.min(N, 2000));
    await new Promise<void>((r) => { process.send!('go'); process.once('message', () => r()); });
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    const failed = await round(N);
    const c = process.cpuUsage(c0);
    process.send!({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuUs: c.user + c.system, failed });
    return new Promise(() => {});
  }
  let srv: net.Server;
  if (what === 'accept') srv = net.createServer((s) => { s.on('error', () => {}); s.end(); });
  else if (what === 'raw') {
    // The same upgrade without Node's HTTP parser: the request read off the raw socket (one chunk
    // here, as a client's upgrade request is), the key found by a scan, the lean socket on it.
    const { acceptLeanUpgrade } = await import('../src/gateway/lean-ws.ts');
    const options = { maxPayload: 65536 };
    srv = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', (chunk: Buffer) => {
        const end = chunk.indexOf('\r\n\r\n');
        const at = chunk.indexOf('Sec-WebSocket-Key: ');
        const key = at < 0 ? '' : chunk.toString('latin1', at + 19, chunk.indexOf('\r\n', at));
        const req = { method: 'GET', url: '/ws', headers: { upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' } };
        acceptLeanUpgrade(req as unknown as http.IncomingMessage, s, chunk.subarray(end + 4), options)?.start();
      });
    });
  } else {
    const h = http.createServer((_req, res) => res.end());
    const { acceptLeanUpgrade } = await import('../src/gateway/lean-ws.ts');
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    const options = { maxPayload: 65536 };
    h.on('upgrade', (req, socket, head) => {
      socket.on('error', () => {});
      if (what === 'ws') wss.handleUpgrade(req, socket, head, (ws) => { ws.on('error', () => {}); });
      else acceptLeanUpgrade(req, socket, head, options)?.start();
    });
    srv = h;
  }
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  const c = fork(new URL(import.meta.url).pathname, ['rate-client', String(N), String(port), what], { execArgv: ['--max-semi-space-size=4', '--import', 'tsx'] });
  await new Promise((res) => c.once('message', res));
  const c0 = process.cpuUsage();
  c.send('go');
  const r = await new Promise<{ seconds: number; cpuUs: number; failed: number }>((res) => c.once('message', res as (m: unknown) => void));
  const cpu = process.cpuUsage(c0);
  const us = (cpu.user + cpu.system) / N;
  console.log(`${what}: ${N} connections in ${r.seconds.toFixed(2)} s (${Math.round(N / r.seconds)}/s, ${r.failed} failed); server ${us.toFixed(1)} µs CPU each (user ${(cpu.user / N).toFixed(1)}, system ${(cpu.system / N).toFixed(1)}), client ${(r.cpuUs / N).toFixed(1)} µs`);
  c.kill();
  process.exit(0);
}
