/**
 * Helpers for the fault tests of nodes over Redis: a light place viewer (a small canvas, so a
 * thousand of them fit in one test process), a raw WebSocket recorder that checks BATCH versions
 * on the wire (no SDK de-duplication in between), and a few probes of servers and Redis.
 */
import { WebSocket } from 'ws';
import { Redis } from 'ioredis';
import { BrigadeClient, type Subscription } from '../../src/sdk/index.ts';
import { SubscribeMode, decodeServerFrame, encodeClientFrame } from '../../src/protocol/index.ts';
import { makeEditCodec } from '../../src/apps/place/edit-codec.ts';
import { decodePixels } from '../../src/apps/place/snapshot-codec.ts';
import { channelKeys } from '../../src/engines/redis-keys.ts';
import { eventually } from './eventually.ts';

/** A small canvas keeps each viewer's state at 4 KiB and each SNAPSHOT frame at 2 KiB. */
export const SIDE = 64;
export const CANVAS_ARGS = ['--place-canvases', `main:${SIDE}x${SIDE}`];
export const smallCodec = makeEditCodec(SIDE, SIDE, 16);
export const CHANNEL = 'place:main';

export function smallEdit(rand: () => number): Uint8Array {
  return smallCodec.encode(Math.floor(rand() * SIDE), Math.floor(rand() * SIDE), Math.floor(rand() * 16));
}

export function applyEdits(pixels: Uint8Array, events: readonly Uint8Array[]): void {
  for (const e of events) {
    const { x, y, colour } = smallCodec.decode(e);
    pixels[y * SIDE + x] = colour;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface LightViewer {
  client: BrigadeClient;
  sub: Subscription;
  pixels: Uint8Array;
  /** Where the next batch must start (the version after the last snapshot or batch applied). */
  expected: number;
  /** Versions applied through onBatch, in the order received. */
  versions: number[] | null;
  /** Batches whose firstVersion was not `expected` (should stay empty). */
  discontinuities: string[];
  snapshots: number;
  close(): void;
}

/**
 * A place viewer of the small canvas through the real SDK. `urls` is handed to BrigadeClient as
 * is (it moves to the next one after a drop); `recordVersions` keeps every version received.
 */
export function lightViewer(urls: string | string[], options: {
  token?: string; mode?: 'snapshot' | 'version'; recordVersions?: boolean;
} = {}): LightViewer {
  const client = new BrigadeClient(urls, { token: options.token, WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  const v: LightViewer = {
    client,
    sub: undefined as unknown as Subscription,
    pixels: new Uint8Array(SIDE * SIDE),
    expected: 0,
    versions: options.recordVersions ? [] : null,
    discontinuities: [],
    snapshots: 0,
    close: () => client.close(),
  };
  v.sub = client.subscribe(CHANNEL, {
    onBatch(first, events) {
      if (first !== v.expected) v.discontinuities.push(`batch at ${first}, expected ${v.expected}`);
      applyEdits(v.pixels, events);
      if (v.versions) for (let i = 0; i < events.length; i++) v.versions.push(first + i);
      v.expected = first + events.length;
    },
    onSnapshot(version, state) {
      v.pixels = decodePixels(state, SIDE, SIDE, 16, CHANNEL);
      v.expected = version;
      v.snapshots++;
    },
  }, options.mode === 'version' ? { mode: 'version', version: 0 } : { mode: 'snapshot' });
  return v;
}

/**
 * A raw `ws` subscriber from version 0 that decodes every frame itself and records each BATCH's
 * range as it came on the wire. It resubscribes after BEHIND (from the end it has) and ignores
 * frames between that SUBSCRIBE and its SUBSCRIBED, as the protocol says.
 */
export class WireRecorder {
  readonly batches: Array<{ first: number; count: number }> = [];
  readonly problems: string[] = [];
  behinds = 0;
  end = 0;
  private ws: WebSocket;
  private requestId = 1;
  private live = false;
  closedUnexpectedly = false;

  constructor(wsUrl: string) {
    this.ws = new WebSocket(wsUrl);
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('open', () => this.subscribe());
    this.ws.on('message', (data: Buffer) => this.onFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
    this.ws.on('close', () => { if (!this.closing) this.closedUnexpectedly = true; });
    this.ws.on('error', () => {});
  }

  private closing = false;

  opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  private subscribe(): void {
    this.live = false;
    this.requestId++;
    this.ws.send(encodeClientFrame({ kind: 'subscribe', requestId: this.requestId, channel: CHANNEL, mode: SubscribeMode.FROM_VERSION, fromVersion: this.end, epoch: 0 }));
  }

  private onFrame(bytes: Uint8Array): void {
    const f = decodeServerFrame(bytes);
    switch (f.kind) {
      case 'subscribed':
        if (f.requestId === this.requestId) this.live = true;
        return;
      case 'batch':
        if (!this.live) return;
        this.batches.push({ first: f.firstVersion, count: f.events.length });
        if (f.firstVersion !== this.end) this.problems.push(`BATCH at ${f.firstVersion}..${f.firstVersion + f.events.length - 1} after ${this.end}`);
        this.end = Math.max(this.end, f.firstVersion + f.events.length);
        return;
      case 'behind':
        if (!this.live) return;
        this.behinds++;
        if (f.version !== this.end) this.problems.push(`BEHIND at ${f.version}, have ${this.end}`);
        this.subscribe();
        return;
      case 'snapshot':
        if (this.live) this.problems.push(`unexpected SNAPSHOT at ${f.version}`);
        return;
      case 'error':
        this.problems.push(`ERROR ${f.code}: ${f.message}`);
        return;
      default:
        return;
    }
  }

  /** Every version 0..end-1 received exactly once, in order. */
  contiguousEnd(): number {
    let next = 0;
    for (const b of this.batches) {
      if (b.first !== next) throw new Error(`wire: batch starting at ${b.first} where ${next} was expected (${this.problems.join('; ')})`);
      next += b.count;
    }
    return next;
  }

  close(): void {
    this.closing = true;
    this.ws.close();
  }
}

/** The small canvas as a node serves it (snapshot.bin): version and one byte per pixel. */
export async function nodeCanvas(baseUrl: string): Promise<{ version: number; pixels: Uint8Array }> {
  const res = await fetch(`${baseUrl}/api/place/main/snapshot.bin`);
  if (res.status !== 200) throw new Error(`snapshot.bin from ${baseUrl}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { version: Number(res.headers.get('x-brigade-version')), pixels: decodePixels(bytes, SIDE, SIDE, 16, CHANNEL) };
}

/** Waits until the node's canvas reaches `version` and returns it. */
export async function nodeCanvasAt(baseUrl: string, version: number, timeoutMs = 20_000): Promise<Uint8Array> {
  let last: { version: number; pixels: Uint8Array } = { version: -1, pixels: new Uint8Array(0) };
  await eventually(async () => {
    last = await nodeCanvas(baseUrl);
    return last.version >= version;
  }, { what: `${baseUrl} to reach version ${version} (at ${last.version})`, timeoutMs: timeoutMs, intervalMs: 50 });
  if (last.version !== version) throw new Error(`${baseUrl} is at ${last.version}, past the expected head ${version}`);
  return last.pixels;
}

export async function readyStatus(baseUrl: string): Promise<number> {
  return (await fetch(`${baseUrl}/readyz`)).status;
}

/** The channel's head as Redis holds it (the truth once every writer has stopped). */
export async function redisHead(redisUrl: string, prefix: string): Promise<number> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    return Number((await r.hget(channelKeys(prefix, CHANNEL).meta, 'head')) ?? 0);
  } finally {
    r.disconnect();
  }
}

/** The channel's epoch as Redis holds it (0 while it has none). */
export async function redisEpoch(redisUrl: string, prefix: string): Promise<number> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    return Number((await r.hget(channelKeys(prefix, CHANNEL).meta, 'epoch')) ?? 0);
  } finally {
    r.disconnect();
  }
}

/**
 * Every event of the log from version 0 to `head`, through a real subscription. Ask a node that
 * has sent no SNAPSHOT of the channel yet (a fresh one): with a small canvas a node that has one
 * encoded finds a snapshot cheaper than a long replay and sends that instead.
 */
export async function readLog(wsUrl: string, head: number, timeoutMs = 20_000): Promise<Uint8Array[]> {
  const events: Uint8Array[] = [];
  const c = new BrigadeClient(wsUrl, { WebSocket: WebSocket as never });
  let snapshotAt = -1;
  try {
    const sub = c.subscribe(CHANNEL, {
      onBatch(first, batch) {
        for (let i = 0; i < batch.length; i++) events[first + i] = batch[i].slice();
      },
      onSnapshot(version) {
        snapshotAt = version;
      },
    }, { mode: 'version', version: 0 });
    await eventually(() => sub.version >= head || snapshotAt >= 0, { what: `the replay to reach ${head} (at ${sub.version})`, timeoutMs: timeoutMs });
    if (snapshotAt >= 0) throw new Error(`the replay from 0 got a SNAPSHOT at ${snapshotAt} instead of the log`);
    if (sub.version !== head) throw new Error(`replay went past the head: ${sub.version} > ${head}`);
    return events;
  } finally {
    c.close();
  }
}

/** The canvas a full replay of `events` gives. */
export function replayCanvas(events: readonly Uint8Array[]): Uint8Array {
  const pixels = new Uint8Array(SIDE * SIDE);
  applyEdits(pixels, events);
  return pixels;
}

export function samePixels(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
