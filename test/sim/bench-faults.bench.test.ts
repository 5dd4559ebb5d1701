/**
 * `brigade bench` refusing: the convergence check fails a run whose viewer stream was corrupted on
 * purpose, and bad options are refused before anything starts. (The runs that succeed are in
 * bench.bench.test.ts; the two files run side by side.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { bench, resultIn } from '../helpers/bench-run.ts';

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
    // Each case is its own process and starts nothing: run them side by side.
    const results = await Promise.all(cases.map(([args]) => bench([...args, '--out', out])));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i];
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
