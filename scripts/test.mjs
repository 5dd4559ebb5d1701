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
//                                        `brigade bench`. Their own lane, still run by npm test.
//
// Every lane runs even when an earlier one failed (CI sees every failure at once); the exit code
// is 1 when any lane failed. Node's test runner output (TAP) goes through unchanged; a summary of
// the lanes' counts follows it.
//
//   node scripts/test.mjs                 every lane
//   node scripts/test.mjs unit bench      only these lanes
//   TEST_CONCURRENCY_INTEGRATION=1 ...    override a lane's concurrency (UNIT, INTEGRATION, BENCH)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';

const kind = (file) => /\.(integration|e2e|bench)\.test\.ts$/.exec(file)?.[1] ?? 'unit';

// Concurrency: unit files are CPU-light and independent; integration and e2e files mostly wait on
// their servers and browsers, so three overlap well even on two cores (measured: docs in README);
// the bench smoke tests measure CPU, so two at a time.
const LANES = [
  { name: 'unit', kinds: ['unit'], concurrency: Math.max(2, availableParallelism()) },
  { name: 'integration', kinds: ['integration', 'e2e'], concurrency: 3 },
  { name: 'bench', kinds: ['bench'], concurrency: 2 },
];

function testFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(path));
    else if (entry.name.endsWith('.test.ts')) out.push(relative('.', path));
  }
  return out;
}

/** Runs one lane, passing its output through; resolves with its exit code and TAP counts. */
function runLane(lane, files) {
  const concurrency = Number(process.env[`TEST_CONCURRENCY_${lane.name.toUpperCase()}`] ?? lane.concurrency);
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files];
  console.log(`# lane ${lane.name}: ${files.length} files, ${concurrency} at a time`);
  const started = Date.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const counts = {};
  let tail = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    const text = tail + chunk.toString();
    const lines = text.split('\n');
    tail = lines.pop();
    for (const line of lines) {
      const m = /^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
      if (m) counts[m[1]] = Number(m[2]);
    }
  });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      resolve({ lane: lane.name, code: code ?? (signal ? 1 : 0), seconds, counts });
    });
  });
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !LANES.some((l) => l.name === w));
if (unknown.length > 0) {
  console.error(`unknown lane(s) ${unknown.join(', ')}; lanes: ${LANES.map((l) => l.name).join(', ')}`);
  process.exit(2);
}
const all = testFiles('test').sort();
const results = [];
for (const lane of LANES) {
  if (wanted.length > 0 && !wanted.includes(lane.name)) continue;
  const files = all.filter((f) => lane.kinds.includes(kind(f)));
  if (files.length === 0) continue;
  results.push(await runLane(lane, files));
}

const total = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
console.log('# lanes');
for (const r of results) {
  for (const k of Object.keys(total)) total[k] += r.counts[k] ?? 0;
  console.log(`#   ${r.lane}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`} in ${r.seconds} s; tests ${r.counts.tests ?? '?'}, pass ${r.counts.pass ?? '?'}, fail ${r.counts.fail ?? '?'}`);
}
console.log(`# all lanes: tests ${total.tests}, pass ${total.pass}, fail ${total.fail}, cancelled ${total.cancelled}, skipped ${total.skipped}, todo ${total.todo}`);
process.exitCode = results.every((r) => r.code === 0) ? 0 : 1;
