/**
 * A Node place viewer for tests: keeps the canvas pixels from snapshots and batches through the
 * real SDK over a real WebSocket.
 */
import { WebSocket } from 'ws';
import { BrigadeClient, type Subscription, type SubscribeFrom } from '../../src/sdk/index.ts';
import { makeEditCodec } from '../../src/apps/place/edit-codec.ts';
import { decodePixels } from '../../src/apps/place/snapshot-codec.ts';
import { eventually } from './eventually.ts';

export const codec = makeEditCodec(1000, 1000, 16);

export interface Viewer {
  client: BrigadeClient;
  sub: Subscription;
  pixels: Uint8Array;
  /** Events received in batches (after the SDK dropped duplicates). */
  eventsReceived: number;
  /** Events in each BATCH frame received, in order. */
  batchSizes: number[];
  snapshots: number;
  behind: number;
  untilVersion(v: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function identity(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/identity`, { method: 'POST' });
  return ((await res.json()) as { token: string }).token;
}

export function viewer(wsUrl: string, options: { token?: string; from?: SubscribeFrom; width?: number; height?: number } = {}): Viewer {
  const width = options.width ?? 1000;
  const height = options.height ?? 1000;
  const client = new BrigadeClient(wsUrl, { token: options.token, WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  const v: Viewer = {
    client,
    sub: undefined as unknown as Subscription,
    pixels: new Uint8Array(width * height),
    eventsReceived: 0,
    batchSizes: [],
    snapshots: 0,
    behind: 0,
    async untilVersion(target, timeoutMs = 15_000) {
      await eventually(() => v.sub.version >= target && v.sub.synced, {
        what: () => `the viewer to reach version ${target} (stuck at ${v.sub.version})`, timeoutMs, intervalMs: 10,
      });
    },
    close() { client.close(); },
  };
  v.sub = client.subscribe('place:main', {
    onBatch(_first, events) {
      for (const e of events) {
        const { x, y, colour } = codec.decode(e);
        v.pixels[y * width + x] = colour;
      }
      v.eventsReceived += events.length;
      v.batchSizes.push(events.length);
    },
    onSnapshot(_version, state) {
      v.pixels = decodePixels(state, width, height, 16, 'place:main');
      v.snapshots++;
    },
    onBehind() { v.behind++; },
  }, options.from ?? { mode: 'snapshot' });
  return v;
}

export async function serverPixels(baseUrl: string): Promise<{ version: number; pixels: Uint8Array }> {
  const res = await fetch(`${baseUrl}/api/place/main/snapshot.bin`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { version: Number(res.headers.get('x-brigade-version')), pixels: decodePixels(bytes, 1000, 1000, 16, 'place:main') };
}

export function randomEdit(rand: () => number): Uint8Array {
  return codec.encode(Math.floor(rand() * 1000), Math.floor(rand() * 1000), Math.floor(rand() * 16));
}

export { prng } from './prng.ts';
