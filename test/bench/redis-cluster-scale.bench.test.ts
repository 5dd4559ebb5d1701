/**
 * The Redis Cluster scale bench (bench/redis-cluster-scale.ts) works end to end at a tiny size: it
 * starts a 1-primary and a 2-primary cluster, drives the engine from two worker processes, and
 * writes a result with one row per primary count in which appends were acknowledged and none
 * failed. A harness check: no figure is compared with a threshold.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const root = fileURLToPath(new URL('../..', import.meta.url));

it('runs with 1 and 2 primaries and reports acknowledged events, ACK latency and CPU per primary', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-cluster-scale-'));
  try {
    const run = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/redis-cluster-scale.ts'),
      '--primaries', '1,2', '--channels', '12', '--seconds', '2', '--in-flight', '2', '--straggler-ms', '200', '--results-dir', dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    run.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    run.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    const code = await new Promise<number | null>((resolve) => run.once('exit', resolve));
    assert.equal(code, 0, output);
    const files = readdirSync(dir).filter((f) => f.startsWith('redis-cluster-scale-'));
    assert.equal(files.length, 1, 'one result file');
    const result = JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as { options: Record<string, unknown>; rows: Array<Record<string, unknown>> };
    assert.deepEqual(result.rows.map((r) => r.primaries), [1, 2]);
    assert.deepEqual(result.options.stragglerMsList, [200], 'the straggler bound asked for is recorded');
    assert.deepEqual(result.rows.map((r) => r.stragglerMs), [200, 200]);
    for (const row of result.rows) {
      assert.ok((row.eventsPerS as number) > 0, 'events acknowledged');
      assert.equal(row.failures, 0, 'no append refused');
      // Calls with a shard left running (in doubt) are possible on a loaded machine: counted, not failed.
      assert.equal(typeof row.inDoubt, 'number');
      assert.equal((row.redisCpuPerPrimary as number[]).length, row.primaries, 'CPU measured per primary');
      assert.ok((row.ackP99Ms as number) >= (row.ackP50Ms as number));
    }
    assert.match(output, /2 primaries, min-replicas-acked 0, straggler 200 ms, round 1: \d+ acknowledged events\/s/);
    assert.match(output, /summary: 2 primaries, min-replicas-acked 0, straggler 200 ms, 1 round: median \d+ events\/s, median ACK p50 [\d.]+ ms, median p99 [\d.]+ ms/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
