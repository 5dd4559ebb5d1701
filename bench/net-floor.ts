/**
 * Node's floor per idle TCP connection (issue 21, docs/BENCHMARKS.md "uWS as a peer"): a bare
 * `node:net` server that keeps each socket it accepts (no-delay, a 'data' listener, nothing else),
 * its RSS before and after N idle connections from a client process, per connection. What any
 * server on Node's sockets pays before its own per-connection state.
 *
 *   node --max-semi-space-size=4 --expose-gc --import tsx bench/net-floor.ts server 10000
 */
import net from 'node:net';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
const N = Number(process.argv[3] ?? 10000);
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
if (process.argv[2] === 'client') {
  const port = Number(process.argv[4]); const socks: net.Socket[] = []; let open = 0;
  for (let i = 0; i < N; i++) { const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.' + (20 + (i % 5)) }); s.on('connect', () => { if (++open === N) process.send!('up'); }); s.on('error', () => {}); socks.push(s); if (i % 200 === 0) await new Promise((r) => setTimeout(r, 5)); }
  process.on('message', () => process.exit(0));
} else {
  const conns = new Set<net.Socket>();
  const srv = net.createServer((s) => { s.setNoDelay(true); s.on('data', () => {}); s.on('error', () => {}); conns.add(s); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  (globalThis as any).gc?.(); await new Promise((r) => setTimeout(r, 500));
  const before = rss();
  const c = fork(new URL(import.meta.url).pathname, ['client', String(N), String((srv.address() as net.AddressInfo).port)], { execArgv: ['--import', 'tsx'] });
  await new Promise((r) => c.once('message', r));
  await new Promise((r) => setTimeout(r, 1000)); (globalThis as any).gc?.(); await new Promise((r) => setTimeout(r, 500));
  console.log(`net server, ${conns.size} idle sockets: ${((rss() - before) / conns.size / 1024).toFixed(2)} KB RSS per connection; heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(1)} MB`);
  c.send('stop'); process.exit(0);
}
