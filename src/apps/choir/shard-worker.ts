/**
 * A codec shard: a worker thread that holds the Opus encoder and decoder of every singer pinned to
 * it, and answers the owner's RPCs over its lanes (a SharedArrayBuffer each, rpc.ts; served in turn). It blocks in Atomics.wait
 * between requests; nothing on the audio path goes through postMessage.
 *
 * Request JSON: `{"items": [{"op": "dec"|"dec-fresh"|"enc"|"drop"|"ping", "s": singerId, "len": bytes}, …]}`
 * with each item's input bytes concatenated in the data, in order. Reply JSON: `{"items": [bytes |
 * {"err": CODE, "msg": "…"}, …]}` (an output's length, or the item's refusal) with the outputs
 * concatenated; or `{"err": CODE, "msg"}` for a request that could not be read at all. A failing
 * item (a malformed Opus packet) fails alone.
 * Every reply also carries `"cpu"`: this thread's CPU seconds so far (Linux: /proc/thread-self/stat,
 * read at most every 200 ms; elsewhere the time spent handling requests), for the owner's metrics.
 * The request's data is copied out once and the outputs are written straight into the buffer: no
 * per-request allocation beyond the codec's own.
 *
 * Test-only ops, served only when started with `testFaults` (ShardOptions; docs/choir.md): `exit`
 * (process.exit in this thread), `throw` (an error thrown out of the loop), `hang` (the request is
 * taken and never answered), `lie` (its output's length past the reply's data; -1 for an input of
 * one byte or more). Without it they are unknown ops, refused like any other.
 *
 * Built as its own entry (dist/choir-shard.js, scripts/build.mjs); the owner loads it by path.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import {
  DATA_AT, encodeJson, ITEM_ALIGN, itemStart, MAX_DATA_BYTES, PCM_FRAME_OFFSET, readJson, RpcError, statusWord, STATUS_CLOSE, STATUS_REPLY, STATUS_REQUEST, writeJsonOver, writeMessage,
} from './rpc.ts';

const require = createRequire(import.meta.url);

interface OpusCodec {
  encode(pcm: Buffer): Buffer;
  decode(packet: Buffer): Buffer;
  setBitrate(bitrate: number): void;
  applyEncoderCTL(ctl: number, value: number): void;
  applyDecoderCTL(ctl: number, value: number): void;
}
type OpusCtor = new (rate: number, channels: number) => OpusCodec;

export interface ShardData {
  /** The RPC lanes, each a buffer in rpc.ts's layout, served in turn: 0, 1, …, 0 (ShardOptions.lanes). */
  lanes: SharedArrayBuffer[];
  index: number;
  bitrate: number;
  complexity: number;
  /** Samples in one frame: what a packet must decode to, what `enc` takes (960: 20 ms; --choir-frame-ms). */
  frameSamples?: number;
  testFaults?: boolean;
  /** How long the shard checks for the next request after replying before it sleeps in Atomics.wait, µs (0: sleeps at once). */
  spinUs?: number;
}

/** A frame's PCM bytes (ShardData.frameSamples), set at start. */
let FRAME_BYTES = 960 * 2;
const CPU_READ_EVERY_MS = 200;
/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** This thread's CPU seconds, or null where /proc/thread-self cannot be read. */
function threadCpuSeconds(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ; // utime, stime (fields 14 and 15)
  } catch {
    return null;
  }
}
const OPUS_SET_COMPLEXITY = 4010;
/** opus_decoder_ctl's OPUS_RESET_STATE (takes no value; the binding passes one, which libopus ignores). */
const OPUS_RESET_STATE = 4028;
const encoder = new TextEncoder();

function main(): void {
  const { lanes, bitrate, complexity, testFaults } = workerData as ShardData;
  FRAME_BYTES = ((workerData as ShardData).frameSamples ?? 960) * 2;
  staging = new Uint8Array(FRAME_BYTES + ITEM_ALIGN);
  const spinMs = Math.max(0, (workerData as ShardData).spinUs ?? 0) / 1000;
  /** Until when (performance.now()) the shard spins on the status word instead of sleeping. */
  let spinUntil = 0;
  /** Epoch ms with a fraction: comparable with the owner's thread (each thread has its own timeOrigin). */
  const epochMs = () => performance.timeOrigin + performance.now();
  const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: OpusCtor };
  const codecs = new Map<number, OpusCodec>();
  const codecOf = (s: number): OpusCodec => {
    let c = codecs.get(s);
    if (!c) {
      c = new OpusEncoder(48_000, 1);
      c.setBitrate(bitrate);
      c.applyEncoderCTL(OPUS_SET_COMPLEXITY, complexity);
      codecs.set(s, c);
    }
    return c;
  };
  const statuses = lanes.map(statusWord);
  const views = lanes.map((b) => new Uint8Array(b));
  let lane = 0;
  /**
   * The request's data, copied out of the lane once per RPC into this one buffer (the outputs are
   * written over the inputs): no 40–200 KB allocation per RPC, which this isolate's GC then had to
   * find and sweep.
   */
  const inputCopy = new Uint8Array(MAX_DATA_BYTES + ITEM_ALIGN);
  // The one message a shard sends: it is loaded and listening (the owner's RPC timeouts start now).
  parentPort?.postMessage('ready');
  let cpu = threadCpuSeconds() ?? 0;
  let cpuReadAt = performance.now();
  let busySeconds = 0;
  const fromProc = threadCpuSeconds() !== null;

  for (;;) {
    // The lanes are served in turn: the owner sends in the same turn, so the next request is on
    // the next lane, maybe already waiting there while this shard coded the last one.
    const sab = lanes[lane], status = statuses[lane], bytes = views[lane];
    const st = Atomics.load(status, 0);
    if (st === STATUS_CLOSE) return;
    if (st !== STATUS_REQUEST) {
      // Spinning briefly after a reply catches the owner's next batch without a futex sleep and
      // wake-up (docs/choir.md "Hand-off"); past spinUntil the shard sleeps.
      if (spinMs > 0 && performance.now() < spinUntil) continue;
      Atomics.wait(status, 0, st);
      continue;
    }
    const pickedUp = epochMs();
    let replyJson: string;
    let replyLen = 0;
    const began = performance.now();
    try {
      const { json, dataLen } = readJson(sab);
      // The outputs are written over the inputs: a copy of them first, from DATA_AT's word (rpc.ts:
      // a copy out of shared memory runs a word at a time only when both sides are aligned alike).
      inputCopy.set(bytes.subarray(DATA_AT - PCM_FRAME_OFFSET, DATA_AT + dataLen));
      const input = inputCopy.subarray(PCM_FRAME_OFFSET, PCM_FRAME_OFFSET + dataLen);
      const r = handle(json, input, bytes, codecOf, codecs, testFaults === true, status);
      replyJson = r.json;
      replyLen = r.dataLen;
    } catch (err) {
      if (err instanceof FaultThrow) throw err;
      const code = err instanceof RpcError ? err.code : 'CHOIR_RPC_MALFORMED';
      replyJson = `"err":${JSON.stringify(code)},"msg":${JSON.stringify((err as Error).message)}`;
      replyLen = 0;
    }
    const ended = performance.now();
    busySeconds += (ended - began) / 1000;
    if (!fromProc) cpu = busySeconds;
    else if (ended - cpuReadAt >= CPU_READ_EVERY_MS) { cpu = threadCpuSeconds() ?? cpu; cpuReadAt = ended; }
    try {
      // "at": when this request was picked up and when its reply was ready, epoch ms (the owner's stage figures).
      writeJsonOver(sab, encoder.encode(`{${replyJson},"cpu":${cpu},"at":[${pickedUp},${epochMs()}]}`), replyLen);
    } catch (err) {
      writeMessage(sab, encodeJson({ err: 'CHOIR_RPC_TOO_LARGE', msg: `reply: ${(err as Error).message}`, cpu }), new Uint8Array(0));
    }
    Atomics.store(status, 0, STATUS_REPLY);
    Atomics.notify(status, 0);
    if (spinMs > 0) spinUntil = performance.now() + spinMs;
    lane = (lane + 1) % lanes.length;
  }
}

/** The error a `throw` fault op raises out of the loop (testFaults only). */
class FaultThrow extends Error {}

/**
 * Handles one request's items; writes the outputs into `bytes` from DATA_AT and returns the reply's
 * JSON members (without braces) and the outputs' length.
 */
function handle(json: unknown, data: Uint8Array, bytes: Uint8Array, codecOf: (s: number) => OpusCodec, codecs: Map<number, OpusCodec>,
  testFaults: boolean, status: Int32Array): { json: string; dataLen: number } {
  const items = (json as { items?: unknown })?.items;
  if (!Array.isArray(items)) throw new RpcError('CHOIR_RPC_MALFORMED', 'the request has no items array');
  let inAt = 0;
  for (const it of items) {
    const len = (it as { len?: unknown })?.len;
    if (!Number.isSafeInteger(len) || (len as number) < 0) throw new RpcError('CHOIR_RPC_MALFORMED', 'an item without a whole len');
    inAt = itemStart(inAt) + (len as number);
  }
  if (items.length > 0 && inAt !== data.length) throw new RpcError('CHOIR_RPC_MALFORMED', `the items' lengths (each from a multiple of ${ITEM_ALIGN} bytes) add up to ${inAt}, the data is ${data.length} bytes`);
  if (items.length === 0 && data.length !== 0) throw new RpcError('CHOIR_RPC_MALFORMED', `no items, but ${data.length} bytes of data`);
  let outAt = 0;
  inAt = 0;
  let replies = '';
  const reply = (member: string) => { replies += (replies.length > 0 ? ',' : '') + member; };
  const refuse = (code: string, msg: string) => reply(`{"err":${JSON.stringify(code)},"msg":${JSON.stringify(msg)}}`);
  for (const it of items as { op: unknown; s: unknown; len: number }[]) {
    inAt = itemStart(inAt);
    const input = data.subarray(inAt, inAt + it.len);
    inAt += it.len;
    const s = it.s as number;
    try {
      if (!Number.isSafeInteger(s)) throw new RpcError('CHOIR_RPC_MALFORMED', 'an item without a singer id');
      let result: Uint8Array;
      switch (it.op) {
        case 'ping': result = input; break;
        case 'drop': codecs.delete(s); result = new Uint8Array(0); break;
        case 'dec':
        case 'dec-fresh': {
          let pcm: Buffer;
          try {
            if (it.op === 'dec-fresh') codecOf(s).applyDecoderCTL(OPUS_RESET_STATE, 0);
            pcm = codecOf(s).decode(Buffer.from(input.buffer, input.byteOffset, input.length));
          } catch (err) {
            refuse('CHOIR_BAD_OPUS', `the Opus packet did not decode: ${(err as Error).message}`);
            continue;
          }
          if (pcm.length !== FRAME_BYTES) {
            refuse('CHOIR_BAD_OPUS', `the packet decoded to ${pcm.length / 2} samples, a frame is ${FRAME_BYTES / 2} (${FRAME_BYTES / 96} ms)`);
            continue;
          }
          result = pcm;
          break;
        }
        case 'enc': {
          if (input.length !== FRAME_BYTES) throw new RpcError('CHOIR_RPC_MALFORMED', `enc takes ${FRAME_BYTES} bytes of PCM, not ${input.length}`);
          result = codecOf(s).encode(Buffer.from(input.buffer, input.byteOffset, input.length));
          break;
        }
        case 'exit': if (testFaults) process.exit(3); throw unknownOp(it.op);
        case 'throw': if (testFaults) throw new FaultThrow('a test fault: the shard throws out of its loop'); throw unknownOp(it.op);
        case 'hang': if (testFaults) for (;;) Atomics.wait(status, 0, Atomics.load(status, 0)); throw unknownOp(it.op);
        case 'lie': if (testFaults) { reply(input.length === 0 ? String(MAX_DATA_BYTES + 1) : '-1'); continue; } throw unknownOp(it.op);
        default: throw unknownOp(it.op);
      }
      const at = itemStart(outAt);
      if (at + result.length > MAX_DATA_BYTES) throw new RpcError('CHOIR_RPC_TOO_LARGE', 'the reply data would be over 200 KB');
      copyIn(bytes, DATA_AT + at, result);
      outAt = at + result.length;
      reply(String(result.length));
    } catch (err) {
      if (err instanceof FaultThrow) throw err;
      refuse(err instanceof RpcError ? err.code : 'CHOIR_RPC_MALFORMED', (err as Error).message);
    }
  }
  return { json: `"items":[${replies}]`, dataLen: outAt };
}

/** A frame's bytes placed at DATA_AT's offset mod 8 (rpc.ts PCM_FRAME_OFFSET), to go into the shared buffer word-aligned. */
let staging = new Uint8Array(FRAME_BYTES + ITEM_ALIGN);

/**
 * Copies `src` into the shared buffer at `at` (an item's start, at DATA_AT's offset mod 8). The
 * codec's outputs are Buffers of their own, at offset 0: a decoded frame goes through `staging`
 * (an ordinary copy, then an aligned one: ~7× cheaper than one byte-wise copy into shared memory).
 */
function copyIn(bytes: Uint8Array, at: number, src: Uint8Array): void {
  if (src.length <= FRAME_BYTES && src.length >= 256 && (src.byteOffset & (ITEM_ALIGN - 1)) !== PCM_FRAME_OFFSET) {
    staging.set(src, PCM_FRAME_OFFSET);
    bytes.set(staging.subarray(PCM_FRAME_OFFSET, PCM_FRAME_OFFSET + src.length), at);
  } else bytes.set(src, at);
}

const unknownOp = (op: unknown) => new RpcError('CHOIR_RPC_MALFORMED', `unknown op ${JSON.stringify(op)}`);

main();
