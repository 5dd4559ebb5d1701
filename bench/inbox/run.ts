/**
 * The inbox benchmark (issue 17, docs/inbox.md "Benchmarks"), a scenario on the shared simulator's
 * parts (src/sim: worker processes, the minimal WebSocket client, 127.0.0.x source addresses, /proc
 * accounting, histograms, SVG charts):
 *
 *   npm run build
 *   node --import tsx bench/inbox/run.ts --devices 1000000 --connected 100000 --nodes 6 --peers none
 *
 * 1. --nodes `brigade serve --apps inbox` processes on one redis-server (or, `--engine embedded`,
 *    one node on its default SQLite engine and no redis-server: one process, as mosquitto); N devices registered
 *    through the bulk route (POST /api/inbox/devices/bulk, 10,000 a request). Each connected device
 *    is an open file of its node, and a process may hold 20,000 here: 100,000 connected needs six
 *    nodes (and six device processes), two hold at most 36,000.
 * 2. Server RAM: node 0 runs with --inspect; through the inspector the bench forces a full GC and
 *    reads process.memoryUsage() (heapUsed + arrayBuffers) before and after the devices, and before
 *    and after L live messages. Per device and per message = the difference / the count.
 * 3. M devices connect (worker processes of up to 18,000 devices, each from its own 127.0.0.x) and
 *    sync; K messages are published to each of two five-clause expressions matching about half; for
 *    each, the time after the publish until 50 / 99 / 100 % of the matching connected devices hold
 *    it, and deliveries per server CPU-second (both nodes and redis-server).
 * 4. Storm, once per --storm-rate given: every device disconnects, one message goes to `all`, and
 *    the devices reconnect at that rate with the cursor just before it; per device, connect → first
 *    message, and whether it got anything at or before its cursor.
 * 5. Peers, same devices (--peer-connected of them, the first ones) and the same messages, after
 *    Brigade is stopped: the seed's first design (bench/peers/inbox-sql.ts: SQLite, recipients by
 *    a SQL WHERE at publish) and Debian's mosquitto (QoS 1, persistent sessions, one topic per
 *    group; the `groups` expression is five topics); deliveries per server CPU-second.
 *
 * Writes bench/results/inbox-<time>.json and prints a summary; `--svg FILE` draws the chart.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import mqtt from 'mqtt';
import { freePort, waitExit, exited } from '../../src/sim/child.ts';
import { Histogram, type LatencySummary } from '../../src/sim/histogram.ts';
import { onLines, shippedNodeFlags, startBrigade } from '../../src/sim/listening.ts';
import { simFetch } from '../../src/sim/loopback-fetch.ts';
import { cpuSeconds, machineBusySeconds, machineInfo, nowMs, openFds, rssBytes } from '../../src/sim/proc.ts';
import { startWorker, type Worker } from '../../src/sim/workers.ts';
import { panelSvg } from '../../src/sim/svg.ts';
import { scrapeMetrics } from '../../src/sim/prom.ts';
import type { ConnectSpec, DeviceKind, FromDeviceWorker, MessageReport, ToDeviceWorker } from './device-worker.ts';
import { EXPRESSIONS, GROUPS_EXPRESSION_TOPICS, matcher, profileOf, type ExpressionName } from './population.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORKER = join(ROOT, 'bench', 'inbox', 'device-worker.ts');
/** Devices per worker process, and per server process: each socket is a file, and a process may hold 20,000. */
const PER_PROCESS = 18_000;

const usage = `usage: node --import tsx bench/inbox/run.ts [options]   (npm run build first)
  --devices N          registered devices (1,000 groups, 10 attributes each)       default 100000
  --connected M        connected devices, spread over the nodes                     default 10000
  --nodes K            brigade serve processes on one redis-server                  default 2
  --engine E           redis (the nodes on one redis-server) or embedded (one node on its default SQLite
                       engine, no redis-server: one server process, like mosquitto; needs --nodes 1)  default redis
  --messages K         messages per expression in the fan-out                       default 3
  --live-messages L    messages published for the RAM-per-message figure           default 1000 (0: skip)
  --storm-rate R[,R2]  storm connects per second (all workers together; 0: skip); a list runs one storm
                       per rate, in that order                                      default 10000
  --peers LIST         sql,mqtt or none                                             default sql,mqtt
  --peer-connected P   connected devices for the peers (at most ${PER_PROCESS}; mosquitto is one process)  default min(M, ${PER_PROCESS})
  --peer-messages K    messages per peer                                            default 3
  --warmup K           messages per expression before each server's measured window, not counted
                       (Brigade and the peers alike: the JIT's first compiles out of the window)  default 0
  --poll-ms P          how often the coordinator asks the device processes whether a message reached every
                       matching device (the end of its time in the window, for every server alike)  default 250
  --lease-ms L         the liveness window, the same for both: Brigade's --inbox-device-lease-ms (devices ack every 2L/3, as the SDK and as MQTT's keepalive L/1.5)
                       and the MQTT clients' keepalive L/1.5 (a broker drops a client after 1.5 x keepalive)  default 60000
  --seed S             the population's seed                                        default 1
  --sql-db FILE        the SQLite peer's database, kept to be reused by a later run of the same devices and seed
                       default <tmp>/brigade-inbox-sql-<devices>-<seed>.db
  --no-ram             skip the inspector (no --inspect on node 0)
  --out DIR            default bench/results
  --svg FILE           also draw the chart there`;

interface Options {
  devices: number; connected: number; nodes: number; messages: number; liveMessages: number; stormRates: number[];
  peers: ('sql' | 'mqtt')[]; peerConnected: number; peerMessages: number; seed: number; sqlDb: string; ram: boolean; out: string; svg: string;
  warmup: number;
  leaseMs: number;
  /** The cluster backend: one redis-server for the nodes, or none (one node on its embedded SQLite engine). */
  engine: 'redis' | 'embedded';
  pollMs: number;
}

function parse(argv: string[]): Options {
  const o: Options = {
    devices: 100_000, connected: 10_000, nodes: 2, messages: 3, liveMessages: 1000, stormRates: [10_000],
    peers: ['sql', 'mqtt'], peerConnected: -1, peerMessages: 3, seed: 1, sqlDb: '', ram: true, out: join(ROOT, 'bench', 'results'), svg: '',
    warmup: 0, leaseMs: 60_000, pollMs: 250, engine: 'redis',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${a} needs a value`); return x; };
    const int = (lo: number, hi: number) => { const n = Number(v()); if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`${a} must be a whole number from ${lo} to ${hi}`); return n; };
    switch (a) {
      case '--devices': o.devices = int(1, 2_000_000); break;
      case '--connected': o.connected = int(1, 200_000); break;
      case '--nodes': o.nodes = int(1, 12); break;
      case '--engine': { const e = v(); if (e !== 'redis' && e !== 'embedded') throw new Error('--engine: redis or embedded'); o.engine = e; break; }
      case '--messages': o.messages = int(1, 100); break;
      case '--live-messages': o.liveMessages = int(0, 100_000); break;
      case '--storm-rate': {
        const list = v().split(',').map(Number);
        if (list.some((n) => !Number.isInteger(n) || n < 0 || n > 100_000)) throw new Error('--storm-rate: whole numbers from 0 to 100000, comma-separated');
        o.stormRates = list.filter((n) => n > 0);
        break;
      }
      case '--peers': { const p = v(); o.peers = p === 'none' ? [] : p.split(',') as Options['peers']; if (o.peers.some((x) => x !== 'sql' && x !== 'mqtt')) throw new Error('--peers: sql, mqtt or none'); break; }
      case '--peer-connected': o.peerConnected = int(1, PER_PROCESS); break;
      case '--peer-messages': o.peerMessages = int(1, 100); break;
      case '--warmup': o.warmup = int(0, 20); break;
      case '--poll-ms': o.pollMs = int(5, 5000); break;
      case '--lease-ms': o.leaseMs = int(3000, 3_600_000); break;
      case '--seed': o.seed = int(0, 2 ** 31 - 1); break;
      case '--sql-db': o.sqlDb = v(); break;
      case '--no-ram': o.ram = false; break;
      case '--out': o.out = v(); break;
      case '--svg': o.svg = v(); break;
      case '--help': console.log(usage); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n${usage}`);
    }
  }
  if (o.connected > o.devices) throw new Error('--connected is more than --devices');
  if (o.engine === 'embedded' && o.nodes !== 1) throw new Error(`--engine embedded serves one process: --nodes must be 1 (is ${o.nodes})`);
  if (o.connected > o.nodes * PER_PROCESS) {
    throw new Error(`${o.connected} connected devices need ${Math.ceil(o.connected / PER_PROCESS)} server processes at ${PER_PROCESS} sockets each (20,000 open files per process; the rest for Redis, the listener, the inspector); --nodes is ${o.nodes}`);
  }
  if (o.peerConnected < 0) o.peerConnected = Math.min(o.connected, PER_PROCESS);
  if (o.peerConnected > o.devices) throw new Error('--peer-connected is more than --devices');
  return o;
}

const r1 = (n: number) => Math.round(n * 10) / 10;
const r3 = (n: number) => Math.round(n * 1000) / 1000;
const log = (s: string) => process.stderr.write(`[inbox bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- processes -----------------------------------------------------------------------------------

const children: ChildProcess[] = [];
/** A worker or server that died: the run stops waiting and fails. */
let fatalError: string | null = null;

async function stop(p: ChildProcess, graceMs = 15_000): Promise<void> {
  if (exited(p) || !p.pid) return;
  try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
  if (!(await waitExit(p, graceMs))) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } await waitExit(p, 2000); }
}

/**
 * Stops every server this run started, all at once (by PID), each killed if it has not exited
 * after `graceMs`: an interrupted run (a `timeout`'s SIGTERM, Ctrl-C) must not leave a node behind.
 */
function stopAll(graceMs: number): Promise<void> {
  return Promise.all([...children].reverse().map((c) => stop(c, graceMs))).then(() => undefined);
}

/** Spawns a server and resolves once a line of its output matches. */
function spawnUntil(cmd: string, args: string[], ready: RegExp, timeoutMs: number, cwd = ROOT): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  const tail: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready in ${timeoutMs / 1000} s:\n${tail.join('\n')}`)), timeoutMs);
    const onLine = (line: string) => {
      tail.push(line); if (tail.length > 20) tail.shift();
      if (ready.test(line)) { clearTimeout(timer); resolve({ proc, line }); }
    };
    onLines(proc.stdout!, onLine);
    onLines(proc.stderr!, onLine);
    proc.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`${cmd} exited (${sig ?? code}):\n${tail.join('\n')}`)); });
  });
}

function waitPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const s = netConnect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(); });
      s.on('error', () => { s.destroy(); if (Date.now() > until) reject(new Error(`nothing listens on ${port}`)); else setTimeout(tryOnce, 100); });
    };
    tryOnce();
  });
}

/** The server's CPU-seconds so far (every process of it). */
const cpuOf = (pids: number[]) => pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);

// ---- the inspector: forced GC and memoryUsage of node 0 -----------------------------------------

interface LargeArray { bufferBytes: number; views: number; viewBytes: number; types: Record<string, number> }

async function inspector(port: number): Promise<{ memory(): Promise<{ heapUsed: number; arrayBuffers: number; external: number; rss: number }>; largeArrays(): Promise<LargeArray[]>; close(): void }> {
  const list = await (await simFetch(`http://127.0.0.1:${port}/json/list`)).json() as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  let id = 0;
  const call = (method: string, params: object = {}) => new Promise<any>((resolve, reject) => {
    const my = ++id;
    const onMessage = (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      if (m.id !== my) return;
      ws.off('message', onMessage);
      if (m.error) reject(new Error(m.error.message)); else resolve(m.result);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id: my, method, params }));
  });
  return {
    async memory() {
      // Twice: a first full GC can leave garbage that finalizers freed for the second.
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
      return JSON.parse(r.result.value);
    },
    /**
     * Where the array-buffer bytes are: every buffer over 64 KiB that a live typed array or Buffer
     * views (the inspector's queryObjects on the typed arrays' common prototype), largest first,
     * with how many views hold it and how many of its bytes they cover.
     */
    async largeArrays() {
      const proto = await call('Runtime.evaluate', { expression: 'Object.getPrototypeOf(Int32Array.prototype)' });
      const found = await call('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId });
      const r = await call('Runtime.callFunctionOn', {
        objectId: found.objects.objectId, returnByValue: true,
        functionDeclaration: `function () {
          const by = new Map();
          for (const a of this) {
            let b; try { b = a.buffer; } catch { continue; }
            if (!b || b.byteLength <= 65536) continue;
            let e = by.get(b);
            if (!e) { e = { bufferBytes: b.byteLength, views: 0, viewBytes: 0, types: {} }; by.set(b, e); }
            e.views++; e.viewBytes += a.byteLength; e.types[a.constructor.name] = (e.types[a.constructor.name] || 0) + 1;
          }
          return [...by.values()].sort((x, y) => y.bufferBytes - x.bufferBytes).slice(0, 30);
        }`,
      });
      if (!Array.isArray(r.result?.value)) throw new Error(`queryObjects: ${JSON.stringify(r).slice(0, 300)}`);
      return r.result.value as LargeArray[];
    },
    close: () => ws.close(),
  };
}

// ---- workers -----------------------------------------------------------------------------------

type DeviceWorker = Worker<ToDeviceWorker, FromDeviceWorker>;

function startWorkers(count: number, firstAddress: number, onFatal: (m: string) => void): { workers: DeviceWorker[]; addresses: string[] } {
  const workers: DeviceWorker[] = [];
  const addresses: string[] = [];
  for (let w = 0; w < count; w++) {
    workers.push(startWorker<ToDeviceWorker, FromDeviceWorker>(WORKER as `${string}.ts`, onFatal));
    addresses.push(`127.0.0.${firstAddress + w}`);
  }
  return { workers, addresses };
}

interface Connected { ok: number; failed: number; retries: number; seconds: number; epoch: number; head: number; handshakeMs: LatencySummary; errors: string[] }

async function connectDevices(
  workers: DeviceWorker[], addresses: string[], kind: DeviceKind, count: number, urls: string[], o: Options,
  extra: { devices?: { id: string; token?: string }[]; identitySecret?: string; ratePerSecond?: number; concurrency?: number; cursor?: { epoch: number; seq: number } | null },
): Promise<Connected> {
  const per = Math.ceil(count / workers.length);
  const t0 = nowMs();
  const replies = await Promise.all(workers.map((w, k) => {
    const first = k * per;
    const n = Math.max(0, Math.min(count, first + per) - first);
    const spec: ConnectSpec = {
      t: 'connect', kind, seed: o.seed, first, urls, localAddress: addresses[k], identitySecret: extra.identitySecret ?? '',
      devices: extra.devices ? extra.devices.slice(first, first + n) : Array.from({ length: n }, (_x, j) => ({ id: String(first + j) })),
      ratePerSecond: extra.ratePerSecond ? extra.ratePerSecond / workers.length : 0, concurrency: extra.concurrency ?? 500, cursor: extra.cursor ?? null,
      leaseMs: o.leaseMs,
    };
    return w.ask(spec, 'connected', 600_000);
  }));
  const hs = new Histogram();
  for (const r of replies) hs.add(r.handshake);
  return {
    ok: replies.reduce((s, r) => s + r.ok, 0), failed: replies.reduce((s, r) => s + r.failed, 0), retries: replies.reduce((s, r) => s + r.retries, 0), seconds: (nowMs() - t0) / 1000,
    epoch: replies.find((r) => r.epoch)?.epoch ?? 0, head: Math.max(...replies.map((r) => r.head)), handshakeMs: hs.summary(),
    errors: replies.flatMap((r) => r.errors).slice(0, 5),
  };
}

interface Merged { expected: number; received: number; unexpected: number; duplicates: number; times: number[]; firstMessage: Histogram; otherMessages: number; closed: number; errors: string[] }

async function collect(workers: DeviceWorker[], messages: { id: string; to: string }[]): Promise<Merged[]> {
  const replies = await Promise.all(workers.map((w) => w.ask({ t: 'report', messages }, 'report', 120_000)));
  return messages.map((_m, i) => {
    const out: Merged = { expected: 0, received: 0, unexpected: 0, duplicates: 0, times: [], firstMessage: new Histogram(), otherMessages: 0, closed: 0, errors: [] };
    for (const r of replies) {
      const x: MessageReport = r.messages[i];
      out.expected += x.expected; out.received += x.received; out.unexpected += x.unexpected; out.duplicates += x.duplicates;
      for (const t of x.times) out.times.push(t);
      out.firstMessage.add(r.firstMessage);
      out.closed += r.closed;
      out.otherMessages += r.otherMessages;
      out.errors.push(...r.errors);
    }
    return out;
  });
}

/** Polls every `pollMs` (--poll-ms) until every matching connected device holds the message, or `timeoutMs`. */
let pollMs = 250;
async function waitDelivered(workers: DeviceWorker[], m: { id: string; to: string }, timeoutMs: number): Promise<Merged> {
  const until = nowMs() + timeoutMs;
  for (;;) {
    const [x] = await collect(workers, [m]);
    if (x.received >= x.expected || nowMs() > until || fatalError) return x;
    await sleep(pollMs);
  }
}

export interface MessageResult {
  id: string; expression: ExpressionName; expected: number; received: number; unexpected: number; duplicates: number;
  /** ms after the publish request left until 50 / 99 / 100 % of the matching connected devices held it (null: never reached). */
  p50Ms: number | null; p99Ms: number | null; p100Ms: number | null;
  /** Cumulative % holding it at each 10 ms step (for the chart). */
  curve: number[];
}

function messageResult(id: string, expression: ExpressionName, t0: number, x: Merged): MessageResult {
  const lat = x.times.map((t) => t - t0).sort((a, b) => a - b);
  const at = (f: number) => { const k = Math.ceil(f * x.expected) - 1; return k < lat.length ? r1(lat[Math.max(0, k)]) : null; };
  const curve: number[] = [];
  const max = lat.length ? lat[lat.length - 1] : 0;
  for (let ms = 0, j = 0; ms <= max + 10; ms += 10) { while (j < lat.length && lat[j] <= ms) j++; curve.push(x.expected ? r1((100 * j) / x.expected) : 0); }
  return { id, expression, expected: x.expected, received: x.received, unexpected: x.unexpected, duplicates: x.duplicates, p50Ms: at(0.5), p99Ms: at(0.99), p100Ms: x.received >= x.expected ? at(1) : null, curve };
}

export interface DeliveryResult {
  target: 'brigade' | 'sql' | 'mqtt';
  connected: number;
  messages: MessageResult[];
  deliveries: number;
  serverCpuSeconds: number;
  deliveriesPerServerCpuSecond: number;
  windowSeconds: number;
  deviceProcessesCpuPercentOfOneCore: number;
  otherCpuPercentOfOneCore: number;
  /** Each server process's share of serverCpuSeconds (Brigade: node 0, node 1, …, redis-server). */
  serverCpuSecondsEach: number[];
}

const TITLE = 'Flash sale: 30 % off today only';
const BODY = 'Everything in the spring collection is 30 % off until midnight. Open the app to see what is new in your size and your city.';

/**
 * Publishes `count` messages per expression, one at a time, each once the previous one has reached
 * every matching connected device; the window's server CPU is charged to the deliveries.
 */
async function deliveryRound(
  target: DeliveryResult['target'], workers: DeviceWorker[], expressions: ExpressionName[], count: number, connected: number, serverPids: number[],
  genPids: number[], publish: (to: string, k: number) => Promise<string>, warmup = 0,
): Promise<DeliveryResult> {
  // INBOX_BENCH_PIN="SERVERS/DEVICES", CPU lists for `taskset` (e.g. "0/1"): for this round the
  // server processes (every thread) run only on SERVERS and the device processes only on DEVICES,
  // for every target alike; afterwards both go back to every CPU. An experiment on where a
  // delivery's CPU goes (the servers' share of the cores against the devices'), not the default.
  const pin = (process.env.INBOX_BENCH_PIN ?? '').split('/');
  const setCpus = (pids: number[], cpus: string) => { for (const pid of pids) execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' }); };
  if (pin.length === 2) { setCpus(serverPids, pin[0]!); setCpus(genPids, pin[1]!); }
  try {
    return await deliveryRoundIn(target, workers, expressions, count, connected, serverPids, genPids, publish, warmup);
  } finally {
    if (pin.length === 2) { const all = `0-${machineInfo().cores - 1}`; setCpus(serverPids, all); setCpus(genPids, all); }
  }
}

async function deliveryRoundIn(
  target: DeliveryResult['target'], workers: DeviceWorker[], expressions: ExpressionName[], count: number, connected: number, serverPids: number[],
  genPids: number[], publish: (to: string, k: number) => Promise<string>, warmup: number,
): Promise<DeliveryResult> {
  // Warm-up messages (not counted, before the window): each server's delivery path runs before it
  // is measured, as it would in a server that has been delivering for a while.
  for (let k = 0; k < warmup; k++) {
    for (const name of expressions) {
      const to = EXPRESSIONS[name];
      const id = await publish(to, k);
      const x = await waitDelivered(workers, { id, to }, 30_000);
      if (fatalError) throw new Error(fatalError);
      log(`${target} ${name} warm-up #${k + 1}: ${x.received}/${x.expected} delivered (not counted)`);
    }
  }
  const cpu0 = cpuOf(serverPids), gen0 = cpuOf(genPids), busy0 = machineBusySeconds(), w0 = nowMs();
  const each0 = serverPids.map((p) => cpuSeconds(p) || 0);
  const messages: MessageResult[] = [];
  for (const name of expressions) {
    for (let k = 0; k < count; k++) {
      const to = EXPRESSIONS[name];
      const t0 = nowMs();
      const id = await publish(to, k);
      const x = await waitDelivered(workers, { id, to }, 30_000);
      const m = messageResult(id, name, t0, x);
      messages.push(m);
      if (fatalError) throw new Error(fatalError);
      log(`${target} ${name} #${k + 1}: ${m.received}/${m.expected} in 50% ${m.p50Ms} ms, 99% ${m.p99Ms} ms, 100% ${m.p100Ms} ms${m.unexpected ? `, ${m.unexpected} UNEXPECTED` : ''}`);
    }
  }
  const windowSeconds = (nowMs() - w0) / 1000;
  const serverCpuSeconds = cpuOf(serverPids) - cpu0;
  const serverCpuSecondsEach = serverPids.map((p, i) => r3((cpuSeconds(p) || 0) - each0[i]));
  // The coordinator's own CPU (small: a publish and a poll every 250 ms) counts as "other".
  const gen = cpuOf(genPids) - gen0;
  const other = machineBusySeconds() - busy0 - serverCpuSeconds - gen;
  const deliveries = messages.reduce((s, m) => s + m.received, 0);
  return {
    target, connected, messages, deliveries, serverCpuSeconds: r3(serverCpuSeconds), deliveriesPerServerCpuSecond: Math.round(deliveries / Math.max(0.01, serverCpuSeconds)),
    windowSeconds: r3(windowSeconds), deviceProcessesCpuPercentOfOneCore: r1((100 * gen) / windowSeconds), otherCpuPercentOfOneCore: r1((100 * other) / windowSeconds),
    serverCpuSecondsEach,
  };
}

// ---- the run -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  pollMs = o.pollMs;
  const startedAt = new Date();
  const onFatal = (m: string) => { fatalError ??= m; log(`FATAL: ${m}`); };
  // Ctrl-C or a timeout's SIGTERM: stop what this run started (by PID), then exit.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping what this run started`);
      void Promise.all([...allWorkers.map((x) => x.stop()), stopAll(3000)]).then(() => process.exit(130));
    });
  }
  const dirs: string[] = [];
  const result: Record<string, unknown> = {
    bench: 'inbox', startedAt: startedAt.toISOString(), machine: machineInfo(),
    command: `node --import tsx bench/inbox/run.ts ${process.argv.slice(2).join(' ')}`.trim(), options: o,
  };
  let allWorkers: DeviceWorker[] = [];
  try {
    // -- Brigade: redis-server and the nodes (embedded: one node, no redis-server) ---------------
    let redis: ChildProcess | null = null;
    const backend: string[] = [];
    if (o.engine === 'redis') {
      const redisPort = await freePort();
      const redisDir = mkdtempSync(join(tmpdir(), 'inbox-bench-redis-'));
      dirs.push(redisDir);
      redis = (await spawnUntil('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], /Ready to accept connections/, 15_000)).proc;
      backend.push('--redis', `redis://127.0.0.1:${redisPort}`, '--redis-prefix', `inbox-bench-${randomBytes(3).toString('hex')}:`);
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'inbox-bench-data-'));
    dirs.push(dataDir);
    const key = randomBytes(18).toString('base64url');
    const identitySecret = randomBytes(24).toString('base64url');
    const cli = join(ROOT, 'bin', 'brigade.js');
    const args = [
      'serve', '--host', '127.0.0.1', '--port', '0', '--apps', 'inbox', '--data', dataDir,
      ...backend,
      '--identity-secret', identitySecret, '--inbox-device-secret', randomBytes(24).toString('base64url'), '--inbox-publisher-key', key,
      '--inbox-publish-per-second', '0', '--inbox-register-per-minute', '0', '--max-frames-per-second', '0', '--identity-per-minute-per-ip', '0',
      // A registry snapshot is the whole device table: every 10,000 of a million registrations would write 100 of them.
      '--snapshot-every', '0',
      // The liveness window, the MQTT peer's too (device-worker.ts: keepalive = lease / 1.5).
      '--inbox-device-lease-ms', String(o.leaseMs),
    ];
    const inspectPort = o.ram ? await freePort() : 0;
    const nodes = [];
    for (let k = 0; k < o.nodes; k++) {
      // INBOX_BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": node flags for every node (profiling).
      const extra = (process.env.INBOX_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
      // INBOX_BENCH_NODE_CLIS="A/bin/brigade.js,B/bin/brigade.js": node k runs the k-th build (an A/B
      // of two builds in one run, each node's CPU in serverCpuSecondsEach; empty: this checkout's).
      const nodeCli = (process.env.INBOX_BENCH_NODE_CLIS ?? '').split(',')[k] || cli;
      const flags = [...shippedNodeFlags(nodeCli), ...extra, ...(k === 0 && o.ram ? [`--inspect=127.0.0.1:${inspectPort}`] : [])];
      const n = await startBrigade(nodeCli, args, ROOT, 50, flags);
      children.push(n.proc);
      // INBOX_BENCH_SERVER_STDOUT=DIR: each node's stdout to DIR/node-<k>.log (e.g. with --trace-opt --trace-deopt).
      if (process.env.INBOX_BENCH_SERVER_STDOUT) n.proc.stdout!.pipe(createWriteStream(join(process.env.INBOX_BENCH_SERVER_STDOUT, `node-${k}.log`)));
      else n.proc.stdout!.resume();
      nodes.push(n);
    }
    const http = nodes.map((n) => `http://127.0.0.1:${n.port}`);
    const wsUrls = nodes.map((n) => `ws://127.0.0.1:${n.port}`);
    const serverPids = [...nodes.map((n) => n.pid), ...(redis ? [redis.pid!] : [])];
    result.servers = { nodes: o.nodes, engine: o.engine, command: `node ${shippedNodeFlags(cli).join(' ')} bin/brigade.js ${args.filter((a) => !a.startsWith('/tmp')).join(' ')} (secrets random)`.replace(/--inbox-publisher-key \S+|--identity-secret \S+|--inbox-device-secret \S+/g, (m) => m.split(' ')[0] + ' <random>') };
    const api = async (base: string, path: string, body?: unknown) => {
      const res = await simFetch(base + path, {
        method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body),
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, timeoutMs: 120_000,
      });
      const j = await res.json() as Record<string, unknown>;
      if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(j)}`);
      return j;
    };
    const insp = o.ram ? await inspector(inspectPort) : null;
    const memBase = insp ? await insp.memory() : null;

    // -- registration (bulk) -------------------------------------------------------------------
    log(`registering ${o.devices} devices through POST /api/inbox/devices/bulk`);
    const keepTokens = o.connected;
    const devices: { id: string; token: string }[] = [];
    const regT0 = nowMs();
    const cpuReg0 = cpuOf(serverPids);
    const CHUNK = 10_000;
    for (let from = 0; from < o.devices; from += CHUNK) {
      const n = Math.min(CHUNK, o.devices - from);
      const body = { devices: Array.from({ length: n }, (_x, j) => profileOf(o.seed, from + j)) };
      const r = await api(http[0], '/api/inbox/devices/bulk', body) as { ids: string[]; tokens: string[] };
      for (let j = 0; j < n && from + j < keepTokens; j++) devices.push({ id: r.ids[j], token: r.tokens[j] });
      if ((from / CHUNK) % 10 === 9) log(`  ${from + n} registered`);
    }
    const registerSeconds = (nowMs() - regT0) / 1000;
    // Every node has folded them all when its check counts them all.
    for (const base of http) {
      for (;;) {
        const c = await api(base, '/api/inbox/expressions/check', { to: 'all' }) as { matching: number };
        if (c.matching >= o.devices) break;
        await sleep(500);
      }
    }
    const foldedSeconds = (nowMs() - regT0) / 1000;
    result.registration = {
      path: 'POST /api/inbox/devices/bulk (publisher key, 10,000 devices a request)', devices: o.devices,
      seconds: r1(registerSeconds), everyNodeHoldsThemAfterSeconds: r1(foldedSeconds), serverCpuSeconds: r1(cpuOf(serverPids) - cpuReg0),
      rssMB: nodes.map((n) => r1(rssBytes(n.pid) / 2 ** 20)), redisRssMB: redis ? r1(rssBytes(redis.pid!) / 2 ** 20) : null,
    };
    log(`registered in ${r1(registerSeconds)} s, on every node after ${r1(foldedSeconds)} s`);
    const memDevices = insp ? await insp.memory() : null;
    const arraysAfterDevices = insp ? await insp.largeArrays() : null;

    // -- connect ---------------------------------------------------------------------------------
    const w = startWorkers(Math.max(1, Math.ceil(o.connected / PER_PROCESS)), 20, onFatal);
    allWorkers = w.workers;
    const genPids = w.workers.map((x) => x.pid);
    const filesBefore = nodes.map((n) => openFds(n.pid));
    log(`connecting ${o.connected} devices from ${w.workers.length} processes`);
    // At most ~1,000 handshakes in flight over all the device processes: more only lengthens each
    // one's wait (the servers' CPU bounds the rate), and past 30 s a handshake is tried again.
    const conn = await connectDevices(w.workers, w.addresses, 'brigade', o.connected, wsUrls, o, { devices, identitySecret, concurrency: Math.max(100, Math.floor(1000 / w.workers.length)) });
    result.connect = {
      ...conn, perSecond: Math.round(conn.ok / conn.seconds), serverRssMB: nodes.map((n) => r1(rssBytes(n.pid) / 2 ** 20)),
      // Each connected device is one open file of its node (20,000 a process here): before and after.
      serverOpenFilesBefore: filesBefore, serverOpenFiles: nodes.map((n) => openFds(n.pid)), loadAverage: loadavg().map(r1),
    };
    log(`connected ${conn.ok} (failed ${conn.failed}) in ${r1(conn.seconds)} s ${conn.errors.join('; ')}`);
    if (conn.failed > 0 || fatalError) throw new Error(`devices failed to connect: ${conn.errors.join('; ')} ${fatalError ?? ''}`);
    await sleep(1000);

    // -- idle: what the nodes spend with every device connected and nothing to deliver -----------
    {
      const c0 = cpuOf(serverPids), t0 = nowMs();
      await sleep(3000);
      const seconds = (nowMs() - t0) / 1000;
      result.idle = { seconds: r3(seconds), serverCpuPercentOfOneCore: r1((100 * (cpuOf(serverPids) - c0)) / seconds) };
      log(`idle: the servers (nodes${o.engine === 'redis' ? ' and redis-server' : ''}) use ${(result.idle as { serverCpuPercentOfOneCore: number }).serverCpuPercentOfOneCore} % of a core`);
    }

    // -- fan-out ---------------------------------------------------------------------------------
    const publishBrigade = async (to: string, k: number) => ((await api(http[k % http.length], '/api/inbox/messages', { to, title: TITLE, body: BODY })) as { id: string }).id;
    const fanout = await deliveryRound('brigade', w.workers, ['groups', 'mixed'], o.messages, conn.ok, serverPids, genPids, publishBrigade, o.warmup);
    result.fanout = fanout;
    // The adaptive tick each node ran at (it stretches when a tick's work outlasts it, on every node at once).
    result.tickIntervalMs = await Promise.all(http.map(async (base) => (await scrapeMetrics(base)).brigade_tick_interval_ms ?? null));

    // -- storm -----------------------------------------------------------------------------------
    // Each storm: every device disconnects, one message goes to `all`, and they reconnect at the
    // rate with the cursor just before it; each device must get that message and nothing at or
    // before its cursor.
    const storms: Record<string, unknown>[] = [];
    for (const rate of o.stormRates) {
      await Promise.all(w.workers.map((x) => x.ask({ t: 'disconnect' }, 'disconnected', 60_000)));
      await sleep(1000);
      const before = await api(http[0], '/api/inbox/messages', { to: 'all', title: TITLE, body: BODY }) as { id: string; seq: number };
      const cursor = { epoch: conn.epoch, seq: before.seq - 1 };
      await sleep(500);
      const cpu0 = cpuOf(serverPids), gen0 = cpuOf(genPids), busy0 = machineBusySeconds(), t0 = nowMs();
      log(`storm: ${o.connected} devices reconnect at ${rate}/s with cursor ${JSON.stringify(cursor)}`);
      const storm = await connectDevices(w.workers, w.addresses, 'brigade', o.connected, wsUrls, o, { devices, identitySecret, ratePerSecond: rate, concurrency: 5000, cursor });
      const x = await waitDelivered(w.workers, { id: before.id, to: 'all' }, 30_000);
      const seconds = (nowMs() - t0) / 1000;
      const serverCpuSeconds = cpuOf(serverPids) - cpu0;
      // The machine-bound arithmetic: what the device processes and everything else took of the
      // two cores in the same window (the coordinator's polls count as other).
      const deviceCpuSeconds = cpuOf(genPids) - gen0;
      const otherCpuSeconds = machineBusySeconds() - busy0 - serverCpuSeconds - deviceCpuSeconds;
      const s = {
        devices: o.connected, askedPerSecond: rate, connected: storm.ok, failed: storm.failed, retries: storm.retries, connectSeconds: r3(storm.seconds),
        achievedPerSecond: Math.round(storm.ok / storm.seconds), withFirstMessage: x.received, unexpectedMessages: x.unexpected,
        // Devices that got a message at or before their cursor (a resync the cursor should have prevented).
        devicesWithOlderMessages: x.otherMessages, duplicates: x.duplicates,
        connectToFirstMessageMs: x.firstMessage.summary(), handshakeMs: storm.handshakeMs, serverCpuSeconds: r3(serverCpuSeconds), windowSeconds: r3(seconds),
        serverCpuMicrosecondsPerReconnect: storm.ok ? Math.round((serverCpuSeconds * 1e6) / storm.ok) : null,
        deviceCpuSeconds: r3(deviceCpuSeconds), deviceCpuMicrosecondsPerReconnect: storm.ok ? Math.round((deviceCpuSeconds * 1e6) / storm.ok) : null,
        otherCpuSeconds: r3(otherCpuSeconds),
        loadAverage: loadavg().map(r1),
        errors: storm.errors,
      };
      storms.push(s);
      log(`storm: ${storm.ok} in ${r1(storm.seconds)} s (${s.achievedPerSecond}/s), first message p50 ${s.connectToFirstMessageMs.p50} p99 ${s.connectToFirstMessageMs.p99} ms, ${x.otherMessages} with older messages`);
    }
    if (storms.length) result.storms = storms;

    // -- RAM per live message ----------------------------------------------------------------------
    if (insp && memBase && memDevices) {
      const memMessages0 = await insp.memory();
      let done = 0;
      if (o.liveMessages > 0) {
        const pub = async () => { while (done < o.liveMessages) { done++; await api(http[0], '/api/inbox/messages', { to: 'group:nobody', title: TITLE, body: BODY }); } };
        await Promise.all(Array.from({ length: 20 }, pub));
        await sleep(1500);
      }
      const memMessages1 = await insp.memory();
      const used = (m: { heapUsed: number; arrayBuffers: number }) => m.heapUsed + m.arrayBuffers;
      result.ram = {
        method: 'node 0 under --inspect: HeapProfiler.collectGarbage twice, then process.memoryUsage(); heapUsed + arrayBuffers',
        baselineMB: r1(used(memBase) / 2 ** 20), afterDevicesMB: r1(used(memDevices) / 2 ** 20),
        perDeviceBytes: Math.round((used(memDevices) - used(memBase)) / o.devices),
        perDeviceHeapBytes: Math.round((memDevices.heapUsed - memBase.heapUsed) / o.devices),
        perDeviceArrayBufferBytes: Math.round((memDevices.arrayBuffers - memBase.arrayBuffers) / o.devices),
        liveMessages: o.liveMessages,
        perLiveMessageBytes: o.liveMessages ? Math.round((used(memMessages1) - used(memMessages0)) / o.liveMessages) : null,
        messageBytesOnTheWire: JSON.stringify({ to: 'group:nobody', title: TITLE, body: BODY }).length,
        rssAfterDevicesMB: r1(memDevices.rss / 2 ** 20),
        largeArraysAfterDevices: arraysAfterDevices,
      };
      log(`RAM: ${JSON.stringify(result.ram)}`);
      insp.close();
    }
    await Promise.all(w.workers.map((x) => x.stop()));
    allWorkers = [];
    for (const n of nodes) await stop(n.proc);
    if (redis) await stop(redis);

    // -- peers -------------------------------------------------------------------------------------
    const peers: DeliveryResult[] = [];
    for (const peer of o.peers) {
      const pw = startWorkers(Math.max(1, Math.ceil(o.peerConnected / 9000)), peer === 'sql' ? 30 : 40, onFatal);
      allWorkers = pw.workers;
      try {
        if (peer === 'sql') {
          const db = o.sqlDb || join(tmpdir(), `brigade-inbox-sql-${o.devices}-${o.seed}.db`);
          log(`sql peer: ${db} (seeding ${o.devices} devices unless that file holds them)`);
          const { proc, line } = await spawnUntil(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'peers', 'inbox-sql.ts'), '--port', '0', '--host', '127.0.0.1', '--db', db, '--devices', String(o.devices), '--seed', String(o.seed)], /"listening"/, 1_800_000);
          const port = (JSON.parse(line) as { listening: number }).listening;
          const c = await connectDevices(pw.workers, pw.addresses, 'sql', o.peerConnected, [`ws://127.0.0.1:${port}`], o, { concurrency: 200 });
          if (c.failed) throw new Error(`sql devices failed: ${c.errors.join('; ')}`);
          let n = 0;
          const r = await deliveryRound('sql', pw.workers, ['groups', 'mixed'], o.peerMessages, c.ok, [proc.pid!], pw.workers.map((x) => x.pid), async (to) => {
            const id = `sql${n++}`;
            const res = await simFetch(`http://127.0.0.1:${port}/publish`, { method: 'POST', body: JSON.stringify({ id, to, title: TITLE, body: BODY }), timeoutMs: 600_000 });
            if (!res.ok) throw new Error(`sql publish: ${await res.text()}`);
            return id;
          }, o.warmup);
          peers.push(r);
          await stop(proc);
        } else {
          const port = await freePort();
          const dir = mkdtempSync(join(tmpdir(), 'inbox-bench-mosquitto-'));
          dirs.push(dir);
          const conf = join(dir, 'mosquitto.conf');
          writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_connections -1', 'persistence false', 'max_queued_messages 1000', 'set_tcp_nodelay true', 'log_dest stderr', 'log_type error', ''].join('\n'));
          const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
          children.push(proc);
          proc.stderr!.resume();
          await waitPort(port, 10_000);
          const c = await connectDevices(pw.workers, pw.addresses, 'mqtt', o.peerConnected, [`mqtt://127.0.0.1:${port}`], o, { concurrency: 200 });
          if (c.failed) throw new Error(`mqtt devices failed: ${c.errors.join('; ')}`);
          const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bench-publisher', protocolVersion: 4 });
          let n = 0;
          // MQTT has no expression: the `groups` one is its five topics, one publish each (each device is in one band).
          const r = await deliveryRound('mqtt', pw.workers, ['groups'], o.peerMessages, c.ok, [proc.pid!], pw.workers.map((x) => x.pid), async () => {
            const id = `mqtt${n++}`;
            const payload = JSON.stringify({ id, title: TITLE, body: BODY });
            await Promise.all(GROUPS_EXPRESSION_TOPICS.map((t) => pub.publishAsync(t, payload, { qos: 1 })));
            return id;
          }, o.warmup);
          await pub.endAsync();
          peers.push(r);
          await Promise.all(pw.workers.map((x) => x.stop()));
          await stop(proc);
        }
      } finally {
        await Promise.all(pw.workers.map((x) => x.stop()));
        allWorkers = [];
      }
    }
    result.peers = peers;
    result.ratios = Object.fromEntries(peers.map((p) => [p.target, r3(fanout.deliveriesPerServerCpuSecond / p.deliveriesPerServerCpuSecond)]));
  } catch (err) {
    result.error = String((err as Error).stack ?? err);
    log(`FAILED: ${result.error}`);
  } finally {
    await Promise.all(allWorkers.map((x) => x.stop()));
    await stopAll(15_000);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  result.finishedAt = new Date().toISOString();
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, `inbox-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 1));
  if (o.svg && result.fanout) writeFileSync(o.svg, chart(result));
  console.log(summary(result));
  console.log(`result: ${file}`);
  process.exit(result.error ? 1 : 0);
}

const fmt = (n: unknown) => (typeof n === 'number' ? n.toLocaleString('en-US') : n === null || n === undefined ? '–' : String(n));

function summary(r: Record<string, any>): string {
  const out: string[] = [`inbox bench ${r.startedAt} — ${r.command}`, `liveness window ${r.options.leaseMs} ms: Brigade's device lease (acks every ${Math.floor((r.options.leaseMs * 2) / 3000)} s), MQTT keepalive ${Math.max(1, Math.round(r.options.leaseMs / 1500))} s`];
  if (r.registration) out.push(`registration: ${fmt(r.registration.devices)} devices in ${r.registration.seconds} s (${r.registration.path}); on every node after ${r.registration.everyNodeHoldsThemAfterSeconds} s`);
  if (r.ram) out.push(`RAM: ${r.ram.perDeviceBytes} bytes per registered device (heap ${r.ram.perDeviceHeapBytes} + array buffers ${r.ram.perDeviceArrayBufferBytes}); ${fmt(r.ram.perLiveMessageBytes)} bytes per live message`);
  if (r.connect) out.push(`connect: ${fmt(r.connect.ok)} devices in ${r1(r.connect.seconds)} s`);
  for (const d of [r.fanout, ...(r.peers ?? [])].filter(Boolean) as DeliveryResult[]) {
    out.push(`${d.target}: ${fmt(d.deliveries)} deliveries to ${fmt(d.connected)} connected devices, ${d.serverCpuSeconds} server CPU-s → ${fmt(d.deliveriesPerServerCpuSecond)} per server CPU-second`);
    for (const m of d.messages) out.push(`  ${m.expression}: ${fmt(m.received)}/${fmt(m.expected)}, 50% ${fmt(m.p50Ms)} ms, 99% ${fmt(m.p99Ms)} ms, 100% ${fmt(m.p100Ms)} ms${m.unexpected ? `, ${m.unexpected} unexpected` : ''}${m.duplicates ? `, ${m.duplicates} duplicates` : ''}`);
  }
  for (const s of r.storms ?? []) {
    out.push(`storm: ${fmt(s.connected)} at ${fmt(s.achievedPerSecond)}/s (asked ${fmt(s.askedPerSecond)}), ${fmt(s.serverCpuMicrosecondsPerReconnect)} µs of server CPU each (devices ${fmt(s.deviceCpuMicrosecondsPerReconnect)} µs, other ${s.otherCpuSeconds} CPU-s in ${s.windowSeconds} s); connect → first message p50 ${s.connectToFirstMessageMs.p50} p99 ${s.connectToFirstMessageMs.p99} max ${s.connectToFirstMessageMs.max} ms; ${fmt(s.withFirstMessage)} got it, ${s.devicesWithOlderMessages} got an older one`);
  }
  if (r.ratios) out.push(`Brigade / peer, deliveries per server CPU-second: ${JSON.stringify(r.ratios)}`);
  if (r.error) out.push(`ERROR: ${r.error}`);
  return out.join('\n');
}

/** % of the matching connected devices holding the first message of each kind, by ms after its publish. */
function chart(r: Record<string, any>): string {
  const runs: { name: string; colour: string; dash?: string; curve: number[] }[] = [];
  const first = (d: DeliveryResult | undefined, e: ExpressionName) => d?.messages.find((m) => m.expression === e)?.curve;
  const add = (name: string, colour: string, curve: number[] | undefined, dash?: string) => { if (curve) runs.push({ name, colour, curve, dash }); };
  add(`Brigade, groups (${fmt(r.fanout.connected)} connected)`, '#1f77b4', first(r.fanout, 'groups'));
  add('Brigade, mixed', '#1f77b4', first(r.fanout, 'mixed'), '6 3');
  for (const p of (r.peers ?? []) as DeliveryResult[]) {
    add(`${p.target === 'sql' ? 'SQLite WHERE' : 'mosquitto'}, groups (${fmt(p.connected)})`, p.target === 'sql' ? '#d62728' : '#2ca02c', first(p, 'groups'));
    if (p.target === 'sql') add('SQLite WHERE, mixed', '#d62728', first(p, 'mixed'), '6 3');
  }
  const steps = Math.max(...runs.map((x) => x.curve.length));
  const xs = Array.from({ length: steps }, (_x, i) => i * 10);
  return panelSvg({
    title: `inbox: a message to half the connected devices, ${fmt(r.options.devices)} registered (${r.startedAt.slice(0, 10)}, 2 cores)`,
    leftLabel: '% of matching connected devices holding it', xLabel: 'ms after the publish request',
    series: runs.map((x) => ({ name: x.name, colour: x.colour, dash: x.dash, values: xs.map((_v, i) => x.curve[Math.min(i, x.curve.length - 1)]) })),
  }, xs);
}

void main();
