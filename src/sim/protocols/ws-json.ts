/**
 * SimProtocol adapter for the naive `ws` + JSON peer (bench/peers/ws-json.ts), and that peer's
 * wire format. WebSocket text messages, JSON:
 *
 *   ws://host:port/viewer   server → viewer: first {"hello": P} (P = the position of the next
 *                           edit, where this viewer starts), then one message per edit,
 *                           {"p": position, "x": x, "y": y, "c": colour}, in position order
 *   ws://host:port/editor   editor → server {"edits": [[x, y, c], …]} (all or none);
 *                           server → editor {"first": F, "count": N} or
 *                           {"error": {"code": "...", "message": "..."}}, one per message, in order
 *   GET /snapshot, /stats   HTTP on the same port (bench/peers/lib/run.ts)
 *
 * Edits reach the simulator re-encoded with the place codec, one edit per onEdits call (the
 * server sends them one by one); wireBytes is the JSON text's length.
 */
import { WebSocket } from 'ws';
import type { PeerStats } from '../peer-stats.ts';
import { simNow, type EditorOptions, type SimConnection, type SimEditor, type SimProtocol, type ViewerOptions } from '../protocol.ts';
import { simFetch } from '../loopback-fetch.ts';

/** http(s):// for a ws(s):// or http(s):// base URL, without a trailing slash. */
export function httpBase(url: string): string {
  return url.replace(/^ws(s?):\/\//, 'http$1://').replace(/\/+$/, '');
}

function wsBase(url: string): string {
  return url.replace(/^http(s?):\/\//, 'ws$1://').replace(/\/+$/, '');
}

/** GET /snapshot of a peer with an HTTP port (ws-json, socketio). */
export async function httpSnapshot(url: string): Promise<{ position: number; canvas: Uint8Array }> {
  const res = await simFetch(`${httpBase(url)}/snapshot`);
  if (!res.ok) throw new Error(`GET ${httpBase(url)}/snapshot: ${res.status} ${await res.text()}`);
  const position = Number(res.headers.get('x-position'));
  if (!Number.isSafeInteger(position)) throw new Error(`GET ${httpBase(url)}/snapshot: no X-Position header`);
  return { position, canvas: new Uint8Array(await res.arrayBuffer()) };
}

/** GET /stats of a peer with an HTTP port. */
export async function httpStats(url: string): Promise<PeerStats> {
  const res = await simFetch(`${httpBase(url)}/stats`);
  if (!res.ok) throw new Error(`GET ${httpBase(url)}/stats: ${res.status} ${await res.text()}`);
  return (await res.json()) as PeerStats;
}

export const snapshot = httpSnapshot;
export const stats = httpStats;

type Fail = (reason: string) => void;

/** Opens a WebSocket; same settle / onClose rules as the other adapters (our own close() reports nothing). */
function open(
  o: { url: string; localAddress: string; onClose(reason: string): void },
  path: string,
  onOpen: (ws: WebSocket, ready: () => void) => void,
  onMessage: (data: Buffer, at: number, fail: Fail, ready: () => void) => void,
): Promise<{ ws: WebSocket; close(): void }> {
  const url = `${wsBase(o.url)}${path}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress: o.localAddress, perMessageDeflate: false });
    let isReady = false;
    let done = false;
    const conn = { ws, close: () => { done = true; ws.terminate(); } };
    const fail: Fail = (reason) => {
      if (done) return;
      done = true;
      ws.terminate();
      if (isReady) o.onClose(reason);
      else reject(new Error(`ws-json ${url}: ${reason}`));
    };
    const ready = () => {
      isReady = true;
      resolve(conn);
    };
    ws.once('open', () => onOpen(ws, ready));
    ws.on('message', (data: Buffer) => {
      if (!done) onMessage(data, simNow(), fail, ready);
    });
    ws.on('error', (err) => fail(err.message));
    ws.on('close', (code, why) => fail(`closed by the server (${code}${why.length ? ` ${why}` : ''})`));
  });
}

export const protocol: SimProtocol = {
  name: 'ws-json',

  async openViewer(o: ViewerOptions): Promise<SimConnection> {
    const codec = o.codec;
    let started = false;
    const conn = await open(o, '/viewer', () => {}, (data, at, fail, ready) => {
      let m: { hello?: number; p: number; x: number; y: number; c: number };
      try {
        m = JSON.parse(data.toString());
      } catch {
        return fail(`not JSON: ${data.toString().slice(0, 80)}`);
      }
      if (!started) {
        if (typeof m.hello !== 'number') return fail(`expected {"hello": position} first, got ${data.toString().slice(0, 80)}`);
        started = true;
        if (m.hello !== o.from) return fail(`the ws-json peer keeps no history: asked to start at ${o.from}, it is at ${m.hello}`);
        return ready();
      }
      o.onEdits(m.p, 1, codec.encode(m.x, m.y, m.c), at, data.length);
    });
    return { close: conn.close };
  },

  async openEditor(o: EditorOptions): Promise<SimEditor> {
    const codec = o.codec;
    const size = codec.eventSize;
    const conn = await open(o, '/editor', (_ws, ready) => ready(), (data, at, fail) => {
      let m: { first?: number; count?: number; error?: { code: string; message: string } };
      try {
        m = JSON.parse(data.toString());
      } catch {
        return fail(`not JSON: ${data.toString().slice(0, 80)}`);
      }
      if (typeof m.first === 'number' && typeof m.count === 'number') o.onAck(m.first, m.count, at);
      else if (m.error) fail(`server refused edits: ${m.error.code}: ${m.error.message}`);
      else fail(`unexpected reply ${data.toString().slice(0, 80)}`);
    });
    return {
      send(edits: Uint8Array): void {
        const list: [number, number, number][] = [];
        for (let off = 0; off + size <= edits.length; off += size) {
          const e = codec.decode(edits, off);
          list.push([e.x, e.y, e.colour]);
        }
        conn.ws.send(JSON.stringify({ edits: list }));
      },
      close: conn.close,
    };
  },
};
