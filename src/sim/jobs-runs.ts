/**
 * The jobs benchmarks' runs that measure a steady queue (src/sim/jobs-bench.ts picks one):
 *
 * - throughput: W worker processes of concurrency C with no-op handlers, idle and connected, then
 *   one producer process enqueues N jobs in bulk batches as fast as they are stored; measured from
 *   the first enqueue to the last handler start, with the CPU of every process of the run.
 * - push latency: push workers, and a producer that enqueues one job per request at R jobs/s,
 *   evenly paced; enqueue → handler start (both taken on the run's one clock) after a warm-up.
 *
 * Plus what the other runs share: forking jobs-worker processes, asking them for reports, CPU.
 */
import { Histogram } from './histogram.ts';
import type { FromJobsWorker, JobsWorkerReport, ToJobsWorker } from './jobs-worker.ts';
import { startJobsServer, type JobsServer } from './jobs-servers.ts';
import { LATE_MS, type JobsConn, type JobsTargetName, type SqliteCheckpoint, type SqliteSynchronous, type WorkerSpec } from './jobs-target.ts';
import type { LatencySummary } from './histogram.ts';
import { nodeLoopDelay, type LoopDelay } from './loop-delay.ts';
import { simFetch } from './loopback-fetch.ts';
import { scrapeMetrics } from './prom.ts';
import { cpuSeconds, machineBusySeconds, nowMs } from './proc.ts';
import { startWorker, type Worker } from './workers.ts';
import { describeWakeFloor, WakeProbe, type WakeFloor } from './wake-probe.ts';

export type JobsProc = Worker<ToJobsWorker, FromJobsWorker>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (n: number) => Math.round(n * 10) / 10;
const r3 = (n: number) => Math.round(n * 1000) / 1000;

/** Worker processes and the server of one run, stopped together (also when the run fails). */
export class RunProcesses {
  readonly procs: JobsProc[] = [];
  fatal: string | null = null;
  /** Processes the run killed on purpose (the crash run): their exit is no failure. */
  readonly killed = new Set<number>();

  constructor(readonly server: JobsServer) {}

  spawn(): JobsProc {
    const w: JobsProc = startWorker<ToJobsWorker, FromJobsWorker>('jobs-worker', (message) => {
      if (!this.killed.has(w.pid)) this.fatal ??= message;
    });
    this.procs.push(w);
    return w;
  }

  /** Throws the first failure a worker process reported. */
  check(): void {
    if (this.fatal) throw new Error(this.fatal);
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    await this.server.stop();
  }
}

export async function startWorkerProcs(run: RunProcesses, target: JobsTargetName, conn: JobsConn, spec: WorkerSpec,
  processes: number, workersPerProcess: number, keepNumbers = false): Promise<JobsProc[]> {
  const procs = Array.from({ length: processes }, () => run.spawn());
  await Promise.all(procs.map((p, i) => p.ask({ t: 'workers', target, conn, spec: { ...spec, workerId: `${spec.workerId ?? 'w'}${i}` }, count: workersPerProcess, keepNumbers }, 'ready', 60_000)));
  return procs;
}

export async function reportsOf(procs: JobsProc[], timeoutMs = 15_000, late = false): Promise<JobsWorkerReport[]> {
  return Promise.all(procs.map((p) => p.ask({ t: 'report', late }, 'report', timeoutMs)));
}

const usesSqlite = (target: JobsTargetName): boolean => target === 'brigade' || target === 'plainjob';

export const sumCpu = (pids: number[]): number => pids.reduce((s, pid) => s + (cpuSeconds(pid) || 0), 0);

export interface ThroughputOptions {
  jobs: number; workers: number; concurrency: number; batch: number; inFlight: number; peerPollMs: number; brigadeMode: 'push' | 'poll'; maxSeconds: number;
  /** SQLite's synchronous for both SQLite targets (Brigade embedded, plainjob): like-for-like durability. */
  sqliteSynchronous: SqliteSynchronous;
}

export interface ThroughputRun {
  target: JobsTargetName;
  round: number;
  jobs: number;
  handled: number;
  seconds: number;
  jobsPerSecond: number;
  /** From the first enqueue to the last one stored, s. */
  enqueueSeconds: number;
  /** CPU-seconds of the processes that do the queue's work: the Brigade node (+ redis-server), redis-server for bullmq, every process for plainjob. */
  serverCpuSeconds: number;
  jobsPerServerCpuSecond: number;
  /** The server's CPU-seconds per process, as `serverCounted` names them (Brigade/Redis: the node, then redis-server). */
  serverCpuSecondsEach: number[];
  /** CPU-seconds of every process of the run: server, workers, producer. */
  totalCpuSeconds: number;
  jobsPerTotalCpuSecond: number;
  workersCpuSeconds: number;
  producerCpuSeconds: number;
  /** What the whole machine was busy with meanwhile (other helpers included), CPU-seconds. */
  machineBusyCpuSeconds: number;
  serverCounted: string;
  sqliteSynchronous: SqliteSynchronous | null;
  /**
   * The Brigade node's traffic per 1,000 jobs during the run, from its /metrics (null for the peers):
   * WebSocket messages in and out, socket writes (one per socket per loop iteration), push offers
   * (subscribe replies with jobs).
   */
  nodePer1000Jobs: { messagesIn: number; messagesOut: number; socketWrites: number; offers: number } | null;
  commands: string[];
}

export async function throughputRun(target: JobsTargetName, round: number, o: ThroughputOptions, log: (s: string) => void): Promise<ThroughputRun> {
  const server = await startJobsServer(target, { sqliteSynchronous: o.sqliteSynchronous });
  const run = new RunProcesses(server);
  try {
    const producer = run.spawn();
    await producer.ask({ t: 'prepare', target, conn: server.conn }, 'prepared', 30_000);
    // Peers poll every peerPollMs when they find nothing (their way); Brigade in poll mode does the same.
    const spec: WorkerSpec = { queue: 'bench', concurrency: o.concurrency, mode: o.brigadeMode, poll: 'fixed', pollMs: o.peerPollMs, leaseMs: 30_000 };
    const workers = await startWorkerProcs(run, target, server.conn, spec, o.workers, 1);
    await sleep(500);
    const workerPids = workers.map((w) => w.pid);
    const queuePids = server.pids().length > 0 ? server.pids() : [producer.pid, ...workerPids];
    const each0 = server.pids().map((pid) => cpuSeconds(pid) || 0);
    const m0 = server.httpUrl ? await scrapeMetrics(server.httpUrl).catch(() => null) : null;
    const cpu0 = { server: sumCpu(queuePids), workers: sumCpu(workerPids), producer: sumCpu([producer.pid]), machine: machineBusySeconds() };
    const produced = producer.ask({
      t: 'produce', target, conn: server.conn, spec: { queue: 'bench' }, first: 0, count: o.jobs, batch: o.batch, perSecond: 0, inFlight: o.inFlight, retry: false,
    }, 'produced', o.maxSeconds * 1000);
    const deadline = nowMs() + o.maxSeconds * 1000;
    let reports: JobsWorkerReport[] = [];
    for (;;) {
      await sleep(250);
      run.check();
      // A plainjob process can hold its event loop for seconds (synchronous SQLite waiting on the file's lock).
      reports = await reportsOf(workers, 120_000);
      const handled = reports.reduce((s, r) => s + r.handled, 0);
      if (handled >= o.jobs) break;
      if (nowMs() > deadline) throw new Error(`${target}: ${handled} of ${o.jobs} jobs handled after ${o.maxSeconds} s`);
    }
    const cpu1 = { server: sumCpu(queuePids), workers: sumCpu(workerPids), producer: sumCpu([producer.pid]), machine: machineBusySeconds() };
    const serverCpuEach = server.pids().map((pid, i) => r3((cpuSeconds(pid) || 0) - each0[i]!));
    const m1 = m0 && server.httpUrl ? await scrapeMetrics(server.httpUrl).catch(() => null) : null;
    const per1000 = (name: string) => Math.round(((m1![name] ?? 0) - (m0![name] ?? 0)) / (o.jobs / 1000));
    const p = await produced;
    const lastAt = Math.max(...reports.map((r) => r.lastAt));
    const seconds = (lastAt - p.firstAt) / 1000;
    const handled = reports.reduce((s, r) => s + r.handled, 0);
    const serverCpu = cpu1.server - cpu0.server;
    const workersCpu = cpu1.workers - cpu0.workers;
    const producerCpu = cpu1.producer - cpu0.producer;
    const inProcess = server.pids().length === 0;
    const totalCpu = inProcess ? serverCpu : serverCpu + workersCpu + producerCpu;
    const result: ThroughputRun = {
      target, round, jobs: o.jobs, handled, seconds: r3(seconds), jobsPerSecond: Math.round(o.jobs / seconds), enqueueSeconds: r3((p.lastAt - p.firstAt) / 1000),
      serverCpuSeconds: r3(serverCpu), jobsPerServerCpuSecond: Math.round(o.jobs / serverCpu),
      totalCpuSeconds: r3(totalCpu), jobsPerTotalCpuSecond: Math.round(o.jobs / totalCpu),
      serverCpuSecondsEach: serverCpuEach, workersCpuSeconds: r3(workersCpu), producerCpuSeconds: r3(producerCpu), machineBusyCpuSeconds: r3(cpu1.machine - cpu0.machine),
      sqliteSynchronous: usesSqlite(target) ? o.sqliteSynchronous : null,
      serverCounted: inProcess ? 'producer and worker processes (the queue runs in them)' : target === 'bullmq' ? 'redis-server' : target === 'brigade-redis' ? 'brigade node + redis-server' : 'brigade node',
      nodePer1000Jobs: m0 && m1 ? {
        messagesIn: per1000('brigade_messages_in_total'), messagesOut: per1000('brigade_messages_out_total'),
        socketWrites: per1000('brigade_socket_writes_total'), offers: per1000('brigade_jobs_push_offer_seconds_count'),
      } : null,
      commands: server.commands,
    };
    log(`[${target} round ${round}] ${result.jobsPerSecond.toLocaleString('en-US')} jobs/s, ${result.jobsPerServerCpuSecond.toLocaleString('en-US')} jobs per server CPU-second (${result.serverCounted}: ${result.serverCpuSecondsEach.join(' + ') || result.serverCpuSeconds} CPU-s), ${result.jobsPerTotalCpuSecond.toLocaleString('en-US')} per CPU-second of all processes`
      + (result.nodePer1000Jobs ? `; node per 1,000 jobs: ${result.nodePer1000Jobs.messagesIn} messages in, ${result.nodePer1000Jobs.messagesOut} out, ${result.nodePer1000Jobs.socketWrites} socket writes, ${result.nodePer1000Jobs.offers} push offers` : ''));
    return result;
  } finally {
    await run.stop();
  }
}

export interface PushOptions {
  rate: number; seconds: number; warmupSeconds: number; workers: number; concurrency: number; sqliteSynchronous: SqliteSynchronous;
  sqliteCheckpoint: SqliteCheckpoint;
}

export interface PushRun {
  target: JobsTargetName;
  rate: number;
  jobs: number;
  handled: number;
  /** Enqueue (just before the request is sent) → handler start, ms. */
  pickupMs: LatencySummary;
  serverCpuSeconds: number;
  serverCpuPercentOfOneCore: number;
  /**
   * Event-loop delay of each process on the path during the window, ms beyond a 10 ms timer
   * (src/sim/loop-delay.ts): the Brigade node (null for targets without one), the producer, each
   * worker process.
   */
  loopDelayMs: { node: LoopDelay | null; producer: LoopDelay; workers: LoopDelay[] };
  /**
   * The machine's wake-up floor during the window (src/sim/wake-probe.ts): how late a thread
   * sleeping 1 ms woke. A job crosses at least two such wake-ups (the node, the worker; on Redis
   * also redis-server and the node again), so its pick-up tail cannot be lower than this gives.
   */
  wakeFloorMs: WakeFloor;
  /** When the jobs slower than LATE_MS came (lateEpisodes). */
  late: LateEpisodes;
  /**
   * Where the pick-up time went (Brigade; null for the peers): `nodeOffer`, on the node, from the
   * claim being asked for (the enqueue's request, read) to the offer handed to the worker's
   * connection, per offer (its brigade_jobs_push_offer_seconds over the window, quantiles
   * interpolated within its buckets); `toWorker`, enqueue → the offer's frame reaching the worker
   * process (producer → node → worker, the node's part included); `inWorker`, that frame → handler
   * start. Of the late jobs: how many spent more than 1 ms in the worker process.
   */
  hopsMs: { nodeOffer: BucketQuantiles | null; toWorker: LatencySummary; inWorker: LatencySummary; lateInWorkerOver1Ms: number } | null;
  sqliteSynchronous: SqliteSynchronous | null;
  /** Who checkpointed the WAL (Brigade embedded only). */
  sqliteCheckpoint: SqliteCheckpoint | null;
  commands: string[];
}

export interface LateEpisodes {
  /** Jobs picked up later than `overMs`. */
  jobs: number;
  overMs: number;
  /** Runs of late jobs enqueued less than EPISODE_GAP_MS apart: one stall shows as one episode. */
  episodes: number;
  /** Episodes whose late jobs went to one worker process only (that process stalled), and to several (something upstream: the node, the producer, the machine). */
  oneWorker: number;
  severalWorkers: number;
  /** Median time between the starts of successive episodes, ms (1,000 would be a once-a-second stall). */
  medianSpacingMs: number | null;
  /** Late jobs by when in the wall-clock second they were enqueued, per 100 ms (a timer on a whole-second grid shows as one full bin). */
  bySecondPhase: number[];
  /** The 5 worst episodes: start (ms into the second), length, late jobs, slowest pick-up, worker processes. */
  worst: { atMs: number; phaseMs: number; lengthMs: number; jobs: number; maxMs: number; workers: number }[];
}

const EPISODE_GAP_MS = 20;

/** Groups the late jobs of every worker process (`lists[i]`: process i's [enqueue time, pick-up ms]) into episodes. */
export function lateEpisodes(lists: ReadonlyArray<ReadonlyArray<readonly [number, number, ...number[]]>>, overMs = LATE_MS): LateEpisodes {
  const all = lists.flatMap((l, w) => l.map(([t, ms]) => ({ t, ms, w }))).sort((a, b) => a.t - b.t);
  const groups: (typeof all)[] = [];
  for (const j of all) {
    const g = groups[groups.length - 1];
    if (g && j.t - g[g.length - 1]!.t < EPISODE_GAP_MS) g.push(j);
    else groups.push([j]);
  }
  const bySecondPhase = new Array<number>(10).fill(0);
  for (const j of all) bySecondPhase[Math.floor((j.t % 1000) / 100)]!++;
  const spacing = groups.slice(1).map((g, i) => g[0]!.t - groups[i]![0]!.t).sort((a, b) => a - b);
  const episodes = groups.map((g) => ({
    atMs: Math.round(g[0]!.t), phaseMs: Math.round(g[0]!.t % 1000), lengthMs: Math.round(g[g.length - 1]!.t - g[0]!.t), jobs: g.length,
    maxMs: Math.max(...g.map((j) => j.ms)), workers: new Set(g.map((j) => j.w)).size,
  }));
  return {
    jobs: all.length, overMs, episodes: groups.length,
    oneWorker: episodes.filter((e) => e.workers === 1).length, severalWorkers: episodes.filter((e) => e.workers > 1).length,
    medianSpacingMs: spacing.length ? Math.round(spacing[Math.floor(spacing.length / 2)]!) : null,
    bySecondPhase, worst: episodes.sort((a, b) => b.maxMs - a.maxMs).slice(0, 5),
  };
}

/** `node 1.2/8.1 ms, producer …, workers …/… ms`: p99 and max of each process's event-loop delay. */
export function describeLoopDelays(d: PushRun['loopDelayMs']): string {
  const one = (l: LoopDelay | null) => (l ? `${l.p99 ?? '-'}/${l.max ?? '-'}` : '-');
  return `${d.node ? `node ${one(d.node)}, ` : ''}producer ${one(d.producer)}, workers ${d.workers.map(one).join(' ')} ms`;
}

/** `node offer 0.3/1.2 ms (4,000 offers), enqueue → worker frame 0.8/6.1, frame → handler 0.02/0.1 ms; late jobs > 1 ms in the worker: 3`. */
export function describeHops(h: NonNullable<PushRun['hopsMs']>): string {
  const node = h.nodeOffer ? `node (claim asked → offer) ${h.nodeOffer.p50}/${h.nodeOffer.p99} ms (${h.nodeOffer.count} offers, mean ${h.nodeOffer.mean}), ` : '';
  return `${node}enqueue → frame at worker ${h.toWorker.p50}/${h.toWorker.p99} ms, frame → handler ${h.inWorker.p50}/${h.inWorker.p99} ms; late jobs over 1 ms in the worker: ${h.lateInWorkerOver1Ms}`;
}

/** `212 jobs in 31 episodes (4 one worker, 27 several), median 310 ms apart`. */
export function describeLate(l: LateEpisodes): string {
  return `${l.jobs} jobs in ${l.episodes} episodes (${l.oneWorker} one worker, ${l.severalWorkers} several), median ${l.medianSpacingMs ?? '-'} ms apart`;
}

export interface BucketQuantiles { count: number; p50: number | null; p90: number | null; p99: number | null; mean: number | null }

/** A Prometheus histogram's cumulative bucket counts by upper bound (seconds), and its sum, from /metrics. */
async function scrapeHistogram(httpUrl: string, name: string): Promise<{ buckets: Map<number, number>; sum: number } | null> {
  const res = await simFetch(`${httpUrl}/metrics`);
  if (!res.ok) return null;
  const buckets = new Map<number, number>();
  let sum = 0;
  for (const line of (await res.text()).split('\n')) {
    if (line.startsWith(`${name}_bucket{`)) {
      const m = /le="([^"]+)"[^}]*\} (\S+)$/.exec(line);
      if (m) buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
    } else if (line.startsWith(`${name}_sum`)) {
      sum = Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return buckets.size > 0 ? { buckets, sum } : null;
}

/** Quantiles (ms) of what a histogram counted between two scrapes, interpolated linearly within each bucket. */
export function bucketQuantiles(before: { buckets: Map<number, number>; sum: number } | null, after: { buckets: Map<number, number>; sum: number }): BucketQuantiles {
  const bounds = [...after.buckets.keys()].sort((a, b) => a - b);
  const cum = bounds.map((b) => after.buckets.get(b)! - (before?.buckets.get(b) ?? 0));
  const count = cum[cum.length - 1] ?? 0;
  const q = (p: number): number | null => {
    if (count === 0) return null;
    const rank = p * count;
    for (let i = 0; i < bounds.length; i++) {
      if (cum[i]! >= rank) {
        const lo = i === 0 ? 0 : bounds[i - 1]!, hi = Number.isFinite(bounds[i]!) ? bounds[i]! : lo;
        const below = i === 0 ? 0 : cum[i - 1]!;
        const inBucket = cum[i]! - below;
        const v = inBucket > 0 ? lo + ((rank - below) / inBucket) * (hi - lo) : hi;
        return Math.round(v * 1e5) / 100;
      }
    }
    return null;
  };
  const sum = after.sum - (before?.sum ?? 0);
  return { count, p50: q(0.5), p90: q(0.9), p99: q(0.99), mean: count > 0 ? Math.round((sum / count) * 1e5) / 100 : null };
}

const OFFER_METRIC = 'brigade_jobs_push_offer_seconds';

export async function pushRun(target: JobsTargetName, o: PushOptions, log: (s: string) => void): Promise<PushRun> {
  const server = await startJobsServer(target, { sqliteSynchronous: o.sqliteSynchronous, sqliteCheckpoint: o.sqliteCheckpoint });
  const run = new RunProcesses(server);
  try {
    const workers = await startWorkerProcs(run, target, server.conn, { queue: 'push', concurrency: o.concurrency, mode: 'push' }, o.workers, 1);
    const producer = run.spawn();
    const inFlight = Math.max(4, Math.ceil(o.rate / 100));
    const produce = (first: number, seconds: number) => producer.ask({
      t: 'produce', target, conn: server.conn, spec: { queue: 'push' }, first, count: Math.round(o.rate * seconds), batch: 1, perSecond: o.rate, inFlight, retry: false,
    }, 'produced', (seconds + 60) * 1000);
    const waitHandled = async (n: number) => {
      const deadline = nowMs() + 30_000;
      for (;;) {
        run.check();
        const handled = (await reportsOf(workers)).reduce((s, r) => s + r.handled, 0);
        if (handled >= n) return;
        if (nowMs() > deadline) throw new Error(`${target}: ${handled} of ${n} jobs handled 30 s after the last enqueue`);
        await sleep(50);
      }
    };
    const warm = Math.round(o.rate * o.warmupSeconds);
    if (warm > 0) {
      await produce(0, o.warmupSeconds);
      await waitHandled(warm);
    }
    for (const w of [...workers, producer]) w.send({ t: 'reset' });
    // A scrape restarts the node's loop-delay histogram: the one after the window reads just it.
    if (server.httpUrl) await nodeLoopDelay(server.httpUrl);
    const offers0 = server.httpUrl ? await scrapeHistogram(server.httpUrl, OFFER_METRIC) : null;
    const cpu0 = sumCpu(server.pids());
    const t0 = nowMs();
    const probe = new WakeProbe();
    const p = await produce(warm, o.seconds);
    await waitHandled(p.enqueued);
    const wakeFloorMs = await probe.stop();
    const cpu = sumCpu(server.pids()) - cpu0;
    const nodeDelay = server.httpUrl ? await nodeLoopDelay(server.httpUrl) : null;
    const offers1 = server.httpUrl ? await scrapeHistogram(server.httpUrl, OFFER_METRIC) : null;
    const reports = await reportsOf(workers, 15_000, true);
    const [producerReport] = await reportsOf([producer]);
    const h = new Histogram();
    for (const r of reports) h.add(r.pickup);
    const toWorker = new Histogram(), inWorker = new Histogram();
    for (const r of reports) {
      toWorker.add(r.toWorker);
      inWorker.add(r.inWorker);
    }
    const lateInWorkerOver1Ms = reports.reduce((s, r) => s + r.late.filter((l) => l[2] > 1).length, 0);
    const result: PushRun = {
      target, rate: o.rate, jobs: p.enqueued, handled: h.count, pickupMs: h.summary(), serverCpuSeconds: r3(cpu),
      serverCpuPercentOfOneCore: r1((cpu / ((nowMs() - t0) / 1000)) * 100),
      loopDelayMs: { node: nodeDelay, producer: producerReport!.loopDelay, workers: reports.map((r) => r.loopDelay) },
      wakeFloorMs,
      late: lateEpisodes(reports.map((r) => r.late)),
      hopsMs: toWorker.count > 0 ? {
        nodeOffer: offers1 ? bucketQuantiles(offers0, offers1) : null, toWorker: toWorker.summary(), inWorker: inWorker.summary(), lateInWorkerOver1Ms,
      } : null,
      sqliteSynchronous: usesSqlite(target) ? o.sqliteSynchronous : null,
      sqliteCheckpoint: target === 'brigade' ? o.sqliteCheckpoint : null, commands: server.commands,
    };
    log(`[${target}] ${o.rate} jobs/s pushed: pick-up p50 ${result.pickupMs.p50} ms, p99 ${result.pickupMs.p99} ms, p99.9 ${result.pickupMs.p999} ms, max ${result.pickupMs.max} ms (${result.handled} jobs); `
      + `event-loop delay p99/max: ${describeLoopDelays(result.loopDelayMs)}; late (> ${LATE_MS} ms): ${describeLate(result.late)}`
      + (result.hopsMs ? `; hops p50/p99: ${describeHops(result.hopsMs)}` : '') + `; ${describeWakeFloor(wakeFloorMs)}`);
    return result;
  } finally {
    await run.stop();
  }
}
