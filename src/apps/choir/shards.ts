/**
 * The owner's side of the codec shards: N worker threads (shard-worker.ts), each with its
 * SharedArrayBuffer (rpc.ts), one RPC in flight per shard. Calls made while one is in flight
 * wait in the shard's queue and go together in the next RPC (one batch of up to `MAX_ITEMS` items,
 * within the 10 KB / 200 KB limits), so a tick's frames for one shard cost one round trip. The
 * owner never blocks: it waits for the REPLY with Atomics.waitAsync. A shard that does not answer
 * within `timeoutMs`, or whose thread exits, fails its calls with CHOIR_SHARD_UNAVAILABLE and is
 * started again (its singers' codec state starts afresh).
 */
import { Worker } from 'node:worker_threads';
import { BrigadeError } from '../../protocol/index.ts';
import { choirError } from './errors.ts';
import type { Codecs } from './owner-codecs.ts';
import {
  encodeJson, MAX_DATA_BYTES, readMessage, RPC_BYTES, RpcError, statusWord, STATUS_CLOSE, STATUS_IDLE, STATUS_REPLY, STATUS_REQUEST, writeMessage,
} from './rpc.ts';

const MAX_ITEMS = 100;
const FRAME_BYTES = 1920;

export interface ShardOptions {
  count: number;
  bitrate: number;
  complexity: number;
  /** How long a shard may take over one RPC before it is given up on, ms. */
  timeoutMs?: number;
}

interface Pending {
  op: 'dec' | 'enc' | 'drop' | 'ping';
  s: number;
  input: Uint8Array;
  resolve(out: Uint8Array): void;
  reject(err: Error): void;
}

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

class Shard {
  sab = new SharedArrayBuffer(RPC_BYTES);
  /** Started on the first call: a node whose rooms never sing costs no thread. */
  worker: Worker | null = null;
  queue: Pending[] = [];
  inFlight: Pending[] | null = null;
  scheduled = false;
  closed = false;
  rpcs = 0;
  generation = 0;
  /** CPU seconds of the current thread (from its last reply) and of the threads before it. */
  cpuNow = 0;
  cpuBefore = 0;
  /** Resolves once the current worker is loaded and listening (a slow start is not a stuck shard). */
  ready: Promise<void> = Promise.resolve();

  constructor(readonly index: number, private readonly options: ShardOptions) {}

  private spawn(): void {
    this.sab = new SharedArrayBuffer(RPC_BYTES);
    this.cpuBefore += this.cpuNow;
    this.cpuNow = 0;
    const gen = ++this.generation;
    const worker = workerFor({ sab: this.sab, index: this.index, bitrate: this.options.bitrate, complexity: this.options.complexity });
    this.worker = worker;
    worker.unref();
    this.ready = new Promise((resolve) => worker.once('message', () => resolve()));
    worker.on('error', () => { /* the exit handler follows */ });
    worker.once('exit', () => {
      if (this.closed || gen !== this.generation) return;
      this.fail(choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} stopped; it is restarting`));
      this.spawn();
    });
  }

  private fail(err: Error): void {
    const batch = this.inFlight ?? [];
    this.inFlight = null;
    for (const p of batch) p.reject(err);
  }

  call(p: Pending): void {
    if (this.closed) { p.reject(choirError('CHOIR_SHARD_UNAVAILABLE', 'the codec shards are closed')); return; }
    if (this.worker === null) this.spawn();
    this.queue.push(p);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => { this.scheduled = false; void this.flush(); });
  }

  /** Sends the queue's head (as much as fits) as one RPC and hands out the reply's items. */
  private async flush(): Promise<void> {
    if (this.inFlight || this.queue.length === 0 || this.closed) return;
    const batch: Pending[] = [];
    let inBytes = 0, outBytes = 0;
    while (batch.length < MAX_ITEMS && this.queue.length > 0) {
      const p = this.queue[0];
      const out = p.op === 'dec' ? FRAME_BYTES : p.op === 'enc' ? FRAME_BYTES : p.input.length;
      if (batch.length > 0 && (inBytes + p.input.length > MAX_DATA_BYTES || outBytes + out > MAX_DATA_BYTES)) break;
      this.queue.shift();
      if (p.input.length > MAX_DATA_BYTES) { p.reject(choirError('CHOIR_RPC_TOO_LARGE', `data is ${p.input.length} bytes, at most ${MAX_DATA_BYTES}`)); continue; }
      batch.push(p);
      inBytes += p.input.length;
      outBytes += out;
    }
    if (batch.length === 0) { this.schedule(); return; }
    const data = new Uint8Array(inBytes);
    let at = 0;
    for (const p of batch) { data.set(p.input, at); at += p.input.length; }
    let json: Uint8Array;
    try {
      json = encodeJson({ items: batch.map((p) => ({ op: p.op, s: p.s, len: p.input.length })) });
    } catch (err) {
      for (const p of batch) p.reject(choirError('CHOIR_RPC_TOO_LARGE', (err as Error).message));
      this.schedule();
      return;
    }
    this.inFlight = batch;
    const generation = this.generation;
    await this.ready;
    if (this.inFlight !== batch || generation !== this.generation) return; // the shard died while starting
    let reply: { json: unknown; data: Uint8Array };
    try {
      reply = await this.rpc(json, data);
    } catch (err) {
      if (this.inFlight === batch) this.fail(err as Error);
      this.schedule();
      return;
    }
    if (this.inFlight !== batch) return; // failed meanwhile (the shard died)
    this.inFlight = null;
    const r = reply.json as { err?: string; msg?: string; cpu?: number; items?: ({ len: number } | { err: string; msg: string })[] };
    if (typeof r.cpu === 'number' && generation === this.generation) this.cpuNow = r.cpu;
    if (r.err || !Array.isArray(r.items) || r.items.length !== batch.length) {
      const err = new BrigadeError((r.err as 'CHOIR_RPC_MALFORMED') ?? 'CHOIR_RPC_MALFORMED', r.msg ?? 'the shard\'s reply does not match the request');
      for (const p of batch) p.reject(err);
    } else {
      let off = 0;
      for (const [i, p] of batch.entries()) {
        const it = r.items[i];
        if ('err' in it) p.reject(new BrigadeError(it.err as 'CHOIR_BAD_OPUS', it.msg));
        else { p.resolve(reply.data.subarray(off, off + it.len)); off += it.len; }
      }
    }
    this.schedule();
  }

  /** One raw round trip over the shared buffer (tests use `rawLengths` to send lying lengths). */
  async rpc(json: Uint8Array, data: Uint8Array, rawLengths?: { json?: number; data?: number }): Promise<{ json: unknown; data: Uint8Array }> {
    if (this.worker === null) this.spawn();
    await this.ready;
    const sab = this.sab;
    const status = statusWord(sab);
    if (Atomics.load(status, 0) !== STATUS_IDLE) throw choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} is busy`);
    writeMessage(sab, json, data, rawLengths);
    Atomics.store(status, 0, STATUS_REQUEST);
    Atomics.notify(status, 0);
    this.rpcs++;
    // Atomics.waitAsync does not keep the event loop alive: the worker does, while a reply is due.
    const worker = this.worker!;
    worker.ref();
    const waited = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): { async: boolean; value: Promise<string> | string } })
      .waitAsync(status, 0, STATUS_REQUEST, this.options.timeoutMs ?? 2000);
    const outcome = waited.async ? await waited.value : waited.value;
    worker.unref();
    if (outcome === 'timed-out' || Atomics.load(status, 0) !== STATUS_REPLY) {
      if (sab === this.sab && !this.closed) {
        // A stuck shard: replace it so the next frames are served.
        this.generation++;
        void this.worker?.terminate();
        this.spawn();
      }
      throw choirError('CHOIR_SHARD_UNAVAILABLE', `codec shard ${this.index} did not answer within ${this.options.timeoutMs ?? 2000} ms`);
    }
    try {
      return readMessage(sab);
    } catch (err) {
      throw new BrigadeError(err instanceof RpcError ? err.code : 'CHOIR_RPC_MALFORMED', (err as Error).message);
    } finally {
      Atomics.store(status, 0, STATUS_IDLE);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(choirError('CHOIR_SHARD_UNAVAILABLE', 'the codec shards are closed'));
    this.fail(choirError('CHOIR_SHARD_UNAVAILABLE', 'the codec shards are closed'));
    const status = statusWord(this.sab);
    Atomics.store(status, 0, STATUS_CLOSE);
    Atomics.notify(status, 0);
    await this.worker?.terminate();
  }
}

export class ShardPool implements Codecs {
  private readonly shards: Shard[];
  private readonly load: number[];
  private readonly pinned = new Map<number, number>();

  constructor(options: ShardOptions) {
    this.shards = Array.from({ length: Math.max(1, options.count) }, (_, i) => new Shard(i, options));
    this.load = this.shards.map(() => 0);
  }

  get size(): number { return this.shards.length; }

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

  call(shard: number, op: Pending['op'], s: number, input: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => this.shards[shard].call({ op, s, input, resolve, reject }));
  }

  /** Decodes one singer's Opus packet to 960 Int16 samples in their shard. */
  async decode(singer: number, packet: Uint8Array): Promise<Int16Array> {
    const out = await this.call(this.shardOf(singer), 'dec', singer, packet);
    const pcm = new Int16Array(out.length / 2);
    new Uint8Array(pcm.buffer).set(out);
    return pcm;
  }

  /** Encodes 960 Int16 samples with the singer's encoder in their shard. */
  async encode(singer: number, pcm: Int16Array): Promise<Uint8Array> {
    return this.call(this.shardOf(singer), 'enc', singer, new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength)).then((b) => b.slice());
  }

  /** Calls waiting for, or in, a shard's RPC. */
  queueDepth(shard: number): number {
    const s = this.shards[shard];
    return s.queue.length + (s.inFlight?.length ?? 0);
  }

  rpcCount(shard: number): number { return this.shards[shard].rpcs; }

  cpuSeconds(): number[] {
    return this.shards.map((s) => s.cpuBefore + s.cpuNow);
  }

  /** A raw RPC to one shard, for tests of the shard's own checks (waits until the shard is idle). */
  async rawRpc(shard: number, json: Uint8Array, data: Uint8Array, rawLengths?: { json?: number; data?: number }): Promise<{ json: unknown; data: Uint8Array }> {
    const s = this.shards[shard];
    while (s.inFlight || s.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
    return s.rpc(json, data, rawLengths);
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }
}
