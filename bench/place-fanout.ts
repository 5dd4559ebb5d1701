/**
 * Place fan-out benchmark: one Brigade server, V viewers watching place:main, E edits/s for T s.
 *
 *   npm run build
 *   node --import tsx bench/place-fanout.ts --viewers 5000 --edits-per-second 333 --seconds 30 [--tick-ms 100]
 *
 * It starts the server itself (fresh temp data dir), V viewers spread over K viewer processes
 * (bench/viewer-worker.ts) and one editor process (bench/editor-worker.ts), measures the server's
 * CPU and memory from /proc, edit-to-viewer latency, delivered frames/events/bytes, BEHIND counts
 * and convergence, prints a progress line every second and a JSON result at the end, and writes
 * that result to bench/results/<timestamp>.json. Loopback only; everything it starts it stops,
 * by PID, also on error or Ctrl-C. See docs/BENCHMARKS.md.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Histogram, type HistogramJson } from './lib/histogram.ts';
import { startBrigade } from './lib/listening.ts';
import { clockTicksPerSecond, cmdline, cpuSeconds, machineBusySeconds, nowMs, openFds, rssBytes, machineInfo } from './lib/proc.ts';
import type { EditorCounters, FromEditor, FromViewer, ToEditor, ToViewer, ViewerCounters } from './lib/messages.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const CHANNEL = 'place:main';
const CANVAS = { name: 'main', width: 1000, height: 1000, colours: 16 };

// ---- options ----------------------------------------------------------------------------------

interface Options {
  viewers: number;
  editsPerSecond: number;
  seconds: number;
  tickMs: number | null;
  workers: number;
  editorConnections: number;
  settleMs: number;
  connectConcurrency: number;
  resultsDir: string;
  label: string;
}

const usage = `usage: node --import tsx bench/place-fanout.ts [options]
  --viewers N              viewer connections (default 5000; 1-60000)
  --edits-per-second E     edits per second over all editor connections (default 333; 1-50000)
  --seconds T              seconds of editing (default 30; 1-600)
  --tick-ms MS             server tick (default: the server's own, 100)
  --workers K              viewer processes (default: 2, or more so each holds at most 2500)
  --editor-connections W   editor connections (default 10)
  --settle-ms MS           wait after the last ack before the window closes (default 2000)
  --connect-concurrency N  handshakes in flight per viewer process (default 100)
  --results-dir DIR        where the JSON result goes (default bench/results)
  --label TEXT             free text stored in the result`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    viewers: 5000, editsPerSecond: 333, seconds: 30, tickMs: null, workers: 0, editorConnections: 10,
    settleMs: 2000, connectConcurrency: 100, resultsDir: join(here, 'results'), label: '',
  };
  const num = (name: string, v: string | undefined, lo: number, hi: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < lo || n > hi) throw new Error(`--${name} must be a number from ${lo} to ${hi}, got ${v}\n${usage}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = () => inline ?? argv[++i];
    switch (flag) {
      case '--viewers': o.viewers = Math.round(num('viewers', val(), 1, 60_000)); break;
      case '--edits-per-second': o.editsPerSecond = num('edits-per-second', val(), 1, 50_000); break;
      case '--seconds': o.seconds = num('seconds', val(), 1, 600); break;
      case '--tick-ms': o.tickMs = Math.round(num('tick-ms', val(), 1, 10_000)); break;
      case '--workers': o.workers = Math.round(num('workers', val(), 1, 16)); break;
      case '--editor-connections': o.editorConnections = Math.round(num('editor-connections', val(), 1, 1000)); break;
      case '--settle-ms': o.settleMs = Math.round(num('settle-ms', val(), 0, 60_000)); break;
      case '--connect-concurrency': o.connectConcurrency = Math.round(num('connect-concurrency', val(), 1, 5000)); break;
      case '--results-dir': o.resultsDir = val() ?? o.resultsDir; break;
      case '--label': o.label = val() ?? ''; break;
      case '--help': case '-h': console.log(usage); process.exit(0); break;
      default: throw new Error(`unknown argument ${a}\n${usage}`);
    }
  }
  // Each viewer process holds at most 15,000 sockets (20,000 open files per process here).
  const minWorkers = Math.ceil(o.viewers / 15_000);
  if (o.workers === 0) o.workers = Math.max(2, Math.ceil(o.viewers / 2500));
  o.workers = Math.min(Math.max(o.workers, minWorkers), o.viewers);
  return o;
}

// ---- child processes: every one is tracked and stopped by PID ---------------------------------

const children = new Set<ChildProcess>();
let dataDir = '';
let serverProc: ChildProcess | null = null;

function exited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

function waitExit(p: ChildProcess, ms: number): Promise<boolean> {
  if (exited(p)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const workers = [...children].filter((c) => c !== serverProc);
    for (const c of workers) {
      if (exited(c)) continue;
      try { c.send({ t: 'exit' }); } catch { /* channel gone */ }
    }
    await Promise.all(workers.map(async (c) => {
      if (await waitExit(c, 3000)) return;
      if (c.pid) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
      await waitExit(c, 2000);
    }));
    if (serverProc && !exited(serverProc) && serverProc.pid) {
      try { process.kill(serverProc.pid, 'SIGTERM'); } catch { /* gone */ }
      if (!(await waitExit(serverProc, 15_000))) {
        try { process.kill(serverProc.pid, 'SIGKILL'); } catch { /* gone */ }
        await waitExit(serverProc, 2000);
      }
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping everything this bench started`);
    cleanup().finally(() => process.exit(130));
  });
}

// ---- server -----------------------------------------------------------------------------------

interface Server { pid: number; port: number; httpUrl: string; wsUrl: string; serverArgs: string[]; logTail: string[] }

async function startServer(o: Options): Promise<Server> {
  const cli = join(root, 'bin', 'brigade.js');
  if (!existsSync(join(root, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');
  dataDir = mkdtempSync(join(tmpdir(), 'brigade-bench-'));
  const serverArgs = [
    'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir,
    '--place-cooldown-ms', '0', '--publish-per-second-per-ip', '0', '--max-frames-per-second', '0',
    ...(o.tickMs !== null ? ['--tick-ms', String(o.tickMs)] : []),
  ];
  const { proc, port, logTail } = await startBrigade(cli, serverArgs, root);
  serverProc = proc;
  children.add(proc);
  const pid = proc.pid!;
  // `node bin/brigade.js serve` runs the server in this very process: check we measure the right one.
  if (!cmdline(pid).includes('brigade.js')) throw new Error(`PID ${pid} is not the brigade server: ${cmdline(pid)}`);
  proc.once('exit', (code, signal) => {
    if (!cleaning) {
      console.error(`server exited unexpectedly (${code ?? signal}); last log lines:\n${logTail.slice(-10).join('\n')}`);
      cleanup().finally(() => process.exit(1));
    }
  });
  return { pid, port, httpUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws`, serverArgs, logTail };
}

// ---- workers ----------------------------------------------------------------------------------

interface Worker<In, Out> {
  proc: ChildProcess;
  pid: number;
  send(m: In): void;
  /** Resolves with the next message of kind t (and that passes `where`). */
  next<K extends string>(t: K, timeoutMs: number): Promise<Extract<Out, { t: K }>>;
  latest: Map<string, Out>;
}

function startWorker<In, Out extends { t: string }>(file: string): Worker<In, Out> {
  const proc = fork(join(here, file), [], {
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(proc);
  const latest = new Map<string, Out>();
  const waiters: { t: string; resolve(m: Out): void }[] = [];
  proc.on('message', (m: Out) => {
    latest.set(m.t, m);
    if (m.t === 'error') {
      console.error(`${file} (pid ${proc.pid}): ${(m as unknown as { message: string }).message}`);
    }
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i].t === m.t) { waiters.splice(i, 1)[0].resolve(m); break; }
    }
  });
  proc.once('exit', (code, signal) => {
    if (!cleaning) {
      console.error(`${file} (pid ${proc.pid}) exited unexpectedly (${code ?? signal})`);
      cleanup().finally(() => process.exit(1));
    }
  });
  return {
    proc, pid: proc.pid!, latest,
    send: (m: In) => { proc.send(m as object); },
    next<K extends string>(t: K, timeoutMs: number) {
      return new Promise<Extract<Out, { t: K }>>((resolve, reject) => {
        const w = { t, resolve: (m: Out) => { clearTimeout(timer); resolve(m as Extract<Out, { t: K }>); } };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${file} (pid ${proc.pid}) sent no '${t}' within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
  };
}

// ---- helpers ----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
const r1 = (v: number) => Math.round(v * 10) / 10;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return (await res.json()) as T;
}

async function snapshotBin(httpUrl: string): Promise<{ version: number; bytes: Uint8Array }> {
  const res = await fetch(`${httpUrl}/api/place/${CANVAS.name}/snapshot.bin`);
  if (!res.ok) throw new Error(`GET snapshot.bin answered ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const version = Number(res.headers.get('x-brigade-version'));
  if (!Number.isFinite(version)) throw new Error('snapshot.bin has no X-Brigade-Version header');
  return { version, bytes };
}

async function snapshotVersion(httpUrl: string): Promise<number> {
  return (await snapshotBin(httpUrl)).version;
}

async function metrics(httpUrl: string): Promise<Record<string, number>> {
  const res = await fetch(`${httpUrl}/metrics`);
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(brigade_[a-z_]+?)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m && !m[1].startsWith('brigade_process_') && !m[1].includes('_bucket')) out[m[1]] = Number(m[2]);
  }
  return out;
}

function sumCounters(list: ViewerCounters[]): ViewerCounters {
  const s: ViewerCounters = {
    live: 0, failed: 0, closed: 0, frames: 0, bytes: 0, events: 0, gaps: 0, duplicates: 0, behind: 0,
    snapshots: 0, errors: 0, malformed: 0, samplesDropped: 0, firstErrors: [],
  };
  for (const c of list) {
    for (const k of Object.keys(s) as (keyof ViewerCounters)[]) {
      if (k === 'firstErrors') s.firstErrors.push(...c.firstErrors);
      else s[k] += c[k];
    }
  }
  s.firstErrors = s.firstErrors.slice(0, 10);
  return s;
}


// ---- the run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const command = `node --import tsx bench/place-fanout.ts ${process.argv.slice(2).join(' ')}`.trim();
  const log = (s: string) => console.log(s);
  const watchdogMs = 120_000 + o.viewers * 20 + o.seconds * 1000 + o.settleMs;
  setTimeout(() => {
    console.error(`watchdog: the run took more than ${Math.round(watchdogMs / 1000)} s; stopping`);
    cleanup().finally(() => process.exit(1));
  }, watchdogMs).unref();

  // Other work on the machine skews every figure here: say so when the machine was not quiet.
  const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
  if (loadBefore[0] > 0.5) log(`warning: load average is ${loadBefore.join(' ')} before the run; other processes share these cores`);
  log(`place-fanout: ${fmt(o.viewers)} viewers in ${o.workers} processes, ${o.editsPerSecond} edits/s over ${o.editorConnections} connections, ${o.seconds} s, tick ${o.tickMs ?? 'default'} ms`);
  const server = await startServer(o);
  log(`server pid ${server.pid} on ${server.httpUrl} (data ${dataDir})`);

  // Load the channel (first use reads it from the engine) and let the process settle.
  await snapshotVersion(server.httpUrl);
  await getJson(`${server.httpUrl}/api/place/${CANVAS.name}/info`);
  await sleep(1500);
  const idleRss = rssBytes(server.pid);
  log(`idle server RSS ${mb(idleRss)} MB`);

  // Editor process (connects now; publishes when the window opens).
  const editor = startWorker<ToEditor, FromEditor>('editor-worker.ts');
  editor.send({ t: 'connect', httpUrl: server.httpUrl, wsUrl: server.wsUrl, channel: CHANNEL, connections: o.editorConnections, localAddress: '127.0.0.2', ...CANVAS });
  await Promise.race([
    editor.next('ready', 30_000),
    editor.next('error', 30_000).then((m) => { throw new Error(m.message); }),
  ]);

  // Viewer processes, each with its own source addresses (127.0.0.10+).
  const viewers: Worker<ToViewer, FromViewer>[] = [];
  for (let k = 0; k < o.workers; k++) {
    const count = Math.floor(o.viewers / o.workers) + (k < o.viewers % o.workers ? 1 : 0);
    const w = startWorker<ToViewer, FromViewer>('viewer-worker.ts');
    w.send({
      t: 'connect', wsUrl: server.wsUrl, channel: CHANNEL, count, concurrency: o.connectConcurrency,
      width: CANVAS.width, height: CANVAS.height, colours: CANVAS.colours,
      localAddresses: [`127.0.0.${10 + 2 * k}`, `127.0.0.${11 + 2 * k}`],
    });
    viewers.push(w);
  }
  // The simulator: this process, the editor and the viewer processes.
  const simPids = () => [process.pid, editor.pid, ...viewers.map((w) => w.pid)];
  const simCpu = () => simPids().reduce((s, pid) => s + (cpuSeconds(pid) || 0), 0);
  const liveCounters = () => sumCounters(viewers.map((w) => {
    const m = w.latest.get('progress') ?? w.latest.get('ready');
    return m && 'counters' in m ? m.counters : sumCounters([]);
  }));

  const connectStart = nowMs();
  const readyAll = Promise.all(viewers.map((w) => w.next('ready', 60_000 + o.viewers * 20)));
  let ready = false;
  readyAll.then(() => { ready = true; }, () => {});
  {
    let lastCpu = cpuSeconds(server.pid);
    let lastAt = nowMs();
    while (!ready) {
      await Promise.race([sleep(1000), readyAll]);
      const c = liveCounters();
      const cpu = cpuSeconds(server.pid);
      const at = nowMs();
      log(`[connect ${Math.round((at - connectStart) / 1000).toString().padStart(3)}s] subscribed ${fmt(c.live)}/${fmt(o.viewers)}  failed ${c.failed}  server cpu ${Math.round(((cpu - lastCpu) / ((at - lastAt) / 1000)) * 100)}%  rss ${mb(rssBytes(server.pid))} MB`);
      lastCpu = cpu;
      lastAt = at;
    }
  }
  const readyMsgs = await readyAll;
  const connectSeconds = (nowMs() - connectStart) / 1000;
  const connected = sumCounters(readyMsgs.map((m) => m.counters));
  log(`${fmt(connected.live)} viewers subscribed in ${r1(connectSeconds)} s (${connected.failed} failed)`);
  if (connected.live === 0) throw new Error(`no viewer could subscribe: ${connected.firstErrors.join('; ')}`);
  await sleep(2000);
  const connectedRss = rssBytes(server.pid);
  const serverFds = openFds(server.pid);
  const v0 = await snapshotVersion(server.httpUrl);

  // ---- measured window ----
  const maxSeconds = Math.ceil(o.seconds + (o.settleMs + 30_000) / 1000) + 2;
  const t0 = nowMs() + 200;
  for (const w of viewers) w.send({ t: 'window', t0, maxSeconds });
  editor.send({ t: 'start', t0, editsPerSecond: o.editsPerSecond, seconds: o.seconds, ackTimeoutMs: 15_000 });
  const doneP = editor.next('done', (o.seconds + 60) * 1000);
  let editorDone: Extract<FromEditor, { t: 'done' }> | null = null;
  doneP.then((m) => { editorDone = m; }, () => {});
  while (nowMs() < t0) await sleep(5);
  const cpu0 = cpuSeconds(server.pid);
  const sim0 = simCpu();
  const busy0 = machineBusySeconds();

  interface Tick { s: number; serverCpuPct: number; simCpuPct: number; rssMB: number; framesPerSecond: number; eventsPerSecond: number; bytesPerSecond: number; sent: number; acked: number }
  const ticks: Tick[] = [];
  let peakRss = connectedRss;
  let prev = { at: t0, cpu: cpu0, sim: sim0, c: liveCounters() };
  let windowEnd = Infinity;
  while (nowMs() < windowEnd) {
    await sleep(Math.max(0, t0 + (ticks.length + 1) * 1000 - nowMs()));
    const at = nowMs();
    const cpu = cpuSeconds(server.pid);
    const sim = simCpu();
    const rss = rssBytes(server.pid);
    peakRss = Math.max(peakRss, rss);
    const c = liveCounters();
    const e = (editorDone as Extract<FromEditor, { t: 'done' }> | null)?.counters
      ?? (editor.latest.get('progress') as { counters: EditorCounters } | undefined)?.counters;
    const dt = (at - prev.at) / 1000;
    const tick: Tick = {
      s: ticks.length + 1,
      serverCpuPct: r1(((cpu - prev.cpu) / dt) * 100),
      simCpuPct: r1(((sim - prev.sim) / dt) * 100),
      rssMB: mb(rss),
      framesPerSecond: Math.round((c.frames - prev.c.frames) / dt),
      eventsPerSecond: Math.round((c.events - prev.c.events) / dt),
      bytesPerSecond: Math.round((c.bytes - prev.c.bytes) / dt),
      sent: e?.sent ?? 0,
      acked: e?.acked ?? 0,
    };
    ticks.push(tick);
    log(`[${String(tick.s).padStart(3)}s] edits sent ${fmt(tick.sent)} acked ${fmt(tick.acked)}  frames/s ${fmt(tick.framesPerSecond)}  events/s ${fmt(tick.eventsPerSecond)}  ${r1(tick.bytesPerSecond / 1e6)} MB/s  viewers ${fmt(c.live)}  behind ${c.behind}  server cpu ${tick.serverCpuPct}%  sim cpu ${tick.simCpuPct}%  rss ${tick.rssMB} MB`);
    prev = { at, cpu, sim, c };
    if (editorDone && windowEnd === Infinity) {
      const d: Extract<FromEditor, { t: 'done' }> = editorDone;
      windowEnd = Math.max(d.counters.lastAckAt, d.counters.lastSendAt) + o.settleMs;
    }
  }
  await doneP;
  const done = editorDone! as Extract<FromEditor, { t: 'done' }>;
  // Close the window: server CPU first, then the viewers' counters.
  while (nowMs() < windowEnd) await sleep(10);
  const tEnd = nowMs();
  const cpu1 = cpuSeconds(server.pid);
  const sim1 = simCpu();
  const busy1 = machineBusySeconds();
  const endRss = rssBytes(server.pid);
  peakRss = Math.max(peakRss, endRss);
  const windowMsgs = await Promise.all(viewers.map((w) => { const p = w.next('window-counters', 30_000); w.send({ t: 'stop-window' }); return p; }));
  const win = sumCounters(windowMsgs.map((m) => m.counters));

  // ---- convergence: every viewer at the server's head ----
  // snapshot.bin is rendered at most once a second: the settle delay makes it current.
  let snap = await snapshotBin(server.httpUrl);
  const headSnapshot = snap.version;
  const info = await getJson<{ version: number }>(`${server.httpUrl}/api/place/${CANVAS.name}/info`);
  const head = Math.max(headSnapshot, info.version);
  const convergeStart = nowMs();
  let versions: Extract<FromViewer, { t: 'versions' }>[] = [];
  for (;;) {
    versions = await Promise.all(viewers.map((w) => { const p = w.next('versions', 30_000); w.send({ t: 'versions', head }); return p; }));
    const notYet = versions.reduce((s, v) => s + v.below, 0);
    if (notYet === 0 || nowMs() - convergeStart > 15_000) break;
    await sleep(500);
  }
  const convergedAfterMs = Math.round(nowMs() - convergeStart);
  const atHead = versions.reduce((s, v) => s + v.atHead, 0);
  const below = versions.reduce((s, v) => s + v.below, 0);
  const above = versions.reduce((s, v) => s + v.above, 0);
  const liveViewers = versions.reduce((s, v) => s + v.live, 0);

  // Canvas check: each viewer process's checker folded the snapshot and every edit it received
  // into a canvas; it must equal snapshot.bin byte for byte at the same version.
  if (snap.version !== head) { await sleep(1100); snap = await snapshotBin(server.httpUrl); }
  const checks = await Promise.all(viewers.map((w) => {
    const p = w.next('canvas-check', 30_000);
    w.send({ t: 'check-canvas', version: snap.version, bytes: snap.bytes });
    return p;
  }));
  const canvasCheck = {
    checkers: checks.length,
    equal: checks.filter((c) => c.equal === true).length,
    different: checks.filter((c) => c.equal === false).length,
    notComparable: checks.filter((c) => c.equal === null).length,
    differingBytes: checks.reduce((s2, c) => s2 + c.differingBytes, 0),
  };

  const m = await metrics(server.httpUrl);

  // ---- latency per (viewer, edit): receipt - ack, and receipt - publish ----
  const n = done.version.length;
  let vMax = v0;
  for (let i = 0; i < n; i++) if (!Number.isNaN(done.version[i])) vMax = Math.max(vMax, done.version[i] + 1);
  const ackAt = new Float64Array(Math.max(0, vMax - v0)).fill(NaN);
  const sendAt = new Float64Array(Math.max(0, vMax - v0)).fill(NaN);
  for (let i = 0; i < n; i++) {
    const v = done.version[i];
    if (Number.isNaN(v)) continue;
    ackAt[v - v0] = done.ackAt[i];
    sendAt[v - v0] = done.sendAt[i];
  }
  // The earliest receipt of each batch by any viewer, for the fan-out spread.
  const mins = await Promise.all(viewers.map((w) => { const p = w.next('batch-mins', 60_000); w.send({ t: 'batch-mins' }); return p; }));
  const minOf = new Map<number, number>();
  for (const mm of mins) for (let i = 0; i < mm.keys.length; i++) minOf.set(mm.keys[i], Math.min(minOf.get(mm.keys[i]) ?? Infinity, mm.mins[i]));
  const batchKeys = Float64Array.from(minOf.keys());
  const batchMins = Float64Array.from(minOf.values());
  const lat = await Promise.all(viewers.map((w) => {
    const p = w.next('latency', 300_000);
    w.send({ t: 'latency', v0, ackAt, sendAt, batchKeys, batchMins });
    return p;
  }));
  const ackH = new Histogram();
  const sendH = new Histogram();
  const perAck: Histogram[] = [];
  const perSend: Histogram[] = [];
  const spreadH = new Histogram();
  const perSpread: Histogram[] = [];
  for (const l of lat) {
    ackH.add(l.ack);
    sendH.add(l.send);
    spreadH.add(l.spread);
    l.perSecondSpread.forEach((h: HistogramJson, i: number) => { (perSpread[i] ??= new Histogram()).add(h); });
    l.perSecondAck.forEach((h: HistogramJson, i: number) => { (perAck[i] ??= new Histogram()).add(h); });
    l.perSecondSend.forEach((h: HistogramJson, i: number) => { (perSend[i] ??= new Histogram()).add(h); });
  }
  const expectedSamples = done.counters.acked * liveViewers;

  // ---- figures ----
  const windowSeconds = (tEnd - t0) / 1000;
  const publishSeconds = (done.counters.lastSendAt - t0) / 1000 + 1 / o.editsPerSecond;
  const serverCpu = cpu1 - cpu0;
  const perSecondFrames = new Array<number>(maxSeconds).fill(0);
  const perSecondEvents = new Array<number>(maxSeconds).fill(0);
  const perSecondBytes = new Array<number>(maxSeconds).fill(0);
  for (const w of windowMsgs) {
    for (let i = 0; i < maxSeconds; i++) {
      perSecondFrames[i] += w.framesPerSecond[i] ?? 0;
      perSecondEvents[i] += w.eventsPerSecond[i] ?? 0;
      perSecondBytes[i] += w.bytesPerSecond[i] ?? 0;
    }
  }
  // Mean server CPU over the whole seconds of steady publishing (the first and last second left out).
  const steadyTicks = ticks.slice(1, Math.max(1, Math.floor(publishSeconds) - 1));
  const steadyCpu = steadyTicks.length ? r1(steadyTicks.reduce((s, t) => s + t.serverCpuPct, 0) / steadyTicks.length) : null;
  const steadySim = steadyTicks.length ? r1(steadyTicks.reduce((s, t) => s + t.simCpuPct, 0) / steadyTicks.length) : null;
  const shownSeconds = Math.min(maxSeconds, Math.ceil(windowSeconds));
  const q = (h: Histogram | undefined, p: number) => (h && h.count > 0 ? Math.round(h.quantile(p) * 100) / 100 : null);
  const timeline = Array.from({ length: shownSeconds }, (_, i) => ({
    s: i + 1,
    framesPerSecond: perSecondFrames[i],
    eventsPerSecond: perSecondEvents[i],
    bytesPerSecond: perSecondBytes[i],
    serverCpuPct: ticks[i]?.serverCpuPct ?? null,
    simCpuPct: ticks[i]?.simCpuPct ?? null,
    rssMB: ticks[i]?.rssMB ?? null,
    ackToReceipt: { p50: q(perAck[i], 0.5), p99: q(perAck[i], 0.99), max: q(perAck[i], 1) },
    publishToReceipt: { p50: q(perSend[i], 0.5), p99: q(perSend[i], 0.99), max: q(perSend[i], 1) },
    fanOutSpread: { p50: q(perSpread[i], 0.5), p99: q(perSpread[i], 0.99), max: q(perSpread[i], 1) },
  }));

  const result = {
    bench: 'place-fanout',
    startedAt: new Date(t0).toISOString(),
    label: o.label,
    command,
    machine: { ...machineInfo(), loadAverageBefore: loadBefore },
    params: {
      viewers: o.viewers, editsPerSecond: o.editsPerSecond, seconds: o.seconds, tickMs: o.tickMs, workers: o.workers,
      editorConnections: o.editorConnections, settleMs: o.settleMs, serverArgs: server.serverArgs.filter((a, i, all) => all[i - 1] !== '--data' && a !== '--data'),
    },
    window: { seconds: r1(windowSeconds), publishSeconds: Math.round(publishSeconds * 100) / 100 },
    headline: {
      framesPerServerCpuSecond: Math.round(win.frames / serverCpu),
      eventsDeliveredPerSecond: Math.round(win.events / publishSeconds),
      framesDeliveredPerSecond: Math.round(win.frames / publishSeconds),
      bytesDeliveredPerSecond: Math.round(win.bytes / publishSeconds),
      serverCpuPercentOfOneCore: r1((serverCpu / windowSeconds) * 100),
      serverCpuPercentSteady: steadyCpu,
      latencyAckToReceiptMs: ackH.summary(),
      latencyPublishToReceiptMs: sendH.summary(),
      fanOutSpreadMs: spreadH.summary(),
      behindTotal: m.brigade_behind_total ?? null,
      converged: below === 0 && above === 0 && atHead === o.viewers,
      canvasesEqual: canvasCheck.equal === canvasCheck.checkers,
    },
    server: {
      pid: server.pid,
      cpuSeconds: Math.round(serverCpu * 100) / 100,
      cpuPercentOfOneCore: r1((serverCpu / windowSeconds) * 100),
      cpuPercentSteady: steadyCpu,
      rss: {
        idleMB: mb(idleRss), connectedMB: mb(connectedRss), peakMB: mb(peakRss), endMB: mb(endRss),
        perViewerKB: Math.round(((connectedRss - idleRss) / Math.max(1, connected.live)) / 1024 * 10) / 10,
      },
      openFds: serverFds,
      metrics: {
        behindTotal: m.brigade_behind_total ?? null,
        resumesTotal: m.brigade_resumes_total ?? null,
        framesOutTotal: m.brigade_frames_out_total ?? null,
        bytesOutTotal: m.brigade_bytes_out_total ?? null,
        batchesTotal: m.brigade_batches_total ?? null,
        ticksTotal: m.brigade_ticks_total ?? null,
        eventsInTotal: m.brigade_events_in_total ?? null,
        publishesRefusedTotal: m.brigade_publishes_refused_total ?? null,
        connections: m.brigade_connections ?? null,
        tickIntervalMs: m.brigade_tick_interval_ms ?? null,
      },
    },
    delivered: {
      frames: win.frames, events: win.events, bytes: win.bytes,
      expectedEvents: done.counters.acked * connected.live,
      framesPerServerCpuSecond: Math.round(win.frames / serverCpu),
      eventsPerServerCpuSecond: Math.round(win.events / serverCpu),
      framesPerSecond: Math.round(win.frames / publishSeconds),
      eventsPerSecond: Math.round(win.events / publishSeconds),
      bytesPerSecond: Math.round(win.bytes / publishSeconds),
      avgEventsPerFrame: r1(win.events / Math.max(1, win.frames)),
    },
    editors: {
      sent: done.counters.sent, acked: done.counters.acked, refused: done.counters.refused, refusals: done.counters.refusals,
      achievedPerSecond: r1(done.counters.sent / publishSeconds),
      publishToAckMs: Histogram.fromJSON(done.publishToAck).summary(),
    },
    latency: {
      note: 'per (viewer, edit); ackToReceipt = viewer receipt - the editor\'s receipt of the ACK; publishToReceipt = viewer receipt - the editor\'s send; fanOutSpread (per viewer and batch) = viewer receipt - the earliest receipt of that batch by any viewer',
      samples: ackH.count, expectedSamples,
      ackToReceiptMs: ackH.summary(),
      publishToReceiptMs: sendH.summary(),
      fanOutSpreadMs: spreadH.summary(),
      fractionOfAckToReceiptBelowZero: Math.round(ackH.fractionBelow(0) * 1000) / 1000,
    },
    convergence: {
      headFromSnapshotBin: headSnapshot, headFromInfo: info.version, head, versionBefore: v0,
      viewersAtHead: atHead, viewersBelowHead: below, viewersAboveHead: above, liveViewers,
      checkedAfterSettleMs: o.settleMs, convergedAfterMs, canvasCheck,
      converged: below === 0 && above === 0 && atHead === o.viewers,
    },
    viewers: {
      subscribed: connected.live, failed: connected.failed, connectSeconds: r1(connectSeconds),
      closedDuringRun: win.closed, gaps: win.gaps, duplicates: win.duplicates, behindFrames: win.behind,
      snapshots: win.snapshots, errors: win.errors, malformed: win.malformed, samplesDropped: win.samplesDropped,
      firstErrors: win.firstErrors,
    },
    simulator: {
      processes: simPids().length,
      cpuSeconds: Math.round((sim1 - sim0) * 100) / 100,
      cpuPercentOfOneCore: r1(((sim1 - sim0) / windowSeconds) * 100),
      cpuPercentSteady: steadySim,
    },
    /** CPU the rest of the machine used in the window (not the server, not this bench): should be near 0. */
    otherProcesses: {
      cpuPercentOfOneCore: r1(((busy1 - busy0 - serverCpu - (sim1 - sim0)) / windowSeconds) * 100),
      machineBusyPercentOfAllCores: r1(((busy1 - busy0) / windowSeconds / cpus().length) * 100),
    },
    timeline,
  };

  console.log(JSON.stringify(result, null, 2));
  mkdirSync(o.resultsDir, { recursive: true });
  const file = join(o.resultsDir, `${new Date(t0).toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  log(`\nresult written to ${file}`);
  const h = result.headline;
  log(`summary: ${fmt(h.framesPerServerCpuSecond)} frames per server CPU-second; ${fmt(h.eventsDeliveredPerSecond)} events/s delivered; server CPU ${h.serverCpuPercentOfOneCore}% of one core; ack→receipt p50 ${h.latencyAckToReceiptMs.p50} p99 ${h.latencyAckToReceiptMs.p99} max ${h.latencyAckToReceiptMs.max} ms; publish→receipt p50 ${h.latencyPublishToReceiptMs.p50} p99 ${h.latencyPublishToReceiptMs.p99} ms; other processes ${result.otherProcesses.cpuPercentOfOneCore}% of a core; behind ${h.behindTotal}; converged ${h.converged}; canvases equal ${h.canvasesEqual}`);
}

main().then(
  () => cleanup().then(() => process.exit(0)),
  (err) => {
    console.error(`place-fanout failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    cleanup().finally(() => process.exit(1));
  },
);

