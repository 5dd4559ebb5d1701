/**
 * The tracker benchmark's harness works end to end (bench/tracker/announce.ts): at a tiny size,
 * against a real Brigade node (and two nodes over a real redis-server) and the real
 * bittorrent-tracker server, it produces a result in which announces were answered, offers were
 * relayed and answered, answers reached the peers that made the offers, and nothing failed. Then
 * the doc and chart are generated from that result. A harness check, not a performance test: no
 * figure is compared with a threshold.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from '../../bench/tracker/rounds.ts';
import { BEGIN, END, updateDoc } from '../../bench/tracker/report.ts';
import type { TargetResult, TrackerBenchResult } from '../../bench/tracker/result.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/tracker/announce.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    p.once('exit', (code) => resolve({ code, output }));
  });
}

function readResult(dir: string): TrackerBenchResult {
  const files = readdirSync(dir).filter((f) => /^tracker-.*\.json$/.test(f));
  assert.equal(files.length, 1, `one result file in ${dir}`);
  return JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as TrackerBenchResult;
}

/** What every target of a clean tiny run must show. */
function assertSane(t: TargetResult, peers: number): void {
  const c = t.counters;
  const name = t.target;
  assert.equal(t.connected, peers, `${name}: every peer connected`);
  assert.equal(t.connectFailures, 0, `${name}: no failed connect`);
  assert.ok(c.announceResponses > 0, `${name}: announce responses in the window`);
  assert.ok(c.offersReceived > 0, `${name}: offers relayed to peers`);
  assert.ok(c.answersSent > 0, `${name}: peers answered offers`);
  assert.ok(c.answersReceived > 0, `${name}: answers relayed back`);
  assert.equal(c.answersMatched, c.answersReceived, `${name}: every answer came back to the peer that made the offer, with its offer_id`);
  assert.deepEqual(c.failures, {}, `${name}: no failure reason`);
  assert.equal(c.malformed, 0, `${name}: no malformed message`);
  assert.equal(c.misrouted, 0, `${name}: no message for another peer or swarm`);
  assert.equal(c.announceTimeouts, 0, `${name}: no announce unanswered`);
  assert.equal(c.unsolicitedResponses, 0, `${name}: no reply without an announce`);
  assert.equal(c.closedByServer, 0, `${name}: no socket closed by the server`);
  assert.equal(t.errors, 0, `${name}: errors total 0`);
  // Seeders (left 0) and leechers both exist in every swarm of 10.
  assert.ok(t.swarm.meanComplete > 0 && t.swarm.meanIncomplete > 0, `${name}: complete and incomplete both counted`);
  assert.ok(t.cpu.serverSeconds > 0, `${name}: server CPU measured from /proc`);
  assert.ok(t.perServerCpuSecond.announceResponses > 0, `${name}: responses per server CPU-second`);
  assert.ok(t.perServerCpuSecond.messages > t.perServerCpuSecond.announceResponses, `${name}: offers and answers counted among messages`);
  assert.ok(t.latencyMs.announceRoundTrip.samples > 0 && t.latencyMs.announceRoundTrip.p50 !== null, `${name}: round trips measured`);
  assert.ok(t.latencyMs.offerToAnswer.samples > 0, `${name}: offer → answer measured`);
  assert.ok(t.rssMB.connected > 0, `${name}: server RSS read`);
  assert.ok(t.timeline.length >= 1, `${name}: a per-second timeline`);
}

describe('tracker benchmark harness', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'tracker-bench-test-')); });
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  let oneNode: TrackerBenchResult;

  it('runs against one Brigade node and bittorrent-tracker in one run, with offers and answers relayed and no errors', async () => {
    const out = join(dir, 'one');
    const { code, output } = await runBench(['--peers', '40', '--swarms', '4', '--offers', '3', '--seconds', '2', '--warmup', '1',
      '--churn-s', '0', '--workers', '2', '--targets', 'brigade,reference', '--results-dir', out]);
    assert.equal(code, 0, output);
    oneNode = readResult(out);
    assert.equal(oneNode.bench, 'tracker-announce');
    assert.deepEqual(oneNode.targets.map((t) => t.target), ['brigade', 'reference']);
    for (const t of oneNode.targets) assertSane(t, 40);
    const brigade = oneNode.targets[0];
    assert.ok(brigade.server.flags.includes('--tracker-max-messages-per-second'), 'the tracker flood limit is turned off for the bench');
    assert.equal(oneNode.targets[1].serverWarnings?.warnings, 0, 'bittorrent-tracker saw no bad request');
    assert.ok(oneNode.comparison && typeof oneNode.comparison.announceResponsesPerCpuSecondRatio === 'number' && oneNode.comparison.announceResponsesPerCpuSecondRatio > 0);
  });

  it('runs against two Brigade nodes over redis-server, relaying across nodes, with churn', async () => {
    const out = join(dir, 'two');
    const { code, output } = await runBench(['--peers', '40', '--swarms', '4', '--offers', '3', '--seconds', '2', '--warmup', '1',
      '--churn-s', '1', '--workers', '1', '--targets', 'brigade', '--brigade-nodes', '2', '--results-dir', out]);
    assert.equal(code, 0, output);
    const r = readResult(out);
    const t = r.targets[0];
    assert.equal(t.nodes, 2);
    assert.equal(t.server.pids.length, 2);
    assert.ok(t.server.redis, 'a redis-server was started and measured');
    assert.ok(t.counters.stoppedSent > 0, 'peers churned (stopped, then started)');
    // Each swarm's members alternate nodes, so offers and answers must cross between them.
    assert.ok(t.counters.crossNodeOffers > 0, 'offers from a peer on the other node arrived');
    assert.ok(t.counters.crossNodeAnswers > 0, 'answers from a peer on the other node came back to the offerer');
    assert.equal(t.counters.malformed + t.counters.misrouted + t.counters.announceTimeouts + t.counters.closedByServer, 0, 'no protocol error across nodes');
    assert.equal(r.comparison, null, 'no ratio without the reference');
  });

  it('writes the doc section and the chart from a result', () => {
    const doc = join(dir, 'doc.md');
    const svg = join(dir, 'chart.svg');
    copyFileSync(join(root, 'docs', 'benchmarks-tracker.md'), doc);
    const resultFile = join(dir, 'result.json');
    writeFileSync(resultFile, JSON.stringify(oneNode));
    updateDoc(oneNode, resultFile, doc, svg);
    const text = readFileSync(doc, 'utf8');
    const section = text.slice(text.indexOf(BEGIN), text.indexOf(END));
    assert.match(section, /announce responses per server CPU-second/);
    assert.match(section, /\| \*\*Brigade\*\* \| bittorrent-tracker \|/);
    assert.match(section, new RegExp(`Brigade / bittorrent-tracker, announce responses per server CPU-second: ${oneNode.comparison!.announceResponsesPerCpuSecondRatio}×`));
    assert.ok(text.indexOf(END) > text.indexOf(BEGIN), 'markers kept');
    // Running it twice replaces the section instead of adding a second one.
    updateDoc(oneNode, resultFile, doc, svg);
    assert.equal(readFileSync(doc, 'utf8'), text);
    const chart = readFileSync(svg, 'utf8');
    assert.match(chart, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(chart, /bittorrent-tracker/);
    assert.match(chart, /aquatic_ws, published/);
  });

  it('pools alternating rounds: all of a target\'s responses over all of its server CPU-seconds', () => {
    const first = join(dir, 'round-1.json');
    const second = join(dir, 'round-2.json');
    writeFileSync(first, JSON.stringify(oneNode));
    // The second round ran the other way round, on a machine twice as slow for Brigade.
    const slower = structuredClone(oneNode);
    slower.targets.reverse();
    const b2 = slower.targets.find((t) => t.target === 'brigade')!;
    b2.cpu.serverSeconds *= 2;
    b2.perServerCpuSecond.announceResponses /= 2;
    writeFileSync(second, JSON.stringify(slower));
    const r = summarize([first, second], 'cmd', new Date());
    assert.deepEqual(r.rounds.map((x) => x.order), ['brigade → reference', 'reference → brigade']);
    const [b, ref] = oneNode.targets;
    const responses = (t: typeof b) => t.rates.announceResponsesPerSecond * t.windowSeconds;
    const cpu = (t: typeof b) => t.cpu.serverSeconds + t.cpu.redisSeconds;
    const pooledBrigade = (2 * responses(b)) / (3 * cpu(b));
    const pooledReference = responses(ref) / cpu(ref);
    assert.ok(Math.abs(r.pooled.brigade.perCpuSecond - pooledBrigade) <= 1, `${r.pooled.brigade.perCpuSecond} vs ${pooledBrigade}`);
    assert.ok(Math.abs(r.pooled.reference.perCpuSecond - pooledReference) <= 1);
    assert.ok(Math.abs(r.pooled.ratio - pooledBrigade / pooledReference) < 0.01 * r.pooled.ratio, 'pooled, not the mean of the rounds');
    assert.equal(r.perRoundRatio.max, r.rounds[0].ratio);
    assert.ok(r.perRoundRatio.min < r.perRoundRatio.max);
  });

  it('refuses bad options with a clear message and starts nothing', async () => {
    const out = join(dir, 'bad');
    for (const [args, message] of [
      [['--peers', 'many'], /--peers must be a number/],
      [['--targets', 'brigade,opentracker'], /unknown target opentracker/],
      [['--brigade-nodes', '3'], /--brigade-nodes must be a number from 1 to 2/],
      [['--peers', '10', '--swarms', '20'], /--swarms must not exceed --peers/],
      [['--frobnicate'], /unknown argument --frobnicate/],
    ] as const) {
      const { code, output } = await runBench([...args, '--results-dir', out]);
      assert.equal(code, 1, output);
      assert.match(output, message);
    }
    assert.throws(() => readdirSync(out), /ENOENT/, 'no result written');
  });
});
