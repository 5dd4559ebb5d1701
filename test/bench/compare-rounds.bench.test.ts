/**
 * bench/compare-rounds.ts: the pooling (all frames over all CPU-seconds, not a mean of per-round
 * ratios), the rotation of the targets' order, and one tiny real run end to end (two rounds of
 * `brigade bench --compare` against a real Brigade and the raw net peer). A harness check: no figure
 * is compared with a threshold.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { groups, rotation, summarize, type BenchFile, type CompareRounds } from '../../bench/compare-rounds.ts';
import { runForResult } from '../../bench/lib/rounds.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function file(order: string[], figures: Record<string, [frames: number, cpuSeconds: number, simMicrosPerFrame?: number]>): BenchFile {
  return {
    startedAt: '2026-11-22T00:00:00.000Z',
    machine: { cores: 2, cpuModel: 'test', node: 'v20' },
    options: { viewers: 10, editsPerSecond: 1, seconds: 1, tickMs: 200, maxTickMs: 200 },
    targets: order.map((target) => ({
      target,
      ok: true,
      delivered: { frames: figures[target][0] },
      server: { cpuSeconds: figures[target][1], rss: { perViewerKB: 5 } },
      headline: { framesPerServerCpuSecond: Math.round(figures[target][0] / figures[target][1]), latencyMs: { p99: 10 }, converged: true },
      simulator: { cpuMicrosecondsPerFrame: figures[target][2] ?? 10 },
    })),
  };
}

describe('compare rounds', () => {
  it('rotates the order round by round', () => {
    const t = ['brigade', 'net', 'socketio'];
    assert.deepEqual([0, 1, 2, 3].map((i) => rotation(t, i).join(',')), ['brigade,net,socketio', 'net,socketio,brigade', 'socketio,brigade,net', 'brigade,net,socketio']);
  });

  it('pools every frame over every CPU-second, and lists the per-round spread', () => {
    const r = summarize([
      file(['brigade', 'net'], { brigade: [1000, 1], net: [1000, 1] }), // 1×
      file(['net', 'brigade'], { brigade: [3000, 1], net: [1000, 2] }), // 6×
    ], ['a.json', 'b.json'], 'cmd', new Date(0));
    assert.equal(r.pooled.brigade.perCpuSecond, 2000);
    assert.equal(r.pooled.net.perCpuSecond, 667);
    assert.equal(r.ratios.net.pooled, 2.999, 'pooled, not the mean of 1× and 6×');
    assert.deepEqual([r.ratios.net.min, r.ratios.net.median, r.ratios.net.max], [1, 3.5, 6]);
    assert.equal(r.ratios.net.target, 0.9);
    assert.deepEqual(r.rounds.map((x) => x.order.join(',')), ['brigade,net', 'net,brigade']);
    assert.throws(() => summarize([file(['brigade', 'net'], { brigade: [1, 1], net: [1, 1] }), file(['brigade'], { brigade: [1, 1] })], ['a', 'b'], 'cmd', new Date(0)), /a round without net/);
  });

  it('flags the slots whose simulator spent over 1.1x its median per frame, and pools the others apart', () => {
    const r = summarize([
      file(['brigade', 'net'], { brigade: [1000, 1, 10], net: [1000, 1, 12] }),
      file(['net', 'brigade'], { brigade: [1000, 2, 13], net: [1000, 1, 12] }), // Brigade's slot slow: 13 > 1.1 × 10
      file(['brigade', 'net'], { brigade: [1000, 1, 10], net: [1000, 2, 20] }), // raw net's slot slow
    ], ['a', 'b', 'c'], 'cmd', new Date(0));
    assert.deepEqual(r.rounds.map((x) => x.slow), [[], ['brigade'], ['net']]);
    assert.equal(r.pooled.brigade.perCpuSecond, 750);
    assert.deepEqual(r.pooled.brigade.steady, { rounds: 2, frames: 2000, cpuSeconds: 2, perCpuSecond: 1000 });
    assert.equal(r.pooled.net.steady!.perCpuSecond, 1000);
    assert.equal(r.ratios.net.steady, 1);
    assert.equal(r.ratios.net.pooled, 1);
  });

  it('runs the baseline build on its own, in its place in the rotation', () => {
    assert.deepEqual(groups(['brigade', 'net', 'baseline', 'uws']), [['brigade', 'net'], ['baseline'], ['uws']]);
    assert.deepEqual(groups(['baseline', 'brigade', 'net']), [['baseline'], ['brigade', 'net']]);
  });

  it('runs real rounds end to end and writes the pooled result', { timeout: 240_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'brigade-rounds-'));
    try {
      const resultFile = await runForResult(['--import', 'tsx', join(root, 'bench', 'compare-rounds.ts'), '--rounds', '2', '--targets', 'brigade,net',
        '--viewers', '20', '--edits-per-second', '20', '--seconds', '2', '--settle-ms', '500', '--out', out], root, '[rounds test]');
      const r = JSON.parse(readFileSync(resultFile, 'utf8')) as CompareRounds;
      assert.equal(r.rounds.length, 2);
      assert.deepEqual(r.rounds.map((x) => x.order.join(',')), ['brigade,net', 'net,brigade']);
      for (const name of ['brigade', 'net']) {
        assert.equal(r.pooled[name].converged, 2, `${name} converged in both rounds`);
        assert.ok(r.pooled[name].frames > 0 && r.pooled[name].cpuSeconds > 0);
      }
      assert.ok(r.ratios.net.pooled > 0);
      assert.equal(readdirSync(out).filter((f) => /^bench-.*\.json$/.test(f)).length, 2, "each round's own result is kept");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
