/**
 * The owner's side of the codec shards: N worker threads (shard-worker.ts), each with two RPC
 * lanes (a SharedArrayBuffer each, rpc.ts), one RPC in flight per lane: the next batch is handed
 * over on the other lane while the shard codes this one (docs/choir.md "Hand-off").
 *
 * A message's codec work is one job (ShardPool.frames): for each of its frames, decode the singer's
 * packet and encode the mix the owner has already read for them, the items in frame order in the
 * same RPC (a message larger than one RPC holds goes as several jobs). Jobs made while a shard's
 * RPC is in flight wait in its queue and go together in the next one (up to `MAX_ITEMS` items,
 * within the 10 KB / 200 KB limits; with `batchMs`, a batch also gathers that long from its first
 * job), so the owner pays one round trip per shard per batch, however
 * many singers it holds, and the shards work in parallel. Inputs are copied into the shared buffer
 * once and outputs copied out once; nothing of 200 KB is allocated per RPC.
 *
 * The owner never blocks: it waits for the REPLY with Atomics.waitAsync, without a timeout (a
 * waitAsync timeout leaves a timer behind per RPC). One watchdog per pool instead finds a shard
 * whose RPC has been out longer than `timeoutMs`; such a shard, or one whose thread exits or
 * throws, fails its jobs with CHOIR_SHARD_UNAVAILABLE and is started again (its singers stay pinned
 * to it; their codec state starts afresh).
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { BrigadeError } from '../../protocol/index.ts';
import { choirError } from './errors.ts';
import { pcmFrames } from './frame-pool.ts';
import { FRAME_SAMPLES } from './room.ts';
import { settleMessage, type Codecs, type FrameCodecResult, type FramesCodecResult, type RpcStamps, type ShardFigures } from './owner-codecs.ts';
import {
  DATA_AT, ITEM_ALIGN, itemStart, JsonBytes, MAX_DATA_BYTES, readJson, readMessage, RPC_BYTES, RpcError, statusWord, STATUS_CLOSE, STATUS_IDLE, STATUS_REPLY,
  STATUS_REQUEST, writeMessage,
} from './rpc.ts';

const MAX_ITEMS = 100;
/** The largest Opus packet per 20 ms of audio (RFC 6716: 1,275 bytes a frame): what an `enc` item may add to the reply's data. */
const MAX_PACKET_BYTES_PER_20MS = 1275;
/** A shard whose thread died before it was ready is not started again sooner than this, ms. */
const RESPAWN_BACKOFF_MS = 1000;

/**
 * `dec-fresh`: decode after restarting the singer's decoder, for a packet that does not continue the
 * last one decoded (docs/choir.md "Codec state follows the packets").
 */
export type CodecOp = 'dec' | 'dec-fresh' | 'enc' | 'drop' | 'ping';
/**
 * Test-only ops, served only by a shard started with `testFaults` (docs/choir.md): the thread
 * exits (`process.exit`), throws out of its loop, takes the request and never answers, or answers
 * with an output length past its reply's data (`lie`).
 */
export type FaultOp = 'exit' | 'throw' | 'hang' | 'lie';

export interface ShardOptions {
  count: number;
  bitrate: number;
  complexity: number;
  /** Samples in one frame: a decoded packet's and an encoded mix's (960, 20 ms, when absent; --choir-frame-ms). */
  frameSamples?: number;
  /** How long a shard may take over one RPC before it is given up on and restarted, ms (2000). */
  timeoutMs?: number;
  /** Serve the fault ops (tests of a shard that dies or hangs). Never set by the app. */
  testFaults?: boolean;
  /** How long a shard spins on its status word after a reply before it sleeps in Atomics.wait, µs (0). */
  spinUs?: number;
  /**
   * Send the next batch as soon as a reply is read, before the finished batch's jobs go on (true,
   * the default); false: on the next turn of the event loop (setImmediate), as before. The
   * hand-off benchmark compares both.
   */
  flushOnReply?: boolean;
  /**
   * RPC lanes per shard (2, the default; 1: one RPC in flight, as before): each lane its own
   * SharedArrayBuffer in rpc.ts's layout. The shard serves lane 0, 1, 0, … in turn and the owner
   * sends in the same turn, so the next batch is handed over while the shard codes this one and
   * the shard goes on to it without waiting for the owner to read the reply.
   */
  lanes?: number;
  /**
   * How long a batch gathers before it goes out, ms (0, the default here; the app's
   * --choir-batch-ms is 4: as soon as a lane is free, on the next turn of the loop or on the
   * reply). With N > 0 a batch leaves when its oldest job has
   * waited N ms (or it is full): fewer, larger RPCs, so fewer thread wake-ups and notifies per
   * frame, for up to N ms more on each frame's round trip (docs/choir.md "Hand-off").
   */
  batchMs?: number;
  /**
   * Look for replies at every frame the owner handles (`ShardPool.poll`, true by default): a lane
   * whose REPLY is there is read in that turn, without waiting for Atomics.waitAsync's task to come
   * round on the event loop (docs/choir.md "Hand-off"). false: waitAsync only, as before.
   */
  pollReplies?: boolean;
  /**
   * Bytes left free in front of each encoded mix packet in its buffer (FrameCodecResult.opusHeadroom;
   * the app: its reply header, so the reply is written around the packet without another copy). 0: none.
   */
  opusHeadroom?: number;
}

interface Job {
  s: number;
  ops: (CodecOp | FaultOp)[];
  /** Each op's input: bytes, or a PCM frame (a mix to encode, copied into the lane as Int16s). */
  inputs: (Uint8Array | Int16Array)[];
  /** When it was queued (performance.now()), for the wait figures. */
  queuedAt: number;
  /** The frames it carries (a message's; 1 for a lone op), for the figures, which count frames. */
  frames: number;
  /**
   * Each item's output, or its own refusal (a bad packet fails its item only), and the codec epoch
   * of the thread that made them (Shard.epoch).
   */
  resolve(outs: Output[], epoch: number, rpc: RpcStamps, opusHeadroom: number): void;
  reject(err: Error): void;
}

/** An item's output: a decoded frame (a pooled one, frame-pool.ts), other bytes, or the item's refusal. */
type Output = Int16Array | Uint8Array | BrigadeError;

/**
 * A message's job (ShardPool.frames): its frames' decodes and encodes, in frame order, as the items
 * of one RPC, settled once as a FramesCodecResult. One job, one promise and one pair of arrays per
 * message, however many frames it carries (the owner's garbage per frame was the sharded path's
 * largest cost after the codec: docs/choir.md "One job a message").
 */
class FramesJob implements Job {
  readonly ops: CodecOp[] = [];
  readonly inputs: (Uint8Array | Int16Array)[] = [];
  readonly queuedAt = performance.now();
  readonly frames: number;

  constructor(readonly s: number, private readonly packets: readonly (Uint8Array | null)[], private readonly mixes: readonly (Int16Array | null)[],
    fresh: readonly boolean[], private readonly done: (r: FramesCodecResult) => void, readonly reject: (err: Error) => void) {
    this.frames = packets.length;
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i], mix = mixes[i];
      if (packet) { this.ops.push(fresh[i] ? 'dec-fresh' : 'dec'); this.inputs.push(packet); }
      if (mix) { this.ops.push('enc'); this.inputs.push(mix); }
    }
  }

  resolve(outs: Output[], epoch: number, rpc: RpcStamps, opusHeadroom: number): void {
    for (let k = 0; k < outs.length; k++) {
      const o = outs[k];
      if (o instanceof BrigadeError) {
        // The message is refused whole: the frames its other items decoded go back to the pool.
        for (const d of outs) if (d instanceof Int16Array) pcmFrames.give(d);
        this.reject(o);
        return;
      }
    }
    const n = this.packets.length;
    const pcm: (Int16Array | null)[] = new Array(n);
    const opus: (Uint8Array | null)[] = new Array(n);
    let k = 0;
    for (let i = 0; i < n; i++) {
      pcm[i] = this.packets[i] ? (outs[k++] as Int16Array) : null;
      opus[i] = this.mixes[i] ? (outs[k++] as Uint8Array) : null;
    }
    // Free bytes in front of each encoded mix (Shard.outputs).
    this.done({ pcm, opus, epoch, rpc, opusHeadroom });
  }
}

const malformedReply = (msg: string) => new BrigadeError('CHOIR_RPC_MALFORMED', `the shard's reply: ${msg}`);

/** Where the worker's entry is: the source file under tsx (tests), the bundle's sibling in dist/. */
function workerFor(data: unknown): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Node 20 does not carry `--import tsx` into workers: register it in the worker, then load the source.
    const entry = new URL('./shard-worker.ts', here).href;
    return new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, workerData: data });
  }
  return new Worker(new URL('./choir-shard.js', here), { workerData: data });
}

/** Each op's item up to its singer id, first in the list and after another (flush writes the rest). */
const OP_JSON_FIRST = Object.fromEntries((['dec', 'dec-fresh', 'enc', 'drop', 'ping', 'exit', 'throw', 'hang', 'lie'] as const).map((op) => [op, `{"op":"${op}","s":`])) as Record<CodecOp | FaultOp, string>;
const OP_JSON_NEXT = Object.fromEntries(Object.entries(OP_JSON_FIRST).map(([op, text]) => [op, `,${text}`])) as Record<CodecOp | FaultOp, string>;

type WaitAsync = (a: Int32Array, i: number, v: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const newLanes = (n: number) => Array.from({ length: n }, () => new SharedArrayBuffer(RPC_BYTES));
/** A lane's views: its bytes, and its samples (Int16; RPC_BYTES and DATA_AT are even, and every item starts at an even offset). */
interface LaneViews { bytes: Uint8Array; samples: Int16Array }
const viewsOf = (lanes: SharedArrayBuffer[]): LaneViews[] => lanes.map((b) => ({ bytes: new Uint8Array(b), samples: new Int16Array(b) }));

class Shard {
  /** One buffer per lane; replaced as a whole when the thread is. */
  lanes: SharedArrayBuffer[];
  /** The views of each lane (replaced with them). */
  views: LaneViews[];
  private readonly json = new JsonBytes();
  /** Started on the first call: a node whose rooms never sing costs no thread. */
  worker: Worker | null = null;
  queue: Job[] = [];
  /** The batch in flight on each lane. */
  inFlight: (Job[] | null)[];
  /** The lane the next RPC goes on: the one the shard serves next after those in flight. */
  nextLane = 0;
  scheduled = false;
  closed = false;
  generation = 0;
  /**
   * The codec epoch: how many threads this shard has started (1 for the first). Every singer's codec
   * state lives in the thread, so a new epoch means their encoders and decoders started afresh; the
   * frame replies carry it so a client restarts its mix decoder (docs/choir.md "Shard restarts").
   */
  epoch = 0;
  /** performance.now() when each lane's RPC was handed to the shard; 0: none out. */
  sentAt: number[];
  /** Round trips being waited for: the worker is ref'd while any is. */
  waiting = 0;
  readyNow = false;
  notBefore = 0;
  figures: ShardFigures = { rpcs: 0, rpcSeconds: 0, jobs: 0, waitSeconds: 0, restarts: 0, shardWakeSeconds: 0, shardWorkSeconds: 0, ownerWakeSeconds: 0, backlogRpcs: 0, backlogGapSeconds: 0 };
  /** Epoch ms (timeOrigin + now, comparable with the shard's stamps) of this RPC's REQUEST and of the last REPLY's readiness. */
  private requestedAt: number[];
  /** Each lane's wait for its REPLY, when one is waiting: poll() ends it when it finds the REPLY first. */
  private waiters: ({ status: Int32Array; resolve(): void } | null)[];
  private lastReplyReadyAt = 0;
  /** CPU seconds of the current thread (from its last reply) and of the threads before it. */
  cpuNow = 0;
  cpuBefore = 0;
  /** Resolves once the current worker is loaded and listening (a slow start is not a stuck shard). */
  ready: Promise<void> = Promise.resolve();

  /** A decoded frame's bytes, and the most an encoded one may take (ShardOptions.frameSamples). */
  private readonly frameBytes: number;
  private readonly maxPacketBytes: number;

  constructor(readonly index: number, private readonly options: ShardOptions) {
    const frameSamples = options.frameSamples ?? FRAME_SAMPLES;
    this.frameBytes = frameSamples * 2;
    this.maxPacketBytes = MAX_PACKET_BYTES_PER_20MS * Math.ceil(frameSamples / FRAME_SAMPLES);
    const n = Math.max(1, Math.min(4, options.lanes ?? 2));
    this.lanes = newLanes(n);
    this.views = viewsOf(this.lanes);
    this.inFlight = this.lanes.map(() => null);
    this.sentAt = this.lanes.map(() => 0);
    this.requestedAt = this.lanes.map(() => 0);
    this.waiters = this.lanes.map(() => null);
  }

  /** Ends the wait of every lane whose reply is there (its status moved off REQUEST); how many it ended. */
  poll(): number {
    let ended = 0;
    for (let l = 0; l < this.waiters.length; l++) {
      const w = this.waiters[l];
      if (w !== null && Atomics.load(w.status, 0) !== STATUS_REQUEST) {
        this.waiters[l] = null;
        w.resolve();
        ended++;
      }
    }
    return ended;
  }

  /** Jobs in the RPCs in flight. */
  get inFlightJobs(): number { return this.inFlight.reduce((a, b) => a + (b?.length ?? 0), 0); }

  get timeoutMs(): number { return this.options.timeoutMs ?? 2000; }

  private spawn(): void {
    this.lanes = newLanes(this.lanes.length);
    this.views = viewsOf(this.lanes);
    this.nextLane = 0;
    this.cpuBefore += this.cpuNow;
    this.cpuNow = 0;
    this.readyNow = false;
    this.lastReplyReadyAt = 0;
    const gen = ++this.generation;
    this.epoch++;
    const worker = workerFor({
      lanes: this.lanes, index: this.index, bitrate: this.options.bitrate, complexity: this.options.complexity, testFaults: this.options.testFaults === true,
      spinUs: this.options.spinUs ?? 0, frameSamples: this.frameBytes / 2,
    });
    this.worker = worker;
    worker.unref();
    this.ready = new Promise((resolve) => worker.once('message', () => { if (gen === this.generation) this.readyNow = true; resolve(); }));
    worker.on('error', () => { /* the exit handler follows */ });
    worker.once('exit', () => {
      if (this.closed || gen !== this.generation) return;
      const early = !this.readyNow;
      this.restart(choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} stopped; it is restarting`), !early);
      if (early) this.notBefore = performance.now() + RESPAWN_BACKOFF_MS; // a thread that cannot start is not started in a loop
    });
  }

  /**
   * Gives up on the current thread: its jobs in flight fail with `err`, a new thread (and buffer)
   * takes over (now, or at the next job when `now` is false), and the old buffer is notified so the
   * round trip still waiting on it ends.
   */
  private restart(err: Error, now: boolean): void {
    const old = this.lanes;
    const oldWorker = this.worker;
    this.figures.restarts++;
    this.sentAt.fill(0);
    this.fail(err);
    this.generation++;
    this.worker = null;
    if (now) this.spawn();
    else { this.lanes = newLanes(old.length); this.views = viewsOf(this.lanes); this.nextLane = 0; }
    void oldWorker?.terminate();
    for (const sab of old) Atomics.notify(statusWord(sab), 0);
    this.schedule();
  }

  /** The watchdog's look at this shard: restarts it when its RPC has been out too long. */
  check(now: number): void {
    if (this.sentAt.some((t) => t > 0 && now - t > this.timeoutMs) && !this.closed) {
      this.restart(choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} did not answer within ${this.timeoutMs} ms; it is restarting`), true);
    }
  }

  private fail(err: Error): void {
    for (let l = 0; l < this.inFlight.length; l++) {
      const batch = this.inFlight[l] ?? [];
      this.inFlight[l] = null;
      for (const j of batch) j.reject(err);
    }
  }

  /** The next lane is free: its last reply has been read. */
  private laneFree(): boolean { return this.inFlight[this.nextLane] === null; }

  call(j: Job): void {
    if (this.closed) { j.reject(choirError('CHOIR_SHARD_UNAVAILABLE', 'the codec shards are closed')); return; }
    if (this.worker === null) {
      if (performance.now() < this.notBefore) { j.reject(choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} failed to start; it is retried shortly`)); return; }
      this.spawn();
    }
    this.queue.push(j);
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled || !this.laneFree() || this.queue.length === 0 || this.closed) return;
    this.scheduled = true;
    const wait = this.gatherLeftMs();
    // setImmediate: the frames read from the sockets in this turn of the loop go in one RPC; with
    // --choir-batch-ms, a timer: those of the next few ms too.
    if (wait <= 0) setImmediate(() => { this.scheduled = false; this.flush(); });
    else setTimeout(() => { this.scheduled = false; this.flush(); this.schedule(); }, Math.ceil(wait));
  }

  /** How much longer the queue's batch gathers, ms (≤ 0: it may go now). */
  private gatherLeftMs(): number {
    const batchMs = this.options.batchMs ?? 0;
    if (batchMs <= 0 || this.queue.length === 0) return 0;
    if (this.queue.length * 2 >= MAX_ITEMS) return 0; // full: gathering more would not fit in one RPC
    return this.queue[0].queuedAt + batchMs - performance.now();
  }

  /** Sends the queue's head (as much as fits) as one RPC, its inputs written into the buffer once. */
  private flush(): void {
    if (!this.laneFree() || this.queue.length === 0 || this.closed) return;
    if (this.gatherLeftMs() > 0) return; // still gathering: its timer sends it
    if (this.worker === null) {
      if (performance.now() < this.notBefore) {
        for (const j of this.queue.splice(0)) j.reject(choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} failed to start; it is retried shortly`));
        return;
      }
      this.spawn();
    }
    const lane = this.nextLane;
    const sab = this.lanes[lane];
    const { bytes, samples } = this.views[lane];
    const batch: Job[] = [];
    let items = 0, inBytes = 0, outBytes = 0;
    // The request's JSON is written straight into the lane (rpc.ts JsonBytes), as its data is.
    const json = this.json.begin(sab, bytes).ascii('{"items":[');
    while (this.queue.length > 0) {
      const j = this.queue[0];
      let jin = 0, jout = 0;
      for (let k = 0; k < j.ops.length; k++) {
        // Each item may be padded to the next multiple of ITEM_ALIGN (rpc.ts), on both sides.
        jin += j.inputs[k].byteLength + ITEM_ALIGN - 1;
        const op = j.ops[k];
        jout += (op === 'dec' || op === 'dec-fresh' ? this.frameBytes : op === 'enc' ? this.maxPacketBytes : j.inputs[k].byteLength) + ITEM_ALIGN - 1;
      }
      if (batch.length > 0 && (items + j.ops.length > MAX_ITEMS || inBytes + jin > MAX_DATA_BYTES || outBytes + jout > MAX_DATA_BYTES)) break;
      this.queue.shift();
      if (jin > MAX_DATA_BYTES || jout > MAX_DATA_BYTES || j.ops.length > MAX_ITEMS) {
        j.reject(choirError('CHOIR_RPC_TOO_LARGE', `data is ${Math.max(jin, jout)} bytes, at most ${MAX_DATA_BYTES}`));
        continue;
      }
      for (let k = 0; k < j.ops.length; k++) {
        const input = j.inputs[k];
        inBytes = itemStart(inBytes);
        // A mix goes in as samples, with no byte view of it made per frame.
        if (input instanceof Int16Array) samples.set(input, (DATA_AT + inBytes) >> 1);
        else bytes.set(input, DATA_AT + inBytes);
        inBytes += input.byteLength;
        json.ascii(items > 0 ? OP_JSON_NEXT[j.ops[k]] : OP_JSON_FIRST[j.ops[k]]).uint(j.s).ascii(',"len":').uint(input.byteLength).ascii('}');
        items++;
      }
      outBytes += jout;
      batch.push(j);
    }
    if (batch.length === 0) return;
    try {
      json.ascii(']}').end(sab, inBytes);
    } catch (err) {
      for (const j of batch) j.reject(choirError('CHOIR_RPC_TOO_LARGE', (err as Error).message));
      this.schedule();
      return;
    }
    this.inFlight[lane] = batch;
    this.nextLane = (lane + 1) % this.lanes.length;
    void this.exchange(batch, lane, sab);
    this.schedule(); // more queued than one RPC holds, and the next lane free: it goes too
  }

  /** Waits for the shard, hands out the reply's items to the batch's jobs, and sends the next batch. */
  private async exchange(batch: Job[], lane: number, sab: SharedArrayBuffer): Promise<void> {
    const generation = this.generation;
    const epoch = this.epoch;
    await this.ready;
    if (this.inFlight[lane] !== batch || generation !== this.generation) return; // the shard died while starting
    const sent = performance.now();
    for (const j of batch) {
      this.figures.waitSeconds += (j.frames * (sent - j.queuedAt)) / 1000;
      this.figures.jobs += j.frames;
    }
    let json: unknown;
    let dataLen = 0;
    try {
      await this.roundTrip(lane, sab);
      ({ json, dataLen } = readJson(sab));
    } catch (err) {
      if (this.inFlight[lane] === batch) {
        this.inFlight[lane] = null;
        const e = err instanceof BrigadeError ? err : new BrigadeError(err instanceof RpcError ? err.code : 'CHOIR_RPC_MALFORMED', (err as Error).message);
        for (const j of batch) j.reject(e);
      }
      if (sab === this.lanes[lane]) Atomics.store(statusWord(sab), 0, STATUS_IDLE);
      this.schedule();
      return;
    }
    if (this.inFlight[lane] !== batch) return; // failed meanwhile (the shard died)
    const readAt = performance.now();
    const seenAt = performance.timeOrigin + readAt;
    this.inFlight[lane] = null;
    const r = json as { err?: string; msg?: string; cpu?: number; at?: [number, number]; items?: (number | { err: string; msg: string })[] };
    if (typeof r.cpu === 'number') this.cpuNow = r.cpu;
    const stamped = Array.isArray(r.at) && r.at.length === 2;
    if (stamped) this.stages(batch, lane, r.at![0], r.at![1], seenAt);
    const rpc: RpcStamps = { sentAt: sent, pickedUpAt: stamped ? r.at![0] - performance.timeOrigin : Number.NaN, readyAt: stamped ? r.at![1] - performance.timeOrigin : Number.NaN, readAt };
    const itemCount = batch.reduce((a, j) => a + j.ops.length, 0);
    let results: Output[][] | Error;
    if (r.err || !Array.isArray(r.items) || r.items.length !== itemCount) {
      results = new BrigadeError((r.err as 'CHOIR_RPC_MALFORMED') ?? 'CHOIR_RPC_MALFORMED', r.msg ?? 'the shard\'s reply does not match the request');
    } else {
      results = this.outputs(batch, r.items, this.views[lane], dataLen);
    }
    Atomics.store(statusWord(sab), 0, STATUS_IDLE);
    // The next batch goes out before this one's jobs go on (their room writes and replies run while
    // the shard codes the next batch): the shard does not wait for a turn of the owner's loop.
    if (this.options.flushOnReply === false) this.schedule();
    else { this.flush(); this.schedule(); }
    if (results instanceof Error) for (const j of batch) j.reject(results);
    else for (let b = 0; b < batch.length; b++) batch[b].resolve(results[b], epoch, rpc, this.options.opusHeadroom ?? 0);
  }

  /**
   * Copies a reply's outputs out of the lane, once each: a decoded voice into a pooled frame
   * (frame-pool.ts: the app gives it back once the room has added it); the batch's encoded mixes
   * all into one buffer, each with ShardOptions.opusHeadroom free bytes in front (one allocation
   * per RPC, not one per frame); anything else by slice. An item's refusal is its output; lengths
   * that do not fit the reply's data refuse the whole reply (CHOIR_RPC_MALFORMED).
   */
  private outputs(batch: Job[], items: (number | { err: string; msg: string })[], { bytes, samples }: LaneViews, dataLen: number): Output[][] | BrigadeError {
    const headroom = this.options.opusHeadroom ?? 0;
    const frameBytes = this.frameBytes;
    // Every item checked first, as the copies below will place it (nothing is copied from a reply
    // whose lengths do not fit its data), and the mixes' sizes summed for their one buffer.
    let mixBytes = 0, i = 0, at = 0;
    for (let b = 0; b < batch.length; b++) {
      const ops = batch[b].ops;
      for (let k = 0; k < ops.length; k++, i++) {
        const it = items[i];
        if (typeof it !== 'number') {
          if (typeof it?.err !== 'string') return malformedReply('an item is neither a length nor a refusal');
          continue;
        }
        at = itemStart(at);
        if (!Number.isSafeInteger(it) || it < 0 || at + it > dataLen) return malformedReply(`an output of ${it} bytes at ${at} runs past the reply's ${dataLen} bytes of data`);
        at += it;
        if (ops[k] === 'enc') mixBytes += headroom + it;
      }
    }
    const mixes = mixBytes > 0 ? new Uint8Array(mixBytes) : null;
    let mixAt = 0;
    const outsOf: Output[][] = new Array(batch.length);
    let off = DATA_AT;
    i = 0;
    for (let b = 0; b < batch.length; b++) {
      const ops = batch[b].ops;
      const outs: Output[] = new Array(ops.length);
      for (let k = 0; k < ops.length; k++) {
        const it = items[i++];
        if (typeof it !== 'number') { outs[k] = new BrigadeError(it.err as 'CHOIR_BAD_OPUS', String(it.msg)); continue; }
        off = DATA_AT + itemStart(off - DATA_AT);
        const op = ops[k];
        let out: Int16Array | Uint8Array;
        if ((op === 'dec' || op === 'dec-fresh') && it === frameBytes) {
          out = pcmFrames.take(frameBytes >> 1);
          out.set(samples.subarray(off >> 1, (off + frameBytes) >> 1));
        } else if (op === 'enc' && mixes !== null) {
          mixAt += headroom;
          mixes.set(bytes.subarray(off, off + it), mixAt);
          out = mixes.subarray(mixAt, mixAt + it);
          mixAt += it;
        } else out = bytes.slice(off, off + it);
        off += it;
        outs[k] = out;
      }
      outsOf[b] = outs;
    }
    return outsOf;
  }

  /** Adds one round trip's hand-off stages to the figures (epoch ms: the shard's stamps and the owner's). */
  private stages(batch: Job[], lane: number, pickedUp: number, ready: number, seenAt: number): void {
    const f = this.figures;
    const requestedAt = this.requestedAt[lane];
    // From the later of its request and the previous reply: a request handed over while the shard
    // was still on the other lane waits for that, which is not a wake-up.
    f.shardWakeSeconds += Math.max(0, pickedUp - Math.max(requestedAt, this.lastReplyReadyAt)) / 1000;
    f.shardWorkSeconds += Math.max(0, ready - pickedUp) / 1000;
    f.ownerWakeSeconds += Math.max(0, seenAt - ready) / 1000;
    const firstQueued = performance.timeOrigin + Math.min(...batch.map((j) => j.queuedAt));
    if (this.lastReplyReadyAt > 0 && firstQueued < this.lastReplyReadyAt) {
      f.backlogRpcs++;
      f.backlogGapSeconds += Math.max(0, requestedAt - this.lastReplyReadyAt) / 1000;
    }
    this.lastReplyReadyAt = ready;
  }

  /**
   * Hands the message in the buffer to the shard and waits for its reply. Throws
   * CHOIR_SHARD_UNAVAILABLE when the shard was given up on meanwhile (the watchdog, its exit).
   */
  private async roundTrip(lane: number, sab: SharedArrayBuffer): Promise<void> {
    const status = statusWord(sab);
    if (Atomics.load(status, 0) !== STATUS_IDLE) throw choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} is busy`);
    const worker = this.worker!;
    this.requestedAt[lane] = performance.timeOrigin + performance.now();
    Atomics.store(status, 0, STATUS_REQUEST);
    Atomics.notify(status, 0);
    const sent = performance.now();
    this.sentAt[lane] = sent;
    this.figures.rpcs++;
    // Atomics.waitAsync does not keep the event loop alive: the worker does, while a reply is due.
    if (this.waiting++ === 0) worker.ref();
    // A wake-up is only a hint: the shard's notify for the previous REPLY may come late (the owner
    // saw that REPLY without waiting) and land on this wait. So wait until the status moves, or
    // this buffer is given up (the watchdog or the thread's exit notifies it after replacing it).
    while (Atomics.load(status, 0) === STATUS_REQUEST && sab === this.lanes[lane] && !this.closed) {
      const waited = waitAsync(status, 0, STATUS_REQUEST);
      if (!waited.async) continue;
      if (this.options.pollReplies === false) { await waited.value; continue; }
      // Whichever comes first: waitAsync's task, or poll() finding the REPLY at a frame the owner
      // handles (the main thread is busy with sockets; the task waits for its turn of the loop).
      await new Promise<void>((resolve) => {
        this.waiters[lane] = { status, resolve };
        void (waited.value as Promise<string>).then(() => resolve());
      });
      this.waiters[lane] = null;
    }
    if (--this.waiting === 0) worker.unref();
    if (sab !== this.lanes[lane] || Atomics.load(status, 0) !== STATUS_REPLY) {
      throw choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} stopped or did not answer within ${this.timeoutMs} ms; it is restarting`);
    }
    this.sentAt[lane] = 0;
    this.figures.rpcSeconds += (performance.now() - sent) / 1000;
  }

  /** One raw round trip over the shared buffer (tests use `rawLengths` to send lying lengths). */
  async rpc(json: Uint8Array, data: Uint8Array, rawLengths?: { json?: number; data?: number }): Promise<{ json: unknown; data: Uint8Array }> {
    if (this.worker === null) this.spawn();
    await this.ready;
    const lane = this.nextLane;
    const sab = this.lanes[lane];
    if (Atomics.load(statusWord(sab), 0) !== STATUS_IDLE) throw choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} is busy`);
    writeMessage(sab, json, data, rawLengths);
    this.nextLane = (lane + 1) % this.lanes.length;
    await this.roundTrip(lane, sab);
    try {
      return readMessage(sab);
    } catch (err) {
      throw new BrigadeError(err instanceof RpcError ? err.code : 'CHOIR_RPC_MALFORMED', (err as Error).message);
    } finally {
      Atomics.store(statusWord(sab), 0, STATUS_IDLE);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(choirError('CHOIR_SHARD_UNAVAILABLE', 'the codec shards are closed'));
    this.fail(choirError('CHOIR_SHARD_UNAVAILABLE', 'the codec shards are closed'));
    for (const sab of this.lanes) {
      const status = statusWord(sab);
      Atomics.store(status, 0, STATUS_CLOSE);
      Atomics.notify(status, 0);
    }
    await this.worker?.terminate();
  }
}

export class ShardPool implements Codecs {
  private readonly shards: Shard[];
  private readonly load: number[];
  private readonly pinned = new Map<number, number>();
  private readonly watchdog: NodeJS.Timeout;

  /** The most frames of a message one job (one RPC) carries: two items a frame, within MAX_ITEMS and the 200 KB each way. */
  private readonly framesPerJob: number;

  constructor(options: ShardOptions) {
    this.shards = Array.from({ length: Math.max(1, options.count) }, (_, i) => new Shard(i, options));
    const frameSamples = options.frameSamples ?? FRAME_SAMPLES;
    const perFrame = 2 * frameSamples + MAX_PACKET_BYTES_PER_20MS * Math.ceil(frameSamples / FRAME_SAMPLES) + 2 * (ITEM_ALIGN - 1);
    this.framesPerJob = Math.max(1, Math.min(MAX_ITEMS >> 1, Math.floor(MAX_DATA_BYTES / perFrame)));
    this.load = this.shards.map(() => 0);
    const every = Math.max(10, Math.min(500, Math.floor((options.timeoutMs ?? 2000) / 4)));
    this.watchdog = setInterval(() => { const now = performance.now(); for (const s of this.shards) s.check(now); }, every);
    this.watchdog.unref();
  }

  get size(): number { return this.shards.length; }

  /**
   * Reads the replies that are already there (see ShardOptions.pollReplies): their waits end now,
   * and their batches go on in this turn's microtasks. Cheap: a load per lane waiting. Returns how
   * many waits it ended (0 with pollReplies false: no lane's wait is registered for it then).
   */
  poll(): number {
    let ended = 0;
    for (const s of this.shards) ended += s.poll();
    return ended;
  }

  /** Pins a singer to the least-loaded shard for the session. */
  pin(singer: number): number {
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i] < this.load[best]) best = i;
    this.load[best]++;
    this.pinned.set(singer, best);
    return best;
  }

  /** Forgets a singer: their codec is dropped in their shard. */
  unpin(singer: number): void {
    const shard = this.pinned.get(singer);
    if (shard === undefined) return;
    this.pinned.delete(singer);
    this.load[shard]--;
    this.call(shard, 'drop', singer, new Uint8Array(0)).catch(() => {});
  }

  shardOf(singer: number): number {
    const shard = this.pinned.get(singer);
    if (shard === undefined) throw choirError('CHOIR_NOT_A_SINGER', `singer ${singer} is not pinned to a shard`);
    return shard;
  }

  /** One op in a shard; an item's refusal rejects. Its output as bytes (a decoded frame too). */
  call(shard: number, op: CodecOp | FaultOp, s: number, input: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => this.shards[shard].call({
      s, ops: [op], inputs: [input], queuedAt: performance.now(), frames: 1, reject,
      resolve: ([out]) => {
        if (out instanceof BrigadeError) reject(out);
        else resolve(out instanceof Int16Array ? new Uint8Array(out.buffer, out.byteOffset, out.byteLength) : out);
      },
    }));
  }

  /**
   * A frame's codec work in the singer's shard, in one item pair of one RPC: decode `packet` (null:
   * nothing sung; `freshDecoder`: restart the singer's decoder first) and encode `mix` (null: no
   * mix asked). A bad packet rejects with CHOIR_BAD_OPUS.
   */
  async frame(singer: number, packet: Uint8Array | null, mix: Int16Array | null, freshDecoder = false): Promise<FrameCodecResult> {
    const r = await this.frames(singer, [packet], [mix], [freshDecoder]);
    return { pcm: r.pcm[0], opus: r.opus[0], epoch: r.epoch, rpc: r.rpc, opusHeadroom: r.opusHeadroom };
  }

  /**
   * A message's codec work in the singer's shard as one job (Codecs.frames): its items go in one
   * RPC, unless they are more than one RPC holds (`framesPerJob`: at 60 ms frames, 21), when the
   * message goes as several jobs in order and settles once all have.
   */
  frames(singer: number, packets: readonly (Uint8Array | null)[], mixes: readonly (Int16Array | null)[], fresh: readonly boolean[]): Promise<FramesCodecResult> {
    const n = packets.length;
    let work = false;
    for (let i = 0; i < n && !work; i++) work = packets[i] !== null || mixes[i] !== null;
    if (!work) return Promise.resolve({ pcm: new Array(n).fill(null), opus: new Array(n).fill(null), epoch: 0 });
    let shard: number;
    try {
      shard = this.shardOf(singer);
    } catch (err) {
      return Promise.reject(err);
    }
    if (n <= this.framesPerJob) return new Promise((resolve, reject) => this.shards[shard].call(new FramesJob(singer, packets, mixes, fresh, resolve, reject)));
    const parts: Promise<FramesCodecResult>[] = [];
    for (let at = 0; at < n; at += this.framesPerJob) {
      const end = Math.min(n, at + this.framesPerJob);
      parts.push(new Promise((resolve, reject) => this.shards[shard].call(new FramesJob(singer, packets.slice(at, end), mixes.slice(at, end), fresh.slice(at, end), resolve, reject))));
    }
    return settleMessage(parts, (d) => d.pcm).then((done) => ({
      pcm: done.flatMap((d) => d.pcm), opus: done.flatMap((d) => d.opus), epoch: done.reduce((e, d) => (d.epoch !== 0 ? d.epoch : e), 0),
      rpc: done[done.length - 1].rpc, opusHeadroom: done.find((d) => d.opus.some((o) => o))?.opusHeadroom ?? 0,
    }));
  }

  /** Decodes one singer's Opus packet to a frame of Int16 samples (ShardOptions.frameSamples) in their shard. */
  async decode(singer: number, packet: Uint8Array): Promise<Int16Array> {
    return (await this.frame(singer, packet, null)).pcm!;
  }

  /** Encodes a frame of Int16 samples with the singer's encoder in their shard. */
  async encode(singer: number, pcm: Int16Array): Promise<Uint8Array> {
    return (await this.frame(singer, null, pcm)).opus!;
  }

  /** Jobs waiting for, or in, a shard's RPC. */
  queueDepth(shard: number): number {
    const s = this.shards[shard];
    return s.queue.length + s.inFlightJobs;
  }

  rpcCount(shard: number): number { return this.shards[shard].figures.rpcs; }

  figures(): ShardFigures[] { return this.shards.map((s) => ({ ...s.figures })); }

  /** Each shard's codec epoch (0: no thread started yet). */
  epochs(): number[] { return this.shards.map((s) => s.epoch); }

  cpuSeconds(): number[] {
    return this.shards.map((s) => s.cpuBefore + s.cpuNow);
  }

  /** A raw RPC to one shard, for tests of the shard's own checks (waits until the shard is idle). */
  async rawRpc(shard: number, json: Uint8Array, data: Uint8Array, rawLengths?: { json?: number; data?: number }): Promise<{ json: unknown; data: Uint8Array }> {
    const s = this.shards[shard];
    while (s.inFlightJobs > 0 || s.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
    return s.rpc(json, data, rawLengths);
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    await Promise.all(this.shards.map((s) => s.close()));
  }
}
