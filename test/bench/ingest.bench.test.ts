/**
 * The ingest benchmark's harness works end to end (bench/ingest.ts): at a tiny size, against a real
 * Brigade node on the embedded engine and one on a real redis-server, each beside its plain loop,
 * it writes a result in which publishes were acknowledged, none refused, the ACKs left in fewer
 * socket writes than there were ACKs, and both loops committed, and the ack floor (no storage) ran per read and per tick and gave a ceiling. A harness check, not a performance
 * test: no figure is compared with a threshold. Bad options stop it before anything starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IngestResult } from '../../bench/ingest.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/ingest.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    p.once('exit', (code) => resolve({ code, output }));
  });
}

test('bench/ingest runs Brigade and the plain loop of each engine in one run and reports both', async () => {
  const out = mkdtempSync(join(tmpdir(), 'ingest-test-'));
  try {
    const r = await run(['--engine', 'embedded,redis', '--seconds', '2', '--warmup-seconds', '1', '--clients', '1', '--connections', '2', '--in-flight', '20', '--out', out]);
    assert.equal(r.code, 0, r.output);
    const file = readdirSync(out).find((f) => f.startsWith('ingest-') && f.endsWith('.json'));
    assert.ok(file, `a result file in ${out}`);
    const result = JSON.parse(readFileSync(join(out, file), 'utf8')) as { bench: string; results: IngestResult[]; floors: { tickMs: number }[] };
    assert.equal(result.bench, 'ingest');
    assert.deepEqual(result.results.map((x) => x.engine), ['embedded', 'redis']);
    assert.deepEqual(result.floors.map((f) => f.tickMs), [0, 100], 'the floor ran ACKing per read and per tick');
    for (const x of result.results) {
      assert.ok(x.brigade.edits > 0 && x.brigade.cpuSeconds > 0, `${x.engine}: Brigade acknowledged publishes`);
      assert.equal(x.brigade.refused, 0, `${x.engine}: nothing refused`);
      assert.equal(x.brigade.inFlight, 40);
      assert.ok(x.brigade.socketWritesPerAck < 1, `${x.engine}: ACKs share writes (${x.brigade.socketWritesPerAck} per ACK)`);
      assert.ok(x.plain.edits > 0 && x.plain.batch >= 1, `${x.engine}: the plain loop committed`);
      assert.ok(x.ratio.perSecond > 0 && x.ratio.perCpuSecond > 0);
      assert.ok(x.floor.edits > 0 && x.floor.perCpuSecond > 0, `${x.engine}: the ack floor acknowledged publishes`);
      assert.ok(x.ceiling.ratio > 0 && x.ceiling.ratio < 1, `${x.engine}: floor + plain costs more than plain alone (${x.ceiling.ratio})`);
      assert.equal(x.ceiling.perCpuSecond, Math.round(1e6 / (1e6 / x.floor.perCpuSecond + 1e6 / x.plain.perCpuSecond)));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('bench/ingest refuses bad options before starting anything', async () => {
  for (const [args, reason] of [
    [['--engine', 'sqlite'], /--engine takes embedded, redis or both/],
    [['--in-flight', '0'], /--in-flight must be a whole number from 1 to 10000/],
    [['--floor-tick-ms', '-5'], /--floor-tick-ms takes whole numbers from 0 to 10000/],
    [['--clients', '16', '--connections', '500', '--in-flight', '100'], /over the channel's 100,000 pending limit/],
  ] as const) {
    const r = await run([...args]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, reason);
  }
});
