// Runs the tests in lanes, in order, each one `node --test` over its files (what `npm test` runs
// after the build and the layer check). A file's name says its lane:
//
//   unit          *.test.ts              in-process only: no child process, no Redis, no browser,
//                                        no socket listening on a port (temp files are fine).
//                                        Run in parallel.
//   integration   *.integration.test.ts  real server processes, redis-server, nginx, loopback
//   + e2e         *.e2e.test.ts          servers; real Chromium. Each file starts its own on free
//                                        ports with temp directories, so a few run at a time.
//   bench         *.bench.test.ts        benchmark smoke tests: tiny real runs of bench/ and
//                                        `brigade bench`. Their own lane, still run by npm test,
//                                        after the integration lane.
//   realtime  test/e2e/choir*.e2e.test.ts  the choir pages: real-time audio in Chromium, one at a
//                                        time, after the integration lane (a new choir page e2e
//                                        file lands here by its name).
//
// Every lane runs even when an earlier one failed (CI sees every failure at once); the exit code
// is 1 when any lane failed. Node's test runner output (TAP) goes through unchanged, one lane
// after the other; a summary of the lanes' counts follows it.
//
//   node scripts/test.mjs                 every lane
//   node scripts/test.mjs unit bench      only these lanes
//   TEST_CONCURRENCY_INTEGRATION=1 ...    override a lane's concurrency (UNIT, INTEGRATION, BENCH)
//   TEST_FORCE_EXIT=0 ...                 let a file that leaves a handle open hang (to find the handle)
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';

const kind = (file) => /\.(integration|e2e|bench)\.test\.ts$/.exec(file)?.[1] ?? 'unit';

// Concurrency: unit files are CPU-light and independent. Integration and e2e files mostly wait on
// their servers and browsers (three at a time used about 1.1 of the 2 cores), but some tests probe
// with timeouts of a few hundred ms, and the bench lane runs beside them: three, and two benches.
const LANES = [
  { name: 'unit', kinds: ['unit'], concurrency: Math.max(2, availableParallelism()) },
  { name: 'integration', kinds: ['integration', 'e2e'], concurrency: 3 },
  // Real-time audio in Chromium (20 ms frames with deadlines): one file at a time, after the
  // integration lane. Beside it and each other on 2 cores, the two choir pages' frames timed out
  // and a clock re-estimate moved a burst by 48 ms (2026-12-06); alone they pass.
  { name: 'realtime', match: /^test\/e2e\/choir[^/]*\.e2e\.test\.ts$/, concurrency: 1 },
  // After the integration lane, not beside it: beside it (5 files at once on 2 cores) a benchmark
  // smoke run's server now and then missed its 20 s start (2026-12-06); alone, ~1 min more.
  // (`beside: 'integration'` runs it alongside again.)
  { name: 'bench', kinds: ['bench'], concurrency: 2 },
];

// The longest files start first, so that they do not start last and run on alone (measured on the
// 2-core CI machine: backpressure ~40-90 s, redis-faults ~60 s, the Chromium tracker ~30 s, ...).
// The rest follow in name order. A file missing from this list only costs time.
const SLOW_FIRST = [
  'test/integration/backpressure.integration.test.ts',
  'test/integration/redis-faults.integration.test.ts',
  'test/e2e/tracker.e2e.test.ts',
  'test/e2e/choir.e2e.test.ts',
  'test/integration/redis-nodes.integration.test.ts',
  'test/autoscale/local.integration.test.ts',
  'test/e2e/place.e2e.test.ts',
  'test/e2e/inbox-push.e2e.test.ts',
  'test/integration/tracker-redis.integration.test.ts',
  'test/integration/durability.integration.test.ts',
  'test/bench/compare-rounds.bench.test.ts',
  'test/sim/bench.bench.test.ts',
  'test/bench/tracker-bench.bench.test.ts',
  'test/sim/jobs-bench.bench.test.ts',
  'test/sim/bench-faults.bench.test.ts',
];
const rank = (file) => {
  const i = SLOW_FIRST.indexOf(file);
  return i < 0 ? SLOW_FIRST.length : i;
};

function testFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(path));
    else if (entry.name.endsWith('.test.ts')) out.push(relative('.', path));
  }
  return out;
}

/** Where a lane's output goes: straight through, or held until the lane beside which it runs is done. */
const direct = { out: (chunk) => process.stdout.write(chunk), err: (chunk) => process.stderr.write(chunk), flush: () => {} };
function held() {
  const chunks = [];
  return {
    out: (chunk) => chunks.push(['out', chunk]),
    err: (chunk) => chunks.push(['err', chunk]),
    flush: () => { for (const [to, chunk] of chunks.splice(0)) (to === 'out' ? process.stdout : process.stderr).write(chunk); },
  };
}

/** A lane that runs longer than this is killed and fails (ms); TEST_LANE_TIMEOUT_MS overrides it. */
const LANE_TIMEOUT_MS = Number(process.env.TEST_LANE_TIMEOUT_MS ?? 25 * 60_000);
/**
 * A test file (or one test in it) that runs longer than this fails by its name and the lane goes on
 * (`--test-timeout`: Node 20 applies it to each file's process as well as to each test, so a file
 * that never exits, a handle left open, is named rather than holding the lane until LANE_TIMEOUT_MS).
 * TEST_TIMEOUT_MS overrides it. The longest file runs 40-90 s on CI's machine.
 */
const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 8 * 60_000);
/**
 * `--test-force-exit`: a file whose tests have all finished exits even when a handle is left open
 * (a client's reconnect timer, a Redis connection retrying a server the test killed). Such a file
 * held the whole integration lane until its watchdog once (2026-12-07, a fresh-clone CI; every test
 * had passed, nothing was left in /tmp, the file never exited). The 'exit' hooks still run, so the
 * processes a file started are still killed. A test that itself never ends still fails by its name
 * (TEST_TIMEOUT_MS).
 */
const FORCE_EXIT = process.env.TEST_FORCE_EXIT !== '0';

/** The test files a lane's processes still run (their command lines), for a lane killed by its watchdog. */
function runningFiles(pgid) {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,etimes=,args=', '-g', String(pgid)], { encoding: 'utf8' });
    return out.split('\n').map((l) => l.trim()).filter((l) => /\.test\.ts/.test(l) && !l.includes('--test-concurrency'));
  } catch {
    return [];
  }
}

/** Runs one lane, its output to `sink`; resolves with its exit code and TAP counts. */
function runLane(lane, files, sink, besideOf = null) {
  const concurrency = Number(process.env[`TEST_CONCURRENCY_${lane.name.toUpperCase()}`] ?? lane.concurrency);
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${TEST_TIMEOUT_MS}`, ...(FORCE_EXIT ? ['--test-force-exit'] : []), ...files];
  sink.out(`# lane ${lane.name}: ${files.length} files, ${concurrency} at a time${besideOf ? ` (beside ${besideOf}; its output follows that lane's)` : ''}\n`);
  const started = Date.now();
  const failures = [];
  const stuck = [];
  // Its own process group, so a lane that outlives LANE_TIMEOUT_MS (a test file whose process never
  // exits: a handle left open) is killed whole and fails, instead of holding CI until its limit.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const watchdog = setTimeout(() => {
    sink.err(`# lane ${lane.name} still running after ${Math.round(LANE_TIMEOUT_MS / 1000)} s: killed (a test file that never exits?)\n`);
    stuck.push(...runningFiles(child.pid));
    for (const line of stuck) sink.err(`#   still running: ${line}\n`);
    try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
  }, LANE_TIMEOUT_MS);
  child.once('exit', () => clearTimeout(watchdog));
  child.stderr.on('data', (chunk) => sink.err(chunk));
  const counts = {};
  let tail = '';
  child.stdout.on('data', (chunk) => {
    sink.out(chunk);
    const text = tail + chunk.toString();
    const lines = text.split('\n');
    tail = lines.pop();
    for (const line of lines) {
      const m = /^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
      if (m) counts[m[1]] = Number(m[2]);
      const f = /^\s*not ok \d+ - (.*)$/.exec(line);
      if (f) failures.push(`${' '.repeat(Math.max(0, line.search(/\S/)))}${f[1]}`);
    }
  });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      resolve({ lane: lane.name, code: code ?? (signal ? 1 : 0), seconds, counts, failures, stuck });
    });
  });
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !LANES.some((l) => l.name === w));
if (unknown.length > 0) {
  console.error(`unknown lane(s) ${unknown.join(', ')}; lanes: ${LANES.map((l) => l.name).join(', ')}`);
  process.exit(2);
}
const all = testFiles('test');
// A lane with `match` takes the files whose path matches it, out of the lanes of their kind.
const ownFiles = new Set(all.filter((f) => LANES.some((l) => l.match?.test(f))));
const filesOf = (lane) => all.filter((f) => (lane.match ? lane.match.test(f) : lane.kinds.includes(kind(f)) && !ownFiles.has(f)))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const selected = LANES.filter((l) => (wanted.length === 0 || wanted.includes(l.name)) && filesOf(l).length > 0);
const results = [];
for (const lane of selected) {
  if (lane.beside && selected.some((l) => l.name === lane.beside)) continue; // runs with that lane
  const companions = selected.filter((l) => l.beside === lane.name).map((l) => ({ lane: l, sink: held() }));
  const running = [runLane(lane, filesOf(lane), direct), ...companions.map((c) => runLane(c.lane, filesOf(c.lane), c.sink, lane.name))];
  results.push(await running[0]);
  for (const [i, c] of companions.entries()) {
    const r = await running[i + 1];
    c.sink.flush();
    results.push(r);
  }
}
const total = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
console.log('# lanes');
for (const r of results) {
  for (const k of Object.keys(total)) total[k] += r.counts[k] ?? 0;
  console.log(`#   ${r.lane}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`} in ${r.seconds} s; tests ${r.counts.tests ?? '?'}, pass ${r.counts.pass ?? '?'}, fail ${r.counts.fail ?? '?'}`);
  // Repeated here, at the end, where a CI log's tail shows them: what failed, and what never ended.
  for (const f of r.failures) console.log(`#     not ok: ${f}`);
  for (const s of r.stuck) console.log(`#     still running when killed: ${s}`);
}
console.log(`# all lanes: tests ${total.tests}, pass ${total.pass}, fail ${total.fail}, cancelled ${total.cancelled}, skipped ${total.skipped}, todo ${total.todo}`);
process.exitCode = results.every((r) => r.code === 0) ? 0 : 1;
