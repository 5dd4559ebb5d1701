/**
 * Smoke test of `brigade bench --scenario choir` at a tiny size: one step per mode (unsharded and
 * sharded) with 4 singers for 1 s, through the built CLI. It asserts the run completes and that
 * its result has the right shape (steps of both modes, the codec-only ceiling, the transport
 * floor, the owner's inner cost, the shard hand-off micro-benchmark's stages, the chart written, the singers' processes
 * at the nice value asked for); never a figure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import type { ChoirBenchResult } from '../../src/sim/choir-bench.ts';
import { bench } from '../helpers/bench-run.ts';

const dir = mkdtempSync(join(tmpdir(), 'choir-bench-smoke-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('runs both modes and writes a result of the right shape', async () => {
  const chart = join(dir, 'choir.svg');
  const run = await bench(['--scenario', 'choir', '--choir-steps', '4', '--seconds', '1', '--warmup', '0.5', '--ceiling-seconds', '0.2', '--step-ceiling-seconds', '0.2', '--floor-seconds', '1', '--floor-sockets', '200', '--frames-per-message', '5',
    '--room-size', '2', '--singer-nice', '5', '--choir-shards', '1', '--choir-handoff-seconds', '0.2', '--choir-handoff-rounds', '1', '--choir-handoff-rates', '500',
    '--out', dir, '--chart', chart]);
  assert.ok(run.code === 0, `exit ${run.code}: ${run.stderr}\n${run.stdout}`);
  const file = readdirSync(dir).find((f) => f.startsWith('choir-') && f.endsWith('.json'));
  assert.ok(file, 'a result file');
  const r = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ChoirBenchResult;
  assert.equal(r.scenario, 'choir');
  assert.equal(r.options.deadlineMs, 100, 'the deadline is the page\'s lead by default (MIX_LEAD_MS)');
  assert.deepEqual(r.steps.map((s) => [s.mode, s.singers]), [['owner', 4], ['sharded', 4]]);
  for (const s of r.steps) {
    assert.ok(s.due > 0 && s.serverFrames > 0, `${s.mode}: frames were sung and mixed`);
    assert.equal(s.errors, 0, `${s.mode}: ${s.firstErrors.join('; ')}`);
    assert.ok(s.onTimeFraction >= 0 && s.onTimeFraction <= 1);
    assert.equal(s.singersNice, 5, `${s.mode}: the singers' processes run at the nice asked for`);
    // The singer behind (100 ms) hears the one ahead: its mixes carry the voice (a simulator that
    // put both at one position, as before 2026-12-07 in a young room, read mostly silence).
    assert.ok(s.voicedFraction !== null && s.voicedFraction >= 0.5, `${s.mode}: the mixes decoded carry the voice ahead: ${s.voicedFraction}`);
    // It sang its delay (+ 200 ms) behind the room's clock: off by no more than a reply's time in
    // flight (the clock is the one in the reply) and the estimate of the room's clock at the join.
    const pe = s.positionErrorMs;
    assert.ok(pe && pe.min > -25 && pe.max < 60, `${s.mode}: the singer behind sings its delay behind the room's clock: ${JSON.stringify(pe)} ms off`);
  }
  assert.ok(r.steps[1].shardCores > 0, 'the shards\' CPU is read from the metrics');
  for (const s of r.steps) assert.ok(s.mainThreadCores > 0 && s.mainThreadCores <= s.ownerCores + 0.05, `${s.mode}: the main thread's CPU is part of the owner's: ${s.mainThreadCores} of ${s.ownerCores}`);
  for (const s of r.steps) {
    assert.ok(s.serverUsPerFrame !== null && s.serverUsPerFrame > 0, `${s.mode}: server CPU per frame`);
    assert.ok(s.singersPerServerCore > 0 && s.ofCeiling > 0, `${s.mode}: singers per server core against the ceiling`);
  }
  for (const mode of ['owner', 'sharded']) {
    const best = r.best[mode];
    if (best) assert.ok(best.singersPerServerCore > 0 && best.ofCeiling > 0, `${mode}: the best step's ratio to the ceiling`);
  }
  for (const s of r.steps) {
    // Whose the lost slots were: the server's late mixes by stage, both sides' loop delays, the singers' late mixes.
    const w = s.whose;
    assert.ok(w.serverLoop.max !== null && w.serverLoop.max >= 0 && w.singersLoop.max !== null && w.sendLag.max !== null, `${s.mode}: loop delays read: ${JSON.stringify(w)}`);
    assert.ok(w.sentWithReplyPending >= 0 && w.sentWithReplyPending <= s.due, `${s.mode}: sends with a reply pending: ${JSON.stringify(w)}`);
    // The singers' count of mixes past the page's lead, and of those not back within the deadline
    // (the pass rule, 100 ms here as the lead: as many; what onTimeFraction is made of).
    assert.ok(s.lateForLead >= 0 && s.lateForDeadline >= s.lateForLead && s.lateForDeadline <= s.due, `${s.mode}: ${s.lateForLead} past the lead, ${s.lateForDeadline} past the deadline`);
    assert.equal(s.onTimeFraction, Math.round((1 - s.lateForDeadline / s.due) * 1e5) / 1e5, `${s.mode}: on time = 1 − late at the singers ÷ due`);
    // The round trips' max is rounded to 0.01 ms in the summary: compare each way with that margin.
    const max = s.rttMs.max ?? 0;
    if (max > r.options.deadlineMs + 0.01) assert.ok(s.lateForDeadline > 0, `${s.mode}: a round trip of ${max} ms counted among the mixes past the deadline`);
    // The ceilings measured just before and just after the step: its ratio is taken against their mean.
    assert.ok(s.stepCeilingPerCore > 0 && s.stepCeilingAfterPerCore !== null && s.stepCeilingAfterPerCore > 0, `${s.mode}: the step's own ceilings`);
    const mean = (s.stepCeilingPerCore + s.stepCeilingAfterPerCore!) / 2;
    assert.ok(Math.abs(s.ofCeiling - s.singersPerServerCore / mean) < 0.02, `${s.mode}: ${s.ofCeiling} of the ceilings' mean ${mean} at ${s.singersPerServerCore} per core`);
    assert.ok(Math.abs(s.ofCeilingBefore - s.singersPerServerCore / s.stepCeilingPerCore) < 0.02, `${s.mode}: ${s.ofCeilingBefore} of the ceiling before, ${s.stepCeilingPerCore}`);
    // The machine's wake-up floor in the same window (a thread sleeping 1 ms).
    assert.ok(w.wakeFloorMs.sleepMs === 1 && w.wakeFloorMs.samples > 100 && w.wakeFloorMs.max! >= w.wakeFloorMs.p99!, `${s.mode}: wake-up floor: ${JSON.stringify(w.wakeFloorMs)}`);
    assert.ok(s.deadlineMisses === 0 ? w.late === null : w.late !== null && w.late.queueMs >= 0 && w.late.codecMs >= 0 && w.late.replyMs >= 0, `${s.mode}: late mixes by stage: ${JSON.stringify(w)}`);
  }
  assert.equal(r.steps[0].rpc, null, 'no shard RPCs unsharded');
  const rpc = r.steps[1].rpc;
  assert.ok(rpc && rpc.perFrame > 0 && rpc.framesPerRpc >= 1 && rpc.roundTripUs > 0 && rpc.restarts === 0, `the shard RPC stages are read from the metrics: ${JSON.stringify(rpc)}`);
  assert.ok(rpc.shardWorkUs > 0 && rpc.shardWakeUs >= 0 && rpc.ownerWakeUs >= 0 && rpc.backlogGapUs >= 0, `the hand-off stages: ${JSON.stringify(rpc)}`);
  // The hand-off micro-benchmark: every variant at the one rate, all frames back, stages read.
  assert.equal(r.handoff.length, 4);
  for (const h of r.handoff) {
    assert.equal(h.rate, 500);
    assert.ok(h.framesPerSecond > 0 && h.framesPerRpc >= 1 && h.shardWorkUs > 0 && h.latencyP50Ms > 0, JSON.stringify(h));
  }
  assert.deepEqual(new Set(r.handoff.map((h) => `${h.lanes} ${h.spinUs} ${h.flushOnReply}`)).size, 4, 'four variants');
  assert.ok(r.ceiling.framesPerCpuSecond > 0 && r.ceiling.singersPerCore > 0);
  // The transport floor: 200 sockets, a message of 5 frames every 100 ms each, for 1 s answered;
  // its CPU per reply (/proc counts CPU in 10 ms ticks: ~2,000 replies are a few ticks), per frame,
  // and the bound it leaves.
  const f = r.transportFloor;
  assert.ok(f && f.sockets === 200 && f.framesPerMessage === 5 && f.replies >= 1000 && f.usPerMessage > 0 && f.boundOfCeiling > 0 && f.boundOfCeiling < 1, `transport floor: ${JSON.stringify(f)}`);
  assert.ok(Math.abs(f.usPerFrame - f.usPerMessage / 5) < 0.02, `a message's floor is shared by its 5 frames: ${JSON.stringify(f)}`);
  assert.ok(f.floorBytes.request > 5 * 80 && f.floorBytes.reply > 5 * 160, `a message of 5 frames each way: ${JSON.stringify(f)}`);
  const codecUs = 1e6 / r.ceiling.framesPerCpuSecond;
  assert.ok(Math.abs(f.boundOfCeiling - codecUs / (codecUs + f.usPerFrame)) < 0.002, `the bound is codec ÷ (codec + floor per frame): ${JSON.stringify(f)}`);
  assert.deepEqual(r.inner.map((i) => i.singersInRoom), [4, 16, 64, 256]);
  // Sharded's owner budget at 90 % of the ceiling around its best step, from this run's figures.
  for (const s of r.steps) assert.ok(s.shardUsPerFrame !== null && (s.mode === 'owner' ? s.shardUsPerFrame === 0 : s.shardUsPerFrame > 0), `${s.mode}: the shards' CPU per frame: ${s.shardUsPerFrame}`);
  const sharded = r.best.sharded;
  const b = r.ownerBudget;
  if (sharded) {
    const step = r.steps.find((s) => s.mode === 'sharded' && s.singers === sharded.singers)!;
    assert.ok(b && b.ceilingPerCore === sharded.ceilingPerCore && b.shardUs === step.shardUsPerFrame && b.ownerUs === step.ownerUsPerFrame, `the budget is the best step's: ${JSON.stringify(b)}`);
    assert.equal(b.floorUs, f.usPerFrame);
    assert.equal(b.mixUs, r.inner[0].usPerSingerFrame, 'the mix at the room size nearest the run\'s (2: the 4-singer room)');
    assert.ok(Math.abs(b.ownerBudgetUs - (b.serverAllowedUs - b.shardUs)) < 0.002 && Math.abs(b.restUs! - (b.ownerUs - b.floorUs! - b.mixUs!)) < 0.002, JSON.stringify(b));
  } else assert.equal(b, null, 'no budget without a passing sharded step');
  assert.match(readFileSync(chart, 'utf8'), /^<svg[\s\S]*late mixes per 1,000[\s\S]*% of the codec-only ceiling[\s\S]*<\/svg>$/);
});

it('--frame-ms 60: the singers, the server and the ceiling all use 60 ms frames; a frame size the server does not serve is refused', async () => {
  const out = mkdtempSync(join(dir, 'f60-'));
  const run = await bench(['--scenario', 'choir', '--frame-ms', '60', '--choir-modes', 'sharded', '--choir-steps', '4', '--seconds', '1', '--warmup', '0.5', '--ceiling-seconds', '0.2', '--step-ceiling-seconds', '0.2',
    '--floor-seconds', '0', '--room-size', '2', '--choir-shards', '1', '--server-node-options=--max-semi-space-size=16', '--out', out]);
  assert.ok(run.code === 0, `exit ${run.code}: ${run.stderr}\n${run.stdout}`);
  const file = readdirSync(out).find((f) => f.startsWith('choir-') && f.endsWith('.json'));
  const r = JSON.parse(readFileSync(join(out, file!), 'utf8')) as ChoirBenchResult;
  assert.equal(r.options.frameMs, 60);
  assert.equal(r.options.framesPerMessage, 2, 'about 100 ms a message by default: two 60 ms frames');
  assert.equal(r.options.deadlineMs, 100, 'the page\'s lead, not the message\'s 120 ms');
  const s = r.steps[0];
  assert.equal(s.errors, 0, s.firstErrors.join('; '));
  // 4 singers for ~1 s at 16.7 frames a second each (60 ms frames), not 50.
  assert.ok(s.due >= 40 && s.due <= 120, `frames due at 60 ms a frame: ${s.due}`);
  assert.ok(s.voicedFraction !== null && s.voicedFraction >= 0.5, `the mixes decoded carry the voice ahead: ${s.voicedFraction}`);
  assert.ok(Math.abs(s.ofCeiling - s.singersPerServerCore / ((s.stepCeilingPerCore + s.stepCeilingAfterPerCore!) / 2)) < 0.02, `the ratio against the 60 ms ceilings around the step: ${JSON.stringify(s)}`);
  assert.ok(s.serverNodeFlags.includes('--max-semi-space-size=16'), `the server ran with --server-node-options: ${s.serverNodeFlags.join(' ')}`);
  assert.ok(s.serverNodeFlags.indexOf('--max-semi-space-size=16') > s.serverNodeFlags.indexOf('--max-semi-space-size=4'), 'after the shipped flag, so it wins');
  const badFlag = await bench(['--scenario', 'choir', '--server-node-options=--max-semi-space-size=16 ;reboot', '--out', out]);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--server-node-options takes node flags/);
  const bad = await bench(['--scenario', 'choir', '--frame-ms', '30', '--out', out]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--frame-ms: 20, 40, 60, got 30/);
});
