/**
 * Redis Cluster scale figures (issue 22): acknowledged events per second through the Redis engine
 * over many channels, with 1, 2 and 3 cluster primaries started here on loopback
 * (test/helpers/redis-cluster.ts), and what each primary's CPU did; `--primaries 0` is one plain
 * redis-server (--redis), for comparison.
 *
 * Each worker process stands for a Brigade node: it opens a RedisEngine on the cluster and calls
 * append() as a node's tick does, over its share of the channels (one stamped publish of
 * --events-per-request events per channel per call), with --in-flight calls outstanding. Nodes,
 * sockets and fan-out are left out on purpose: on this 2-core machine they would be the limit
 * (docs/benchmarks-redis.md), and the question here is what the store side does as shards are added.
 *
 *   flock /tmp/brigade-bench.lock node --import tsx bench/redis-cluster-scale.ts [--figure scale|ack] [--primaries 1,2,3]
 *     [--channels 600] [--workers 2] [--seconds 10] [--events-per-request 10] [--in-flight 4]
 *     [--min-replicas-acked 0[,1]] [--rounds 1] [--replicas-per-primary 0] [--tick-ms 0] [--straggler-ms 50]
 *     [--results-dir bench/results]
 *
 * `--figure` sets every option of one figure of docs/BENCHMARKS.md (flags after it still apply),
 * each run bounded to about 3 minutes: `scale`, acknowledged events/s with one plain redis-server
 * and 1, 2 and 3 primaries (2 rounds of 10 s each); `ack`, the ACK latency with
 * `--min-replicas-acked` 0 and 1 in alternating rounds on a primary + replica and on 3 primaries
 * + 3 replicas (4 rounds of 5 s each, calls paced as a 100 ms tick). `--straggler-ms 50[,150]`:
 * the engine's straggler bound (`brigade serve --redis-cluster-straggler-ms`; 50 is serve's default
 * at --tick-ms 100), several values run in turn in each round like `--min-replicas-acked`'s. At the
 * end it prints one summary line per shape and values: the median of the rounds' events/s, p50 and
 * p99, and the calls in doubt (a shard left behind).
 *
 * `--min-replicas-acked 0,1` runs each value in turn on the same deployment, `--rounds` times
 * (alternating, so both see the same machine); `--primaries 0 --replicas-per-primary 1` is one plain
 * redis-server with a replica (the Sentinel shape without the sentinels). `--tick-ms N`: each loop
 * starts a call at most every N ms, as a node's tick does (ACK latency at a load Redis is not queued at). Each row records the
 * machine's load average and what other processes used meanwhile, and the events per CPU-second of
 * Redis and of Redis + the workers (less sensitive to a shared machine than events/s).
 * Prints one line per row and writes a JSON result. A harness for figures, not a test.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { AppendSplitError } from '../src/core/engine.ts';
import { RedisEngine } from '../src/engines/index.ts';
import { BrigadeError } from '../src/protocol/index.ts';
import { parseHostPorts } from '../src/engines/redis-target.ts';
import { cpuSeconds, machineBusySeconds, machineInfo, nowMs } from './lib/proc.ts';
import { startRedisCluster } from '../test/helpers/redis-cluster.ts';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.ts';
import { eventually } from '../test/helpers/eventually.ts';

interface Options {
  primaries: number[];
  /** Each value is run in turn on the same deployment (alternating, `rounds` times). */
  minReplicasAckedList: number[];
  rounds: number;
  channels: number;
  workers: number;
  seconds: number;
  eventsPerRequest: number;
  inFlight: number;
  /** Each loop starts a call at most every tickMs (as a node's tick does); 0: back to back. */
  tickMs: number;
  /** The engine's straggleMs values (redis-cluster-append.ts), each run in turn like minReplicasAckedList. */
  stragglerMsList: number[];
  replicasPerPrimary: number;
  resultsDir: string;
}

interface WorkerJob {
  nodeList: string;
  prefix: string;
  channels: string[];
  worker: number;
  warmMs: number;
  windowMs: number;
  eventsPerRequest: number;
  inFlight: number;
  tickMs: number;
  stragglerMs: number;
  minReplicasAcked: number;
}

/**
 * failures: calls refused (nothing committed, or some shards refused). inDoubt: calls in the measured window with a shard
 * left running (redis-engine.ts settleOrLeaveStragglers) or held back behind one: a node sends those
 * publishes again with the same stamps; here the events of the parts that committed are counted.
 */
interface WorkerReport { events: number; calls: number; failures: number; inDoubt: number; latenciesMs: number[] }

const WARM_MS = 2000;

/** The options of each figure in docs/BENCHMARKS.md, about 3 minutes each on 2 cores. */
const FIGURES: Record<string, Partial<Options>> = {
  scale: { primaries: [0, 1, 2, 3], minReplicasAckedList: [0], rounds: 2, channels: 600, workers: 2, inFlight: 2, eventsPerRequest: 10, seconds: 10, tickMs: 0, replicasPerPrimary: 0 },
  ack: { primaries: [0, 3], replicasPerPrimary: 1, minReplicasAckedList: [0, 1], rounds: 4, channels: 600, workers: 2, inFlight: 1, tickMs: 100, eventsPerRequest: 10, seconds: 5 },
};

function parse(argv: string[]): Options {
  const o: Options = {
    primaries: [1, 2, 3], minReplicasAckedList: [0], rounds: 1, channels: 600, workers: 2, seconds: 10, eventsPerRequest: 10, inFlight: 4, tickMs: 0,
    stragglerMsList: [50], replicasPerPrimary: 0, resultsDir: 'bench/results',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--figure') {
      if (!FIGURES[value]) throw new Error(`--figure ${value}: one of ${Object.keys(FIGURES).join(', ')}`);
      Object.assign(o, FIGURES[value]);
    } else if (flag === '--primaries') o.primaries = value.split(',').map(Number);
    else if (flag === '--channels') o.channels = Number(value);
    else if (flag === '--workers') o.workers = Number(value);
    else if (flag === '--seconds') o.seconds = Number(value);
    else if (flag === '--events-per-request') o.eventsPerRequest = Number(value);
    else if (flag === '--in-flight') o.inFlight = Number(value);
    else if (flag === '--min-replicas-acked') o.minReplicasAckedList = value.split(',').map(Number);
    else if (flag === '--rounds') o.rounds = Number(value);
    else if (flag === '--tick-ms') o.tickMs = Number(value);
    else if (flag === '--straggler-ms') o.stragglerMsList = value.split(',').map(Number);
    else if (flag === '--replicas-per-primary') o.replicasPerPrimary = Number(value);
    else if (flag === '--results-dir') o.resultsDir = value;
    else throw new Error(`unknown option ${flag} (see the comment at the top of bench/redis-cluster-scale.ts)`);
  }
  return o;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function runWorker(job: WorkerJob): Promise<WorkerReport> {
  const engine = new RedisEngine({
    target: job.nodeList.startsWith('redis://') ? { kind: 'single', url: job.nodeList } : { kind: 'cluster', nodes: parseHostPorts(job.nodeList, 'redisCluster') },
    prefix: job.prefix,
    retention: { retainEvents: 1000, keepSnapshots: 1 }, logger: { warn: () => undefined }, minReplicasAcked: job.minReplicasAcked,
    straggleMs: job.stragglerMs,
  });
  await engine.open();
  const payload = Buffer.from([1, 2, 3]);
  const producer = `bench-w${job.worker}`;
  let seq = 0;
  const start = nowMs();
  const from = start + job.warmMs;
  const until = from + job.windowMs;
  const report: WorkerReport = { events: 0, calls: 0, failures: 0, inDoubt: 0, latenciesMs: [] };
  const loop = async (): Promise<void> => {
    while (nowMs() < until) {
      const s = ++seq;
      const requests = job.channels.map((channel) => ({
        channel,
        events: Array.from({ length: job.eventsPerRequest }, () => ({ payload, publisher: 'bench', timeMs: Date.now() })),
        publishes: [{ producer, seq: s, count: job.eventsPerRequest }],
      }));
      const sent = nowMs();
      const next = sent + job.tickMs;
      try {
        await engine.append(requests);
        const done = nowMs();
        if (sent >= from && done <= until) {
          report.events += job.channels.length * job.eventsPerRequest;
          report.calls++;
          report.latenciesMs.push(done - sent);
        }
      } catch (err) {
        // In doubt is counted in the measured window only, as acknowledged calls are; failures always.
        if (err instanceof BrigadeError && err.code === 'OUTCOME_UNKNOWN') {
          if (sent >= from && nowMs() <= until) report.inDoubt++;
        } else report.failures++;
        if (err instanceof AppendSplitError && sent >= from && nowMs() <= until) {
          report.events += err.committed.filter((r) => r !== null).length * job.eventsPerRequest;
        }
      }
      if (job.tickMs > 0 && nowMs() < next) await new Promise((r) => setTimeout(r, next - nowMs()));
    }
  };
  await Promise.all(Array.from({ length: job.inFlight }, loop));
  await engine.close();
  return report;
}

/** One plain redis-server, and `replicas` replicas of it (the shape a cluster is compared with). */
async function startPlain(replicas: number): Promise<{ nodeList: string; servers: RedisServer[]; destroy(): Promise<void> }> {
  const primary = await startRedis();
  const servers = [primary];
  const destroy = async () => {
    for (const s of servers) await s.destroy();
  };
  try {
    for (let i = 0; i < replicas; i++) servers.push(await startRedis({ extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)] }));
    if (replicas > 0) {
      const admin = new Redis({ port: primary.port, host: '127.0.0.1', lazyConnect: true });
      await admin.connect();
      try {
        await eventually(async () => Number(/connected_slaves:(\d+)/.exec(await admin.info('replication'))?.[1]) === replicas, { what: 'the replicas connected', timeoutMs: 20_000 });
      } finally {
        admin.disconnect();
      }
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { nodeList: primary.url, servers, destroy };
}

async function measure(o: Options, deployment: { nodeList: string; servers: RedisServer[] }, primaries: number, minReplicasAcked: number, stragglerMs: number, round: number) {
  const prefix = `scale-${primaries}-${minReplicasAcked}-${stragglerMs}-${round}-${Date.now().toString(36)}:`;
  const channels = Array.from({ length: o.channels }, (_, i) => `scale:${i}`);
  const children: ChildProcess[] = [];
  const reports = Array.from({ length: o.workers }, (_, w) => new Promise<WorkerReport>((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['worker'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    const job: WorkerJob = {
      nodeList: deployment.nodeList, prefix, worker: w, channels: channels.filter((_, i) => i % o.workers === w),
      warmMs: WARM_MS, windowMs: o.seconds * 1000, eventsPerRequest: o.eventsPerRequest, inFlight: o.inFlight,
      tickMs: o.tickMs, stragglerMs, minReplicasAcked,
    };
    child.once('message', (m) => resolve(m as WorkerReport));
    child.once('exit', (code) => reject(new Error(`worker ${w} exited (${code}) without a report`)));
    child.send(job);
  }));
  // Redis CPU over the measured window (the workers' warm-up excluded).
  await new Promise((r) => setTimeout(r, WARM_MS + 500));
  const pids = deployment.servers.map((s) => s.pid);
  const cpuBefore = pids.map(cpuSeconds);
  const workerCpuBefore = children.map((c) => cpuSeconds(c.pid!));
  const mainCpuBefore = process.cpuUsage();
  const busyBefore = machineBusySeconds();
  const t0 = nowMs();
  await new Promise((r) => setTimeout(r, o.seconds * 1000 - 1000));
  const elapsedS = (nowMs() - t0) / 1000;
  // Primaries first, then replicas (test/helpers/redis-cluster.ts); replicas are not counted per primary.
  const redisCpuAll = pids.map((pid, i) => (cpuSeconds(pid) - cpuBefore[i]) / elapsedS);
  const redisCpu = redisCpuAll.slice(0, Math.max(1, primaries));
  const workerCpu = children.map((c, i) => (cpuSeconds(c.pid!) - workerCpuBefore[i]) / elapsedS);
  const mainCpu = process.cpuUsage(mainCpuBefore);
  // What everything outside this run used meanwhile (the machine is shared): measurement hygiene.
  const otherCpu = (machineBusySeconds() - busyBefore) / elapsedS - redisCpuAll.reduce((a, b) => a + b, 0)
    - workerCpu.reduce((a, b) => a + b, 0) - (mainCpu.user + mainCpu.system) / 1e6 / elapsedS;
  const loadAvg1 = loadavg()[0];
  const all = await Promise.all(reports);
  const events = all.reduce((n, r) => n + r.events, 0);
  const latencies = all.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const eventsPerS = events / o.seconds;
  const redisCores = redisCpu.reduce((a, b) => a + b, 0);
  const serverCores = redisCpuAll.reduce((a, b) => a + b, 0) + workerCpu.reduce((a, b) => a + b, 0);
  const row = {
    primaries, round, eventsPerS: Math.round(eventsPerS), calls: all.reduce((n, r) => n + r.calls, 0), failures: all.reduce((n, r) => n + r.failures, 0), inDoubt: all.reduce((n, r) => n + r.inDoubt, 0),
    ackP50Ms: +percentile(latencies, 50).toFixed(1), ackP99Ms: +percentile(latencies, 99).toFixed(1),
    redisCpuPerPrimary: redisCpu.map((c) => +(100 * c).toFixed(1)), redisCpuPerReplica: redisCpuAll.slice(Math.max(1, primaries)).map((c) => +(100 * c).toFixed(1)),
    minReplicasAcked, stragglerMs, otherCpu: +(100 * otherCpu).toFixed(1), loadAvg1: +loadAvg1.toFixed(2), workerCpu: workerCpu.map((c) => +(100 * c).toFixed(1)),
    // Only when Redis used enough CPU to measure (a few clock ticks).
    eventsPerRedisCoreSecond: redisCores >= 0.02 ? Math.round(eventsPerS / redisCores) : null,
    // Redis (primaries and replicas) and the workers that stand for the Brigade nodes.
    eventsPerServerCpuSecond: serverCores >= 0.02 ? Math.round(eventsPerS / serverCores) : null,
  };
  console.log(`${primaries === 0 ? 'one redis (no cluster)' : `${primaries} primar${primaries === 1 ? 'y' : 'ies'}`}, min-replicas-acked ${minReplicasAcked}, straggler ${stragglerMs} ms, round ${round}: `
    + `${row.eventsPerS} acknowledged events/s, append ACK p50 ${row.ackP50Ms} ms p99 ${row.ackP99Ms} ms, `
    + `redis CPU per primary ${row.redisCpuPerPrimary.join(' / ')} %, workers ${row.workerCpu.join(' / ')} %, `
    + `${row.eventsPerRedisCoreSecond} events per redis core-second, ${row.eventsPerServerCpuSecond} per server CPU-second, failures ${row.failures}, in doubt ${row.inDoubt}, `
    + `other processes ${row.otherCpu} % of a core, load ${row.loadAvg1}`);
  return row;
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
};

/** One line per shape and min-replicas-acked value over its rounds: medians, and the calls left in doubt. */
function summary(rows: Array<{ primaries: number; minReplicasAcked: number; stragglerMs: number; eventsPerS: number; ackP50Ms: number; ackP99Ms: number; calls: number; inDoubt: number; loadAvg1: number }>): string[] {
  const groups = new Map<string, typeof rows>();
  for (const row of rows) {
    const key = `${row.primaries === 0 ? 'one redis (no cluster)' : `${row.primaries} primar${row.primaries === 1 ? 'y' : 'ies'}`}, min-replicas-acked ${row.minReplicasAcked}, straggler ${row.stragglerMs} ms`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups].map(([key, rs]) => `summary: ${key}, ${rs.length} round${rs.length === 1 ? '' : 's'}: median ${Math.round(median(rs.map((r) => r.eventsPerS)))} events/s, `
    + `median ACK p50 ${median(rs.map((r) => r.ackP50Ms)).toFixed(1)} ms, median p99 ${median(rs.map((r) => r.ackP99Ms)).toFixed(1)} ms, `
    + `calls in doubt (a shard left behind) ${rs.reduce((n, r) => n + r.inDoubt, 0)}, acknowledged ${rs.reduce((n, r) => n + r.calls, 0)}, `
    + `load ${Math.min(...rs.map((r) => r.loadAvg1))}-${Math.max(...rs.map((r) => r.loadAvg1))}`);
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const rows = [];
  for (const primaries of o.primaries) {
    // 0 primaries: one plain redis-server (--redis), the shape a cluster is compared with.
    const deployment = primaries === 0
      ? await startPlain(o.replicasPerPrimary)
      // cluster-node-timeout 5 s: nothing is killed here, and a starved primary must not be failed over.
      : await startRedisCluster({ primaries, replicasPerPrimary: o.replicasPerPrimary, nodeTimeoutMs: 5000 });
    try {
      for (let round = 1; round <= o.rounds; round++) {
        for (const minReplicasAcked of o.minReplicasAckedList) {
          for (const stragglerMs of o.stragglerMsList) rows.push(await measure(o, deployment, primaries, minReplicasAcked, stragglerMs, round));
        }
      }
    } finally {
      await deployment.destroy();
    }
  }
  for (const line of summary(rows)) console.log(line);
  mkdirSync(o.resultsDir, { recursive: true });
  const file = join(o.resultsDir, `redis-cluster-scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ options: o, machine: machineInfo(), rows }, null, 2));
  console.log(`result: ${file}`);
}

if (process.argv[2] === 'worker') {
  process.once('message', (job) => {
    runWorker(job as WorkerJob).then((report) => {
      process.send!(report, () => process.exit(0));
    }, (err) => {
      console.error(err);
      process.exit(1);
    });
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
