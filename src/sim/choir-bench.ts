/**
 * `brigade bench --scenario choir`: how many bucket-brigade singers one node serves in real time,
 * with the codec in the owner thread (`--choir-owner-codec 1`, unsharded) against codec shards
 * (worker threads), beside the codec-only ceiling measured in the same run. docs/choir.md and
 * docs/BENCHMARKS.md ("choir") have the figures and how to read them.
 *
 * Per mode, a ramp of steps (--choir-steps 40,80,…): a fresh `brigade serve --apps choir`, singer
 * processes (choir-worker.ts) joining rooms of --room-size singers, a warm-up, then a window of
 * --seconds in which each singer sends a real Opus frame every 20 ms (--frame-ms), k a message, and receives its mixes. A step
 * passes when at least 99.9 % of the frames due in the window got their mix back at the singer
 * within the deadline of being sent (--choir-deadline-ms; by default the page's lead, MIX_LEAD_MS,
 * 100 ms; a frame unanswered that long at the report is lost too) and nothing failed (the singers
 * send every slot, as the page does: choir-worker.ts); a mode stops at its first failing step.
 * Counted at the singers since 2026-12-07 13:05 UTC: the server's own count
 * (brigade_choir_mix_deadline_misses_total, from the handler's start) misses the time a frame waits in the socket and the event loop of a saturated
 * owner, and read 100 % on time where the singers got 8 % of their mixes late; it is still
 * reported, with the mixes later than the page's lead (MIX_LEAD_MS). Each step's ratio to the
 * codec-only ceiling is taken against a ceiling measured just before that step
 * (--step-ceiling-seconds, 1): this machine's speed moves by a quarter within minutes.
 * Measured per step: the server's CPU (all its threads, /proc), the shards' CPU (the new
 * brigade_choir_shard_cpu_seconds_total), so the owner's CPU per singer frame, and the client's
 * round trips and CPU.
 *
 * The codec-only ceiling: one thread doing only each singer's decode + encode (same bitrate and
 * complexity and frame size, the voice packets the singers send), frames per CPU-second / a singer's
 * frames per second (50 at 20 ms, 16.7 at 60 ms) = singers per core.
 * The owner's inner cost: the room's write + read (mix, own-voice removal, clipping) per singer
 * frame at several room sizes, in this process (src/apps/choir/room.ts), no codec or transport.
 */
import { describeWakeFloor, WakeProbe, type WakeFloor } from './wake-probe.ts';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getPriority, setPriority, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultFramesPerMessage, FRAME_MS_CHOICES, Room } from '../apps/choir/room.ts';
import { tone } from '../apps/choir/dsp.ts';
import { MIX_LEAD_MS } from '../apps/choir/wire.ts';
import type { ChoirSingerSpec, ChoirWorkerIn, ChoirWorkerOut, ChoirWorkerStats } from './choir-messages.ts';
import { handoffBench, type HandoffFigure } from './choir-handoff.ts';
import { Histogram } from './histogram.ts';
import { shippedNodeFlags, startBrigade, type StartedBrigade } from './listening.ts';
import { cpuSeconds, machineInfo, threadCpuSeconds } from './proc.ts';
import { parseNodeFlags } from './options.ts';
import { ROOT, stopProcess } from './servers.ts';
import { esc, panelSvg } from './svg.ts';
import { startWorker, type Worker } from './workers.ts';

const require = createRequire(import.meta.url);
interface Opus { encode(pcm: Buffer): Buffer; decode(p: Buffer): Buffer; setBitrate(b: number): void; applyEncoderCTL(c: number, v: number): void }
/** The native Opus binding, loaded at first use: the CLI imports this module statically, and no other command should load it. */
const opusEncoder = (): new (r: number, c: number) => Opus => (require('@discordjs/opus') as { OpusEncoder: new (r: number, c: number) => Opus }).OpusEncoder;

export interface ChoirBenchOptions {
  steps: number[];
  modes: ('owner' | 'sharded')[];
  seconds: number;
  warmupSeconds: number;
  roomSize: number;
  singerProcesses: number;
  /**
   * The simulated singers' processes run at this nice value (every thread of theirs, set once they
   * have joined): 10 by default, 0 to leave them as started. In a deployment the singers are on
   * other machines; on this 2-core machine their process shares the server's cores, and at the
   * same priority its bursts preempt the server's owner and shard threads for milliseconds of a
   * 20 ms deadline. docs/choir.md "Singers' priority" has what it changes.
   */
  singerNice: number;
  shards: number;
  /** --choir-shard-spin-us of the server (sharded mode). */
  shardSpinUs: number;
  /** --choir-batch-ms of the server (sharded mode): how long a shard's batch gathers, ms. */
  batchMs: number;
  /** --choir-poll-replies of the server (sharded mode): 1, look for shard replies at every frame; 0, waitAsync only. */
  pollReplies: number;
  /**
   * --choir-frame-ms of the server (20, 40 or 60): the audio in each Opus frame, for the singers, the
   * server and the codec-only ceiling alike (the seed's client uses 60 ms).
   */
  frameMs: number;
  /**
   * --server-node-options: node flags for the Brigade servers, after the shipped ones on
   * bin/brigade.js's #! line (a later flag wins: `--max-semi-space-size=16` for a choir node's young
   * generation, docs/choir.md "The young generation").
   */
  serverNodeOptions: string[];
  /**
   * --choir-frames-per-message of the server: frames in each singer's message, as the page sends (the
   * singers read it from their join reply). 0 (the default): about 100 ms, as the server's default (5 at 20 ms, 2 at 60 ms).
   */
  framesPerMessage: number;
  bitrate: number;
  complexity: number;
  /**
   * A mix is on time when its message's reply is back within this of the message being sent (the
   * pass rule; also the server's --choir-deadline-ms). Default: the page's lead, MIX_LEAD_MS (100
   * ms): the page asks for a message's mixes that far ahead of playing the first of them, whatever
   * the message's length, so a reply later than that is a mix the page does not have in time. Until
   * 2026-12-08's session 12 the default was one message's length (100 ms at 5 × 20 ms, 120 at 2 ×
   * 60 ms): 20 ms looser than the page at 60 ms frames, and far looser at longer messages.
   */
  deadlineMs: number;
  decodeEvery: number;
  ceilingSeconds: number;
  /** The ceiling measured again just before each step, seconds (its ratio is taken against it). */
  stepCeilingSeconds: number;
  /** The transport floor's window, seconds (0: not measured), and its sockets. */
  floorSeconds: number;
  floorSockets: number;
  /** The shard hand-off micro-benchmark (choir-handoff.ts): seconds per variant and load, 0: skipped; and its rounds. */
  handoffSeconds: number;
  handoffRounds: number;
  /** Its loads, frames per second (50 per singer). */
  handoffRates: number[];
  out: string;
  /** Write docs/bench-choir.svg from the result too. */
  chart: string;
}

export interface ChoirStep {
  mode: 'owner' | 'sharded';
  singers: number;
  passed: boolean;
  /** The fraction of mixes in time: 1 − lateForDeadline / due (the singers' count: the whole path). */
  onTimeFraction: number;
  due: number;
  serverFrames: number;
  deadlineMisses: number;
  /** Mixes the singers got later than the page's lead (MIX_LEAD_MS) after sending, or not at all. */
  lateForLead: number;
  /** Mixes the singers did not get within the deadline of sending (ChoirWorkerStats.lateForDeadline): the pass rule. */
  lateForDeadline: number;
  /** The codec-only ceiling measured just before this step (singers per core). */
  stepCeilingPerCore: number;
  /**
   * The ceiling measured just after it (the next step's "before"; null without --step-ceiling-seconds):
   * ofCeiling is taken against the mean of the two, the machine's speed on both sides of the step.
   */
  stepCeilingAfterPerCore: number | null;
  /** singersPerServerCore ÷ the ceiling before the step alone (what ofCeiling was until session 9). */
  ofCeilingBefore: number;
  errors: number;
  firstErrors: string[];
  rttMs: ReturnType<Histogram['summary']>;
  serverCores: number;
  shardCores: number;
  /** The server's CPU outside its codec shards: its main thread and its other threads (V8's GC helpers, libuv's). */
  ownerCores: number;
  /** Of ownerCores, the main thread's alone (/proc/<pid>/task/<pid>/stat). */
  mainThreadCores: number;
  /** Owner-thread CPU per singer frame, µs (sharded: without the codec; owner mode: with it). */
  ownerUsPerFrame: number | null;
  /** Server CPU (all threads) per frame added, µs. */
  serverUsPerFrame: number | null;
  /** The codec shards' CPU per frame added, µs (0 unsharded). */
  shardUsPerFrame: number | null;
  /**
   * The issue's figure: singers per server core, and that as a fraction of the codec-only ceiling's
   * singers per core measured in the same run. Counted from the frames the server added per CPU
   * second ÷ a singer's frames per second (50 at 20 ms): singers ÷ server cores when every frame due was served (a passing step), and not
   * inflated by a failing step whose singers lost frames.
   */
  singersPerServerCore: number;
  ofCeiling: number;
  clientCores: number;
  /** The singers' processes' nice value in the window, read back from their main threads (--singer-nice). */
  singersNice: number;
  /** The node flags the step's server ran with, read from its /proc/<pid>/cmdline (the shipped ones, then --server-node-options). */
  serverNodeFlags: string[];
  /** Of the mixes the decoding singers got (one in --decode-every, each with someone ahead), the share that carried the voice. */
  voicedFraction: number | null;
  /** Where those singers sang against their delay (ChoirWorkerStats.positionErrorMs), ms. */
  positionErrorMs: { min: number; max: number } | null;
  /**
   * Whose the lost slots were (docs/choir.md "Which misses are whose"). `late`: the server's late
   * mixes, their mean time per stage (arrived → RPC sent, the RPC's round trip or the owner's codec,
   * reply read → answered), ms; `serverLoop` / `singersLoop`: the event-loop delay of the server's
   * main thread and of the singers' processes in the window, ms (p99, max); `sentWithReplyPending`:
   * frames sent with a previous one of the same singer still in flight; `sendLag`: how late the
   * singers sent after their slots' times, ms.
   */
  whose: {
    late: { queueMs: number; codecMs: number; replyMs: number; shardWakeMs: number; shardWorkMs: number; ownerWakeMs: number } | null;
    serverLoop: { p99: number | null; max: number | null };
    singersLoop: { p99: number | null; max: number | null };
    sentWithReplyPending: number;
    sendLag: { p99: number | null; max: number | null };
    /**
     * The machine's wake-up floor in the window (src/sim/wake-probe.ts): how late a thread sleeping
     * 1 ms woke. A mix crosses at least three wake-ups (the server's main thread for the frame,
     * the shard, the main thread again for the reply), so its 20 ms deadline holds only while
     * this machine's wake-ups stay well under that.
     */
    wakeFloorMs: WakeFloor;
  };
  /**
   * Sharded only (null otherwise): the shard RPCs' stages in the window. A round trip is REQUEST
   * stored → REPLY read by the owner (the codec work and both thread hand-offs); a frame's wait is
   * its time queued behind the RPC in flight.
   */
  rpc: {
    perFrame: number; framesPerRpc: number; roundTripUs: number; waitUs: number; restarts: number;
    /** The round trip's stages and the shard's wait on the owner, means per RPC (docs/choir.md "Hand-off"). */
    shardWakeUs: number; shardWorkUs: number; ownerWakeUs: number; backlogGapUs: number;
  } | null;
}

export interface ChoirBenchResult {
  scenario: 'choir';
  startedAt: string;
  command: string;
  machine: ReturnType<typeof machineInfo>;
  options: ChoirBenchOptions;
  steps: ChoirStep[];
  /** Each mode's largest passing step: singers, the server's cores, singers per server core, and that ÷ the ceiling's singers per core. */
  best: Record<string, { singers: number; serverCores: number; singersPerServerCore: number; ofCeiling: number; ceilingPerCore: number } | null>;
  /**
   * The transport floor: the CPU of a process that only answers each singer-sized WebSocket message
   * (a message of the run's frames per message: floorBytes, one per socket per that many frames' ms) with
   * the `ws` library, per message and per frame; and what it leaves of the codec-only ceiling to
   * any server that receives and answers singers' messages of that many frames over a WebSocket:
   * codec µs ÷ (codec µs + floor µs per frame). null: not measured.
   */
  transportFloor: {
    sockets: number; serverCores: number; framesPerMessage: number; usPerMessage: number; usPerFrame: number; replies: number; boundOfCeiling: number;
    /** One message each way: its bytes (REQUEST and REPLY frames of that many voice packets of ~80 bytes and mix packets of ~160 per 20 ms). */
    floorBytes: { request: number; reply: number };
  } | null;
  /** The codec-only ceiling at the start of the run (each step's own is ChoirStep.stepCeilingPerCore). */
  ceiling: { framesPerCpuSecond: number; singersPerCore: number; decodeUs: number; encodeUs: number };
  inner: { singersInRoom: number; usPerSingerFrame: number }[];
  handoff: HandoffFigure[];
  /** Sharded's best step against the issue's 90 %: what the owner may spend beside the shard, and what it spent (ownerBudget). null: none passed. */
  ownerBudget: OwnerBudget | null;
}

/**
 * Sharded at `target` of the codec-only ceiling, in µs of CPU per frame: the server may spend the
 * ceiling's codec ÷ target; the shard spent its part, the rest is the owner's budget. What the
 * owner spent, split into the transport floor (a WebSocket server that only answers the same
 * messages, this run), the room's mix (write + read at the run's room size, this run), and the
 * rest (the request's handling, the shard RPC's owner side, GC). A figure, not a rule: the
 * ceiling codes the ceiling's voice, the server its singers' mixes (a front singer's is silence).
 */
export interface OwnerBudget {
  target: number;
  ceilingPerCore: number;
  /** The ceiling's codec CPU per frame, µs: 1e6 ÷ (ceilingPerCore × a singer's frames per second). */
  ceilingUsPerFrame: number;
  /** ceilingUsPerFrame ÷ target: all the server may spend per frame. */
  serverAllowedUs: number;
  shardUs: number;
  /** serverAllowedUs − shardUs. */
  ownerBudgetUs: number;
  ownerUs: number;
  floorUs: number | null;
  mixUs: number | null;
  /** ownerUs − floorUs − mixUs (null without both). */
  restUs: number | null;
}

export function ownerBudget(step: Pick<ChoirStep, 'shardUsPerFrame' | 'ownerUsPerFrame'>, ceilingPerCore: number, frameMs: number,
  floorUs: number | null, mixUs: number | null, target = 0.9): OwnerBudget | null {
  if (step.shardUsPerFrame === null || step.ownerUsPerFrame === null || !(ceilingPerCore > 0)) return null;
  const ceilingUsPerFrame = 1e6 / (ceilingPerCore * (1000 / frameMs));
  const serverAllowedUs = ceilingUsPerFrame / target;
  return {
    target, ceilingPerCore, ceilingUsPerFrame: round(ceilingUsPerFrame), serverAllowedUs: round(serverAllowedUs), shardUs: step.shardUsPerFrame,
    ownerBudgetUs: round(serverAllowedUs - step.shardUsPerFrame), ownerUs: step.ownerUsPerFrame, floorUs, mixUs,
    restUs: floorUs === null || mixUs === null ? null : round(step.ownerUsPerFrame - floorUs - mixUs),
  };
}

/** The room's mix per singer frame at the room size nearest `roomSize` among those measured. */
export function mixUsAt(inner: ChoirBenchResult['inner'], roomSize: number): number | null {
  if (inner.length === 0) return null;
  return inner.reduce((a, b) => (Math.abs(b.singersInRoom - roomSize) < Math.abs(a.singersInRoom - roomSize) ? b : a)).usPerSingerFrame;
}

const num = (v: string, name: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
  return n;
};

export function parseChoirOptions(argv: string[]): ChoirBenchOptions {
  const o: ChoirBenchOptions = {
    steps: [40, 80, 120, 160, 200, 240, 280], modes: ['owner', 'sharded'], seconds: 6, warmupSeconds: 2, roomSize: 16,
    singerProcesses: 1, singerNice: 10, shards: 0, shardSpinUs: 0, batchMs: 4, pollReplies: 1, frameMs: 20, framesPerMessage: 0, bitrate: 64_000, complexity: 5, deadlineMs: 0, decodeEvery: 50, ceilingSeconds: 3, stepCeilingSeconds: 1, floorSeconds: 3, floorSockets: 200,
    handoffSeconds: 0, handoffRounds: 2, handoffRates: [1000, 3000, 5000], out: 'bench/results', chart: '', serverNodeOptions: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const eq = argv[i].indexOf('=');
    const flag = eq < 0 ? argv[i] : argv[i].slice(0, eq);
    const v = eq < 0 ? argv[++i] : argv[i].slice(eq + 1);
    if (v === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case '--scenario': break;
      case '--choir-steps': o.steps = v.split(',').map((s) => num(s, flag)).filter((n) => n > 0); break;
      case '--choir-modes': o.modes = v === 'none' ? [] : v.split(',').map((m) => { if (m !== 'owner' && m !== 'sharded') throw new Error(`${flag}: owner or sharded, got ${m}`); return m; }); break;
      case '--seconds': o.seconds = num(v, flag); break;
      case '--warmup': o.warmupSeconds = num(v, flag); break;
      case '--room-size': o.roomSize = Math.max(2, num(v, flag)); break;
      case '--singer-processes': o.singerProcesses = Math.max(1, num(v, flag)); break;
      case '--singer-nice': o.singerNice = Math.min(19, num(v, flag)); break;
      case '--choir-shards': o.shards = num(v, flag); break;
      case '--choir-shard-spin-us': o.shardSpinUs = num(v, flag); break;
      case '--choir-batch-ms': o.batchMs = num(v, flag); break;
      case '--choir-poll-replies': o.pollReplies = num(v, flag) > 0 ? 1 : 0; break;
      case '--frame-ms': o.frameMs = num(v, flag); if (!(FRAME_MS_CHOICES as readonly number[]).includes(o.frameMs)) throw new Error(`${flag}: ${FRAME_MS_CHOICES.join(', ')}, got ${v}`); break;
      case '--frames-per-message': o.framesPerMessage = Math.max(1, Math.round(num(v, flag))); break; // the server refuses past its limit (50), typed
      case '--choir-bitrate': o.bitrate = num(v, flag); break;
      case '--choir-complexity': o.complexity = num(v, flag); break;
      case '--choir-deadline-ms': o.deadlineMs = num(v, flag); break;
      case '--decode-every': o.decodeEvery = num(v, flag); break;
      case '--ceiling-seconds': o.ceilingSeconds = num(v, flag); break;
      case '--step-ceiling-seconds': o.stepCeilingSeconds = num(v, flag); break;
      case '--server-node-options': o.serverNodeOptions = parseNodeFlags(v, flag); break;
      case '--floor-seconds': o.floorSeconds = num(v, flag); break;
      case '--floor-sockets': o.floorSockets = num(v, flag); break;
      case '--choir-handoff-seconds': o.handoffSeconds = num(v, flag); break;
      case '--choir-handoff-rounds': o.handoffRounds = Math.max(1, num(v, flag)); break;
      case '--choir-handoff-rates': o.handoffRates = v.split(',').map((r) => num(r, flag)).filter((r) => r > 0); break;
      case '--out': o.out = v; break;
      case '--chart': o.chart = v; break;
      default: throw new Error(`unknown option ${flag} for --scenario choir; see docs/choir.md`);
    }
  }
  if (o.steps.length === 0) throw new Error('--choir-steps needs at least one count of singers');
  if (o.framesPerMessage === 0) o.framesPerMessage = defaultFramesPerMessage(o.frameMs);
  if (o.deadlineMs === 0) o.deadlineMs = MIX_LEAD_MS;
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sums of the choir metrics on a node's /metrics. */
async function scrape(port: number): Promise<Scraped> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (name: string) => text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' ')).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    frames: sum('brigade_choir_frames_total'), misses: sum('brigade_choir_mix_deadline_misses_total'), shardCpu: sum('brigade_choir_shard_cpu_seconds_total'),
    rpcs: sum('brigade_choir_shard_rpcs_total'), rpcSeconds: sum('brigade_choir_shard_rpc_seconds_total'), jobs: sum('brigade_choir_shard_jobs_total'),
    waitSeconds: sum('brigade_choir_shard_wait_seconds_total'), restarts: sum('brigade_choir_shard_restarts_total'),
    shardWake: sum('brigade_choir_shard_wake_seconds_total'), shardWork: sum('brigade_choir_shard_work_seconds_total'), ownerWake: sum('brigade_choir_shard_owner_wake_seconds_total'),
    backlogRpcs: sum('brigade_choir_shard_backlog_rpcs_total'), backlogGap: sum('brigade_choir_shard_backlog_gap_seconds_total'),
    lateShardWake: sum('brigade_choir_late_mix_shard_wake_seconds_total'), lateShardWork: sum('brigade_choir_late_mix_shard_work_seconds_total'), lateOwnerWake: sum('brigade_choir_late_mix_owner_wake_seconds_total'),
    lateQueue: sum('brigade_choir_late_mix_queue_seconds_total'), lateCodec: sum('brigade_choir_late_mix_codec_seconds_total'), lateReply: sum('brigade_choir_late_mix_reply_seconds_total'),
    // The node's loop-delay gauges since its last scrape (each scrape restarts them), seconds.
    loopP99: sum('brigade_process_nodejs_eventloop_lag_p99_seconds'), loopMax: sum('brigade_process_nodejs_eventloop_lag_max_seconds'),
  };
}
interface Scraped {
  frames: number; misses: number; shardCpu: number; rpcs: number; rpcSeconds: number; jobs: number; waitSeconds: number; restarts: number;
  shardWake: number; shardWork: number; ownerWake: number; backlogRpcs: number; backlogGap: number;
  lateQueue: number; lateCodec: number; lateShardWake: number; lateShardWork: number; lateOwnerWake: number; lateReply: number; loopP99: number; loopMax: number;
}

async function runStep(o: ChoirBenchOptions, mode: 'owner' | 'sharded', singers: number, ceilingPerCore: number, log: (s: string) => void): Promise<ChoirStep> {
  const cli = join(ROOT, 'bin/brigade.js');
  const data = mkdtempSync(join(tmpdir(), 'brigade-choir-bench-'));
  const codec = mode === 'owner' ? ['--choir-owner-codec', '1'] : ['--choir-shards', String(o.shards), '--choir-shard-spin-us', String(o.shardSpinUs), '--choir-batch-ms', String(o.batchMs), '--choir-poll-replies', String(o.pollReplies)];
  let server: StartedBrigade | null = null;
  const workers: Worker<ChoirWorkerIn, ChoirWorkerOut>[] = [];
  let fatal = '';
  try {
    server = await startBrigade(cli, ['serve', '--port', '0', '--host', '127.0.0.1', '--data', data, '--apps', 'choir', '--log-level', 'info',
      '--choir-bitrate', String(o.bitrate), '--choir-complexity', String(o.complexity), '--choir-deadline-ms', String(o.deadlineMs),
      '--choir-max-singers', String(o.roomSize), '--choir-frame-ms', String(o.frameMs), '--choir-frames-per-message', String(o.framesPerMessage), '--metrics-loop-lag-ms', '10', ...codec], ROOT, 50, [...shippedNodeFlags(cli), ...o.serverNodeOptions, ...serverNodeArgs()]);
    // A room's singers 100 ms apart, and a message's other frames more: a singer sends a frame up
    // to a message's length after it sang it, and reads its message's last frame that much early,
    // so the one behind hears it only if the gap between them covers both and the round trip.
    const spacingMs = 100 + o.frameMs * (o.framesPerMessage - 1);
    const specs: ChoirSingerSpec[] = Array.from({ length: singers }, (_, i) => ({ room: `bench-${Math.floor(i / o.roomSize)}`, delayMs: (i % o.roomSize) * spacingMs }));
    const perProc = Math.ceil(singers / o.singerProcesses);
    for (let p = 0; p * perProc < singers; p++) {
      const w = startWorker<ChoirWorkerIn, ChoirWorkerOut>('choir-worker', (m) => { fatal ||= m; });
      workers.push(w);
      w.send({ t: 'start', url: `ws://127.0.0.1:${server.port}`, singers: specs.slice(p * perProc, (p + 1) * perProc), decodeEvery: o.decodeEvery, deadlineMs: o.deadlineMs, frameSamples: o.frameMs * 48 });
    }
    await Promise.all(workers.map((w) => w.next('joined', 60_000)));
    if (o.singerNice > 0) for (const w of workers) niceAll(w.pid, o.singerNice);
    // A scrape in the warm-up: the server's first /metrics compiles its collectors (20 ms of the
    // owner's thread on this machine, against ~4 ms once warm), and the window's first scrape
    // would otherwise stall every mix due in it (docs/choir.md "The window's edges").
    await sleep(o.warmupSeconds * 500);
    await scrape(server.port);
    await sleep(o.warmupSeconds * 500);
    if (fatal) throw new Error(fatal);
    const before = await scrape(server.port);
    const cpu0 = cpuSeconds(server.pid), main0 = threadCpuSeconds(server.pid);
    const clientCpu0 = (await Promise.all(workers.map((w) => w.ask({ t: 'report' }, 'stats', 10_000)))).reduce((a, r) => a + r.cpuSeconds, 0);
    for (const w of workers) w.send({ t: 'reset' });
    const t0 = performance.now();
    const probe = new WakeProbe();
    await sleep(o.seconds * 1000);
    const wakeFloorMs = await probe.stop();
    const reports = await Promise.all(workers.map((w) => w.ask({ t: 'report' }, 'stats', 10_000)));
    const wall = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(server.pid), main1 = threadCpuSeconds(server.pid);
    const after = await scrape(server.port);
    if (fatal) throw new Error(fatal);
    const s: ChoirWorkerStats = reports.map((r) => r.stats).reduce((a, b) => ({
      due: a.due + b.due, sent: a.sent + b.sent, replies: a.replies + b.replies, errors: a.errors + b.errors, lateForLead: a.lateForLead + b.lateForLead,
      lateForDeadline: a.lateForDeadline + b.lateForDeadline, sentWithReplyPending: a.sentWithReplyPending + b.sentWithReplyPending,
      rtt: a.rtt, sendLag: a.sendLag, loopDelay: a.loopDelay, decoded: a.decoded + b.decoded, voiced: a.voiced + b.voiced,
      positionErrorMs: a.positionErrorMs && b.positionErrorMs ? { min: Math.min(a.positionErrorMs.min, b.positionErrorMs.min), max: Math.max(a.positionErrorMs.max, b.positionErrorMs.max) } : a.positionErrorMs ?? b.positionErrorMs,
      firstErrors: [...a.firstErrors, ...b.firstErrors].slice(0, 5),
    }));
    const rtt = new Histogram(), sendLag = new Histogram();
    for (const r of reports) { rtt.add(r.stats.rtt); sendLag.add(r.stats.sendLag); }
    const worst = (k: 'p99' | 'max') => reports.reduce<number | null>((m, r) => (r.stats.loopDelay[k] === null ? m : Math.max(m ?? 0, r.stats.loopDelay[k]!)), null);
    const lag = sendLag.summary();
    const perMiss = (seconds: number) => round((seconds / Math.max(1, misses)) * 1000);
    const frames = after.frames - before.frames;
    const misses = after.misses - before.misses;
    const serverCpu = cpu1 - cpu0;
    const shardCpu = after.shardCpu - before.shardCpu;
    const ownerCpu = serverCpu - shardCpu;
    // The pass rule, on the singers' own window (reset → report): the mixes not back within the
    // deadline of those due. The server's count (misses of the frames it took, over its scrapes'
    // window) is reported beside it, not mixed in: it cannot see a frame's wait before its handler.
    const onTime = s.due > 0 && frames > 0 ? Math.max(0, 1 - s.lateForDeadline / s.due) : 0;
    const step: ChoirStep = {
      mode, singers, passed: onTime >= 0.999 && s.errors === 0, onTimeFraction: Math.round(onTime * 1e5) / 1e5,
      due: s.due, serverFrames: frames, deadlineMisses: misses, lateForLead: s.lateForLead, lateForDeadline: s.lateForDeadline, stepCeilingPerCore: ceilingPerCore, errors: s.errors, firstErrors: s.firstErrors,
      rttMs: rtt.summary(), serverCores: round(serverCpu / wall), shardCores: round(shardCpu / wall), ownerCores: round(ownerCpu / wall), mainThreadCores: round((main1 - main0) / wall),
      ownerUsPerFrame: frames > 0 ? round((ownerCpu / frames) * 1e6) : null,
      serverUsPerFrame: frames > 0 ? round((serverCpu / frames) * 1e6) : null,
      shardUsPerFrame: frames > 0 ? round((shardCpu / frames) * 1e6) : null,
      singersPerServerCore: Math.round(frames / Math.max(serverCpu, 0.001) / (1000 / o.frameMs)),
      ofCeiling: round(frames / Math.max(serverCpu, 0.001) / (1000 / o.frameMs) / ceilingPerCore),
      ofCeilingBefore: round(frames / Math.max(serverCpu, 0.001) / (1000 / o.frameMs) / ceilingPerCore),
      stepCeilingAfterPerCore: null,
      clientCores: round((reports.reduce((a, r) => a + r.cpuSeconds, 0) - clientCpu0) / wall),
      singersNice: Math.max(...workers.map((w) => getPriority(w.pid))),
      serverNodeFlags: nodeFlagsOf(server.pid),
      voicedFraction: s.decoded > 0 ? round(s.voiced / s.decoded) : null,
      positionErrorMs: s.positionErrorMs ? { min: round(s.positionErrorMs.min), max: round(s.positionErrorMs.max) } : null,
      whose: {
        late: misses > 0 ? {
          queueMs: perMiss(after.lateQueue - before.lateQueue), codecMs: perMiss(after.lateCodec - before.lateCodec), replyMs: perMiss(after.lateReply - before.lateReply),
          shardWakeMs: perMiss(after.lateShardWake - before.lateShardWake), shardWorkMs: perMiss(after.lateShardWork - before.lateShardWork), ownerWakeMs: perMiss(after.lateOwnerWake - before.lateOwnerWake),
        } : null,
        serverLoop: { p99: round(after.loopP99 * 1000), max: round(after.loopMax * 1000) },
        singersLoop: { p99: worst('p99'), max: worst('max') },
        sentWithReplyPending: s.sentWithReplyPending,
        sendLag: { p99: lag.p99, max: lag.max },
        wakeFloorMs,
      },
      rpc: mode === 'sharded' && after.rpcs > before.rpcs ? {
        perFrame: round((after.rpcs - before.rpcs) / Math.max(1, frames)),
        framesPerRpc: round((after.jobs - before.jobs) / (after.rpcs - before.rpcs)),
        roundTripUs: round(((after.rpcSeconds - before.rpcSeconds) / (after.rpcs - before.rpcs)) * 1e6),
        waitUs: round(((after.waitSeconds - before.waitSeconds) / Math.max(1, after.jobs - before.jobs)) * 1e6),
        restarts: after.restarts - before.restarts,
        shardWakeUs: round(((after.shardWake - before.shardWake) / (after.rpcs - before.rpcs)) * 1e6),
        shardWorkUs: round(((after.shardWork - before.shardWork) / (after.rpcs - before.rpcs)) * 1e6),
        ownerWakeUs: round(((after.ownerWake - before.ownerWake) / (after.rpcs - before.rpcs)) * 1e6),
        backlogGapUs: after.backlogRpcs > before.backlogRpcs ? round(((after.backlogGap - before.backlogGap) / (after.backlogRpcs - before.backlogRpcs)) * 1e6) : 0,
      } : null,
    };
    log(`${mode} ${singers} singers: ${(step.onTimeFraction * 100).toFixed(2)}% on time (${s.lateForDeadline} of ${s.due} mixes not back within ${o.deadlineMs} ms at the singers; ${misses} of ${frames} late by the server's count, ${s.lateForLead} past the page's ${MIX_LEAD_MS} ms lead, ${s.errors} errors); `
      + `server ${step.serverCores} cores (owner ${step.ownerCores}: main thread ${step.mainThreadCores}; shards ${step.shardCores}), owner ${step.ownerUsPerFrame} µs/frame, server ${step.serverUsPerFrame} µs/frame; ${step.singersPerServerCore} singers per server core = ${(step.ofCeiling * 100).toFixed(0)} % of the ceiling measured before it (${ceilingPerCore}); rtt p50 ${step.rttMs.p50} p99 ${step.rttMs.p99} ms; clients ${step.clientCores} cores (nice ${step.singersNice})`
      + (step.rpc ? `; shard RPCs ${step.rpc.perFrame}/frame (${step.rpc.framesPerRpc} frames each), round trip ${step.rpc.roundTripUs} µs (shard wake ${step.rpc.shardWakeUs} + work ${step.rpc.shardWorkUs} + owner wake ${step.rpc.ownerWakeUs}), `
        + `gap reply → next request with jobs waiting ${step.rpc.backlogGapUs} µs, wait ${step.rpc.waitUs} µs, ${step.rpc.restarts} restarts` : '')
      + `; whose: ${step.whose.late ? `a late mix's ms: queue ${step.whose.late.queueMs} + codec ${step.whose.late.codecMs} (shard wake ${step.whose.late.shardWakeMs} + work ${step.whose.late.shardWorkMs} + owner wake ${step.whose.late.ownerWakeMs}) + reply ${step.whose.late.replyMs}` : 'no late mixes'}, `
      + `server loop delay p99 ${step.whose.serverLoop.p99} max ${step.whose.serverLoop.max} ms; singers: loop delay p99 ${step.whose.singersLoop.p99} max ${step.whose.singersLoop.max} ms, send lag p99 ${step.whose.sendLag.p99} max ${step.whose.sendLag.max} ms, `
      + `${s.sentWithReplyPending} sent with a reply pending; ${describeWakeFloor(wakeFloorMs)}`);
    return step;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    if (server) await stopProcess(server.proc);
    rmSync(data, { recursive: true, force: true });
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/**
 * Sets every thread of process `pid` to nice `nice` (Linux: setpriority on a pid sets that one
 * thread, so each task in /proc/PID/task; threads started later inherit their creator's). Where
 * /proc is not there, the process's main thread only.
 */
function niceAll(pid: number, nice: number): void {
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    tids = [pid];
  }
  for (const tid of tids) {
    try { setPriority(tid, nice); } catch { /* the thread ended meanwhile */ }
  }
}

/** BRIGADE_BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--trace-gc", as for the jobs bench: node flags for the server. */
const serverNodeArgs = () => (process.env.BRIGADE_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);

/** One thread doing only decode + encode per singer frame, same settings: the codec's own limit. */
/** A Brigade server's node flags: its command line's arguments before bin/brigade.js (Linux /proc; [] elsewhere). */
function nodeFlagsOf(pid: number): string[] {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1);
    const script = argv.findIndex((a) => a.endsWith('brigade.js'));
    return script < 0 ? argv : argv.slice(0, script);
  } catch {
    return [];
  }
}

/** Takes a step's ratio against the mean of the ceilings measured before and after it (ChoirStep.stepCeilingAfterPerCore). */
export function bracketCeiling(step: ChoirStep, after: number): void {
  step.stepCeilingAfterPerCore = after;
  step.ofCeiling = round((step.ofCeilingBefore * step.stepCeilingPerCore) / ((step.stepCeilingPerCore + after) / 2));
}

function codecCeiling(o: ChoirBenchOptions, seconds = o.ceilingSeconds): ChoirBenchResult['ceiling'] {
  const frameSamples = o.frameMs * 48; // the server's and the singers' frame (--frame-ms)
  const perSecond = 1000 / o.frameMs; // a singer's frames per second
  const voice = new (opusEncoder())(48_000, 1);
  voice.setBitrate(32_000);
  const packets = Array.from({ length: 50 }, (_, k) => voice.encode(Buffer.from(tone(220, frameSamples, 0.4, k * frameSamples).buffer)));
  const codecs = Array.from({ length: 32 }, () => {
    const c = new (opusEncoder())(48_000, 1);
    c.setBitrate(o.bitrate);
    c.applyEncoderCTL(4010, o.complexity);
    return c;
  });
  let frames = 0, decodeMs = 0, encodeMs = 0;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const c of codecs) {
      const t0 = performance.now();
      const pcm = c.decode(packets[frames % 50]);
      const t1 = performance.now();
      c.encode(pcm);
      encodeMs += performance.now() - t1;
      decodeMs += t1 - t0;
      frames++;
    }
  }
  const u = process.cpuUsage(cpu0);
  const cpu = (u.user + u.system) / 1e6;
  // CPU per frame, split between decode and encode as their wall times were (a shared machine preempts).
  const usPerFrame = (cpu / frames) * 1e6;
  const decodeShare = decodeMs / (decodeMs + encodeMs);
  return { framesPerCpuSecond: Math.round(frames / cpu), singersPerCore: Math.round(frames / cpu / perSecond), decodeUs: round(usPerFrame * decodeShare), encodeUs: round(usPerFrame * (1 - decodeShare)) };
}

/**
 * A singer's message on the wire for `k` frames of `frameMs`: the REQUEST frame's 18 bytes of
 * header, the message's 30 and 2 a packet, k voice packets of ~80 bytes per 20 ms; its reply: 6 + 39
 * bytes of header, 3 a frame, k mix packets of ~160 bytes per 20 ms (64 kb/s).
 */
const floorBytes = (k: number, frameMs: number) => ({ request: 18 + 30 + k * (2 + 4 * frameMs), reply: 6 + 39 + k * (3 + 8 * frameMs) });

/**
 * The transport floor (ChoirBenchResult.transportFloor): an echo process (choir-worker 'echo') and
 * a client process ('floor') with `sockets` connections sending as the singers do; the echo
 * process's CPU over the window, per reply.
 */
async function transportFloor(o: ChoirBenchOptions, ceiling: ChoirBenchResult['ceiling'], log: (s: string) => void): Promise<ChoirBenchResult['transportFloor']> {
  let fatal = '';
  const server = startWorker<ChoirWorkerIn, ChoirWorkerOut>('choir-worker', (m) => { fatal ||= m; });
  const client = startWorker<ChoirWorkerIn, ChoirWorkerOut>('choir-worker', (m) => { fatal ||= m; });
  const k = o.framesPerMessage;
  const bytes = floorBytes(k, o.frameMs);
  try {
    const { port } = await server.ask({ t: 'echo', replyBytes: bytes.reply }, 'echo-listening', 10_000);
    await client.ask({ t: 'floor', port, sockets: o.floorSockets, frameBytes: bytes.request, periodMs: o.frameMs * k }, 'floor-ready', 30_000);
    if (o.singerNice > 0) niceAll(client.pid, o.singerNice);
    await sleep(1000);
    const r0 = (await client.ask({ t: 'report' }, 'floor-stats', 10_000)).replies;
    const cpu0 = cpuSeconds(server.pid), t0 = performance.now();
    await sleep(o.floorSeconds * 1000);
    const cpu1 = cpuSeconds(server.pid), wall = (performance.now() - t0) / 1000;
    const replies = (await client.ask({ t: 'report' }, 'floor-stats', 10_000)).replies - r0;
    if (fatal) throw new Error(fatal);
    const usPerMessage = ((cpu1 - cpu0) / Math.max(1, replies)) * 1e6;
    const usPerFrame = usPerMessage / k;
    const codecUs = 1e6 / ceiling.framesPerCpuSecond;
    const f = {
      sockets: o.floorSockets, serverCores: round((cpu1 - cpu0) / wall), framesPerMessage: k, usPerMessage: round(usPerMessage), usPerFrame: round(usPerFrame), replies,
      boundOfCeiling: round(codecUs / (codecUs + usPerFrame)), floorBytes: bytes,
    };
    log(`transport floor (a ws server that only answers ${o.floorSockets} singer-sized sockets, a message of ${k} frames every ${o.frameMs * k} ms each): ${f.usPerMessage} µs of CPU per message in and reply out, ${f.usPerFrame} µs per frame (${f.serverCores} cores, ${replies} replies); `
      + `with the ceiling's ${round(codecUs)} µs of codec per frame, that leaves a server answering singers' messages of ${k} frames over a WebSocket ${(f.boundOfCeiling * 100).toFixed(1)} % of the codec-only ceiling `
      + '(measured apart, at this rate: a loaded server shares its wake-ups among more messages, and its mixes may code cheaper than the ceiling\'s voice, so a step can pass it)');
    return f;
  } finally {
    await Promise.all([client.stop(), server.stop()]);
  }
}

/** The room's own work per singer frame (write + read), no codec, no transport. */
function innerCost(frameMs: number): ChoirBenchResult['inner'] {
  const out: ChoirBenchResult['inner'] = [];
  const F = frameMs * 48;
  for (const n of [4, 16, 64, 256]) {
    let clock = 48_000 * 10;
    const room = new Room('inner', { bufferSamples: 48_000 * 60, aheadSamples: 48_000, ownWindowSamples: 48_000 * 5, maxSingers: n, frameSamples: F, now: () => clock });
    const singers = Array.from({ length: n }, (_, i) => room.join(i + 1, 'k', '', (i % 16) * 4800, 1, 0, 0));
    room.start(1, null); // voices are added only during a song: every position written below is in it
    clock += 48_000 * 5;
    const pcm = tone(220, F, 0.3);
    let ops = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let k = 0; k < 300 || performance.now() - t0 < 300; k++) {
      clock += F;
      for (const s of singers) {
        const pos = clock - 96_000 - s.delaySamples;
        const at = Math.floor(pos / F) * F;
        room.write(s, at, pcm);
        room.read(s, at);
        ops++;
      }
    }
    const u = process.cpuUsage(cpu0);
    out.push({ singersInRoom: n, usPerSingerFrame: round((u.user + u.system) / ops) }); // CPU µs, not wall
  }
  return out;
}

export function choirChart(r: ChoirBenchResult): string {
  const xs = [...new Set(r.steps.map((s) => s.singers))].sort((a, b) => a - b);
  const series = (mode: 'owner' | 'sharded', pick: (s: ChoirStep) => number | null) => xs.map((x) => {
    const s = r.steps.find((t) => t.mode === mode && t.singers === x);
    return s ? pick(s) : null;
  });
  const bound = r.transportFloor ? r.transportFloor.boundOfCeiling * 100 : null;
  return panelSvg({
    title: `choir (${r.machine.cores} cores, ${r.options.frameMs ?? 20} ms frames, ${r.options.framesPerMessage} a message): mixes later than ${r.options.deadlineMs} ms, % of the codec ceiling`,
    leftLabel: 'late mixes per 1,000 (pass: ≤ 1)',
    rightLabel: '% of the codec-only ceiling',
    xLabel: 'singers',
    series: [
      { name: 'unsharded: late per 1,000', colour: '#d62728', values: series('owner', (s) => (s.due > 0 ? (s.lateForDeadline / s.due) * 1000 : null)) },
      { name: 'sharded: late per 1,000', colour: '#1f77b4', values: series('sharded', (s) => (s.due > 0 ? (s.lateForDeadline / s.due) * 1000 : null)) },
      { name: 'pass line: 1 per 1,000', colour: '#2ca02c', dash: '1 3', values: xs.map(() => 1) },
      { name: 'unsharded: % of the ceiling', colour: '#d62728', dash: '4 3', axis: 'right', values: series('owner', (s) => s.ofCeiling * 100) },
      { name: 'sharded: % of the ceiling', colour: '#1f77b4', dash: '4 3', axis: 'right', values: series('sharded', (s) => s.ofCeiling * 100) },
      ...(bound === null ? [] : [{ name: `what the transport floor leaves: ${bound.toFixed(0)} %`, colour: '#7f7f7f', dash: '1 3', axis: 'right' as const, values: xs.map(() => bound) }]),
    ],
  }, xs).replace('</svg>', `<text x="80" y="${300 - 8}" font-size="11" fill="#555">${esc(r.command)}</text>\n</svg>`);
}

export async function runChoirBench(argv: string[]): Promise<number> {
  let o: ChoirBenchOptions;
  try {
    o = parseChoirOptions(argv);
  } catch (err) {
    process.stderr.write(`brigade bench --scenario choir: ${(err as Error).message}\n`);
    return 2;
  }
  const log = (s: string) => process.stdout.write(s + '\n');
  const result: ChoirBenchResult = {
    scenario: 'choir', startedAt: new Date().toISOString(), command: `brigade bench ${argv.join(' ')}`, machine: machineInfo(), options: o,
    steps: [], best: {}, ceiling: codecCeiling(o), inner: innerCost(o.frameMs), handoff: [], transportFloor: null, ownerBudget: null,
  };
  log(`codec-only ceiling: ${result.ceiling.framesPerCpuSecond} frames per CPU-second = ${result.ceiling.singersPerCore} singers per core (decode ${result.ceiling.decodeUs} µs + encode ${result.ceiling.encodeUs} µs)`);
  log(`owner inner cost (write + read per singer frame): ${result.inner.map((i) => `${i.singersInRoom} singers ${i.usPerSingerFrame} µs`).join(', ')}`);
  if (o.floorSeconds > 0) result.transportFloor = await transportFloor(o, result.ceiling, log);
  if (o.handoffSeconds > 0) result.handoff = await handoffBench(o.handoffSeconds, o.handoffRounds, o.handoffRates, o.bitrate, o.complexity, log);
  let failed = false;
  for (const mode of o.modes) {
    let best: ChoirStep | null = null;
    // The ceiling on both sides of each step (this machine's speed moves by a quarter within
    // minutes): before the first, then after each, which is also the next step's "before".
    let ceilingNow = o.stepCeilingSeconds > 0 ? codecCeiling(o, o.stepCeilingSeconds).singersPerCore : result.ceiling.singersPerCore;
    for (const singers of o.steps) {
      let step: ChoirStep;
      try {
        step = await runStep(o, mode, singers, ceilingNow, log);
      } catch (err) {
        log(`${mode} ${singers} singers: FAILED: ${(err as Error).message}`);
        failed = true;
        break;
      }
      if (o.stepCeilingSeconds > 0) {
        ceilingNow = codecCeiling(o, o.stepCeilingSeconds).singersPerCore;
        bracketCeiling(step, ceilingNow);
        log(`${mode} ${singers} singers: the ceiling around the step: ${step.stepCeilingPerCore} before, ${ceilingNow} after; ${step.singersPerServerCore} singers per server core = ${(step.ofCeiling * 100).toFixed(0)} % of their mean`);
      }
      result.steps.push(step);
      if (!step.passed) break;
      best = step;
    }
    const around = (st: ChoirStep) => (st.stepCeilingAfterPerCore === null ? st.stepCeilingPerCore : Math.round((st.stepCeilingPerCore + st.stepCeilingAfterPerCore) / 2));
    result.best[mode] = best ? { singers: best.singers, serverCores: best.serverCores, singersPerServerCore: best.singersPerServerCore, ofCeiling: best.ofCeiling, ceilingPerCore: around(best) } : null;
    log(`${mode}: best ${best ? `${best.singers} singers on ${best.serverCores} server cores = ${best.singersPerServerCore} per server core, ${(best.ofCeiling * 100).toFixed(0)} % of the ceiling around it, ${around(best)} (${best.stepCeilingPerCore} before, ${best.stepCeilingAfterPerCore ?? '–'} after)` : 'none passed'}`);
    if (mode === 'sharded' && best) {
      const b = ownerBudget(best, around(best), o.frameMs, result.transportFloor?.usPerFrame ?? null, mixUsAt(result.inner, o.roomSize));
      result.ownerBudget = b;
      if (b) {
        log(`sharded: at ${b.target * 100} % of the ceiling around its best step (${b.ceilingUsPerFrame} µs of codec a frame) the server may spend ${b.serverAllowedUs} µs a frame; the shard spent ${b.shardUs}, `
          + `which leaves the owner ${b.ownerBudgetUs} µs; it spent ${b.ownerUs}`
          + (b.restUs === null ? '' : `: the transport floor ${b.floorUs} + the room's mix ${b.mixUs} + the rest (the request's handling, the RPC's owner side, GC) ${b.restUs}`));
      }
    }
  }
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `choir-${result.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  if (o.chart) writeFileSync(o.chart, choirChart(result));
  log(`result: ${file}${o.chart ? `; chart: ${o.chart}` : ''}`);
  return failed ? 1 : 0;
}
