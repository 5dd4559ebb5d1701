/**
 * The simulator's adapter for Brigade itself: one WebSocket per simulated client at <url>/ws,
 * speaking the binary protocol of docs/PROTOCOL.md. Positions are Brigade versions as they are.
 *
 * Viewers are the hot path of the simulator (tens of thousands per process): they use the minimal
 * client of ../raw-ws.ts, a BATCH is read straight from its header (no frame object, no copy: the
 * handler gets a view into the frame) and everything else goes through the ordinary codec.
 * Editors, a handful, use the `ws` package. A viewer follows the client rules of the
 * protocol: it ignores batches that only repeat what it has, trims the overlap of one that starts
 * before its version, and answers BEHIND by resubscribing from the version given. A real gap is
 * passed through unchanged, so the simulator sees it and fails the run.
 */
import { WebSocket } from 'ws';
import { SubscribeMode, decodeServerFrame, encodeClientFrame } from '../../protocol/index.ts';
import { RawWs } from '../raw-ws.ts';
import type { EditorOptions, SimConnection, SimEditor, SimProtocol, ViewerOptions } from '../protocol.ts';
import { simFetch } from '../loopback-fetch.ts';

const BATCH = 0x81;
const HANDSHAKE_TIMEOUT_MS = 30_000;

/** ws://host:port[/...] → the WebSocket endpoint; http(s) is accepted too. */
function wsEndpoint(url: string): string {
  const u = new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  u.pathname = '/ws';
  return u.toString();
}

function httpBase(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
  u.pathname = '/';
  u.search = '';
  return u.origin;
}

/** Brigade counts BEHIND/resume per connection; the simulator reads the totals from /metrics. */
function openViewer(o: ViewerOptions): Promise<SimConnection> {
  return new Promise((resolve, reject) => {
    const u = new URL(wsEndpoint(o.url));
    if (u.protocol !== 'ws:') throw new Error(`the simulator's viewers speak ws:// only, got ${o.url}`);
    const eventSize = o.codec.eventSize;
    let version = o.from;
    let requestId = 0;
    let subscribed = false;
    let settled = false;
    let ended = false;
    const subscribe = (from: number) => {
      requestId = requestId >= 0xffffffff ? 1 : requestId + 1;
      ws.send(encodeClientFrame({ kind: 'subscribe', requestId, channel: o.channel, mode: SubscribeMode.FROM_VERSION, fromVersion: from, epoch: 0 }));
    };
    /** Ends this viewer once: rejects open() before SUBSCRIBED, reports onClose after. */
    const fail = (reason: string) => {
      if (ended) return;
      ended = true;
      ws.terminate();
      if (!settled) { settled = true; reject(new Error(reason)); } else o.onClose(reason);
    };
    const onMessage = (data: Buffer) => {
      if (data[0] === BATCH) {
        const at = performance.timeOrigin + performance.now();
        if (!subscribed) return; // belongs to a subscription we replaced
        // 0x81, u8 channel length, channel, u64 firstVersion, u32 count, u16 eventSize, events
        const h = 2 + data[1];
        if (data.length < h + 14) { fail(`malformed BATCH of ${data.length} bytes`); return; }
        let first = data.readUInt32LE(h) + data.readUInt32LE(h + 4) * 4294967296;
        let count = data.readUInt32LE(h + 8);
        const size = data.readUInt16LE(h + 12);
        if (size !== eventSize || count * size !== data.length - h - 14) {
          fail(`BATCH with event size ${size} and ${data.length - h - 14} bytes for ${count} events; expected ${eventSize}-byte events`);
          return;
        }
        let body = h + 14;
        if (first + count <= version) return; // only repeats what this viewer has
        if (first < version) { // overlap after a resume: skip what it has
          const skip = version - first;
          body += skip * size;
          count -= skip;
          first = version;
        }
        version = first + count;
        o.onEdits(first, count, data.subarray(body, body + count * size), at, data.length);
        return;
      }
      let frame;
      try {
        frame = decodeServerFrame(data);
      } catch (err) {
        fail(`malformed frame: ${(err as Error).message}`);
        return;
      }
      if (frame.kind === 'subscribed' && frame.requestId === requestId) {
        subscribed = true;
        if (!settled) { settled = true; resolve({ close: () => { ended = true; ws.reset(); } }); }
      } else if (frame.kind === 'behind') {
        // Paused by the server's byte limit: resume from the first version it did not send.
        subscribed = false;
        subscribe(frame.version);
      } else if (frame.kind === 'snapshot') {
        fail(`unexpected SNAPSHOT at version ${frame.version} (the simulator subscribes from a version the log holds)`);
      } else if (frame.kind === 'error') {
        fail(`ERROR ${frame.code}: ${frame.message}`);
      }
    };
    const ws = new RawWs(
      { host: u.hostname, port: Number(u.port || 80), path: u.pathname + u.search, localAddress: o.localAddress, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS },
      {
        onOpen: () => subscribe(version),
        onMessage,
        onClose: (reason) => {
          if (ended) return;
          ended = true;
          if (!settled) { settled = true; reject(new Error(`cannot subscribe at ${u.href} from ${o.localAddress}: ${reason}`)); } else o.onClose(reason);
        },
      },
    );
  });
}

/**
 * An editor signs in (POST /api/identity: place refuses anonymous edits) and publishes each edit of
 * a send as one PUBLISH. ACKs are reported in send order; a refusal closes the editor, since a
 * bench that has its edits refused measures nothing useful.
 */
async function openEditor(o: EditorOptions): Promise<SimEditor> {
  const res = await simFetch(`${httpBase(o.url)}/api/identity`, { method: 'POST', localAddress: o.localAddress });
  if (!res.ok) throw new Error(`POST /api/identity answered ${res.status}`);
  const { token } = (await res.json()) as { token: string };
  const ws = new WebSocket(`${wsEndpoint(o.url)}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false, localAddress: o.localAddress, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (err) => reject(new Error(`editor cannot connect to ${wsEndpoint(o.url)}: ${err.message}`)));
  });
  const eventSize = o.codec.eventSize;
  let nextRequestId = 1;
  /** One entry per send, in order: its request ids, and the versions acknowledged so far. */
  const sends: { ids: number[]; versions: number[] }[] = [];
  const byId = new Map<number, { ids: number[]; versions: number[] }>();
  let closed = false;
  const close = (reason: string) => {
    if (closed) return;
    closed = true;
    ws.terminate();
    o.onClose(reason);
  };
  ws.on('message', (data: Buffer) => {
    const at = performance.timeOrigin + performance.now();
    let frame;
    try {
      frame = decodeServerFrame(data);
    } catch (err) {
      close(`malformed frame: ${(err as Error).message}`);
      return;
    }
    if (frame.kind === 'error') {
      close(`publish refused: ${frame.code}: ${frame.message}`);
      return;
    }
    if (frame.kind !== 'ack') return;
    const s = byId.get(frame.requestId);
    if (!s) return;
    byId.delete(frame.requestId);
    s.versions.push(frame.version);
    // Report whole sends, oldest first, as runs of consecutive versions.
    while (sends.length > 0 && sends[0].versions.length === sends[0].ids.length) {
      const done = sends.shift()!;
      const v = done.versions.sort((a, b) => a - b);
      let start = 0;
      for (let i = 1; i <= v.length; i++) {
        if (i === v.length || v[i] !== v[i - 1] + 1) {
          o.onAck(v[start], i - start, at);
          start = i;
        }
      }
    }
  });
  ws.on('close', (code: number) => close(`closed with ${code}`));
  ws.on('error', () => { /* the close that follows reports it */ });
  return {
    send(edits: Uint8Array) {
      const s = { ids: [] as number[], versions: [] as number[] };
      for (let off = 0; off < edits.length; off += eventSize) {
        const requestId = nextRequestId;
        nextRequestId = nextRequestId >= 0xffffffff ? 1 : nextRequestId + 1;
        s.ids.push(requestId);
        byId.set(requestId, s);
        ws.send(encodeClientFrame({ kind: 'publish', requestId, channel: o.channel, payload: edits.subarray(off, off + eventSize) }));
      }
      sends.push(s);
    },
    close() {
      closed = true;
      ws.terminate();
    },
  };
}

export const protocol: SimProtocol = { name: 'brigade', openViewer, openEditor };
