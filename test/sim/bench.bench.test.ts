/**
 * `brigade bench` end to end, small: the built CLI (bin/brigade.js → dist/cli.js) starts real
 * servers, forks its viewer and editor processes, and writes JSON + HTML. Checks that a tiny run
 * measures what it claims (every figure cross-checked against an independent count), that the
 * convergence check can fail, and that bad options are refused before anything starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../src/sim/bench.ts';

const cli = fileURLToPath(new URL('../../bin/brigade.js', import.meta.url));

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function resultIn(dir: string): { result: BenchResult; html: string } {
  const files = readdirSync(dir);
  const json = files.find((f) => f.endsWith('.json'));
  const html = files.find((f) => f.endsWith('.html'));
  assert.ok(json && html, `a JSON and an HTML file in ${dir}, got ${files.join(', ')}`);
  return { result: JSON.parse(readFileSync(join(dir, json), 'utf8')) as BenchResult, html: readFileSync(join(dir, html), 'utf8') };
}

test('a tiny run against a Brigade it starts measures, converges and reports', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sim-test-'));
  try {
    const r = await bench(['--viewers', '50', '--edits-per-second', '20', '--seconds', '3', '--editors', '4', '--tick-ms', '100', '--out', out]);
    assert.equal(r.code, 0, `exit 0; stderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
    assert.match(r.stderr, /viewers connected/, 'progress on stderr');
    const { result, html } = resultIn(out);
    assert.equal(result.ok, true);
    assert.equal(result.options.viewers, 50);
    assert.match(result.command, /--viewers 50/);
    assert.ok(result.machine.cores >= 1 && result.machine.node.startsWith('v'));
    const t = result.targets[0];
    assert.equal(t.target, 'brigade');
    assert.equal(t.error, null);

    // The editors' log: 60 edits, all acknowledged at positions 0..59.
    assert.equal(t.editors.sent, 60);
    assert.equal(t.editors.acked, 60);
    const c = t.convergence;
    assert.equal(c.head, 60);
    assert.equal(c.serverHead, 60);
    assert.equal(c.viewersConverged, 50);
    assert.equal(c.viewersBroken + c.viewersShortOfHead + c.viewersFailedToConnect, 0);
    assert.equal(c.streamHashesEqual, true);
    assert.equal(c.serverCanvasEqual, true);
    assert.ok(c.processHashes.length >= 2 && c.processHashes.every((p) => p.sha256 === c.logSha256));

    // Frames: what viewers counted = one per viewer per tick that appended = what the server wrote.
    const d = t.delivered;
    assert.ok(t.server.metrics && t.server.metrics.ticksTotal > 0);
    assert.equal(d.frames, d.expectedFramesFromTicks);
    assert.equal(d.frames, d.expectedFramesFromRuns);
    assert.equal(d.frames, t.server.metrics.framesOutTotal);
    assert.equal(d.events, 60 * 50);
    assert.equal(d.bytes, t.server.metrics.bytesOutTotal);
    assert.equal(t.server.metrics.behindTotal, 0);

    // Latency per (viewer, edit), from the ack: one sample each, ordered percentiles. A sample can
    // be slightly negative (a viewer process reads the frame before the editor process reads the
    // ack the server wrote first), never by as much as a tick.
    const l = t.latency.ackToReceiptMs!;
    assert.equal(t.latency.samples, 60 * 50);
    assert.ok(l.min! <= l.p50! && l.p50! <= l.p90! && l.p90! <= l.p99! && l.p99! <= l.max!, JSON.stringify(l));
    assert.ok(l.max! > 0 && l.p99! > 0 && l.min! > -100, JSON.stringify(l));

    // Server accounting from /proc, and the derived figures.
    assert.ok(t.server.cpuSeconds > 0);
    assert.ok(t.server.rss.idleMB > 10 && t.server.rss.connectedMB > 0);
    assert.equal(typeof t.headline.rssPerViewerKB, 'number');
    assert.ok(t.headline.framesPerServerCpuSecond! > 0 && t.headline.viewersPerServerCore! > 0);
    assert.ok(t.simulator.rssPerViewerKB !== null && t.simulator.viewerCpuMicrosecondsPerFrame! > 0);
    assert.ok(t.timeline.length >= 3);
    assert.ok(t.timeline.some((s) => s.framesPerSecond > 0 && s.serverCpuPct !== null && s.serverRssMB! > 0 && s.tickIntervalMs === 100));

    // The report: one self-contained file with the charts and the table.
    assert.ok((html.match(/<svg /g) ?? []).length >= 4, 'latency, delivery, CPU/RSS and tick charts');
    assert.match(html, /Latency, ack → viewer receipt/);
    assert.match(html, /frames per server CPU-second/);
    assert.doesNotMatch(html, /<script|<link|src="http/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

for (const fault of ['drop-frame', 'corrupt-byte']) {
  test(`the convergence check fails when one viewer's stream is wrong (${fault})`, async () => {
    const out = mkdtempSync(join(tmpdir(), 'sim-test-'));
    try {
      const r = await bench(['--viewers', '20', '--edits-per-second', '20', '--seconds', '2', '--editors', '2', '--out', out, '--no-progress', '--fault', fault]);
      assert.equal(r.code, 1, `exit 1; stderr:\n${r.stderr}`);
      assert.match(r.stdout, /NOT CONVERGED/);
      const { result } = resultIn(out);
      const c = result.targets[0].convergence;
      assert.equal(result.ok, false);
      assert.equal(c.converged, false);
      assert.ok(c.viewersConverged < 20, `at most 19 of 20 viewers converged, got ${c.viewersConverged}`);
      assert.ok(c.viewersBroken >= 1);
      assert.ok(fault === 'drop-frame' ? c.gaps >= 1 : c.mismatches >= 1 || !c.streamHashesEqual, JSON.stringify(c));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test('--compare runs the same workload against every target in one run, each server with the same node flags', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sim-test-'));
  // A module every server process imports first (--server-node-options): it leaves its argv behind.
  const probes = mkdtempSync(join(tmpdir(), 'sim-probe-'));
  const probe = join(probes, 'probe.mjs');
  writeFileSync(probe, "import { writeFileSync } from 'node:fs';\nwriteFileSync(new URL('./started-' + process.pid, import.meta.url), process.execArgv.join(' ') + ' | ' + process.argv.slice(1).join(' '));\n");
  try {
    const r = await bench(['--compare', 'brigade,socketio,ws-json,net', '--viewers', '20', '--edits-per-second', '20', '--seconds', '2', '--editors', '2', '--settle-ms', '1000', '--out', out, '--no-progress', `--server-node-options=--import=${probe} --stack-size=900`]);
    assert.equal(r.code, 0, `exit 0; stderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
    const { result, html } = resultIn(out);
    assert.deepEqual(result.targets.map((t) => t.target), ['brigade', 'socketio', 'ws-json', 'net']);
    for (const t of result.targets) {
      assert.equal(t.convergence.viewersConverged, 20, t.target);
      assert.equal(t.convergence.head, 40, t.target);
      assert.equal(t.delivered.events, 40 * 20, t.target);
      assert.ok(t.server.cpuSeconds > 0 && t.headline.framesPerServerCpuSecond! > 0, t.target);
    }
    for (const name of ['socketio', 'ws-json', 'net']) assert.match(html, new RegExp(`<th>${name}</th>`));
    const started = readdirSync(probes).filter((f) => f.startsWith('started-')).map((f) => readFileSync(join(probes, f), 'utf8'));
    assert.equal(started.length, 4, `one probe per server process and none from the simulator: ${started.join(' | ')}`);
    for (const name of ['brigade.js', 'socketio.ts', 'ws-json.ts', 'net.ts']) {
      const argv = started.filter((a) => a.includes(name));
      assert.equal(argv.length, 1, name);
      assert.match(argv[0], /--stack-size=900/, `${name} got the flags asked for`);
      // Brigade also runs with the flags it ships with (bin/brigade.js's #! line); the peers with node's defaults.
      assert.equal(/--max-semi-space-size=4/.test(argv[0]), name === 'brigade.js', `${name}: ${argv[0]}`);
    }
    assert.match(result.targets[0].servers.commands[0], /^node --max-semi-space-size=4 --import=\S+probe\.mjs --stack-size=900 bin\/brigade\.js serve/);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(probes, { recursive: true, force: true });
  }
});

test('bad options get a typed error, exit 2, and start nothing', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sim-test-'));
  try {
    const cases: [string[], RegExp][] = [
      [['--viewers', '0'], /BENCH_BAD_OPTION: --viewers must be a whole number from 1 to 200000/],
      [['--viewers', 'many'], /BENCH_BAD_OPTION: --viewers/],
      [['--edits-per-second', '-3'], /BENCH_BAD_OPTION: --edits-per-second/],
      [['--target', 'nginx'], /BENCH_BAD_OPTION: --target: unknown target "nginx"/],
      [['--compare', 'brigade,brigade'], /BENCH_BAD_OPTION: --compare names a target twice/],
      [['--target', 'net', '--compare', 'brigade,net'], /BENCH_CONFLICT: --target and --compare/],
      [['--workers', '3'], /BENCH_CONFLICT: --workers > 1 needs --redis/],
      [['--redis', '--target', 'net'], /BENCH_CONFLICT: --redis and --workers apply to the brigade target only/],
      [['--tick-ms', '500', '--max-tick-ms', '100'], /BENCH_CONFLICT: --max-tick-ms \(100\) must be at least --tick-ms \(500\)/],
      [['--viewers', '40000'], /BENCH_CONFLICT: .* over 19000: use --redis --workers 3/],
      [['--url', 'not a url'], /BENCH_BAD_OPTION: --url must be a URL/],
      [['--server-pid', '123'], /BENCH_CONFLICT: --server-pid goes with --url/],
      [['--fault', 'sometimes'], /BENCH_BAD_OPTION: --fault/],
      [['--server-node-options=--max-semi-space-size=4;reboot'], /BENCH_BAD_OPTION: --server-node-options takes node flags/],
      [['--server-node-options=max-semi-space-size'], /BENCH_BAD_OPTION: --server-node-options takes node flags/],
      [['--url', 'ws://127.0.0.1:9', '--server-node-options=--expose-gc'], /BENCH_CONFLICT: --server-node-options applies to servers the bench starts/],
      [['--frobnicate'], /BENCH_UNKNOWN_OPTION: unknown option --frobnicate/],
      [['--seconds'], /BENCH_BAD_OPTION: --seconds needs a value/],
    ];
    for (const [args, message] of cases) {
      const r = await bench([...args, '--out', out]);
      assert.equal(r.code, 2, `${args.join(' ')}: exit 2, got ${r.code}; stderr ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.equal(existsSync(out) ? readdirSync(out).length : 0, 0, 'no result written');
    const help = await bench(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--viewers V/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
