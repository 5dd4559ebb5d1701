/**
 * Durable ingest: how many publishes a second Brigade acknowledges, against what its store alone can
 * commit, in one run (issue 21).
 *
 *   npm run build
 *   node --import tsx bench/ingest.ts [--engine embedded,redis] [--seconds 10] [--clients 2]
 *     [--connections 20] [--in-flight 1000] [--tick-ms 100] [--floor-tick-ms 100] [--cpu-prof DIR] [--out DIR] [--cli other/bin/brigade.js]
 *
 * Brigade: `brigade serve` as the simulator starts it (place app, cooldown 0, rate limits off),
 * embedded engine (SQLite, WAL, synchronous FULL) or `--redis` on a redis-server this script starts.
 * Client processes (--clients), each with --connections signed-in WebSockets, keep --in-flight
 * PUBLISHes outstanding per connection: every ACK sends the next one. Every publish goes to the
 * engine stamped (exactly-once bookkeeping: the node's producer and seq, written in the same
 * transaction or script call). Counted: ACKs received in the window (after a warm-up), the server's
 * CPU-seconds (its /proc stat; with Redis, brigade + redis-server), socket writes per ACK
 * (brigade_socket_writes_total), events per append (brigade_ticks_total).
 *
 * The plain loop, same run, its own process: the same schema, pragmas and statements as the
 * embedded engine (events rows + the channel's head, one transaction per batch) or the same Lua
 * append script on a fresh redis-server, with stamped publishes built as the Redis engine builds
 * them and 4 calls in flight (pipelined) — each batch the size of Brigade's mean append in this run.
 * Nothing else: no network, no WebSocket, no acknowledgement. Its rate is the store's own limit.
 *
 * The floor, same run, its own process (bench/peers/ack-floor.ts): the same clients and frames
 * against a raw `net` server that parses the WebSocket frames in place and ACKs each with the same
 * ACK frame, no storage; run twice (ACKs written per read, and held to --tick-ms like Brigade's),
 * the cheaper per publish kept. Floor µs + plain µs per publish is the least any Node server can
 * spend per durably acknowledged publish: `ceiling.ratio` = plain / (floor + plain) is the best
 * Brigade / plain per CPU-second a Node server could reach in this run.
 *
 * Prints the figures and writes bench/results/ingest-<time>.json; `--chart FILE.svg` also draws them
 * (per CPU-second and per second, Brigade beside its plain loop, each engine; 0.5x marked).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { encodeClientFrame } from '../src/protocol/index.ts';
import { makeEditCodec } from '../src/apps/place/edit-codec.ts';
import { EMBEDDED_SCHEMA } from '../src/engines/embedded-engine.ts';
import { APPEND_LUA } from '../src/engines/redis-lua-append.ts';
import { channelKeys, producerKey } from '../src/engines/redis-keys.ts';
import { packEvents } from '../src/engines/redis-event-codec.ts';
import { PRODUCER_WINDOW } from '../src/core/engine.ts';
import { shippedNodeFlags, startBrigade } from '../src/sim/listening.ts';
import { cpuSeconds, machineInfo } from '../src/sim/proc.ts';
import { scrapeMetrics } from '../src/sim/prom.ts';
import { freePort, waitExit } from '../src/sim/child.ts';
import { esc, panel } from './tracker/chart.ts';
import { startAckFloor } from './peers/ack-floor.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHANNEL = 'place:main';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface IngestOptions { engines: ('embedded' | 'redis')[]; seconds: number; warmupSeconds: number; clients: number; connections: number; inFlight: number; tickMs: number; floorTickMs: number[]; cpuProf: string | null; out: string; cli: string; chart: string | null }

export interface IngestSide { editsPerSecond: number; cpuSeconds: number; perCpuSecond: number; edits: number; seconds: number }
export interface IngestResult {
  engine: 'embedded' | 'redis';
  brigade: IngestSide & { socketWritesPerAck: number; editsPerAppend: number; refused: number; inFlight: number };
  plain: IngestSide & { batch: number };
  ratio: { perSecond: number; perCpuSecond: number };
  /** The ack floor of this run (bench/peers/ack-floor.ts): of its runs (ACK per read, per tick), the cheaper per publish; the same for every engine. */
  floor: IngestSide & { tickMs: number };
  /**
   * The best any Node server could do: CPU per publish = the floor's + the plain loop's per row.
   * perCpuSecond = 1 / (floor µs + plain µs); ratio = that / the plain loop's = plain µs / (floor µs + plain µs).
   */
  ceiling: { perCpuSecond: number; ratio: number; floorMicros: number; plainMicros: number; brigadeMicros: number };
}

// ---- the client process: connections keeping publishes in flight ----

async function clientMain(): Promise<void> {
  const [url, connections, inFlight, seed] = process.argv.slice(3).map((v, i) => (i === 0 ? v : Number(v))) as [string, number, number, number];
  let acked = 0, refused = 0;
  let x = seed * 7919;
  const socks: WebSocket[] = [];
  const codec = makeEditCodec(1000, 1000, 16);
  for (let c = 0; c < connections; c++) {
    const res = await fetch(`${url.replace('ws:', 'http:')}/api/identity`, { method: 'POST' });
    const { token } = (await res.json()) as { token: string };
    const ws = new WebSocket(`${url}/ws?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
    await new Promise<void>((ok, fail) => { ws.once('open', () => ok()); ws.once('error', fail); });
    socks.push(ws);
    let requestId = 0;
    const publish = () => {
      x = (x * 1103515245 + 12345) >>> 0;
      requestId = requestId >= 0xffffffff ? 1 : requestId + 1;
      ws.send(encodeClientFrame({ kind: 'publish', requestId, channel: CHANNEL, payload: codec.encode(x % 1000, (x >>> 10) % 1000, (x >>> 20) & 15) }));
    };
    ws.on('message', (d: Buffer) => {
      if (d[0] === 0x84) acked++;
      else if (d[0] === 0x85) refused++;
      else return;
      publish();
    });
    ws.on('close', () => process.exit(3));
    for (let i = 0; i < inFlight; i++) publish();
  }
  process.on('message', (m: { t: string }) => {
    if (m.t === 'count') process.send!({ acked, refused });
    else if (m.t === 'stop') { for (const s of socks) s.terminate(); process.exit(0); }
  });
  process.send!({ ready: true });
}

// ---- the plain loops (each its own process, so its CPU is its own) ----

function plainSqliteMain(): void {
  const [dir, batch, seconds] = process.argv.slice(3);
  const n = Number(batch);
  const db = new Database(join(dir, 'plain.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(EMBEDDED_SCHEMA);
  db.prepare('INSERT OR IGNORE INTO channels (name, epoch, head, oldest) VALUES (?, 1, 0, 0)').run(CHANNEL);
  const insert = db.prepare('INSERT INTO events (channel, version, payload, publisher, time_ms) VALUES (?, ?, ?, ?, ?)');
  const setHead = db.prepare('UPDATE channels SET head = ? WHERE name = ?');
  let head = 0;
  const payloads = Array.from({ length: n }, () => randomBytes(3));
  const tx = db.transaction(() => {
    const now = Date.now();
    for (let i = 0; i < n; i++) insert.run(CHANNEL, head + i, payloads[i], 'u-0123456789abcdef', now);
    head += n;
    setHead.run(head, CHANNEL);
  });
  const end = performance.now() + Number(seconds) * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() < end) tx();
  const cpu = process.cpuUsage(cpu0);
  process.send!({ edits: head, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
}

async function plainRedisMain(): Promise<void> {
  const [port, batch, seconds] = process.argv.slice(3).map(Number);
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await redis.connect();
  redis.defineCommand('brigadeAppend', { lua: APPEND_LUA });
  const prefix = `plain-${randomBytes(4).toString('hex')}:`;
  const k = channelKeys(prefix, CHANNEL);
  const pkey = producerKey(prefix, CHANNEL, 'node-plain');
  let seq = 0, edits = 0;
  const call = () => {
    const keys = [k.meta, k.log, k.snaps, k.snap];
    const args: Array<string | Buffer> = ['1', String(PRODUCER_WINDOW.seqs), String(PRODUCER_WINDOW.ms), '0', String(1 + (seq % 1000)), '0', '0', String(batch)];
    for (let i = 0; i < batch; i++) {
      keys.push(pkey);
      args.push(String(++seq), '1', packEvents([{ payload: randomBytes(3), publisher: 'u-0123456789abcdef', timeMs: Date.now() }]));
    }
    return (redis as unknown as { brigadeAppend(a: unknown[]): Promise<number[]> }).brigadeAppend([keys.length, ...keys, ...args]).then(() => { edits += batch; });
  };
  const end = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Four calls in flight: the loop never waits for a round trip with nothing queued behind it.
  const lane = async () => { while (performance.now() < end) await call(); };
  await Promise.all([lane(), lane(), lane(), lane()]);
  const cpu = process.cpuUsage(cpu0);
  process.send!({ edits, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  redis.disconnect();
}

// ---- the parent ----

function forkSelf(role: string, args: (string | number)[]): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [role, ...args.map(String)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T>(p: ChildProcess, timeoutMs = 120_000): Promise<T> {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`child ${p.pid} sent nothing in ${timeoutMs} ms`)), timeoutMs);
    p.once('message', (m) => { clearTimeout(timer); ok(m as T); });
    p.once('exit', (code) => { clearTimeout(timer); fail(new Error(`child ${p.pid} exited (${code})`)); });
  });
}

async function stop(p: ChildProcess | null | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null || !p.pid) return;
  try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
  if (!(await waitExit(p, 10_000))) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } await waitExit(p, 2000); }
}

async function startRedis(dir: string): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('redis-server did not start in 15 s')), 15_000);
    proc.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('Ready to accept connections')) { clearTimeout(timer); ok(); } });
    proc.once('exit', (c) => { clearTimeout(timer); fail(new Error(`redis-server exited (${c})`)); });
  });
  proc.stdout!.resume();
  return { proc, port };
}

interface DriveWindow { edits: number; refused: number; seconds: number; cpu: number; m0: Record<string, number>; m1: Record<string, number> }

/** Starts the client processes against `url`, warms up, then counts ACKs and the CPU of `pids` over the window; stops the clients. */
async function driveClients(url: string, pids: number[], o: IngestOptions, metrics: (() => Promise<Record<string, number>>) | null, children: (ChildProcess | null)[]): Promise<DriveWindow> {
  const clients = Array.from({ length: o.clients }, (_, i) => forkSelf('--client', [url, o.connections, o.inFlight, i + 1]));
  children.push(...clients);
  await Promise.all(clients.map((c) => nextMessage(c)));
  const cpuNow = () => pids.reduce((s, p) => s + cpuSeconds(p), 0);
  const count = async () => {
    const got = await Promise.all(clients.map((c) => { const p = nextMessage<{ acked: number; refused: number }>(c); c.send({ t: 'count' }); return p; }));
    return got.reduce((s, g) => ({ acked: s.acked + g.acked, refused: s.refused + g.refused }), { acked: 0, refused: 0 });
  };
  await sleep(o.warmupSeconds * 1000);
  const m0 = metrics ? await metrics() : {};
  const c0 = await count(), cpu0 = cpuNow(), t0 = performance.now();
  await sleep(o.seconds * 1000);
  const c1 = await count(), cpu1 = cpuNow(), t1 = performance.now();
  const m1 = metrics ? await metrics() : {};
  for (const c of clients) c.send({ t: 'stop' });
  await Promise.all(clients.map((c) => waitExit(c, 10_000)));
  return { edits: c1.acked - c0.acked, refused: c1.refused - c0.refused, seconds: (t1 - t0) / 1000, cpu: cpu1 - cpu0, m0, m1 };
}

/** The floor (bench/peers/ack-floor.ts): the same clients and frames, ACKed with no storage, its own process. */
async function runFloor(o: IngestOptions, tickMs: number): Promise<IngestSide & { tickMs: number }> {
  const children: (ChildProcess | null)[] = [];
  try {
    const floor = forkSelf('--floor', [tickMs]);
    children.push(floor);
    const { port } = await nextMessage<{ port: number }>(floor);
    const w = await driveClients(`ws://127.0.0.1:${port}`, [floor.pid!], o, null, children);
    const side = { tickMs, edits: w.edits, seconds: r2(w.seconds), cpuSeconds: r2(w.cpu), editsPerSecond: Math.round(w.edits / w.seconds), perCpuSecond: Math.round(w.edits / w.cpu) };
    console.log(`[floor] raw net WebSocket ACK server, no storage, ACKs ${tickMs > 0 ? `per ${tickMs} ms tick` : 'per read'}: ${side.editsPerSecond.toLocaleString('en-US')} acked publishes/s, ${side.perCpuSecond.toLocaleString('en-US')} per CPU-second (${side.cpuSeconds} CPU-s in ${side.seconds} s), ${(1e6 / side.perCpuSecond).toFixed(2)} µs per publish`);
    return side;
  } finally {
    for (const c of children.reverse()) await stop(c);
  }
}

async function floorMain(): Promise<void> {
  const f = await startAckFloor(Number(process.argv[3]));
  process.send!({ port: f.port });
}

async function runEngine(engine: 'embedded' | 'redis', o: IngestOptions, floor: IngestSide & { tickMs: number }): Promise<IngestResult> {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-ingest-'));
  const children: (ChildProcess | null)[] = [];
  try {
    // ---- Brigade ----
    let redis: { proc: ChildProcess; port: number } | null = null;
    const engineArgs: string[] = [];
    if (engine === 'redis') {
      redis = await startRedis(dir);
      children.push(redis.proc);
      engineArgs.push('--redis', `redis://127.0.0.1:${redis.port}`, '--redis-prefix', `ingest-${randomBytes(4).toString('hex')}:`);
    }
    const cli = o.cli;
    const nodeFlags = [...shippedNodeFlags(cli), ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(o.cpuProf)}`] : [])];
    const server = await startBrigade(cli, ['serve', '--host', '127.0.0.1', '--port', '0', '--data', dir, '--place-cooldown-ms', '0', '--publish-per-second-per-ip', '0',
      '--identity-per-minute-per-ip', '0', '--max-frames-per-second', '0', '--tick-ms', String(o.tickMs), '--place-canvases', 'main:1000x1000', ...engineArgs], root, 50, nodeFlags);
    children.push(server.proc);
    server.proc.stdout!.resume();
    const url = `ws://127.0.0.1:${server.port}`;
    const http = `http://127.0.0.1:${server.port}`;
    await fetch(`${http}/api/place/main/info`);
    const pids = [server.pid, ...(redis ? [redis.proc.pid!] : [])];
    const w = await driveClients(url, pids, o, () => scrapeMetrics(http, 30_000), children);
    await stop(server.proc);
    const { edits, seconds, cpu, m0, m1 } = w;
    const delta = (k: string) => (m1[k] ?? 0) - (m0[k] ?? 0);
    const editsPerAppend = Math.round(delta('brigade_events_in_total') / Math.max(1, delta('brigade_ticks_total')));
    const brigade = {
      edits, seconds: r2(seconds), cpuSeconds: r2(cpu), editsPerSecond: Math.round(edits / seconds), perCpuSecond: Math.round(edits / cpu),
      socketWritesPerAck: Math.round((delta('brigade_socket_writes_total') / Math.max(1, edits)) * 10_000) / 10_000,
      editsPerAppend, refused: w.refused, inFlight: o.clients * o.connections * o.inFlight,
    };
    console.log(`[${engine}] brigade: ${brigade.editsPerSecond.toLocaleString('en-US')} acked edits/s, ${brigade.perCpuSecond.toLocaleString('en-US')} per CPU-second (${brigade.cpuSeconds} CPU-s in ${brigade.seconds} s), ${editsPerAppend} edits per append, ${brigade.socketWritesPerAck} socket writes per ACK, ${brigade.refused} refused`);

    // ---- the plain loop, the same batch ----
    const batch = Math.max(1, editsPerAppend);
    let plainRedis: { proc: ChildProcess; port: number } | null = null;
    let plain: ChildProcess;
    if (engine === 'redis') {
      plainRedis = await startRedis(mkdtempSync(join(dir, 'plain-redis-')));
      children.push(plainRedis.proc);
      plain = forkSelf('--plain-redis', [plainRedis.port, batch, o.seconds]);
    } else {
      plain = forkSelf('--plain-sqlite', [dir, batch, o.seconds]);
    }
    children.push(plain);
    const redisCpu0 = plainRedis ? cpuSeconds(plainRedis.proc.pid!) : 0;
    const got = await nextMessage<{ edits: number; seconds: number; cpuSeconds: number }>(plain, (o.seconds + 60) * 1000);
    const plainCpu = got.cpuSeconds + (plainRedis ? cpuSeconds(plainRedis.proc.pid!) - redisCpu0 : 0);
    const p = { edits: got.edits, seconds: r2(got.seconds), cpuSeconds: r2(plainCpu), editsPerSecond: Math.round(got.edits / got.seconds), perCpuSecond: Math.round(got.edits / plainCpu), batch };
    console.log(`[${engine}] plain ${engine === 'redis' ? 'Lua append loop' : 'better-sqlite3 loop'}: ${p.editsPerSecond.toLocaleString('en-US')} edits/s, ${p.perCpuSecond.toLocaleString('en-US')} per CPU-second, ${batch} per ${engine === 'redis' ? 'script call' : 'transaction'}`);
    const ratio = { perSecond: r3(brigade.editsPerSecond / p.editsPerSecond), perCpuSecond: r3(brigade.perCpuSecond / p.perCpuSecond) };
    console.log(`[${engine}] Brigade / plain: ${ratio.perSecond}x per second, ${ratio.perCpuSecond}x per CPU-second`);
    const floorMicros = 1e6 / floor.perCpuSecond, plainMicros = 1e6 / p.perCpuSecond;
    const ceiling = { perCpuSecond: Math.round(1e6 / (floorMicros + plainMicros)), ratio: r3(plainMicros / (floorMicros + plainMicros)), floorMicros: r2(floorMicros), plainMicros: r2(plainMicros), brigadeMicros: r2(1e6 / brigade.perCpuSecond) };
    console.log(`[${engine}] CPU per acked publish: floor ${ceiling.floorMicros} µs + plain ${ceiling.plainMicros} µs = ${r2(floorMicros + plainMicros)} µs -> best Node server ${ceiling.ratio}x the plain loop per CPU-second (Brigade ${ceiling.brigadeMicros} µs, ${ratio.perCpuSecond}x)`);
    return { engine, brigade, plain: p, ratio, floor, ceiling };
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

const r2 = (n: number) => Math.round(n * 100) / 100;
const r3 = (n: number) => Math.round(n * 1000) / 1000;

export function parseIngestArgs(argv: string[]): IngestOptions {
  const o: IngestOptions = { engines: ['embedded', 'redis'], seconds: 10, warmupSeconds: 3, clients: 2, connections: 20, inFlight: 1000, tickMs: 100, floorTickMs: [], cpuProf: null, out: join(root, 'bench', 'results'), cli: join(root, 'bin', 'brigade.js'), chart: null };
  const ints: Record<string, [keyof IngestOptions, number, number]> = {
    '--seconds': ['seconds', 1, 300], '--warmup-seconds': ['warmupSeconds', 0, 60], '--clients': ['clients', 1, 16], '--connections': ['connections', 1, 500],
    '--in-flight': ['inFlight', 1, 10_000], '--tick-ms': ['tickMs', 1, 10_000],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (a in ints) {
      const [key, min, max] = ints[a];
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${a} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
      (o as unknown as Record<string, number>)[key] = n;
    } else if (a === '--engine') {
      const list = String(v).split(',');
      if (list.length === 0 || list.some((e) => e !== 'embedded' && e !== 'redis')) throw new Error(`--engine takes embedded, redis or both, got ${JSON.stringify(v)}`);
      o.engines = list as IngestOptions['engines'];
    } else if (a === '--floor-tick-ms') {
      const list = String(v).split(',').map(Number);
      if (list.some((n) => !Number.isInteger(n) || n < 0 || n > 10_000)) throw new Error(`--floor-tick-ms takes whole numbers from 0 to 10000 (0: ACK per read), got ${JSON.stringify(v)}`);
      o.floorTickMs = list;
    } else if (a === '--cpu-prof') o.cpuProf = String(v);
    else if (a === '--out') o.out = resolve(String(v));
    // Another build's CLI (a checkout of an earlier commit, built), for a before/after on the same plain loop.
    else if (a === '--cli') o.cli = resolve(String(v));
    else if (a === '--chart') o.chart = resolve(String(v));
    else throw new Error(`unknown option ${a}; see the comment at the top of bench/ingest.ts`);
  }
  // The floor is run ACKing per read and on Brigade's tick; the cheaper per publish is the floor.
  if (o.floorTickMs.length === 0) o.floorTickMs = [0, o.tickMs];
  if (o.clients * o.connections * o.inFlight > 100_000) throw new Error(`${o.clients * o.connections * o.inFlight} publishes in flight is over the channel's 100,000 pending limit`);
  return o;
}

async function main(): Promise<void> {
  const o = parseIngestArgs(process.argv.slice(2));
  const startedAt = new Date();
  console.log(`ingest: ${o.engines.join(', ')}; ${o.clients} client processes x ${o.connections} connections x ${o.inFlight} in flight; ${o.seconds} s after ${o.warmupSeconds} s warm-up; tick ${o.tickMs} ms; ${cpus().length} cores`);
  const floors: (IngestSide & { tickMs: number })[] = [];
  for (const t of o.floorTickMs) floors.push(await runFloor(o, t));
  // A run that measured nothing (no ACK or no CPU tick in its window, on a starved machine) is no floor.
  const measured = floors.filter((f) => f.edits > 0 && Number.isFinite(f.perCpuSecond) && f.perCpuSecond > 0);
  if (measured.length === 0) throw new Error(`the ack floor measured nothing in any run (${JSON.stringify(floors)}): a longer --seconds may help on a busy machine`);
  const floor = measured.reduce((a, b) => (b.perCpuSecond > a.perCpuSecond ? b : a));
  const results: IngestResult[] = [];
  for (const e of o.engines) results.push(await runEngine(e, o, floor));
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, `ingest-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ bench: 'ingest', startedAt: startedAt.toISOString(), command: ['node --import tsx bench/ingest.ts', ...process.argv.slice(2)].join(' '), machine: machineInfo(), options: o, floors, results }, null, 2) + '\n');
  console.log(`result: ${file}`);
  if (o.chart) {
    writeFileSync(o.chart, ingestChart(results, `${o.clients * o.connections * o.inFlight} publishes in flight, tick ${o.tickMs} ms, ${o.seconds} s; ${cpus().length} cores, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`));
    console.log(`chart: ${o.chart}`);
  }
}

/** Brigade beside its plain loop, per CPU-second and per second, one pair of panels per engine. */
export function ingestChart(results: IngestResult[], note: string): string {
  const width = 760;
  let y = 10;
  const parts: string[] = [];
  for (const r of results) {
    const store = r.engine === 'redis' ? 'Lua append loop' : 'better-sqlite3 loop';
    for (const [what, key] of [['per CPU-second', 'perCpuSecond'], ['per second', 'editsPerSecond']] as const) {
      const p = panel(`${r.engine}: acknowledged edits ${what}`, [
        { label: 'Brigade', value: r.brigade[key], colour: '#1f77b4', note: `(${key === 'perCpuSecond' ? r.ratio.perCpuSecond : r.ratio.perSecond}×)` },
        ...(key === 'perCpuSecond' ? [{ label: 'best Node (floor + plain)', value: r.ceiling.perCpuSecond, colour: '#2ca02c', note: `(${r.ceiling.ratio}×)` }] : []),
        { label: `plain ${store}`, value: r.plain[key], colour: '#7f7f7f' },
      ], 10, y, width, { value: r.plain[key] * 0.5, label: '0.5× the plain loop' });
      parts.push(p.svg);
      y += p.height + 10;
    }
  }
  const h = y + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n`
    + `<text x="10" y="${h - 8}" font-size="11" fill="#555">${esc(note)}</text>\n</svg>\n`;
}

const role = process.argv[2];
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const run = role === '--client' ? clientMain() : role === '--floor' ? floorMain() : role === '--plain-sqlite' ? Promise.resolve(plainSqliteMain()) : role === '--plain-redis' ? plainRedisMain() : main();
  run.catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  });
}
