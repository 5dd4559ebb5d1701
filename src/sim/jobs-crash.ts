/**
 * The jobs crash run: N jobs (enqueued evenly over the first three quarters of the chaos, so the kills
 * land on work in flight throughout; 200 a request, under the node's 64 KiB frame limit, with idempotency keys: a batch resent after a server crash
 * adds nothing twice), push workers in several processes, and for `seconds` a loop that every
 * ~killEveryMs sends SIGKILL to a random worker process (a new one takes its place) or, with
 * serverKillShare % chance, to the Brigade node, which starts again on the same port and the same
 * SQLite file. Then it waits until the node counts every job completed.
 *
 * What it reports: completed and lost (the node's counts: every job must be completed), handler
 * runs the workers reported (a lower bound: a killed process's last half second of reports dies
 * with it), jobs that ran more than once and the extra runs (at least once, not exactly once), and
 * handler runs that were a retry (attempt > 1).
 */
import { startJobsServer } from './jobs-servers.ts';
import { RunProcesses, reportsOf, type JobsProc } from './jobs-runs.ts';
import type { WorkerSpec } from './jobs-target.ts';
import { prng } from '../util/prng.ts';

export interface CrashOptions {
  jobs: number; seconds: number; workers: number; concurrency: number; killEveryMs: number; serverKillShare: number; leaseMs: number; drainSeconds: number; seed: number;
}

export interface CrashResult {
  jobs: number;
  chaosSeconds: number;
  kills: { workers: number; server: number };
  /** The node's counts at the end. */
  counts: Record<string, number>;
  completed: number;
  lost: number;
  handlerRuns: number;
  jobsRunTwiceOrMore: number;
  extraRuns: number;
  retryRuns: number;
  /** Jobs no report showed running (their runs died unreported with a killed process). */
  jobsNotSeenRunning: number;
  enqueueErrors: number;
  drainSeconds: number;
  timeline: { second: number; handlerRuns: number; event: string }[];
  commands: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function crashRun(o: CrashOptions, log: (s: string) => void): Promise<CrashResult> {
  const random = prng(o.seed);
  const server = await startJobsServer('brigade', { brigadeArgs: ['--jobs-tick-ms', '100'] });
  const run = new RunProcesses(server);
  const runs = new Uint16Array(o.jobs);
  let handlerRuns = 0;
  let retryRuns = 0;
  const timeline: CrashResult['timeline'] = [];
  const started = Date.now();
  const second = () => Math.round((Date.now() - started) / 100) / 10;
  const queue = 'crash';
  const spec: WorkerSpec = { queue, concurrency: o.concurrency, mode: 'push' };
  let workers: JobsProc[] = [];
  const addWorker = async (i: number) => {
    const w = run.spawn();
    await w.ask({ t: 'workers', target: 'brigade', conn: server.conn, spec: { ...spec, workerId: `c${i}-` }, count: 1, keepNumbers: true }, 'ready', 60_000);
    workers.push(w);
  };
  // Reports of the live workers; a worker killed while asked just does not answer.
  const lastRetries = new Map<JobsProc, number>();
  const collect = async () => {
    const live = workers.slice();
    const got = await Promise.allSettled(live.map((w) => reportsOf([w], 3000)));
    let n = 0;
    got.forEach((g, i) => {
      if (g.status !== 'fulfilled') return;
      const report = g.value[0]!;
      lastRetries.set(live[i]!, report.retries);
      for (const num of report.numbers) {
        if (runs[num]! < 65535) runs[num]!++;
        n++;
      }
    });
    handlerRuns += n;
    return n;
  };
  /** Retry runs of the workers killed so far (their last report's count). */
  let retriesOfKilled = 0;
  try {
    for (let i = 0; i < o.workers; i++) await addWorker(i);
    const producer = run.spawn();
    const produced = producer.ask({
      t: 'produce', target: 'brigade', conn: server.conn, spec: { queue, timeoutMs: o.leaseMs, keyed: true, maxAttempts: 1000 },
      first: 0, count: o.jobs, batch: 200, perSecond: Math.ceil(o.jobs / (0.75 * o.seconds)), inFlight: 2, retry: true,
    }, 'produced', (o.seconds + o.drainSeconds + 60) * 1000);
    const kills = { workers: 0, server: 0 };
    const chaosEnd = Date.now() + o.seconds * 1000;
    let nextKill = Date.now() + o.killEveryMs * (0.5 + random());
    let made = o.workers;
    while (Date.now() < chaosEnd) {
      await sleep(Math.max(0, Math.min(500, nextKill - Date.now(), chaosEnd - Date.now())));
      timeline.push({ second: second(), handlerRuns: await collect(), event: '' });
      run.check();
      if (Date.now() < nextKill || Date.now() >= chaosEnd) continue;
      nextKill = Date.now() + o.killEveryMs * (0.5 + random());
      if (random() * 100 < o.serverKillShare) {
        kills.server++;
        timeline.push({ second: second(), handlerRuns: 0, event: 'server kill -9' });
        await server.restart();
      } else {
        const victim = workers[Math.floor(random() * workers.length)]!;
        run.killed.add(victim.pid);
        retriesOfKilled += lastRetries.get(victim) ?? 0;
        lastRetries.delete(victim);
        try { process.kill(victim.pid, 'SIGKILL'); } catch { /* gone */ }
        workers = workers.filter((w) => w !== victim);
        kills.workers++;
        timeline.push({ second: second(), handlerRuns: 0, event: 'worker kill -9' });
        await addWorker(made++);
      }
    }
    log(`[crash] chaos over after ${o.seconds} s: ${kills.workers} workers and ${kills.server} times the server killed; draining`);
    const drainStart = Date.now();
    const deadline = drainStart + o.drainSeconds * 1000;
    let counts: Record<string, number> = {};
    for (;;) {
      timeline.push({ second: second(), handlerRuns: await collect(), event: '' });
      run.check();
      try {
        counts = (await (await fetch(`${server.httpUrl}/api/jobs/${queue}`)).json() as { counts: Record<string, number> }).counts;
      } catch { /* the node may be starting */ }
      if ((counts.completed ?? 0) >= o.jobs || Date.now() > deadline) break;
      await sleep(500);
    }
    const p = await produced.catch(() => ({ errors: -1 }));
    await collect();
    retryRuns = retriesOfKilled;
    for (const v of lastRetries.values()) retryRuns += v;
    let twice = 0, extra = 0, unseen = 0;
    for (let i = 0; i < o.jobs; i++) {
      if (runs[i]! === 0) unseen++;
      if (runs[i]! > 1) { twice++; extra += runs[i]! - 1; }
    }
    const completed = counts.completed ?? 0;
    const result: CrashResult = {
      jobs: o.jobs, chaosSeconds: o.seconds, kills, counts, completed, lost: o.jobs - completed, handlerRuns, jobsRunTwiceOrMore: twice, extraRuns: extra,
      retryRuns, jobsNotSeenRunning: unseen, enqueueErrors: p.errors, drainSeconds: Math.round((Date.now() - drainStart) / 100) / 10,
      timeline, commands: server.commands,
    };
    log(`[crash] completed ${completed} of ${o.jobs}, lost ${result.lost}; runs ${handlerRuns}, jobs run twice or more ${twice}, extra runs ${extra}`);
    return result;
  } finally {
    await run.stop();
  }
}
