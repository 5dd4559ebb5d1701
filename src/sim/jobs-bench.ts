/**
 * `brigade bench --scenario jobs-*`: the jobs app's benchmarks on the simulator's processes,
 * clocks, /proc accounting, histograms and SVG charts (docs/jobs.md, docs/BENCHMARKS.md).
 *
 *   jobs-throughput  no-op handlers, enqueue → complete end to end, against plainjob and bullmq
 *   jobs-slots       seed 002: fixed, count-scaled and slot polling with 2, 10, 50 workers
 *   jobs-push        push pick-up latency at a steady enqueue rate
 *   jobs-crash       kill -9 of workers and of the server in a loop: nothing lost, duplicates counted
 *
 * Writes OUT/jobs-<scenario>-<time>.json (and, with --charts DIR, the scenario's SVG charts);
 * prints a line per run. Exit status: 0 done (and, for jobs-crash, nothing lost), 1 a run failed,
 * 2 bad options.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { crashRun, type CrashOptions } from './jobs-crash.ts';
import { describeHops, describeLate, describeLoopDelays, pushRun, throughputRun, type PushRun, type ThroughputRun } from './jobs-runs.ts';
import { panelSvg } from './svg.ts';
import { slotsExperiment, slotsCharts, type SlotsOptions } from './jobs-slots.ts';
import { JOBS_TARGETS, type JobsTargetName } from './jobs-target.ts';
import { SimOptionError } from './options.ts';
import { machineInfo } from './proc.ts';

export const JOBS_SCENARIOS = ['jobs-throughput', 'jobs-slots', 'jobs-push', 'jobs-crash'] as const;
type Scenario = (typeof JOBS_SCENARIOS)[number];

type Spec = { kind: 'int'; min: number; max: number; def: number } | { kind: 'ints'; min: number; max: number; def: number[] }
  | { kind: 'targets'; def: JobsTargetName[] } | { kind: 'choice'; of: string[]; def: string } | { kind: 'strings'; of: string[]; def: string[] }
  | { kind: 'string'; def: string } | { kind: 'bool'; def: boolean };

const COMMON: Record<string, Spec> = {
  out: { kind: 'string', def: 'bench/results' },
  charts: { kind: 'string', def: '' },
  label: { kind: 'string', def: '' },
  progress: { kind: 'bool', def: true },
};
const SPECS: Record<Scenario, Record<string, Spec>> = {
  'jobs-throughput': {
    targets: { kind: 'targets', def: ['brigade', 'plainjob', 'brigade-redis', 'bullmq'] },
    jobs: { kind: 'int', min: 1, max: 1_000_000, def: 20_000 }, workers: { kind: 'int', min: 1, max: 64, def: 8 },
    concurrency: { kind: 'int', min: 1, max: 1000, def: 50 }, rounds: { kind: 'int', min: 1, max: 20, def: 1 },
    batch: { kind: 'int', min: 1, max: 1000, def: 100 }, inFlight: { kind: 'int', min: 1, max: 64, def: 4 },
    peerPollMs: { kind: 'int', min: 1, max: 10_000, def: 50 }, brigadeMode: { kind: 'choice', of: ['push', 'poll'], def: 'push' },
    maxSeconds: { kind: 'int', min: 1, max: 3600, def: 240 },
    sqliteSynchronous: { kind: 'choice', of: ['full', 'normal'], def: 'full' },
  },
  'jobs-slots': {
    counts: { kind: 'ints', min: 1, max: 200, def: [2, 10, 50] }, modes: { kind: 'strings', of: ['fixed', 'scaled', 'slots'], def: ['fixed', 'scaled', 'slots'] },
    separationMs: { kind: 'int', min: 10, max: 10_000, def: 250 }, fixedMs: { kind: 'int', min: 0, max: 60_000, def: 0 },
    seconds: { kind: 'int', min: 1, max: 600, def: 10 }, jobRate: { kind: 'int', min: 0, max: 1000, def: 1 },
    concurrency: { kind: 'int', min: 1, max: 100, def: 4 }, simProcesses: { kind: 'int', min: 1, max: 16, def: 2 },
  },
  'jobs-push': {
    targets: { kind: 'targets', def: ['brigade'] }, rate: { kind: 'int', min: 1, max: 20_000, def: 1000 },
    seconds: { kind: 'int', min: 1, max: 600, def: 10 }, warmupSeconds: { kind: 'int', min: 0, max: 60, def: 2 },
    workers: { kind: 'int', min: 1, max: 64, def: 4 }, concurrency: { kind: 'int', min: 1, max: 1000, def: 50 },
    sqliteSynchronous: { kind: 'choice', of: ['full', 'normal'], def: 'full' }, sqliteCheckpoint: { kind: 'choice', of: ['thread', 'inline'], def: 'thread' },
  },
  'jobs-crash': {
    jobs: { kind: 'int', min: 1, max: 1_000_000, def: 100_000 }, seconds: { kind: 'int', min: 1, max: 600, def: 60 },
    workers: { kind: 'int', min: 1, max: 64, def: 4 }, concurrency: { kind: 'int', min: 1, max: 1000, def: 50 },
    killEveryMs: { kind: 'int', min: 100, max: 60_000, def: 3000 }, serverKillShare: { kind: 'int', min: 0, max: 100, def: 25 },
    leaseMs: { kind: 'int', min: 100, max: 600_000, def: 2000 }, drainSeconds: { kind: 'int', min: 1, max: 3600, def: 120 },
    seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, def: 1 },
  },
};

type Opts = Record<string, unknown>;
const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const bad = (m: string): never => { throw new SimOptionError('BENCH_BAD_OPTION', m); };

function parseValue(flag: string, spec: Spec, raw: string): unknown {
  const int = (s: string, min: number, max: number) => {
    const n = Number(s);
    return s.trim() !== '' && Number.isInteger(n) && n >= min && n <= max ? n : bad(`${flag} must be whole numbers from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  };
  switch (spec.kind) {
    case 'int': return int(raw, spec.min, spec.max);
    case 'ints': return raw.split(',').map((s) => int(s, spec.min, spec.max));
    case 'bool': return raw === '' || raw === 'true' ? true : raw === 'false' ? false : bad(`${flag} must be true or false, got ${JSON.stringify(raw)}`);
    case 'string': return raw;
    case 'choice': return spec.of.includes(raw) ? raw : bad(`${flag} must be one of ${spec.of.join(', ')}, got ${JSON.stringify(raw)}`);
    case 'strings': case 'targets': {
      const of: readonly string[] = spec.kind === 'targets' ? JOBS_TARGETS : spec.of;
      const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (list.length === 0) bad(`${flag} needs at least one of ${of.join(', ')}`);
      for (const v of list) if (!of.includes(v)) bad(`${flag}: unknown ${JSON.stringify(v)}; one of ${of.join(', ')}`);
      if (new Set(list).size !== list.length) bad(`${flag} names one twice: ${raw}`);
      return list;
    }
  }
}

export function parseJobsOptions(argv: string[]): { scenario: Scenario; o: Opts } {
  const i = argv.indexOf('--scenario');
  const eq = argv.find((a) => a.startsWith('--scenario='));
  const name = eq ? eq.slice('--scenario='.length) : i >= 0 ? argv[i + 1] : undefined;
  if (!name || !(JOBS_SCENARIOS as readonly string[]).includes(name)) bad(`--scenario must be one of ${JOBS_SCENARIOS.join(', ')}, got ${JSON.stringify(name ?? '')}`);
  const scenario = name as Scenario;
  const specs = { ...COMMON, ...SPECS[scenario] };
  const byFlag = new Map(Object.keys(specs).map((k) => [kebab(k), k]));
  const o: Opts = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.def]));
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    if (!arg.startsWith('--')) throw new SimOptionError('BENCH_UNKNOWN_OPTION', `unexpected argument ${JSON.stringify(arg)}; see brigade bench --help`);
    const at = arg.indexOf('=');
    const flag = arg.slice(2, at < 0 ? undefined : at);
    if (flag === 'scenario') { if (at < 0) k++; continue; }
    const noProgress = flag === 'no-progress';
    const key = noProgress ? 'progress' : byFlag.get(flag);
    if (!key) throw new SimOptionError('BENCH_UNKNOWN_OPTION', `unknown option --${flag} for ${scenario}; it takes ${Object.keys(specs).map((s) => '--' + kebab(s)).join(' ')}`);
    const spec = specs[key]!;
    let raw: string;
    if (at >= 0) raw = arg.slice(at + 1);
    else if (spec.kind === 'bool') raw = '';
    else if (k + 1 < argv.length) raw = argv[++k]!;
    else bad(`--${flag} needs a value`);
    o[key] = parseValue(`--${flag}`, spec, raw!);
    if (noProgress) o.progress = !o.progress;
  }
  return { scenario, o };
}

export const jobsBenchUsage = `
Jobs scenarios (docs/jobs.md#benchmarks):
  brigade bench --scenario jobs-throughput [--targets ${JOBS_TARGETS.join(',')}] [--jobs 20000] [--workers 8] [--concurrency 50] [--rounds 1]
                [--batch 100] [--in-flight 4] [--peer-poll-ms 50] [--brigade-mode push|poll] [--max-seconds 240]
                [--sqlite-synchronous full|normal]  (both SQLite targets: Brigade embedded and plainjob)
  brigade bench --scenario jobs-slots [--counts 2,10,50] [--modes fixed,scaled,slots] [--separation-ms 250] [--fixed-ms 2*separation]
                [--seconds 10] [--job-rate 1] [--concurrency 4] [--sim-processes 2]
  brigade bench --scenario jobs-push [--targets brigade] [--rate 1000] [--seconds 10] [--warmup-seconds 2] [--workers 4] [--concurrency 50]
                [--sqlite-synchronous full|normal] [--sqlite-checkpoint thread|inline]
  brigade bench --scenario jobs-crash [--jobs 100000] [--seconds 60] [--workers 4] [--concurrency 50] [--kill-every-ms 3000]
                [--server-kill-share 25] [--lease-ms 2000] [--drain-seconds 120] [--seed 1]
  every scenario: [--out bench/results] [--charts DIR (writes its SVG charts there)] [--label TEXT] [--no-progress]
  profiling: BRIGADE_BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" (the node), BRIGADE_BENCH_WORKER_NODE_ARGS (worker processes)
`;

export async function runJobsBench(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseJobsOptions(argv);
  } catch (err) {
    if (err instanceof SimOptionError) {
      process.stderr.write(`brigade bench: ${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { scenario, o } = parsed;
  const log = (s: string) => { if (o.progress) process.stderr.write(s + '\n'); };
  const startedAt = new Date();
  const loadAverageBefore = loadavg().map((v) => Math.round(v * 100) / 100);
  const command = `brigade bench ${argv.map((a) => (/^[\w./:=,@-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`.trim();
  const charts: string[] = [];
  let ok = true;
  let result: unknown;
  let summary: string[] = [];
  try {
    if (scenario === 'jobs-throughput') {
      const runs: ThroughputRun[] = [];
      for (let round = 1; round <= (o.rounds as number); round++) {
        for (const target of o.targets as JobsTargetName[]) runs.push(await throughputRun(target, round, o as never, log));
      }
      result = { runs, byTarget: throughputByTarget(runs) };
      if (o.charts) charts.push(writeChart(o.charts as string, 'bench-jobs-throughput.svg', throughputChart(runs, startedAt)));
      summary = Object.entries(throughputByTarget(runs)).map(([t, v]) => `${t}: ${v.jobsPerSecond.toLocaleString('en-US')} jobs/s, ${v.jobsPerServerCpuSecond.toLocaleString('en-US')} jobs per server CPU-second, ${v.jobsPerTotalCpuSecond.toLocaleString('en-US')} per CPU-second of all processes (median of ${v.rounds})`);
    } else if (scenario === 'jobs-push') {
      const runs: PushRun[] = [];
      for (const target of o.targets as JobsTargetName[]) runs.push(await pushRun(target, o as never, log));
      result = { runs };
      summary = runs.map((r) => `${r.target}: ${r.rate} jobs/s, enqueue → handler start p50 ${r.pickupMs.p50} ms, p99 ${r.pickupMs.p99} ms, `
        + `p99.9 ${r.pickupMs.p999} ms, max ${r.pickupMs.max} ms; event-loop delay p99/max ${describeLoopDelays(r.loopDelayMs)}; late: ${describeLate(r.late)}${r.hopsMs ? `; hops p50/p99: ${describeHops(r.hopsMs)}` : ''}`);
    } else if (scenario === 'jobs-slots') {
      const runs = await slotsExperiment(o as unknown as SlotsOptions, log);
      result = { runs };
      summary = runs.map((r) => `${r.mode} x${r.workers}: ${r.arrivalsPerSecond} polls/s (expected ${r.expectedPerSecond}), CV of gaps ${r.gapCv}, longest gap ${r.longestGapMs} ms, longest wait ${r.longestWaitMs} ms`);
      if (o.charts) {
        for (const [mode, svg] of slotsCharts(runs, o as unknown as SlotsOptions)) charts.push(writeChart(o.charts as string, `bench-jobs-slots-${mode}.svg`, svg));
      }
    } else {
      const r = await crashRun(o as unknown as CrashOptions, log);
      result = r;
      ok = r.lost === 0;
      summary = [`crash: ${r.jobs} jobs, ${r.kills.workers} worker and ${r.kills.server} server kill -9s in ${r.chaosSeconds} s: completed ${r.completed}, lost ${r.lost}, `
        + `handler runs ${r.handlerRuns} (jobs run more than once ${r.jobsRunTwiceOrMore}, extra runs ${r.extraRuns}), drained ${r.drainSeconds} s after the chaos`];
    }
  } catch (err) {
    ok = false;
    result = { error: err instanceof Error ? err.message : String(err) };
    summary = [`${scenario} FAILED: ${(result as { error: string }).error}`];
  }
  const dir = resolve(o.out as string);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${scenario}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({
    bench: 'brigade-jobs-bench', scenario, ok, startedAt: startedAt.toISOString(), command, machine: machineInfo(), loadAverageBefore,
    label: o.label, options: o, result, files: { json: file, charts },
  }, null, 2) + '\n');
  process.stdout.write(`${summary.join('\n')}\nresult: ${file}\n${charts.map((c) => `chart: ${c}\n`).join('')}`);
  return ok ? 0 : 1;
}

function writeChart(dir: string, name: string, svg: string): string {
  mkdirSync(resolve(dir), { recursive: true });
  const file = join(resolve(dir), name);
  writeFileSync(file, svg + '\n');
  return file;
}

/** Per target: the median round by jobs/s, and its CPU figures. */
export function throughputByTarget(runs: ThroughputRun[]): Record<string, ThroughputRun & { rounds: number }> {
  const out: Record<string, ThroughputRun & { rounds: number }> = {};
  for (const target of new Set(runs.map((r) => r.target))) {
    const mine = runs.filter((r) => r.target === target).sort((a, b) => a.jobsPerSecond - b.jobsPerSecond);
    out[target] = { ...mine[Math.floor((mine.length - 1) / 2)]!, rounds: mine.length };
  }
  return out;
}

const TARGET_COLOURS: Record<JobsTargetName, string> = { brigade: '#1f77b4', plainjob: '#ff7f0e', 'brigade-redis': '#2ca02c', bullmq: '#d62728' };

/** jobs/s (dashed) and jobs per server CPU-second (solid) of each target, per round. */
function throughputChart(runs: ThroughputRun[], startedAt: Date): string {
  const rounds = [...new Set(runs.map((r) => r.round))];
  const targets = [...new Set(runs.map((r) => r.target))];
  const of = (t: JobsTargetName, k: number) => runs.find((r) => r.target === t && r.round === k);
  const label = (t: JobsTargetName) => `${t}${of(t, rounds[0]!)?.sqliteSynchronous ? ` (${of(t, rounds[0]!)!.sqliteSynchronous})` : ''}`;
  const series = targets.flatMap((t) => [
    { name: `${label(t)}: jobs per server CPU-s`, colour: TARGET_COLOURS[t], values: rounds.map((k) => of(t, k)?.jobsPerServerCpuSecond ?? null) },
    { name: `${label(t)}: jobs/s`, colour: TARGET_COLOURS[t], dash: '5 4', values: rounds.map((k) => of(t, k)?.jobsPerSecond ?? null) },
  ]);
  const first = runs[0];
  return panelSvg({
    title: `jobs-throughput: ${first?.jobs ?? 0} no-op jobs, per round (${startedAt.toISOString().slice(0, 16)} UTC)`,
    leftLabel: 'jobs', xLabel: 'round', series,
  }, rounds, 960, 340);
}
