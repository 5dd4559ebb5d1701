/**
 * `brigade bench --scenario jobs-*` works end to end at tiny sizes (docs/jobs.md#benchmarks): real
 * Brigade nodes (embedded and over a real redis-server), the real plainjob and bullmq peers, real
 * worker processes. A harness check, not a performance test: no figure is compared with a threshold;
 * what is asserted is that every job enqueued was handled, the report has its fields, the crash
 * run lost nothing, and bad options are refused with a code before anything starts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bench } from '../helpers/bench-run.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function run(args: string[]): Promise<{ result: Record<string, any>; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'jobs-bench-'));
  dirs.push(dir);
  const r = await bench([...args, '--out', dir, '--no-progress']);
  assert.equal(r.code, 0, `exit 0\n${r.stdout}\n${r.stderr}`);
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  assert.ok(file, 'a result file');
  assert.match(r.stdout, new RegExp(`result: .*${file}`));
  const result = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, any>;
  assert.equal(result.bench, 'brigade-jobs-bench');
  assert.equal(result.ok, true);
  assert.equal(result.machine.cores > 0, true);
  return { result: result.result, dir };
}

describe('brigade bench --scenario jobs-*', () => {
  it('refuses an unknown scenario and bad values with a code, starting nothing', async () => {
    const a = await bench(['--scenario', 'jobs-nope']);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /BENCH_BAD_OPTION: --scenario must be one of jobs-throughput/);
    const b = await bench(['--scenario', 'jobs-throughput', '--targets', 'brigade,nope']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /unknown "nope"/);
    const c = await bench(['--scenario', 'jobs-push', '--jobs', '5']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /BENCH_UNKNOWN_OPTION: unknown option --jobs for jobs-push/);
  });

  it('jobs-throughput: every target handles every job, with jobs/s and CPU figures', async () => {
    const charts = mkdtempSync(join(tmpdir(), 'jobs-charts-'));
    dirs.push(charts);
    const { result } = await run(['--scenario', 'jobs-throughput', '--jobs', '300', '--workers', '2', '--concurrency', '5', '--sqlite-synchronous', 'normal', '--charts', charts]);
    assert.deepEqual(readdirSync(charts), ['bench-jobs-throughput.svg']);
    assert.match(readFileSync(join(charts, 'bench-jobs-throughput.svg'), 'utf8'), /^<svg[\s\S]*plainjob \(normal\): jobs per server CPU-s[\s\S]*<\/svg>\s*$/);
    const targets = ['brigade', 'plainjob', 'brigade-redis', 'bullmq'];
    assert.deepEqual(result.runs.map((r: any) => r.target), targets);
    // Both SQLite targets at the durability asked for; the Redis ones have none of it.
    assert.deepEqual(result.runs.map((r: any) => r.sqliteSynchronous), ['normal', 'normal', null, null]);
    for (const r of result.runs) {
      assert.ok(r.handled >= 300, `${r.target}: every job handled`);
      assert.ok(r.jobsPerSecond > 0 && r.seconds > 0, `${r.target}: a rate`);
      assert.ok(r.totalCpuSeconds > 0 && r.jobsPerTotalCpuSecond > 0, `${r.target}: CPU counted`);
      assert.equal(typeof r.serverCounted, 'string');
      // Per server process: Brigade/Redis counts two (node, redis-server), plainjob none (it has no server).
      assert.equal(r.serverCpuSecondsEach.length, { brigade: 1, plainjob: 0, 'brigade-redis': 2, bullmq: 1 }[r.target as string]);
      // The Brigade node's traffic per 1,000 jobs, off its /metrics; none for the peers.
      if (r.target.startsWith('brigade')) {
        assert.deepEqual(Object.keys(r.nodePer1000Jobs).sort(), ['messagesIn', 'messagesOut', 'offers', 'socketWrites']);
        assert.ok(r.nodePer1000Jobs.offers > 0 && r.nodePer1000Jobs.socketWrites > 0, `${r.target}: push offers and writes counted`);
      } else {
        assert.equal(r.nodePer1000Jobs, null);
      }
    }
    assert.deepEqual(Object.keys(result.byTarget), targets);
  });

  it('jobs-push: pick-up latency of every job enqueued after the warm-up', async () => {
    const { result } = await run(['--scenario', 'jobs-push', '--rate', '40', '--seconds', '2', '--warmup-seconds', '1', '--workers', '1', '--concurrency', '5', '--sqlite-checkpoint', 'inline']);
    const [r] = result.runs;
    assert.equal(r.target, 'brigade');
    assert.equal(r.sqliteSynchronous, 'full');
    assert.equal(r.sqliteCheckpoint, 'inline');
    assert.equal(r.jobs, 80);
    assert.equal(r.handled, 80);
    assert.equal(r.pickupMs.samples, 80);
    assert.ok(r.pickupMs.p50 !== null && r.pickupMs.p99 >= r.pickupMs.p50);
    // Every process on the path has its event-loop delay: the node (off its /metrics), the producer, each worker.
    const delays = [r.loopDelayMs.node, r.loopDelayMs.producer, ...r.loopDelayMs.workers];
    assert.equal(r.loopDelayMs.workers.length, 1);
    for (const d of delays) {
      assert.deepEqual(Object.keys(d).sort(), ['max', 'mean', 'p50', 'p90', 'p99']);
      assert.ok(typeof d.max === 'number' && d.max >= d.p50, 'a max at least the median');
    }
    // The machine's wake-up floor in the same window: a thread sleeping 1 ms, ~1,000 samples a second over 2 s.
    assert.equal(r.wakeFloorMs.sleepMs, 1);
    assert.ok(r.wakeFloorMs.samples > 200, JSON.stringify(r.wakeFloorMs));
    assert.ok(r.wakeFloorMs.p99 >= r.wakeFloorMs.p50 && r.wakeFloorMs.max >= r.wakeFloorMs.p999);
    assert.ok(r.wakeFloorMs.over2Ms >= r.wakeFloorMs.over5Ms);
    assert.ok(r.wakeFloorMs.pathP99[4] >= r.wakeFloorMs.pathP99[2] && r.wakeFloorMs.pathP99[2] >= 0, JSON.stringify(r.wakeFloorMs.pathP99));
    // The late jobs (over 5 ms) grouped into episodes: every late job in one, counted by phase of the second.
    assert.equal(r.late.overMs, 5);
    assert.equal(r.late.bySecondPhase.length, 10);
    assert.equal(r.late.bySecondPhase.reduce((a: number, b: number) => a + b, 0), r.late.jobs);
    assert.equal(r.late.oneWorker + r.late.severalWorkers, r.late.episodes);
    assert.ok(r.late.jobs >= r.late.episodes && r.late.jobs <= 80);
    // Where the time went: the node's offers (off its histogram), enqueue → the job's frame at the
    // worker, that frame → handler start, one sample a job for the last two.
    assert.equal(r.hopsMs.toWorker.samples, 80);
    assert.equal(r.hopsMs.inWorker.samples, 80);
    assert.ok(r.hopsMs.nodeOffer.count >= 1 && r.hopsMs.nodeOffer.count <= 80, 'one offer or more, at most one a job');
    assert.ok(r.hopsMs.nodeOffer.p99 >= r.hopsMs.nodeOffer.p50);
    assert.ok(r.hopsMs.lateInWorkerOver1Ms <= r.late.jobs);
  });

  it('jobs-slots: arrivals, gaps and waits per mode and count, and one chart per mode', async () => {
    const charts = mkdtempSync(join(tmpdir(), 'jobs-charts-'));
    dirs.push(charts);
    const { result } = await run(['--scenario', 'jobs-slots', '--counts', '2', '--modes', 'fixed,slots', '--separation-ms', '100',
      '--seconds', '2', '--job-rate', '2', '--charts', charts]);
    assert.deepEqual(result.runs.map((r: any) => [r.mode, r.workers]), [['fixed', 2], ['slots', 2]]);
    for (const r of result.runs) {
      assert.ok(r.arrivals > 0, `${r.mode}: polls arrived`);
      assert.equal(r.bins.length, 20, 'a bin per separation of the window');
      assert.ok(r.longestWaitMs !== null, `${r.mode}: every job picked up`);
      assert.equal(typeof r.gapCv, 'number');
    }
    assert.deepEqual(readdirSync(charts).sort(), ['bench-jobs-slots-fixed.svg', 'bench-jobs-slots-slots.svg']);
    assert.match(readFileSync(join(charts, 'bench-jobs-slots-slots.svg'), 'utf8'), /^<svg[^]*polls arriving at the server[^]*<\/svg>\s*$/);
  });

  it('jobs-crash: kill -9 of workers and of the node, and every job completed', async () => {
    const { result } = await run(['--scenario', 'jobs-crash', '--jobs', '300', '--seconds', '4', '--workers', '2', '--concurrency', '10',
      '--kill-every-ms', '1000', '--server-kill-share', '50', '--lease-ms', '1000', '--drain-seconds', '60']);
    assert.equal(result.jobs, 300);
    assert.ok(result.kills.workers + result.kills.server > 0, 'something was killed');
    assert.equal(result.completed, 300);
    assert.equal(result.lost, 0);
    assert.ok(result.handlerRuns >= result.jobs - result.jobsNotSeenRunning, 'every job seen running counts a run');
    assert.equal(result.extraRuns >= result.jobsRunTwiceOrMore, true);
  });
});
