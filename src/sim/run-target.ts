/**
 * One target's run of the place workload: start (or find) the server, connect V viewers over K
 * processes, measure the server's idle and connected RSS, publish E edits/s for T s from W
 * editors, sample CPU and RSS of every server process once a second, then check convergence and
 * compute latency. Returns everything as a TargetResult; stops every process it started.
 *
 * Convergence, without trusting any one party: (1) the editors know the server's whole log, the
 * bytes they sent at the positions the server acknowledged; (2) every viewer must have received
 * positions [from, head) as runs in order with no gap or repeat, each run byte-identical to the
 * first copy its process saw; (3) each process's canonical stream must hash to the editors' log;
 * (4) for Brigade, the editors' log folded over the canvas at `from` must equal snapshot.bin at the
 * head, byte for byte. Together: every viewer's canvas is the server's.
 */
import { createHash } from 'node:crypto';
import { makeEditCodec } from '../apps/place/edit-codec.ts';
import { decodePixels, encodePixels } from '../apps/place/snapshot-codec.ts';
import { Histogram, type LatencySummary } from './histogram.ts';
import type { Target } from './load-protocol.ts';
import type { EditorCounters, FromEditor, FromViewer, ToEditor, ToViewer, ViewerCheck, ViewerCounters } from './messages.ts';
import type { BenchOptions } from './options.ts';
import { cpuSeconds, machineBusySeconds, rssBytes } from './proc.ts';
import { Progress } from './progress.ts';
import { scrapeMetrics, sumMetrics, type Metrics } from './prom.ts';
import { startTarget, type RunningTarget, type ServerProcessInfo } from './servers.ts';
import { startWorker, type Worker } from './workers.ts';
import { simFetch } from './loopback-fetch.ts';

const CHANNEL = 'place:main';
const CANVAS = 'main';

export interface SecondSample {
  s: number;
  framesPerSecond: number;
  eventsPerSecond: number;
  bytesPerSecond: number;
  serverCpuPct: number | null;
  serverRssMB: number | null;
  simCpuPct: number | null;
  tickIntervalMs: number | null;
  latency: { p50: number | null; p90: number | null; p99: number | null; max: number | null };
}

export interface TargetResult {
  target: Target;
  ok: boolean;
  error: string | null;
  servers: { processes: (ServerProcessInfo & { cpuSeconds: number; rssIdleMB: number; rssConnectedMB: number; rssPeakMB: number })[]; commands: string[] };
  window: { seconds: number; publishSeconds: number };
  /** Headline figures (also the comparison table's columns). */
  headline: {
    framesPerServerCpuSecond: number | null;
    viewersPerServerCore: number | null;
    serverCoresUsed: number | null;
    latencyMs: LatencySummary | null;
    framesPerSecond: number;
    bytesPerSecond: number;
    rssPerViewerKB: number | null;
    converged: boolean;
  };
  editors: { sent: number; acked: number; achievedPerSecond: number; sendToAckMs: LatencySummary | null };
  delivered: {
    frames: number; events: number; bytes: number;
    /** Every viewer received every distinct run once: Σ distinct runs per process x its viewers. */
    expectedFramesFromRuns: number;
    /**
     * Brigade: viewers x ticks that appended in the window, summed over its processes (every node
     * fans out every node's batch; one frame per batch while a batch fits one frame).
     */
    expectedFramesFromTicks: number | null;
    expectedEvents: number;
    framesPerSecond: number; eventsPerSecond: number; bytesPerSecond: number;
  };
  server: {
    cpuSeconds: number; cpuPercentOfOneCore: number;
    rss: { idleMB: number; connectedMB: number; peakMB: number; perViewerKB: number | null };
    /** Brigade only, summed over its processes: deltas over the window; the largest tick interval at the end. */
    metrics: { behindTotal: number; resumesTotal: number; framesOutTotal: number; bytesOutTotal: number; ticksTotal: number; tickIntervalMs: number } | null;
  };
  latency: { note: string; samples: number; expectedSamples: number; ackToReceiptMs: LatencySummary | null; fractionBelowZero: number | null };
  convergence: {
    converged: boolean;
    from: number; head: number;
    viewers: number; viewersConverged: number; viewersBroken: number; viewersShortOfHead: number; viewersFailedToConnect: number; viewersClosed: number;
    gaps: number; duplicates: number; mismatches: number;
    logComplete: boolean;
    streamHashesEqual: boolean;
    logSha256: string;
    processHashes: { pid: number; known: number; sha256: string }[];
    /** Brigade: the editors' log folded over the canvas equals snapshot.bin at the head; null: no snapshot (peers). */
    serverCanvasEqual: boolean | null;
    serverHead: number | null;
    firstErrors: string[];
  };
  simulator: {
    viewerProcesses: number;
    connectSeconds: number;
    cpuSeconds: number; cpuPercentOfOneCore: number;
    /**
     * The client cost: RSS per viewer (viewer processes, after connecting minus before), and CPU
     * per frame received: viewer processes only, and the whole simulator (editors, coordinator too).
     */
    rssPerViewerKB: number | null;
    viewerCpuMicrosecondsPerFrame: number | null;
    cpuMicrosecondsPerFrame: number | null;
  };
  otherProcessesCpuPercentOfOneCore: number;
  timeline: SecondSample[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
const r1 = (v: number) => Math.round(v * 10) / 10;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const now = () => performance.timeOrigin + performance.now();

type ViewerW = Worker<ToViewer, FromViewer>;
type EditorW = Worker<ToEditor, FromEditor>;

function sumCounters(list: ViewerCounters[]): ViewerCounters {
  const s: ViewerCounters = { live: 0, failed: 0, closed: 0, frames: 0, bytes: 0, events: 0, gaps: 0, duplicates: 0, mismatches: 0, samplesDropped: 0, firstErrors: [] };
  for (const c of list) {
    for (const k of Object.keys(s) as (keyof ViewerCounters)[]) {
      if (k === 'firstErrors') s.firstErrors.push(...c.firstErrors);
      else s[k] += c[k];
    }
  }
  s.firstErrors = s.firstErrors.slice(0, 10);
  return s;
}

function sumOver(pids: number[], f: (pid: number) => number): number {
  let s = 0;
  for (const p of pids) {
    const v = f(p);
    if (Number.isFinite(v)) s += v;
  }
  return s;
}

async function snapshotBin(httpUrl: string): Promise<{ version: number; bytes: Uint8Array }> {
  const res = await simFetch(`${httpUrl}/api/place/${CANVAS}/snapshot.bin`);
  if (!res.ok) throw new Error(`GET snapshot.bin answered ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { version: Number(res.headers.get('x-brigade-version')), bytes };
}

/** snapshot.bin is rendered at most once a second: ask again until it is at `version`. */
async function snapshotAt(httpUrl: string, version: number, waitMs: number): Promise<{ version: number; bytes: Uint8Array }> {
  const until = now() + waitMs;
  for (;;) {
    const s = await snapshotBin(httpUrl);
    if (s.version === version || now() > until) return s;
    await sleep(250);
  }
}

function httpOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:'}//${u.host}`;
}

export async function runTarget(target: Target, o: BenchOptions, progress: Progress, signal?: AbortSignal): Promise<TargetResult> {
  let fatal: Error | null = null;
  let rejectFatal: (e: Error) => void = () => {};
  const fatalP = new Promise<never>((_, reject) => { rejectFatal = reject; });
  fatalP.catch(() => {});
  const onFatal = (message: string) => { if (!fatal) { fatal = new Error(message); rejectFatal(fatal); } };
  /** Waits for p, unless a process of the run dies first. */
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, fatalP]);
  signal?.addEventListener('abort', () => onFatal('interrupted'), { once: true });

  let running: RunningTarget | null = null;
  const viewers: ViewerW[] = [];
  let editor: EditorW | null = null;
  const tag = `[${target}]`;
  try {
    // ---- the server ----
    if (o.url === null) {
      progress.update(`${tag} starting the server`);
      running = await startTarget(target, o, onFatal);
    } else {
      running = {
        target, urls: [o.url], httpUrls: target === 'brigade' ? [httpOf(o.url)] : [],
        processes: o.serverPids.map((pid, i) => ({ pid, role: `server ${i} (given)`, url: o.url })), commands: [], stop: async () => {},
      };
    }
    const serverPids = running.processes.map((p) => p.pid);
    const isBrigade = target === 'brigade';
    let width = o.width, height = o.height, colours = 16, from = 0;
    let initialPixels: Uint8Array | null = null;
    if (isBrigade) {
      // Loads the canvas (so its memory is in the idle baseline) and says where the log stands.
      const res = await simFetch(`${running.httpUrls[0]}/api/place/${CANVAS}/info`);
      if (!res.ok) throw new Error(`GET /api/place/${CANVAS}/info answered ${res.status}`);
      const info = (await res.json()) as { width: number; height: number; palette: string[]; version: number };
      ({ width, height } = info);
      colours = info.palette.length;
      from = info.version;
      for (const h of running.httpUrls.slice(1)) await simFetch(`${h}/api/place/${CANVAS}/info`);
      const snap = await snapshotAt(running.httpUrls[0], from, 2500);
      if (snap.version === from) initialPixels = decodePixels(snap.bytes, width, height, colours, CHANNEL);
    }
    const codec = makeEditCodec(width, height, colours);
    await sleep(300);
    const idle = running.processes.map((p) => rssBytes(p.pid));

    // ---- viewers ----
    const perProcess = Math.ceil(o.viewers / o.simProcesses);
    const connectStart = now();
    for (let k = 0, first = 0; k < o.simProcesses && first < o.viewers; k++, first += perProcess) {
      const w = startWorker<ToViewer, FromViewer>('viewer-worker', onFatal);
      viewers.push(w);
      w.send({
        t: 'connect', protocol: target, urls: running.urls, channel: CHANNEL, count: Math.min(perProcess, o.viewers - first), firstIndex: first,
        // One source address per process (127.0.0.10, .11, ...): ~28k ephemeral ports each.
        localAddresses: [`127.0.0.${10 + (k % 240)}`], concurrency: o.connectConcurrency, width, height, colours, from, fault: o.fault,
      });
    }
    const countersOf = (w: ViewerW) => (w.latest.get('ready') ?? w.latest.get('progress')) as { counters: ViewerCounters } | undefined;
    const liveCount = () => viewers.reduce((s, w) => s + (countersOf(w)?.counters.live ?? 0), 0);
    const ticker = setInterval(() => progress.update(`${tag} connecting ${Progress.bar(liveCount(), o.viewers)} ${fmt(liveCount())}/${fmt(o.viewers)} viewers`), 250);
    let ready: Extract<FromViewer, { t: 'ready' }>[];
    try {
      ready = await guard(Promise.all(viewers.map((w) => w.next('ready', 60_000 + o.viewers * 10))));
    } finally {
      clearInterval(ticker);
    }
    const connectSeconds = (now() - connectStart) / 1000;
    const connected = sumCounters(ready.map((r) => r.counters));
    progress.done(`${tag} ${fmt(connected.live)}/${fmt(o.viewers)} viewers connected in ${r1(connectSeconds)} s${connected.failed ? `, ${connected.failed} failed` : ''}`);
    await sleep(1000);
    const connectedRss = running.processes.map((p) => rssBytes(p.pid));
    const simRssConnected = sumOver(viewers.map((w) => w.pid), rssBytes);
    const simRssBefore = ready.reduce((s, r) => s + r.rssBeforeConnect, 0);

    // ---- editors ----
    editor = startWorker<ToEditor, FromEditor>('editor-worker', onFatal);
    await guard(editor.ask({ t: 'connect', protocol: target, urls: running.urls, channel: CHANNEL, connections: o.editors, localAddress: '127.0.0.9', width, height, colours, seed: o.seed }, 'ready', 60_000));

    // ---- the measured window ----
    const m0 = isBrigade ? sumMetrics(await Promise.all(running.httpUrls.map((h) => scrapeMetrics(h)))) : null;
    const maxSeconds = Math.ceil(o.seconds + (o.settleMs + 30_000) / 1000) + 2;
    const t0 = now() + 300;
    for (const w of viewers) w.send({ t: 'window', t0, maxSeconds });
    editor.send({ t: 'start', t0, editsPerSecond: o.editsPerSecond, seconds: o.seconds, ackTimeoutMs: 15_000 + o.maxTickMs * 2 });
    const doneP = editor.next('done', (o.seconds + 60) * 1000 + o.maxTickMs * 2);
    let done: Extract<FromEditor, { t: 'done' }> | null = null;
    doneP.then((m) => { done = m; }, (err: Error) => onFatal(err.message));
    while (now() < t0) await sleep(5);
    const simPids = () => [...viewers.map((w) => w.pid), editor!.pid];
    const cpu0 = running.processes.map((p) => cpuSeconds(p.pid));
    const sim0 = sumOver(simPids(), cpuSeconds) + process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
    const busy0 = machineBusySeconds();
    const viewerCpu0 = sumOver(viewers.map((w) => w.pid), cpuSeconds);
    const simCpuNow = () => sumOver(simPids(), cpuSeconds) + process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;

    const seconds: { serverCpuPct: number; rss: number; simCpuPct: number; tickMs: number | null }[] = [];
    const peak = connectedRss.slice();
    let prev = { at: t0, cpu: sumOver(serverPids, cpuSeconds), sim: sim0 };
    let windowEnd = Infinity;
    const totalEdits = Math.max(1, Math.round(o.editsPerSecond * o.seconds));
    const sampleFrames = () => viewers.reduce((s, w) => s + ((w.latest.get('progress') as { counters: ViewerCounters } | undefined)?.counters.frames ?? 0), 0);
    let framesAtPrev = 0, framesRate = 0;
    const shortTicker = setInterval(() => {
      // The editor stops reporting progress once done: its final counters are in `done`.
      const e = done ? (done as Extract<FromEditor, { t: 'done' }>).counters : (editor!.latest.get('progress') as { counters: EditorCounters } | undefined)?.counters;
      const el = (now() - t0) / 1000;
      progress.update(`${tag} ${done ? 'settling' : 'window'} ${Progress.bar(el, o.seconds)} ${r1(Math.min(el, 9999))}/${o.seconds} s  edits ${fmt(e?.sent ?? 0)}/${fmt(totalEdits)} acked ${fmt(e?.acked ?? 0)}  frames/s ${fmt(framesRate)}  viewers ${fmt(liveCount())}  server cpu ${seconds.at(-1)?.serverCpuPct ?? 0}%`);
    }, 250);
    try {
      while (now() < windowEnd) {
        await guard(sleep(Math.max(0, t0 + (seconds.length + 1) * 1000 - now())));
        const at = now();
        const cpu = sumOver(serverPids, cpuSeconds);
        const sim = simCpuNow();
        const rss = running.processes.map((p) => rssBytes(p.pid));
        rss.forEach((v, i) => { if (Number.isFinite(v)) peak[i] = Math.max(peak[i], v); });
        let tickMs: number | null = null;
        // Every 5 s, not every second: a scrape costs the server (prom-client reads /proc/self/fd,
        // one entry per socket), and the peers are not scraped at all.
        if (isBrigade && seconds.length % 5 === 0) {
          try {
            const ms = await Promise.all(running.httpUrls.map((h) => scrapeMetrics(h, 900)));
            tickMs = Math.max(...ms.map((m) => m.brigade_tick_interval_ms ?? 0));
          } catch { /* a slow scrape leaves a hole in the chart, not a failed run */ }
        }
        const dt = (at - prev.at) / 1000;
        const frames = sampleFrames();
        framesRate = (frames - framesAtPrev) / dt;
        framesAtPrev = frames;
        seconds.push({ serverCpuPct: r1(((cpu - prev.cpu) / dt) * 100), rss: rss.reduce((s, v) => s + (Number.isFinite(v) ? v : 0), 0), simCpuPct: r1(((sim - prev.sim) / dt) * 100), tickMs });
        prev = { at, cpu, sim };
        if (done && windowEnd === Infinity) {
          const d = done as Extract<FromEditor, { t: 'done' }>;
          windowEnd = Math.max(d.counters.lastAckAt, d.counters.lastSendAt) + o.settleMs;
        }
      }
    } finally {
      clearInterval(shortTicker);
    }
    const tEnd = now();
    const cpu1 = running.processes.map((p) => cpuSeconds(p.pid));
    const sim1 = simCpuNow();
    const busy1 = machineBusySeconds();
    const viewerCpu = sumOver(viewers.map((w) => w.pid), cpuSeconds) - viewerCpu0;
    const d = done! as Extract<FromEditor, { t: 'done' }>;
    const windowMsgs = await guard(Promise.all(viewers.map((w) => w.ask({ t: 'stop-window' }, 'window-counters', 30_000))));
    const win = sumCounters(windowMsgs.map((m) => m.counters));
    const m1each = isBrigade ? await Promise.all(running.httpUrls.map((h) => scrapeMetrics(h))) : [];
    const m1 = isBrigade ? sumMetrics(m1each) : null;
    // A gauge does not add up over processes: the longest tick is the one that matters.
    const tickIntervalEnd = Math.max(0, ...m1each.map((m) => m.brigade_tick_interval_ms ?? 0));
    progress.done(`${tag} window closed after ${r1((tEnd - t0) / 1000)} s: ${fmt(d.counters.acked)}/${fmt(d.counters.sent)} edits acknowledged, ${fmt(win.frames)} frames delivered`);

    // ---- the server's log, from the editors ----
    const es = codec.eventSize;
    const head = from + d.counters.acked;
    const log = new Uint8Array(d.counters.acked * es);
    const ackAt = new Float64Array(d.counters.acked).fill(NaN);
    const seen = new Uint8Array(d.counters.acked);
    let logComplete = d.counters.acked === d.counters.sent;
    for (let i = 0; i < d.position.length; i++) {
      const p = d.position[i];
      if (Number.isNaN(p)) continue;
      const idx = p - from;
      if (idx < 0 || idx >= seen.length || seen[idx]) { logComplete = false; continue; }
      seen[idx] = 1;
      log.set(d.edits.subarray(i * es, (i + 1) * es), idx * es);
      ackAt[idx] = d.ackAt[i];
    }
    if (seen.includes(0)) logComplete = false;
    const logSha256 = createHash('sha256').update(log).digest('hex');

    // ---- convergence ----
    const checkStart = now();
    let checks: ViewerCheck[];
    for (;;) {
      checks = await guard(Promise.all(viewers.map((w) => w.ask({ t: 'check', head }, 'check', 30_000))));
      if (checks.every((c) => c.behindHead === 0) || now() - checkStart > 10_000) break;
      await sleep(500);
    }
    const viewersConverged = checks.reduce((s, c) => s + c.converged, 0);
    const viewersBroken = checks.reduce((s, c) => s + c.broken, 0);
    const viewersShort = checks.reduce((s, c) => s + c.behindHead, 0);
    const streamHashesEqual = checks.every((c) => c.known === head && c.sha256 === logSha256);
    let serverCanvasEqual: boolean | null = null;
    let serverHead: number | null = null;
    if (isBrigade) {
      const info = (await (await simFetch(`${running.httpUrls[0]}/api/place/${CANVAS}/info`)).json()) as { version: number };
      serverHead = info.version;
      const snap = await snapshotAt(running.httpUrls[0], head, 3000);
      if (initialPixels && snap.version === head && logComplete) {
        const pixels = initialPixels.slice();
        for (let k = 0; k < d.counters.acked; k++) {
          const e = codec.decode(log, k * es);
          pixels[e.y * width + e.x] = e.colour;
        }
        serverCanvasEqual = Buffer.compare(encodePixels(pixels, colours), snap.bytes) === 0;
      } else {
        serverCanvasEqual = false;
      }
    }
    const converged = logComplete && streamHashesEqual && viewersConverged === o.viewers && (serverCanvasEqual ?? true) && (serverHead === null || serverHead === head);

    // ---- latency ----
    const lat = await guard(Promise.all(viewers.map((w) => w.ask({ t: 'latency', ackAt }, 'latency', 300_000))));
    const all = new Histogram();
    const perSecond: Histogram[] = [];
    for (const l of lat) {
      all.add(l.ack);
      l.perSecond.forEach((h, i) => { if (h.count > 0) (perSecond[i] ??= new Histogram()).add(h); });
    }

    // ---- figures ----
    const windowSeconds = (tEnd - t0) / 1000;
    const publishSeconds = (d.counters.lastSendAt - t0) / 1000 + 1 / o.editsPerSecond;
    const cpuPer = cpu1.map((c, i) => c - cpu0[i]);
    const serverCpu = cpuPer.reduce((s, v) => s + (Number.isFinite(v) ? v : 0), 0);
    const sum = (a: number[]) => a.reduce((s, v) => s + (Number.isFinite(v) ? v : 0), 0);
    const coresUsed = serverCpu / windowSeconds;
    const perViewerKB = o.viewers > 0 ? Math.round(((sum(connectedRss) - sum(idle)) / o.viewers / 1024) * 10) / 10 : null;
    const pf = new Array<number>(maxSeconds).fill(0), pe = new Array<number>(maxSeconds).fill(0), pb = new Array<number>(maxSeconds).fill(0);
    for (const w of windowMsgs) for (let i = 0; i < maxSeconds; i++) { pf[i] += w.framesPerSecond[i] ?? 0; pe[i] += w.eventsPerSecond[i] ?? 0; pb[i] += w.bytesPerSecond[i] ?? 0; }
    const q = (h: Histogram | undefined, p: number) => (h && h.count > 0 ? Math.round(h.quantile(p) * 100) / 100 : null);
    const shown = Math.min(maxSeconds, Math.ceil(windowSeconds));
    const timeline: SecondSample[] = Array.from({ length: shown }, (_, i) => ({
      s: i + 1, framesPerSecond: pf[i], eventsPerSecond: pe[i], bytesPerSecond: pb[i],
      serverCpuPct: seconds[i]?.serverCpuPct ?? null, serverRssMB: seconds[i] ? mb(seconds[i].rss) : null, simCpuPct: seconds[i]?.simCpuPct ?? null,
      tickIntervalMs: seconds[i]?.tickMs ?? null,
      latency: { p50: q(perSecond[i], 0.5), p90: q(perSecond[i], 0.9), p99: q(perSecond[i], 0.99), max: q(perSecond[i], 1) },
    }));
    const metricDelta = (k: string) => (m0 && m1 ? (m1[k] ?? 0) - (m0[k] ?? 0) : 0);
    const expectedFramesFromRuns = windowMsgs.reduce((s, w, k) => s + w.distinctRuns * (checks[k]?.live ?? 0), 0);
    const simCpu = sim1 - sim0;
    const result: TargetResult = {
      target, ok: converged, error: null,
      servers: {
        processes: running.processes.map((p, i) => ({ ...p, cpuSeconds: Math.round(cpuPer[i] * 100) / 100, rssIdleMB: mb(idle[i]), rssConnectedMB: mb(connectedRss[i]), rssPeakMB: mb(peak[i]) })),
        commands: running.commands,
      },
      window: { seconds: r1(windowSeconds), publishSeconds: Math.round(publishSeconds * 100) / 100 },
      headline: {
        framesPerServerCpuSecond: serverCpu > 0 ? Math.round(win.frames / serverCpu) : null,
        viewersPerServerCore: coresUsed > 0 ? Math.round(o.viewers / coresUsed) : null,
        serverCoresUsed: serverPids.length ? Math.round(coresUsed * 1000) / 1000 : null,
        latencyMs: all.count ? all.summary() : null,
        framesPerSecond: Math.round(win.frames / publishSeconds),
        bytesPerSecond: Math.round(win.bytes / publishSeconds),
        rssPerViewerKB: serverPids.length ? perViewerKB : null,
        converged,
      },
      editors: {
        sent: d.counters.sent, acked: d.counters.acked, achievedPerSecond: r1(d.counters.sent / publishSeconds),
        sendToAckMs: d.sendToAck.count ? Histogram.fromJSON(d.sendToAck).summary() : null,
      },
      delivered: {
        frames: win.frames, events: win.events, bytes: win.bytes, expectedFramesFromRuns,
        expectedFramesFromTicks: m0 && m1 ? o.viewers * metricDelta('brigade_ticks_total') : null,
        expectedEvents: d.counters.acked * o.viewers,
        framesPerSecond: Math.round(win.frames / publishSeconds), eventsPerSecond: Math.round(win.events / publishSeconds), bytesPerSecond: Math.round(win.bytes / publishSeconds),
      },
      server: {
        cpuSeconds: Math.round(serverCpu * 100) / 100, cpuPercentOfOneCore: r1(coresUsed * 100),
        rss: { idleMB: mb(sum(idle)), connectedMB: mb(sum(connectedRss)), peakMB: mb(sum(peak)), perViewerKB: serverPids.length ? perViewerKB : null },
        metrics: m0 && m1 ? {
          behindTotal: metricDelta('brigade_behind_total'), resumesTotal: metricDelta('brigade_resumes_total'),
          framesOutTotal: metricDelta('brigade_frames_out_total'), bytesOutTotal: metricDelta('brigade_bytes_out_total'),
          ticksTotal: metricDelta('brigade_ticks_total'), tickIntervalMs: tickIntervalEnd,
        } : null,
      },
      latency: {
        note: 'per (viewer, edit): the viewer process\'s receipt of the frame holding the edit minus the editor process\'s receipt of its acknowledgement (one clock: performance.timeOrigin + performance.now()); per second by the second of the ack',
        samples: all.count, expectedSamples: d.counters.acked * o.viewers,
        ackToReceiptMs: all.count ? all.summary() : null,
        fractionBelowZero: all.count ? Math.round(all.fractionBelow(0) * 1000) / 1000 : null,
      },
      convergence: {
        converged, from, head,
        viewers: o.viewers, viewersConverged, viewersBroken, viewersShortOfHead: viewersShort, viewersFailedToConnect: connected.failed, viewersClosed: win.closed,
        gaps: win.gaps, duplicates: win.duplicates, mismatches: win.mismatches,
        logComplete, streamHashesEqual, logSha256,
        processHashes: checks.map((c) => ({ pid: c.pid, known: c.known, sha256: c.sha256 })),
        serverCanvasEqual, serverHead,
        firstErrors: [...connected.firstErrors, ...win.firstErrors].slice(0, 10),
      },
      simulator: {
        viewerProcesses: viewers.length, connectSeconds: r1(connectSeconds),
        cpuSeconds: Math.round(simCpu * 100) / 100, cpuPercentOfOneCore: r1((simCpu / windowSeconds) * 100),
        rssPerViewerKB: Math.round(((simRssConnected - simRssBefore) / o.viewers / 1024) * 10) / 10,
        viewerCpuMicrosecondsPerFrame: win.frames > 0 ? Math.round((viewerCpu / win.frames) * 1e6 * 100) / 100 : null,
        cpuMicrosecondsPerFrame: win.frames > 0 ? Math.round((simCpu / win.frames) * 1e6 * 100) / 100 : null,
      },
      otherProcessesCpuPercentOfOneCore: r1(((busy1 - busy0 - serverCpu - simCpu) / windowSeconds) * 100),
      timeline,
    };
    return result;
  } catch (err) {
    throw fatal ?? err;
  } finally {
    await Promise.all([...viewers.map((w) => w.stop()), editor?.stop()]);
    await running?.stop();
  }
}
