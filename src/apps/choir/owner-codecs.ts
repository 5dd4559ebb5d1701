/**
 * The codec in the owner thread, no shards (`--choir-owner-codec 1`): every singer's Opus encoder
 * and decoder run synchronously in the main thread, between the room's reads and writes. This is
 * the unsharded baseline of the benchmarks (docs/choir.md), the seed's "216 singers" setup; it has
 * the ShardPool's surface so the app does not know which it has.
 */
import { createRequire } from 'node:module';
import { choirError } from './errors.ts';
import { pcmFrames } from './frame-pool.ts';
import { FRAME_SAMPLES, type RpcStamps } from './room.ts';

const require = createRequire(import.meta.url);
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_RESET_STATE = 4028;

interface OpusCodec {
  encode(pcm: Buffer): Buffer;
  decode(packet: Buffer): Buffer;
  setBitrate(bitrate: number): void;
  applyEncoderCTL(ctl: number, value: number): void;
  applyDecoderCTL(ctl: number, value: number): void;
}

/** Per-shard figures for the metrics and the benchmark's stage timings. */
export interface ShardFigures {
  rpcs: number;
  /** Sum of the RPCs' round trips (REQUEST stored → the owner reads the REPLY), seconds. */
  rpcSeconds: number;
  /** Frames sent (a message's frames are one job; the name is the metric's). */
  jobs: number;
  /** Sum of the frames' waits in the queue before their RPC went out, seconds. */
  waitSeconds: number;
  restarts: number;
  /**
   * The hand-off stages of the round trips (docs/choir.md "Hand-off"), sums in seconds, from the
   * shard's "at" stamps and the owner's: `shardWake` REQUEST stored → the shard picks it up (its
   * Atomics.wait wake-up, or a spin); `shardWork` picked up → REPLY ready; `ownerWake` REPLY ready →
   * the owner reads it (Atomics.waitAsync's task on a busy event loop). `backlogGap`, over
   * `backlogRpcs` RPCs: the previous REPLY ready → this REQUEST stored, for RPCs whose jobs were
   * already queued when that reply was ready: the shard waiting on the owner while work waited.
   */
  shardWakeSeconds: number;
  shardWorkSeconds: number;
  ownerWakeSeconds: number;
  backlogRpcs: number;
  backlogGapSeconds: number;
}

export type { RpcStamps };

/** One frame's codec outputs: the singer's voice as PCM (null: nothing sung) and their mix as Opus (null: none asked). */
export interface FrameCodecResult {
  pcm: Int16Array | null;
  opus: Uint8Array | null;
  /**
   * The codec epoch of the singer's codec state that did the work: it changes when that state
   * started afresh (the shard's thread was restarted), so a client decoding the mixes restarts its
   * decoder (docs/choir.md "Shard restarts"). 0: no codec work in this frame; owner codecs: 1.
   */
  epoch: number;
  /**
   * Sharded: when the frame's RPC went out and when its reply was read (performance.now(), ms), so
   * a late mix's time can be split into queue, codec round trip and what followed; owner codecs: none.
   */
  rpc?: RpcStamps;
  /**
   * Bytes free in front of `opus` in its own buffer, for the frame reply's header (wire.ts
   * encodeReplyInPlace: the mix then leaves without another copy); 0 or absent: none.
   */
  opusHeadroom?: number;
}

/**
 * A message's codec outputs, frame by frame (Codecs.frames): `pcm[i]` the voice of frame i (null:
 * nothing sung there), `opus[i]` its mix (null: none asked). `epoch`, `rpc` and `opusHeadroom` as
 * in FrameCodecResult, for the message as a whole (its frames travel in one RPC).
 */
export interface FramesCodecResult {
  pcm: (Int16Array | null)[];
  opus: (Uint8Array | null)[];
  epoch: number;
  rpc?: RpcStamps;
  opusHeadroom?: number;
}

/**
 * A message's parts (its frames, or its jobs when it did not fit one RPC) once all have settled:
 * their values in order, or, if any was refused, the first refusal thrown after the decoded frames
 * of the others (`pcmOf`) went back to the frame pool: the message is refused whole.
 */
export async function settleMessage<T>(parts: Promise<T>[], pcmOf: (part: T) => (Int16Array | null)[]): Promise<T[]> {
  const settled = await Promise.allSettled(parts);
  const values: T[] = new Array(settled.length);
  let failed: PromiseRejectedResult | null = null;
  for (let i = 0; i < settled.length; i++) {
    const r = settled[i];
    if (r.status === 'rejected') failed ??= r;
    else values[i] = r.value;
  }
  if (failed === null) return values;
  for (const r of settled) if (r.status === 'fulfilled') for (const pcm of pcmOf(r.value)) pcmFrames.give(pcm);
  throw failed.reason;
}

/** What the app needs of its codecs: ShardPool (worker threads) or OwnerCodecs (this thread). */
export interface Codecs {
  readonly size: number;
  pin(singer: number): number;
  unpin(singer: number): void;
  /**
   * A frame's codec work: decode `packet` and encode `mix`, together; a bad packet rejects
   * (CHOIR_BAD_OPUS). `freshDecoder`: the packet does not continue the last one decoded for this
   * singer, so their decoder restarts before it (a decoder that missed packets mis-predicts the
   * next ones' band energies, up to twice as loud).
   */
  frame(singer: number, packet: Uint8Array | null, mix: Int16Array | null, freshDecoder?: boolean): Promise<FrameCodecResult>;
  /**
   * A message's codec work, its frames in order, as one job (one settlement, however many frames:
   * the hot path's call): frame i decodes `packets[i]` (null: none; `fresh[i]`: restart the decoder
   * first) and encodes `mixes[i]` (null: none). Any frame's refusal rejects the message.
   */
  frames(singer: number, packets: readonly (Uint8Array | null)[], mixes: readonly (Int16Array | null)[], fresh: readonly boolean[]): Promise<FramesCodecResult>;
  decode(singer: number, packet: Uint8Array): Promise<Int16Array>;
  encode(singer: number, pcm: Int16Array): Promise<Uint8Array>;
  queueDepth(shard: number): number;
  /** Reads the shards' replies that are already there, at a frame the owner handles; how many (owner codecs: none). */
  poll(): number;
  /** CPU seconds each shard's thread has used (index = shard); owner codecs: none. */
  cpuSeconds(): number[];
  /** Each shard's RPC figures (round trips, waits, restarts); owner codecs: none. */
  figures(): ShardFigures[];
  close(): Promise<void>;
}

export class OwnerCodecs implements Codecs {
  readonly size = 0;
  private readonly codecs = new Map<number, OpusCodec>();
  private readonly Opus: new (rate: number, channels: number) => OpusCodec;
  /** Samples in one frame (960: 20 ms; --choir-frame-ms). */
  private readonly frameSamples: number;

  constructor(private readonly options: { bitrate: number; complexity: number; frameSamples?: number }) {
    this.frameSamples = options.frameSamples ?? FRAME_SAMPLES;
    this.Opus = (require('@discordjs/opus') as { OpusEncoder: new (rate: number, channels: number) => OpusCodec }).OpusEncoder;
  }

  pin(singer: number): number {
    const c = new this.Opus(48_000, 1);
    c.setBitrate(this.options.bitrate);
    c.applyEncoderCTL(OPUS_SET_COMPLEXITY, this.options.complexity);
    this.codecs.set(singer, c);
    return -1;
  }

  unpin(singer: number): void { this.codecs.delete(singer); }

  private codecOf(singer: number): OpusCodec {
    const c = this.codecs.get(singer);
    if (!c) throw choirError('CHOIR_NOT_A_SINGER', `singer ${singer} has no codec`);
    return c;
  }

  async decode(singer: number, packet: Uint8Array, freshDecoder = false): Promise<Int16Array> {
    let out: Buffer;
    try {
      if (freshDecoder) this.codecOf(singer).applyDecoderCTL(OPUS_RESET_STATE, 0);
      out = this.codecOf(singer).decode(Buffer.from(packet.buffer, packet.byteOffset, packet.length));
    } catch (err) {
      throw choirError('CHOIR_BAD_OPUS', `the Opus packet did not decode: ${(err as Error).message}`);
    }
    const F = this.frameSamples;
    if (out.length !== F * 2) throw choirError('CHOIR_BAD_OPUS', `the packet decoded to ${out.length / 2} samples, a frame is ${F} (${F / 48} ms)`);
    const pcm = pcmFrames.take(F); // given back by the app once the room has added it
    new Uint8Array(pcm.buffer, pcm.byteOffset, F * 2).set(out);
    return pcm;
  }

  async frame(singer: number, packet: Uint8Array | null, mix: Int16Array | null, freshDecoder = false): Promise<FrameCodecResult> {
    const pcm = packet ? await this.decode(singer, packet, freshDecoder) : null;
    const opus = mix ? await this.encode(singer, mix) : null;
    return { pcm, opus, epoch: pcm || opus ? 1 : 0 }; // nothing here restarts: one epoch
  }

  /**
   * Each frame as its own async call, as before messages were one job: measured at 60 ms frames and
   * 200 unsharded singers, doing a message's frames in one synchronous pass instead made V8 run
   * three times the mark-compacts (24–30 against 7–10 in 14 s, `--trace-gc`) and cost 3–5 % more
   * server CPU a frame (295–302 against 287–288 µs, three alternating runs each); why, not found.
   */
  async frames(singer: number, packets: readonly (Uint8Array | null)[], mixes: readonly (Int16Array | null)[], fresh: readonly boolean[]): Promise<FramesCodecResult> {
    const n = packets.length;
    const jobs: Promise<FrameCodecResult>[] = new Array(n);
    for (let i = 0; i < n; i++) jobs[i] = this.frame(singer, packets[i], mixes[i], fresh[i]);
    const done = await settleMessage(jobs, (d) => [d.pcm]);
    const pcm: (Int16Array | null)[] = new Array(n);
    const opus: (Uint8Array | null)[] = new Array(n);
    let epoch = 0;
    for (let i = 0; i < n; i++) {
      pcm[i] = done[i].pcm;
      opus[i] = done[i].opus;
      if (done[i].epoch !== 0) epoch = done[i].epoch;
    }
    return { pcm, opus, epoch }; // nothing here restarts: one epoch (0: no codec work)
  }

  async encode(singer: number, pcm: Int16Array): Promise<Uint8Array> {
    return new Uint8Array(this.codecOf(singer).encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength)));
  }

  queueDepth(): number { return 0; }
  poll(): number { return 0; }
  cpuSeconds(): number[] { return []; }
  figures(): ShardFigures[] { return []; }
  async close(): Promise<void> { this.codecs.clear(); }
}
