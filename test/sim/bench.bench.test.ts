/**
 * `brigade bench` end to end, small: the built CLI (bin/brigade.js → dist/cli.js) starts real
 * servers, forks its viewer and editor processes, and writes JSON + HTML. Checks that a tiny run
 * measures what it claims (every figure cross-checked against an independent count) and that
 * --compare runs every target with the same flags. (Failing runs and refused options:
 * bench-faults.bench.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { bench, resultIn } from '../helpers/bench-run.ts';

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
    // Receipt minus acknowledgement across processes: a loaded machine can make it negative (the
    // editor read its ACK late); the test checks it is measured, not how fast.
    assert.ok(l.max! > 0 && l.p99! > 0 && Number.isFinite(l.min!), JSON.stringify(l));

    // Server accounting from /proc, and the derived figures.
    assert.ok(t.server.cpuSeconds > 0);
    assert.ok(t.server.rss.idleMB > 10 && t.server.rss.connectedMB > 0);
    assert.equal(typeof t.headline.rssPerViewerKB, 'number');
    assert.ok(t.headline.framesPerServerCpuSecond! > 0 && t.headline.viewersPerServerCore! > 0);
    assert.ok(t.simulator.rssPerViewerKB !== null && t.simulator.viewerCpuMicrosecondsPerFrame! > 0);
    assert.ok(t.timeline.length >= 3);
    // The tick interval is recorded: 100 ms, or more where a loaded machine stretched the adaptive tick.
    assert.ok(t.timeline.some((s) => s.framesPerSecond > 0 && s.serverCpuPct !== null && s.serverRssMB! > 0
      && s.tickIntervalMs !== null && s.tickIntervalMs! >= 100), JSON.stringify(t.timeline.map((s) => s.tickIntervalMs)));

    // The report: one self-contained file with the charts and the table.
    assert.ok((html.match(/<svg /g) ?? []).length >= 4, 'latency, delivery, CPU/RSS and tick charts');
    assert.match(html, /Latency, ack → viewer receipt/);
    assert.match(html, /frames per server CPU-second/);
    assert.doesNotMatch(html, /<script|<link|src="http/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('--compare runs the same workload against every target in one run, each server with the same node flags', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sim-test-'));
  // A module every server process imports first (--server-node-options): it leaves its argv behind.
  const probes = mkdtempSync(join(tmpdir(), 'sim-probe-'));
  const probe = join(probes, 'probe.mjs');
  writeFileSync(probe, "import { writeFileSync } from 'node:fs';\nwriteFileSync(new URL('./started-' + process.pid, import.meta.url), process.execArgv.join(' ') + ' | ' + process.argv.slice(1).join(' '));\n");
  try {
    const r = await bench(['--compare', 'brigade,socketio,ws-json,net,uws', '--viewers', '20', '--edits-per-second', '20', '--seconds', '2', '--editors', '2', '--settle-ms', '1000', '--out', out, '--no-progress', `--server-node-options=--import=${probe} --stack-size=900`]);
    assert.equal(r.code, 0, `exit 0; stderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
    const { result, html } = resultIn(out);
    assert.deepEqual(result.targets.map((t) => t.target), ['brigade', 'socketio', 'ws-json', 'net', 'uws']);
    for (const t of result.targets) {
      assert.equal(t.convergence.viewersConverged, 20, t.target);
      assert.equal(t.convergence.head, 40, t.target);
      assert.equal(t.delivered.events, 40 * 20, t.target);
      assert.ok(t.server.cpuSeconds > 0 && t.headline.framesPerServerCpuSecond! > 0, t.target);
    }
    for (const name of ['socketio', 'ws-json', 'net', 'uws']) assert.match(html, new RegExp(`<th>${name}</th>`));
    const started = readdirSync(probes).filter((f) => f.startsWith('started-')).map((f) => readFileSync(join(probes, f), 'utf8'));
    assert.equal(started.length, 5, `one probe per server process and none from the simulator: ${started.join(' | ')}`);
    for (const name of ['brigade.js', 'socketio.ts', 'ws-json.ts', 'net.ts', 'uws.ts']) {
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
