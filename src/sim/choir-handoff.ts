/**
 * The shard hand-off micro-benchmark of `brigade bench --scenario choir` (docs/choir.md
 * "Hand-off"): one codec shard (src/apps/choir/shards.ts) in this process, no sockets, no rooms.
 * Frames arrive at a fixed rate, due ones submitted by a 1 ms timer (as the owner reads frames from
 * its sockets in bursts); each is the owner's real work (src/apps/choir/room.ts: the singer's mix
 * read before the codec, their voice written after it) and a real decode + encode in the shard,
 * so every run does the same work, and the owner's work on a finished batch competes with the
 * hand-off of the next, as in the server;
 * each frame's latency (submitted → its codec outputs back) is what the mix deadline sees. Per variant of the hand-off (spin before
 * Atomics.wait, next batch sent on the reply or on the next loop turn), the RPC stages from the
 * shard's own figures: the shard's wake-up, its work, the owner's wake-up, and the gap between a
 * reply and the next request while jobs were waiting (the shard waiting on the owner).
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { tone } from '../apps/choir/dsp.ts';
import { Room } from '../apps/choir/room.ts';
import { ShardPool } from '../apps/choir/shards.ts';
import { Histogram } from './histogram.ts';

const require = createRequire(import.meta.url);
interface Opus { encode(pcm: Buffer): Buffer; setBitrate(b: number): void }
/** The native Opus binding, loaded at first use: the CLI imports this module statically, and no other command should load it. */
const opusEncoder = (): new (r: number, c: number) => Opus => (require('@discordjs/opus') as { OpusEncoder: new (r: number, c: number) => Opus }).OpusEncoder;

export interface HandoffVariant { name: string; lanes: number; spinUs: number; flushOnReply: boolean }
export interface HandoffFigure {
  variant: string;
  lanes: number;
  spinUs: number;
  flushOnReply: boolean;
  /** Frames offered per second (singers × 50). */
  rate: number;
  framesPerSecond: number;
  /** A frame's latency, submitted → codec outputs back, ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  framesPerRpc: number;
  /** Mean per RPC, µs. */
  roundTripUs: number;
  shardWakeUs: number;
  shardWorkUs: number;
  ownerWakeUs: number;
  /** Mean gap, reply ready → next request stored, over the RPCs whose jobs were already waiting, µs; and how many such RPCs in 100. */
  backlogGapUs: number;
  backlogPerHundredRpcs: number;
  /** Process CPU (owner + shard + V8's threads) per frame, µs. */
  cpuUsPerFrame: number;
}

export const HANDOFF_VARIANTS: HandoffVariant[] = [
  { name: 'before: 1 lane, next batch on the next loop turn', lanes: 1, spinUs: 0, flushOnReply: false },
  { name: '1 lane, next batch on the reply', lanes: 1, spinUs: 0, flushOnReply: true },
  { name: '2 lanes (pipelined), next batch on the reply', lanes: 2, spinUs: 0, flushOnReply: true },
  { name: '2 lanes + shard spins 50 µs', lanes: 2, spinUs: 50, flushOnReply: true },
];

const r1 = (v: number) => Math.round(v * 10) / 10;
const r3 = (v: number) => Math.round(v * 1000) / 1000;

async function one(v: HandoffVariant, rate: number, seconds: number, bitrate: number, complexity: number): Promise<HandoffFigure> {
  const singers = Math.max(1, Math.round(rate / 50));
  const pool = new ShardPool({ count: 1, bitrate, complexity, lanes: v.lanes, spinUs: v.spinUs, flushOnReply: v.flushOnReply });
  try {
    const voice = new (opusEncoder())(48_000, 1);
    voice.setBitrate(32_000);
    const packets = Array.from({ length: 50 }, (_, k) => new Uint8Array(voice.encode(Buffer.from(tone(220, 960, 0.4, k * 960).buffer))));
    let clock = 48_000 * 10;
    const room = new Room('handoff', { bufferSamples: 48_000 * 60, aheadSamples: 48_000, ownWindowSamples: 48_000 * 5, maxSingers: singers, now: () => clock });
    const members = Array.from({ length: singers }, (_, i) => room.join(i + 1, 'k', '', (i % 16) * 4800, 1, 0, 0));
    room.start(1, null);
    clock += 48_000 * 5;
    const mix = tone(330, 960, 0.3);
    for (let s = 1; s <= singers; s++) pool.pin(s);
    // Warm-up: the thread starts and every singer's codec is made.
    await Promise.all(Array.from({ length: singers }, (_, i) => pool.frame(i + 1, packets[0], mix)));
    const f0 = pool.figures()[0];
    const cpu0 = process.cpuUsage();
    const latency = new Histogram();
    const pending: Promise<void>[] = [];
    let submitted = 0, frames = 0;
    const t0 = performance.now();
    const total = Math.round(rate * seconds);
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
        for (; submitted < due; submitted++) {
          const member = members[submitted % singers];
          if (submitted % singers === 0) clock += 960;
          const pos = Math.floor((clock - 96_000 - member.delaySamples) / 960) * 960;
          const at = performance.now();
          pending.push(pool.frame(member.id, packets[submitted % 50], room.read(member, pos)).then((r) => {
            room.write(member, pos, r.pcm!);
            latency.record(performance.now() - at);
            frames++;
          }));
        }
        if (submitted >= total) { clearInterval(timer); resolve(); }
      }, 1);
    });
    await Promise.all(pending);
    const wall = (performance.now() - t0) / 1000;
    const u = process.cpuUsage(cpu0);
    const f = pool.figures()[0];
    const rpcs = Math.max(1, f.rpcs - f0.rpcs);
    const per = (a: number, b: number) => r1(((a - b) / rpcs) * 1e6);
    const backlog = f.backlogRpcs - f0.backlogRpcs;
    return {
      variant: v.name, lanes: v.lanes, spinUs: v.spinUs, flushOnReply: v.flushOnReply, rate,
      framesPerSecond: Math.round(frames / wall),
      latencyP50Ms: r3(latency.quantile(0.5)), latencyP99Ms: r3(latency.quantile(0.99)), latencyMaxMs: r3(latency.quantile(1)), framesPerRpc: r1((f.jobs - f0.jobs) / rpcs),
      roundTripUs: per(f.rpcSeconds, f0.rpcSeconds), shardWakeUs: per(f.shardWakeSeconds, f0.shardWakeSeconds),
      shardWorkUs: per(f.shardWorkSeconds, f0.shardWorkSeconds), ownerWakeUs: per(f.ownerWakeSeconds, f0.ownerWakeSeconds),
      backlogGapUs: backlog > 0 ? r1(((f.backlogGapSeconds - f0.backlogGapSeconds) / backlog) * 1e6) : 0,
      backlogPerHundredRpcs: r1((backlog / rpcs) * 100),
      cpuUsPerFrame: r1((u.user + u.system) / Math.max(1, frames)),
    };
  } finally {
    await pool.close();
  }
}

/**
 * Every variant at each rate (frames/s: 50 per singer), `seconds` each, the variants' order
 * alternating between rounds (a shared machine's load drifts).
 */
export async function handoffBench(seconds: number, rounds: number, rates: number[], bitrate: number, complexity: number, log: (s: string) => void): Promise<HandoffFigure[]> {
  const out: HandoffFigure[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const rate of rates) {
      for (const v of round % 2 === 0 ? HANDOFF_VARIANTS : [...HANDOFF_VARIANTS].reverse()) {
        const f = await one(v, rate, seconds, bitrate, complexity);
        out.push(f);
        log(`hand-off, ${rate} frames/s (${rate / 50} singers), ${f.variant}: ${f.framesPerSecond} frames/s, latency p50 ${f.latencyP50Ms} p99 ${f.latencyP99Ms} max ${f.latencyMaxMs} ms, ${f.framesPerRpc} per RPC; per RPC: round trip ${f.roundTripUs} µs = shard wake ${f.shardWakeUs} + work ${f.shardWorkUs} + owner wake ${f.ownerWakeUs}; `
          + `gap reply → next request with jobs waiting ${f.backlogGapUs} µs (${f.backlogPerHundredRpcs} of 100 RPCs); CPU ${f.cpuUsPerFrame} µs/frame`);
      }
    }
  }
  return out;
}
