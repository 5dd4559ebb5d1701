/**
 * Tracker benchmark (issue 4, "Measured"): announce responses per second per server core, with
 * offers and answers relayed, for Brigade's WebTorrent tracker and for the `bittorrent-tracker`
 * npm server under the same load, one after the other in one run.
 *
 *   npm run build
 *   node --import tsx bench/tracker/announce.ts --peers 2000 --swarms 100 --offers 5 --seconds 20 \
 *     [--targets brigade,reference] [--brigade-nodes 1|2] [--update-doc]
 *
 * For each target the bench starts the server itself (Brigade: `node bin/brigade.js serve` with the
 * settings that would throttle a benchmark turned off; two nodes share a redis-server it starts;
 * the reference: bench/tracker/reference-server.ts), then --workers peer processes
 * (bench/tracker/peer-worker.ts) that open N WebSockets (spread over 127.0.0.x source addresses
 * when N is large) in S swarms. Every peer announces in a closed loop with K offers (~550-byte
 * SDPs) and numwant K, answers every offer relayed to it, and now and then churns
 * (stopped, then started). After a warm-up it measures a window of T seconds: announce
 * responses/s, offers and answers relayed/s, every message received/s (what aquatic's load test
 * counts), the server's CPU-seconds from /proc (all its processes, plus redis-server for two nodes),
 * announce round trip and offer → answer latency, server RSS, and every failure or protocol error.
 * The load generator's own CPU is reported beside the server's, with what the rest of the machine
 * used, and a target whose server process stayed under 90 % of a core was not saturated (the
 * result says so).
 *
 * The JSON result goes to bench/results/tracker-<timestamp>.json; --update-doc rewrites the figures
 * in docs/benchmarks-tracker.md and the chart docs/bench-tracker.svg from it (bench/tracker/report.ts
 * does the same from any saved result). Processes it started are stopped by PID, also on error and
 * Ctrl-C; a watchdog bounds the whole run.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Histogram } from '../lib/histogram.ts';
import { r3 } from '../lib/rounds.ts';
import { machineBusySeconds, machineInfo, nowMs } from '../lib/proc.ts';
import { emptyCounters, type LoadSpec, type PeerCounters } from './messages.ts';
import {
  brigadeFlags, cleanupAll, processTree, removeDir, repoRoot, setUnexpectedExitHandler, startBrigadeNode, startPeerWorker,
  startRedis, startReference, stopProcess, treeCpu, treeRss, type PeerWorker, type Started, type StartedRedis, type WarningCounts,
} from './processes.ts';
import { updateDoc } from './report.ts';
import type { TargetResult, TrackerBenchResult } from './result.ts';

// ---- options ----------------------------------------------------------------------------------

type Target = 'brigade' | 'reference';

interface Options {
  peers: number;
  swarms: number;
  offers: number;
  seconds: number;
  warmup: number;
  targets: Target[];
  brigadeNodes: 1 | 2;
  workers: number;
  rate: number;
  churnSeconds: number;
  seeders: number;
  replyTimeoutMs: number;
  localAddresses: number;
  seed: number;
  brigadeArgs: string[];
  resultsDir: string;
  updateDoc: boolean;
  label: string;
}

const usage = `usage: node --import tsx bench/tracker/announce.ts [options]   (npm run build first)
  --peers N             simulated peers, one WebSocket each (default 2000)
  --swarms S            swarms (info hashes); peer i is in swarm i mod S (default 100)
  --offers K            offers per announce, numwant = K (default 5, what the bittorrent-tracker client sends)
  --seconds T           measured window per target (default 20)
  --warmup W            seconds of load before the window (default 5)
  --targets LIST        brigade,reference in that order (default both)
  --brigade-nodes 1|2   2 = two Brigade nodes sharing a redis-server the bench starts (default 1)
  --workers W           load-generator processes (default: 1 per 2,500 peers, 1..8)
  --rate R              announces/s per peer at most; 0 = closed loop (default 0)
  --churn-s C           mean seconds between a peer's stopped + started; 0 = none (default 20)
  --seeders F           fraction of peers with left 0 (default 0.25)
  --reply-timeout-ms MS an announce unanswered this long is a timeout (default 5000)
  --local-addresses A   spread peers over 127.0.0.1..127.0.0.A (default: 1 per 20,000 peers per server port)
  --seed N              seed for peer ids, swarms and SDPs (default 1)
  --brigade-arg FLAG=V  extra \`brigade serve\` flag, repeatable (e.g. --brigade-arg --tick-ms=50)
  --results-dir DIR     where the JSON result goes (default bench/results)
  --update-doc          rewrite the figures in docs/benchmarks-tracker.md and docs/bench-tracker.svg
  --label TEXT          free text stored in the result`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    peers: 2000, swarms: 100, offers: 5, seconds: 20, warmup: 5, targets: ['brigade', 'reference'], brigadeNodes: 1,
    workers: 0, rate: 0, churnSeconds: 20, seeders: 0.25, replyTimeoutMs: 5000, localAddresses: 0, seed: 1,
    brigadeArgs: [], resultsDir: join(repoRoot, 'bench', 'results'), updateDoc: false, label: '',
  };
  const num = (name: string, v: string | undefined, lo: number, hi: number): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n) || n < lo || n > hi) throw new Error(`--${name} must be a number from ${lo} to ${hi}, got ${v}\n${usage}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 && !a.startsWith('--brigade-arg=') ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const val = () => inline ?? argv[++i];
    switch (flag) {
      case '--peers': o.peers = Math.round(num('peers', val(), 2, 1_000_000)); break;
      case '--swarms': o.swarms = Math.round(num('swarms', val(), 1, 1_000_000)); break;
      case '--offers': o.offers = Math.round(num('offers', val(), 0, 82)); break;
      case '--seconds': o.seconds = num('seconds', val(), 1, 600); break;
      case '--warmup': o.warmup = num('warmup', val(), 0, 120); break;
      case '--targets': {
        const list = (val() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        for (const t of list) if (t !== 'brigade' && t !== 'reference') throw new Error(`--targets: unknown target ${t} (brigade, reference)\n${usage}`);
        if (list.length === 0) throw new Error(`--targets needs at least one target\n${usage}`);
        o.targets = list as Target[];
        break;
      }
      case '--brigade-nodes': {
        const n = num('brigade-nodes', val(), 1, 2);
        if (n !== 1 && n !== 2) throw new Error('--brigade-nodes must be 1 or 2');
        o.brigadeNodes = n;
        break;
      }
      case '--workers': o.workers = Math.round(num('workers', val(), 1, 32)); break;
      case '--rate': o.rate = num('rate', val(), 0, 10_000); break;
      case '--churn-s': o.churnSeconds = num('churn-s', val(), 0, 86_400); break;
      case '--seeders': o.seeders = num('seeders', val(), 0, 1); break;
      case '--reply-timeout-ms': o.replyTimeoutMs = num('reply-timeout-ms', val(), 100, 120_000); break;
      case '--local-addresses': o.localAddresses = Math.round(num('local-addresses', val(), 1, 250)); break;
      case '--seed': o.seed = Math.round(num('seed', val(), 0, 2 ** 31)); break;
      case '--brigade-arg': {
        const v = a.startsWith('--brigade-arg=') ? a.slice('--brigade-arg='.length) : argv[++i];
        if (!v || !v.startsWith('--')) throw new Error(`--brigade-arg takes a flag such as --tick-ms=50, got ${v}`);
        const e = v.indexOf('=');
        o.brigadeArgs.push(...(e > 0 ? [v.slice(0, e), v.slice(e + 1)] : [v]));
        break;
      }
      case '--results-dir': o.resultsDir = val() ?? o.resultsDir; break;
      case '--update-doc': o.updateDoc = true; break;
      case '--label': o.label = val() ?? ''; break;
      case '--help': case '-h': console.log(usage); process.exit(0); break;
      default: throw new Error(`unknown argument ${a}\n${usage}`);
    }
  }
  if (o.swarms > o.peers) throw new Error('--swarms must not exceed --peers (every swarm needs a peer)');
  if (o.workers === 0) o.workers = Math.min(8, Math.max(1, Math.ceil(o.peers / 2500)));
  o.workers = Math.min(o.workers, o.peers);
  return o;
}

/**
 * Brigade settings that would throttle a benchmark, turned off; each is passed only if this
 * build's `serve --help` lists it (the tracker's own keys arrive with the tracker app). Every peer
 * of the bench comes from 127.0.0.x, so per-IP limits would measure the limiter, not the server.
 */
const UNTHROTTLE: [flag: string, value: string][] = [
  // The tracker's per-connection flood limit (100 messages/s by default; 0 = off): a closed-loop
  // peer with K offers sends far more than a browser does, on purpose.
  ['--tracker-max-messages-per-second', '0'],
  // The gateway's per-connection frame limit, in case it applies to the tracker's sockets too.
  ['--max-frames-per-second', '0'],
];

/** Limits the load itself needs raised: more offers (or numwant) than the defaults allow. */
function loadFlags(o: Options): [flag: string, value: string][] {
  const out: [string, string][] = [];
  if (o.offers > 10) out.push(['--tracker-max-offers', String(o.offers)]);
  if (o.offers > 100) out.push(['--tracker-max-numwant', String(o.offers)]);
  return out;
}

// ---- helpers ----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (v: number) => Math.round(v * 10) / 10;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function sumCounters(list: PeerCounters[]): PeerCounters {
  const s = emptyCounters();
  for (const c of list) {
    for (const k of Object.keys(s) as (keyof PeerCounters)[]) {
      const v = c[k];
      if (typeof v === 'number') (s[k] as number) += v;
    }
    for (const [k, v] of Object.entries(c.failures)) s.failures[k] = (s.failures[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.closeCodes)) s.closeCodes[k] = (s.closeCodes[k] ?? 0) + v;
    for (const e of c.firstErrors) if (s.firstErrors.length < 10 && !s.firstErrors.includes(e)) s.firstErrors.push(e);
  }
  return s;
}

/** end - start for every numeric counter (maps too); `open` stays the end value. */
function deltaCounters(start: PeerCounters, end: PeerCounters): PeerCounters {
  const d = emptyCounters();
  for (const k of Object.keys(d) as (keyof PeerCounters)[]) {
    const a = start[k];
    const b = end[k];
    if (typeof a === 'number' && typeof b === 'number') (d[k] as number) = k === 'open' ? b : b - a;
  }
  for (const [k, v] of Object.entries(end.failures)) { const x = v - (start.failures[k] ?? 0); if (x) d.failures[k] = x; }
  for (const [k, v] of Object.entries(end.closeCodes)) { const x = v - (start.closeCodes[k] ?? 0); if (x) d.closeCodes[k] = x; }
  d.firstErrors = end.firstErrors;
  return d;
}

/** An argument as a POSIX shell would need it, so the recorded command can be pasted. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function packageVersion(file: string): string {
  try { return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '?'; } catch { return '?'; }
}

function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

// ---- one target -------------------------------------------------------------------------------

interface Servers {
  /** The server processes measured (their process trees). */
  roots: Started[];
  redis: StartedRedis | null;
  urls: string[];
  flags: string[];
  skippedFlags: string[];
  tmp: string;
}

async function startServers(target: Target, o: Options): Promise<Servers> {
  const tmp = mkdtempSync(join(tmpdir(), `tracker-bench-${target}-`));
  if (target === 'reference') {
    const ref = await startReference();
    return { roots: [ref], redis: null, urls: [`ws://127.0.0.1:${ref.port}/announce`], flags: [], skippedFlags: [], tmp };
  }
  const have = await brigadeFlags();
  const flags: string[] = [];
  const skippedFlags: string[] = [];
  for (const [flag, value] of [...UNTHROTTLE, ...loadFlags(o)]) {
    if (have.has(flag)) flags.push(flag, value);
    else skippedFlags.push(flag);
  }
  flags.push(...o.brigadeArgs);
  let redis: StartedRedis | null = null;
  const nodeFlags: string[][] = [];
  if (o.brigadeNodes === 2) {
    redis = await startRedis(join(tmp, 'redis'));
    const prefix = `tracker-bench-${process.pid}-${Date.now()}:`;
    // One identity secret for both nodes, as a deployment would have.
    for (let i = 0; i < 2; i++) nodeFlags.push([...flags, '--redis', redis.url, '--redis-prefix', prefix, '--identity-secret', 'tracker-bench-identity-secret-0123456789']);
  } else {
    nodeFlags.push(flags);
  }
  const roots: Started[] = [];
  for (let i = 0; i < nodeFlags.length; i++) {
    const dataDir = join(tmp, `node-${i}`);
    mkdirSync(dataDir);
    roots.push(await startBrigadeNode(dataDir, nodeFlags[i]));
  }
  const shownFlags = flags.map((f, i) => (flags[i - 1] === '--identity-secret' ? '<shared>' : f));
  return { roots, redis, urls: roots.map((r) => `ws://127.0.0.1:${r.port}/announce`), flags: shownFlags, skippedFlags, tmp };
}

interface CpuSample { at: number; server: number; serverByRoot: number[]; redis: number; generator: number; machine: number; serverRss: number }

function sampleCpu(servers: Servers, workers: PeerWorker[]): CpuSample {
  const serverByRoot = servers.roots.map((r) => [...treeCpu(processTree(r.pid)).values()].reduce((a, b) => a + b, 0));
  const redis = servers.redis ? [...treeCpu([servers.redis.pid]).values()][0] : 0;
  const gen = [...treeCpu(workers.map((w) => w.pid)).values()].reduce((a, b) => a + b, 0);
  const self = process.cpuUsage();
  return {
    at: nowMs(), server: serverByRoot.reduce((a, b) => a + b, 0), serverByRoot, redis,
    generator: gen + (self.user + self.system) / 1e6, machine: machineBusySeconds(),
    serverRss: servers.roots.reduce((sum, r) => sum + treeRss(processTree(r.pid)), 0),
  };
}

async function runTarget(target: Target, o: Options): Promise<TargetResult> {
  console.log(`\n== ${target}${target === 'brigade' ? ` (${o.brigadeNodes} node${o.brigadeNodes > 1 ? 's' : ''})` : ''} ==`);
  const servers = await startServers(target, o);
  const workers: PeerWorker[] = [];
  try {
    const perProcess = Math.ceil(o.peers / servers.roots.length);
    const limit = openFileLimit();
    if (perProcess + 200 > limit) throw new Error(`${perProcess} connections per server process need more open files than the limit of ${limit} (ulimit -n)`);
    const perUrl = Math.ceil(o.peers / servers.urls.length);
    const localCount = o.localAddresses || Math.max(1, Math.ceil(perUrl / 20_000));
    const localAddresses = Array.from({ length: localCount }, (_, i) => `127.0.0.${i + 1}`);
    const rssIdle = servers.roots.reduce((sum, r) => sum + treeRss(processTree(r.pid)), 0);
    console.log(`servers: ${servers.roots.map((r) => `pid ${r.pid} port ${r.port}`).join(', ')}${servers.redis ? `; redis-server pid ${servers.redis.pid}` : ''}`);
    if (servers.skippedFlags.length) console.log(`(settings this build does not have, not passed: ${servers.skippedFlags.join(' ')})`);

    // Connect: peers split into contiguous slices, one per worker; urls alternate per peer index.
    const t0 = nowMs();
    let first = 0;
    for (let w = 0; w < o.workers; w++) {
      const count = Math.floor(o.peers / o.workers) + (w < o.peers % o.workers ? 1 : 0);
      const worker = startPeerWorker();
      workers.push(worker);
      const spec: LoadSpec = {
        urls: servers.urls, firstPeer: first, peers: count, totalPeers: o.peers, swarms: o.swarms, offers: o.offers, seederFraction: o.seeders,
        ratePerPeer: o.rate, churnSeconds: o.churnSeconds, replyTimeoutMs: o.replyTimeoutMs, localAddresses,
        connectConcurrency: 64, seed: o.seed,
      };
      worker.send({ t: 'connect', spec });
      first += count;
    }
    const connected = await Promise.all(workers.map((w) => w.next('connected', 60_000 + o.peers * 5)));
    const afterConnect = sumCounters(connected.map((c) => c.counters));
    const connectSeconds = (nowMs() - t0) / 1000;
    console.log(`${fmt(afterConnect.open)} of ${fmt(o.peers)} peers connected in ${r1(connectSeconds)} s (${afterConnect.connectFailures} failed)`);
    if (afterConnect.open === 0) throw new Error(`no peer could connect: ${afterConnect.firstErrors.join('; ')}`);
    const rssConnected = servers.roots.reduce((sum, r) => sum + treeRss(processTree(r.pid)), 0);

    for (const w of workers) w.send({ t: 'go' });
    const ask = (t: 'sample' | 'window' | 'stop-window') => Promise.all(workers.map((w) => { const p = w.next('counters', 10_000); w.send({ t }); return p; }));
    const progress = async (label: string, prev: { at: number; c: PeerCounters; cpu: CpuSample }) => {
      const c = sumCounters((await ask('sample')).map((m) => m.counters));
      const cpu = sampleCpu(servers, workers);
      const dt = (cpu.at - prev.at) / 1000;
      const d = deltaCounters(prev.c, c);
      const line = {
        announceResponsesPerSecond: d.announceResponses / dt,
        messagesPerSecond: d.messagesReceived / dt,
        offersPerSecond: d.offersReceived / dt,
        answersPerSecond: d.answersReceived / dt,
        serverCpuPct: ((cpu.server - prev.cpu.server) / dt) * 100,
        generatorCpuPct: ((cpu.generator - prev.cpu.generator) / dt) * 100,
      };
      console.log(`${label} announce replies/s ${fmt(line.announceResponsesPerSecond)}  offers/s ${fmt(line.offersPerSecond)}  answers/s ${fmt(line.answersPerSecond)}  server CPU ${fmt(line.serverCpuPct)} %  load gen CPU ${fmt(line.generatorCpuPct)} %${d.announceTimeouts ? `  timeouts ${d.announceTimeouts}` : ''}`);
      return { next: { at: cpu.at, c, cpu }, line };
    };

    let prev = { at: nowMs(), c: afterConnect, cpu: sampleCpu(servers, workers) };
    for (let s = 1; s <= o.warmup; s++) { await sleep(1000); prev = (await progress(`warm-up ${s}s`, prev)).next; }

    // The measured window.
    const warningsAtStart = await servers.roots[0].warnings?.();
    const startCpu = sampleCpu(servers, workers);
    const startCounters = await ask('window');
    prev = { at: startCpu.at, c: sumCounters(startCounters.map((m) => m.counters)), cpu: startCpu };
    const timeline: TargetResult['timeline'] = [];
    let rssPeak = startCpu.serverRss;
    const windowEnd = startCpu.at + o.seconds * 1000;
    for (let s = 1; nowMs() < windowEnd - 500; s++) {
      await sleep(Math.min(1000, windowEnd - nowMs()));
      const p = await progress(`${s}s`, prev);
      prev = p.next;
      rssPeak = Math.max(rssPeak, p.next.cpu.serverRss);
      timeline.push({ s, ...Object.fromEntries(Object.entries(p.line).map(([k, v]) => [k, r1(v)])) } as TargetResult['timeline'][number]);
    }
    const endMsgs = await ask('stop-window');
    const endCpu = sampleCpu(servers, workers);
    const warningsAtEnd = await servers.roots[0].warnings?.();
    rssPeak = Math.max(rssPeak, endCpu.serverRss);

    const d = deltaCounters(sumCounters(startCounters.map((m) => m.counters)), sumCounters(endMsgs.map((m) => m.counters)));
    const seconds = (endCpu.at - startCpu.at) / 1000;
    const rtt = new Histogram();
    const o2a = new Histogram();
    for (const m of endMsgs) { if (m.announceRtt) rtt.add(m.announceRtt); if (m.offerToAnswer) o2a.add(m.offerToAnswer); }
    const serverCpu = endCpu.server - startCpu.server;
    const redisCpu = endCpu.redis - startCpu.redis;
    const measuredCpu = serverCpu + redisCpu;
    const genCpu = endCpu.generator - startCpu.generator;
    const machine = endCpu.machine - startCpu.machine;
    const perRootPct = endCpu.serverByRoot.map((v, i) => r1(((v - startCpu.serverByRoot[i]) / seconds) * 100));
    const perSec = (n: number) => n / seconds;
    const responses = d.announceResponses;
    const result: TargetResult = {
      target, nodes: servers.roots.length,
      server: { commands: servers.roots.map((r) => r.shown), flags: servers.flags, skippedFlags: servers.skippedFlags, pids: servers.roots.map((r) => r.pid), redis: servers.redis ? { pid: servers.redis.pid } : null },
      windowSeconds: r3(seconds),
      connected: afterConnect.open, connectFailures: afterConnect.connectFailures, connectSeconds: r1(connectSeconds),
      rates: {
        announceResponsesPerSecond: r1(perSec(responses)),
        offersRelayedPerSecond: r1(perSec(d.offersReceived)),
        answersRelayedPerSecond: r1(perSec(d.answersReceived)),
        messagesPerSecond: r1(perSec(d.messagesReceived)),
        announcesSentPerSecond: r1(perSec(d.announcesSent)),
        offersSentPerSecond: r1(perSec(d.offersSent)),
        bytesInPerSecond: Math.round(perSec(d.bytesReceived)),
        bytesOutPerSecond: Math.round(perSec(d.bytesSent)),
      },
      cpu: {
        serverSeconds: r3(serverCpu), redisSeconds: r3(redisCpu), serverPctOfCore: r1((measuredCpu / seconds) * 100),
        serverPctOfCorePerProcess: perRootPct, generatorSeconds: r3(genCpu), generatorPctOfCore: r1((genCpu / seconds) * 100),
        othersPctOfCore: r1(Math.max(0, (machine - measuredCpu - genCpu) / seconds) * 100),
      },
      perServerCpuSecond: {
        announceResponses: measuredCpu > 0 ? Math.round(responses / measuredCpu) : 0,
        messages: measuredCpu > 0 ? Math.round(d.messagesReceived / measuredCpu) : 0,
      },
      saturated: perRootPct.some((p) => p >= 90),
      latencyMs: { announceRoundTrip: rtt.summary(), offerToAnswer: o2a.summary() },
      rssMB: { idle: r1(rssIdle / 2 ** 20), connected: r1(rssConnected / 2 ** 20), peak: r1(rssPeak / 2 ** 20), perPeerKB: r1(((rssConnected - rssIdle) / Math.max(1, afterConnect.open)) / 1024) },
      swarm: { meanComplete: responses ? r1(d.completeSum / responses) : 0, meanIncomplete: responses ? r1(d.incompleteSum / responses) : 0 },
      counters: { ...d, open: sumCounters(endMsgs.map((m) => m.counters)).open },
      errors: 0, serverWarnings: warningsAtStart && warningsAtEnd ? warningDelta(warningsAtStart, warningsAtEnd) : null, timeline,
    };
    result.errors = Object.values(d.failures).reduce((a, b) => a + b, 0) + d.malformed + d.misrouted + d.announceTimeouts + d.closedByServer + afterConnect.connectFailures;
    console.log(`${target}: ${fmt(result.rates.announceResponsesPerSecond)} announce replies/s, ${fmt(result.perServerCpuSecond.announceResponses)} per server CPU-second (server ${result.cpu.serverPctOfCore} % of a core, load generator ${result.cpu.generatorPctOfCore} %), ` +
      `round trip p50 ${result.latencyMs.announceRoundTrip.p50} / p99 ${result.latencyMs.announceRoundTrip.p99} ms, errors ${result.errors}`);
    return await finish(result, servers, workers);
  } catch (err) {
    await stopAll(servers, workers);
    throw err;
  }
}

async function stopAll(servers: Servers, workers: PeerWorker[]): Promise<void> {
  await Promise.all(workers.map((w) => stopProcess(w.proc, 3000)));
  await Promise.all(servers.roots.map((r) => stopProcess(r.proc, 10_000)));
  if (servers.redis) await stopProcess(servers.redis.proc, 5000);
  removeDir(servers.tmp);
}

async function finish(result: TargetResult, servers: Servers, workers: PeerWorker[]): Promise<TargetResult> {
  await stopAll(servers, workers);
  return result;
}

function warningDelta(a: WarningCounts, b: WarningCounts): WarningCounts {
  const byReason: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.byReason)) { const d = v - (a.byReason[k] ?? 0); if (d) byReason[k] = d; }
  return { warnings: b.warnings - a.warnings, byReason };
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const watchdogMs = (o.targets.length * (o.seconds + o.warmup + 120 + o.peers / 200)) * 1000;
  const watchdog = setTimeout(() => {
    console.error(`watchdog: the run took longer than ${Math.round(watchdogMs / 1000)} s; stopping`);
    cleanupAll().finally(() => process.exit(1));
  }, watchdogMs);
  watchdog.unref();
  setUnexpectedExitHandler((what) => {
    console.error(`${what}; stopping everything this bench started`);
    cleanupAll().finally(() => process.exit(1));
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping everything this bench started`);
      cleanupAll().finally(() => process.exit(130));
    });
  }

  const startedAt = new Date();
  const results: TargetResult[] = [];
  for (const t of o.targets) results.push(await runTarget(t, o));

  const brigade = results.find((r) => r.target === 'brigade');
  const reference = results.find((r) => r.target === 'reference');
  const out: TrackerBenchResult = {
    bench: 'tracker-announce',
    startedAt: startedAt.toISOString(),
    command: ['node --import tsx bench/tracker/announce.ts', ...process.argv.slice(2).map(shellQuote)].join(' '),
    label: o.label,
    versions: {
      brigade: packageVersion(join(repoRoot, 'package.json')),
      bittorrentTracker: packageVersion(join(repoRoot, 'node_modules', 'bittorrent-tracker', 'package.json')),
    },
    machine: machineInfo(),
    params: {
      peers: o.peers, swarms: o.swarms, offers: o.offers, numwant: o.offers, seconds: o.seconds, warmup: o.warmup,
      targets: o.targets, brigadeNodes: o.brigadeNodes, workers: o.workers, ratePerPeer: o.rate, churnSeconds: o.churnSeconds,
      seederFraction: o.seeders, replyTimeoutMs: o.replyTimeoutMs, seed: o.seed,
    },
    targets: results,
    comparison: brigade && reference ? {
      announceResponsesPerCpuSecondRatio: reference.perServerCpuSecond.announceResponses > 0 ? r3(brigade.perServerCpuSecond.announceResponses / reference.perServerCpuSecond.announceResponses) : null,
      messagesPerCpuSecondRatio: reference.perServerCpuSecond.messages > 0 ? r3(brigade.perServerCpuSecond.messages / reference.perServerCpuSecond.messages) : null,
      target: 2.5,
    } : null,
  };
  mkdirSync(o.resultsDir, { recursive: true });
  const file = join(o.resultsDir, `tracker-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nresult: ${file}`);
  if (out.comparison) console.log(`Brigade / bittorrent-tracker, announce responses per server CPU-second: ${out.comparison.announceResponsesPerCpuSecondRatio}x (target 2.5x)`);
  if (o.updateDoc) {
    const written = updateDoc(out, file);
    console.log(`updated ${written.join(', ')}`);
  }
  clearTimeout(watchdog);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    cleanupAll().finally(() => process.exit(1));
  },
);
