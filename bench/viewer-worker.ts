/**
 * One viewer process of bench/place-fanout.ts: holds many lightweight WebSocket viewers (the `ws`
 * package, no SDK), each subscribed to one place channel from the head. BATCH frames are decoded
 * down to their header (channel, first version, count, event size, length check), counted, and
 * their receipt time kept once per (batch, viewer) as a float32 offset, so latency per (viewer,
 * edit) can be computed at the end from the editor's acknowledgement times.
 *
 * Started by the parent with child_process.fork; talks only over IPC; exits when told to, or
 * when the parent goes away.
 */
import { WebSocket } from 'ws';
import { SubscribeMode, decodeServerFrame, encodeClientFrame } from '../src/protocol/index.ts';
import { makeEditCodec, type EditCodec } from '../src/apps/place/edit-codec.ts';
import { decodePixels, encodePixels } from '../src/apps/place/snapshot-codec.ts';
import { Histogram } from './lib/histogram.ts';
import { nowMs } from './lib/proc.ts';
import type { FromViewer, ToViewer, ViewerCounters } from './lib/messages.ts';

if (!process.send) {
  console.error('bench/viewer-worker.ts is started by bench/place-fanout.ts (it needs an IPC channel)');
  process.exit(2);
}
const send = (m: FromViewer) => process.send!(m);
process.on('disconnect', () => process.exit(0));

const BATCH = 0x81;
/** Most receipt samples one worker keeps (4 bytes each). */
const MAX_SAMPLES = 60_000_000;
const CONNECT_RETRIES = 3;

const S_CONNECTING = 0;
const S_LIVE = 1;
const S_CLOSED = 2;
const S_FAILED = 3;

let channel = '';
let sockets: WebSocket[] = [];
let version = new Float64Array(0);
let state = new Uint8Array(0);
let attempts = new Uint8Array(0);
let nextRequestId = 1;

// The checker (viewer 0 of this process) keeps a full canvas: snapshot + every edit, in order.
let width = 0;
let height = 0;
let colours = 0;
let codec: EditCodec | null = null;
let canvas: Uint8Array | null = null;

function applyToCanvas(data: Buffer, offset: number, count: number, eventSize: number, skip: number): void {
  if (canvas === null || codec === null || eventSize !== codec.eventSize) return;
  for (let k = skip; k < count; k++) {
    const e = codec.decode(data, offset + k * eventSize);
    if (e.x < width && e.y < height && e.colour < colours) canvas[e.y * width + e.x] = e.colour;
  }
}

const counters: ViewerCounters = {
  live: 0, failed: 0, closed: 0, frames: 0, bytes: 0, events: 0, gaps: 0, duplicates: 0, behind: 0,
  snapshots: 0, errors: 0, malformed: 0, samplesDropped: 0, firstErrors: [],
};

// ---- receipt records: one growable float32 array of receipt offsets per distinct batch ----------

interface BatchRecord { first: number; count: number; times: Float32Array; n: number }
const records = new Map<number, BatchRecord>();
let lastRecord: BatchRecord | null = null;
let recording = false;
let t0 = 0;
let samples = 0;
let maxSeconds = 0;
let framesPerSecond: number[] = [];
let eventsPerSecond: number[] = [];
let bytesPerSecond: number[] = [];

function record(first: number, count: number, at: number, bytes: number): void {
  const sec = Math.floor((at - t0) / 1000);
  if (sec >= 0 && sec < maxSeconds) {
    framesPerSecond[sec]++;
    eventsPerSecond[sec] += count;
    bytesPerSecond[sec] += bytes;
  }
  if (samples >= MAX_SAMPLES) {
    counters.samplesDropped++;
    return;
  }
  let r = lastRecord;
  if (r === null || r.first !== first || r.count !== count) {
    const key = first * 1_048_576 + Math.min(count, 1_048_575);
    r = records.get(key) ?? null;
    if (r === null) {
      r = { first, count, times: new Float32Array(Math.min(1024, sockets.length || 1)), n: 0 };
      records.set(key, r);
    }
    lastRecord = r;
  }
  if (r.n === r.times.length) {
    const bigger = new Float32Array(r.times.length * 2);
    bigger.set(r.times);
    r.times = bigger;
  }
  r.times[r.n++] = at - t0;
  samples++;
}

// ---- frames -----------------------------------------------------------------------------------

function noteError(text: string): void {
  counters.errors++;
  if (counters.firstErrors.length < 10) counters.firstErrors.push(text);
}

function subscribe(i: number, mode: number, fromVersion: number): void {
  const ws = sockets[i];
  if (ws.readyState !== WebSocket.OPEN) return;
  const requestId = nextRequestId;
  nextRequestId = nextRequestId >= 0xffffffff ? 1 : nextRequestId + 1;
  ws.send(encodeClientFrame({ kind: 'subscribe', requestId, channel, mode: mode as 0 | 1 | 2, fromVersion, epoch: 0 }));
}

function onMessage(i: number, data: Buffer): void {
  const kind = data[0];
  if (kind === BATCH) {
    const at = nowMs();
    // 0x81, u8 channel length, channel, u64 firstVersion, u32 count, u16 eventSize, events
    const o = 2 + data[1];
    if (data.length < o + 14) { counters.malformed++; return; }
    const first = data.readUInt32LE(o) + data.readUInt32LE(o + 4) * 4294967296;
    const count = data.readUInt32LE(o + 8);
    const eventSize = data.readUInt16LE(o + 12);
    if (eventSize > 0 && count * eventSize !== data.length - o - 14) { counters.malformed++; return; }
    counters.frames++;
    counters.bytes += data.length;
    counters.events += count;
    const v = version[i];
    if (first !== v) {
      if (first > v) counters.gaps++;
      else counters.duplicates++;
    }
    if (i === 0 && first <= v && first + count > v) applyToCanvas(data, o + 14, count, eventSize, v - first);
    if (first + count > v) version[i] = first + count;
    if (recording) record(first, count, at, data.length);
    return;
  }
  let frame;
  try {
    frame = decodeServerFrame(data);
  } catch (err) {
    counters.malformed++;
    noteError(`malformed frame: ${(err as Error).message}`);
    return;
  }
  switch (frame.kind) {
    case 'subscribed':
      if (state[i] === S_CONNECTING) {
        state[i] = S_LIVE;
        counters.live++;
        version[i] = frame.headVersion;
        connectDone();
      }
      break;
    case 'snapshot':
      counters.snapshots++;
      version[i] = frame.version;
      if (i === 0) {
        try {
          canvas = decodePixels(frame.state, width, height, colours, channel);
        } catch (err) {
          noteError(`checker snapshot: ${(err as Error).message}`);
        }
      }
      break;
    case 'behind':
      // The server paused this viewer: resume from where it says, at once (we are reading).
      counters.behind++;
      version[i] = frame.version;
      subscribe(i, SubscribeMode.FROM_VERSION, frame.version);
      break;
    case 'error':
      noteError(`${frame.code}: ${frame.message}`);
      break;
    default:
      break;
  }
}

// ---- connecting -------------------------------------------------------------------------------

let wsUrl = '';
let localAddresses: string[] = [];
let concurrency = 100;
let nextToOpen = 0;
let inFlight = 0;
let readySent = false;

function pump(): void {
  while (inFlight < concurrency && nextToOpen < sockets.length) open(nextToOpen++);
  maybeReady();
}

function connectDone(): void {
  inFlight--;
  pump();
}

function maybeReady(): void {
  if (readySent || nextToOpen < sockets.length || inFlight > 0) return;
  readySent = true;
  send({ t: 'ready', pid: process.pid, counters });
}

function open(i: number): void {
  inFlight++;
  state[i] = S_CONNECTING;
  attempts[i]++;
  const ws = new WebSocket(wsUrl, {
    perMessageDeflate: false,
    localAddress: localAddresses[i % localAddresses.length],
    handshakeTimeout: 30_000,
  });
  sockets[i] = ws;
  ws.on('open', () => subscribe(i, i === 0 ? SubscribeMode.SNAPSHOT : SubscribeMode.HEAD, 0));
  ws.on('message', (data: Buffer) => onMessage(i, data));
  ws.on('error', (err: Error) => {
    if (state[i] !== S_CONNECTING || attempts[i] > CONNECT_RETRIES) noteError(`socket ${i}: ${err.message}`);
  });
  ws.on('close', () => {
    if (sockets[i] !== ws) return;
    if (state[i] === S_CONNECTING) {
      if (attempts[i] <= CONNECT_RETRIES) {
        inFlight--;
        setTimeout(() => open(i), 200 * attempts[i]);
        return;
      }
      state[i] = S_FAILED;
      counters.failed++;
      connectDone();
    } else if (state[i] === S_LIVE) {
      state[i] = S_CLOSED;
      counters.live--;
      if (!exiting) counters.closed++;
    }
  });
}

// ---- latency ----------------------------------------------------------------------------------

function batchMins(): FromViewer {
  const keys = new Float64Array(records.size);
  const mins = new Float64Array(records.size);
  let i = 0;
  for (const [key, r] of records) {
    let min = Infinity;
    for (let j = 0; j < r.n; j++) if (r.times[j] < min) min = r.times[j];
    keys[i] = key;
    mins[i] = t0 + min;
    i++;
  }
  return { t: 'batch-mins', pid: process.pid, keys, mins };
}

function latency(v0: number, ackAt: Float64Array, sendAt: Float64Array, batchKeys: Float64Array, batchMins: Float64Array): FromViewer {
  const ack = new Histogram();
  const sendH = new Histogram();
  const spread = new Histogram();
  const perSecondAck: Histogram[] = [];
  const perSecondSend: Histogram[] = [];
  const perSecondSpread: Histogram[] = [];
  for (let s = 0; s < maxSeconds; s++) {
    perSecondAck.push(new Histogram());
    perSecondSend.push(new Histogram());
    perSecondSpread.push(new Histogram());
  }
  const minOf = new Map<number, number>();
  for (let i = 0; i < batchKeys.length; i++) minOf.set(batchKeys[i], batchMins[i]);
  const n = ackAt.length;
  for (const [key, r] of records) {
    const min = minOf.get(key);
    if (min !== undefined) {
      const sec = Math.min(maxSeconds - 1, Math.max(0, Math.floor((min - t0) / 1000)));
      const h = perSecondSpread[sec];
      for (let j = 0; j < r.n; j++) {
        const d = r.times[j] + t0 - min;
        spread.record(d);
        h.record(d);
      }
    }
    for (let k = 0; k < r.count; k++) {
      const idx = r.first + k - v0;
      if (idx < 0 || idx >= n) continue;
      const a = ackAt[idx];
      const s = sendAt[idx];
      if (Number.isNaN(a)) continue;
      const sec = Math.min(maxSeconds - 1, Math.max(0, Math.floor((a - t0) / 1000)));
      const ha = perSecondAck[sec];
      const hs = perSecondSend[sec];
      // receipt - ack = (t0 + offset) - a
      const baseA = t0 - a;
      const baseS = t0 - s;
      const times = r.times;
      for (let j = 0; j < r.n; j++) {
        const dA = times[j] + baseA;
        const dS = times[j] + baseS;
        ack.record(dA);
        sendH.record(dS);
        ha.record(dA);
        hs.record(dS);
      }
    }
  }
  return {
    t: 'latency', pid: process.pid, ack: ack.toJSON(), send: sendH.toJSON(), spread: spread.toJSON(),
    perSecondAck: perSecondAck.map((h) => h.toJSON()), perSecondSend: perSecondSend.map((h) => h.toJSON()),
    perSecondSpread: perSecondSpread.map((h) => h.toJSON()),
  };
}

// ---- control ----------------------------------------------------------------------------------

let exiting = false;
let progressTimer: NodeJS.Timeout | null = null;

process.on('message', (m: ToViewer) => {
  switch (m.t) {
    case 'connect': {
      channel = m.channel;
      wsUrl = m.wsUrl;
      localAddresses = m.localAddresses;
      concurrency = m.concurrency;
      width = m.width;
      height = m.height;
      colours = m.colours;
      codec = makeEditCodec(width, height, colours);
      sockets = new Array<WebSocket>(m.count);
      version = new Float64Array(m.count);
      state = new Uint8Array(m.count);
      attempts = new Uint8Array(m.count);
      progressTimer = setInterval(() => send({ t: 'progress', pid: process.pid, counters }), 1000);
      pump();
      break;
    }
    case 'window':
      t0 = m.t0;
      maxSeconds = m.maxSeconds;
      framesPerSecond = new Array<number>(maxSeconds).fill(0);
      eventsPerSecond = new Array<number>(maxSeconds).fill(0);
      bytesPerSecond = new Array<number>(maxSeconds).fill(0);
      counters.frames = counters.bytes = counters.events = 0;
      counters.gaps = counters.duplicates = counters.behind = counters.snapshots = 0;
      records.clear();
      lastRecord = null;
      samples = 0;
      recording = true;
      break;
    case 'stop-window':
      recording = false;
      send({ t: 'window-counters', pid: process.pid, counters, framesPerSecond, eventsPerSecond, bytesPerSecond });
      break;
    case 'versions': {
      let atHead = 0, below = 0, above = 0, min = Infinity, max = -Infinity;
      for (let i = 0; i < sockets.length; i++) {
        if (state[i] !== S_LIVE) continue;
        const v = version[i];
        if (v === m.head) atHead++;
        else if (v < m.head) below++;
        else above++;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      send({ t: 'versions', pid: process.pid, atHead, below, above, min, max, live: counters.live });
      break;
    }
    case 'check-canvas': {
      const v = version[0];
      if (canvas === null || state[0] !== S_LIVE || v !== m.version) {
        send({ t: 'canvas-check', pid: process.pid, checkerVersion: v, equal: null, differingBytes: 0 });
        break;
      }
      const mine = encodePixels(canvas, colours);
      let differing = Math.abs(mine.length - m.bytes.length);
      for (let k = 0; k < Math.min(mine.length, m.bytes.length); k++) if (mine[k] !== m.bytes[k]) differing++;
      send({ t: 'canvas-check', pid: process.pid, checkerVersion: v, equal: differing === 0, differingBytes: differing });
      break;
    }
    case 'batch-mins':
      send(batchMins());
      break;
    case 'latency':
      send(latency(m.v0, m.ackAt, m.sendAt, m.batchKeys, m.batchMins));
      break;
    case 'exit':
      exiting = true;
      if (progressTimer) clearInterval(progressTimer);
      for (const ws of sockets) ws?.terminate();
      setTimeout(() => process.exit(0), 200);
      break;
  }
});
