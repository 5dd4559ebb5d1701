/**
 * The load processes of bench/redis-log.ts, one file, two roles (argv[2]):
 *
 *   editor  W WebSocket connections per node, each signed in with a token from that node's
 *           POST /api/identity, publishing random 3-byte place edits on one channel. Mode 'max'
 *           keeps at most `inFlight` unacknowledged publishes per connection and tops each one up
 *           as ACKs come back (a burst of publishes goes out as one socket write); mode 'rate'
 *           paces E edits/s evenly over all connections. Publishing stops at t0 + seconds; it then
 *           waits (bounded) for the outstanding answers.
 *   viewer  one WebSocket per node subscribed from the head, counting BATCH frames and events and
 *           checking each frame starts where the previous one ended (gaps, duplicates).
 *
 * Started by the parent with child_process.fork; talks only over IPC; exits when told to, or when
 * the parent goes away. Loopback only.
 */
import { WebSocket } from 'ws';
import { SubscribeMode, decodeServerFrame, encodeClientFrame } from '../src/protocol/index.ts';
import { makeEditCodec } from '../src/apps/place/edit-codec.ts';
import { Histogram, type HistogramJson } from './lib/histogram.ts';
import { nowMs } from './lib/proc.ts';

// ---- messages ---------------------------------------------------------------------------------

export interface NodeAddress { httpUrl: string; wsUrl: string }

export type ToWorker =
  | { t: 'connect'; nodes: NodeAddress[]; channel: string; connectionsPerNode: number; width: number; height: number; colours: number }
  | { t: 'start'; t0: number; seconds: number; mode: 'max'; inFlight: number; ackTimeoutMs: number }
  | { t: 'start'; t0: number; seconds: number; mode: 'rate'; perSecond: number; ackTimeoutMs: number }
  /** Viewer: reply 'versions' with each viewer's version (the number of events it has seen). */
  | { t: 'versions' }
  | { t: 'exit' };

export interface EditorCounters {
  sent: number;
  acked: number;
  refused: number;
  /** Acknowledged per node (index as in `nodes`). */
  ackedPerNode: number[];
  lastSendAt: number;
  lastAckAt: number;
  refusals: Record<string, number>;
  /** Publishes still unanswered when the ack timeout ended the wait. */
  unanswered: number;
}

export interface ViewerCounters {
  live: number;
  frames: number;
  events: number;
  eventsPerNode: number[];
  gaps: number;
  duplicates: number;
  behind: number;
  closed: number;
  errors: number;
  firstErrors: string[];
}

export type FromWorker =
  | { t: 'ready'; pid: number }
  | { t: 'progress'; pid: number; editor?: EditorCounters; viewer?: ViewerCounters }
  | { t: 'done'; pid: number; counters: EditorCounters; publishToAck: HistogramJson }
  | { t: 'versions'; pid: number; versions: number[]; counters: ViewerCounters }
  | { t: 'error'; pid: number; message: string };

// ---- common -----------------------------------------------------------------------------------

const role = process.argv[2];
if (!process.send || (role !== 'editor' && role !== 'viewer')) {
  console.error('bench/redis-log-worker.ts {editor|viewer} is started by bench/redis-log.ts (it needs an IPC channel)');
  process.exit(2);
}
const send = (m: FromWorker) => process.send!(m);
process.on('disconnect', () => process.exit(0));
const fail = (message: string) => send({ t: 'error', pid: process.pid, message });

let channel = '';
let finished = false;
const sockets: WebSocket[] = [];
let progressTimer: NodeJS.Timeout | null = null;

function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 15_000 });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', (err) => reject(err));
  });
}

/** The net.Socket under a ws WebSocket (ws 8 keeps it in `_socket`), for cork/uncork. */
function rawSocket(ws: WebSocket): { cork(): void; uncork(): void } | null {
  return (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket ?? null;
}

// ---- editor -----------------------------------------------------------------------------------

let codec = makeEditCodec(1000, 1000, 16);
let width = 1000;
let height = 1000;
let colours = 16;
/** Per connection: node index, requestId → send time, and the next request id. */
const nodeOf: number[] = [];
const pending: Map<number, number>[] = [];
const nextId: number[] = [];
const counters: EditorCounters = { sent: 0, acked: 0, refused: 0, ackedPerNode: [], lastSendAt: 0, lastAckAt: 0, refusals: {}, unanswered: 0 };
const publishToAck = new Histogram();
let sendingUntil = 0;
let sendingStopped = false;
let maxInFlight = 0;
let refillQueued = false;
let ackDeadline: NodeJS.Timeout | null = null;

async function connectEditors(m: Extract<ToWorker, { t: 'connect' }>): Promise<void> {
  channel = m.channel;
  ({ width, height, colours } = m);
  codec = makeEditCodec(width, height, colours);
  counters.ackedPerNode = m.nodes.map(() => 0);
  for (let n = 0; n < m.nodes.length; n++) {
    for (let k = 0; k < m.connectionsPerNode; k++) {
      const res = await fetch(`${m.nodes[n].httpUrl}/api/identity`, { method: 'POST' });
      if (!res.ok) throw new Error(`POST /api/identity answered ${res.status}`);
      const { token } = (await res.json()) as { token: string };
      const ws = await openSocket(`${m.nodes[n].wsUrl}?token=${encodeURIComponent(token)}`);
      const c = sockets.length;
      sockets.push(ws);
      nodeOf.push(n);
      pending.push(new Map());
      nextId.push(1);
      ws.on('message', (data: Buffer) => onEditorMessage(c, data));
      ws.on('close', () => { if (!finished) fail(`editor connection ${c} (node ${n}) closed`); });
    }
  }
}

function publishOn(c: number): void {
  const requestId = nextId[c];
  nextId[c] = requestId >= 0xffffffff ? 1 : requestId + 1;
  const payload = codec.encode(
    Math.floor(Math.random() * width), Math.floor(Math.random() * height), Math.floor(Math.random() * colours),
  );
  const at = nowMs();
  pending[c].set(requestId, at);
  counters.sent++;
  counters.lastSendAt = at;
  sockets[c].send(encodeClientFrame({ kind: 'publish', requestId, channel, payload }));
}

function onEditorMessage(c: number, data: Buffer): void {
  const at = nowMs();
  let frame;
  try {
    frame = decodeServerFrame(data);
  } catch (err) {
    fail(`editor got a malformed frame: ${(err as Error).message}`);
    return;
  }
  if (frame.kind !== 'ack' && frame.kind !== 'error') return;
  const sentAt = pending[c].get(frame.requestId);
  if (sentAt === undefined) {
    if (frame.kind === 'error') counters.refusals[`unmatched ${frame.code}`] = (counters.refusals[`unmatched ${frame.code}`] ?? 0) + 1;
    return;
  }
  pending[c].delete(frame.requestId);
  if (frame.kind === 'ack') {
    counters.acked++;
    counters.ackedPerNode[nodeOf[c]]++;
    counters.lastAckAt = at;
    publishToAck.record(at - sentAt);
  } else {
    counters.refused++;
    counters.refusals[frame.code] = (counters.refusals[frame.code] ?? 0) + 1;
  }
  if (maxInFlight > 0 && !refillQueued && !sendingStopped) {
    refillQueued = true;
    setImmediate(refill);
  }
  maybeDone();
}

/** Mode 'max': tops every connection up to maxInFlight unanswered publishes, one write per burst. */
function refill(): void {
  refillQueued = false;
  if (sendingStopped) return;
  if (nowMs() >= sendingUntil) { stopSending(); return; }
  for (let c = 0; c < sockets.length; c++) {
    const want = maxInFlight - pending[c].size;
    if (want <= 0) continue;
    const raw = rawSocket(sockets[c]);
    raw?.cork();
    for (let i = 0; i < want; i++) publishOn(c);
    raw?.uncork();
  }
}

function stopSending(): void {
  if (sendingStopped) return;
  sendingStopped = true;
  ackDeadline = setTimeout(finishEditor, ackTimeoutMs);
  maybeDone();
}

function outstanding(): number {
  let n = 0;
  for (const p of pending) n += p.size;
  return n;
}

function maybeDone(): void {
  if (!finished && sendingStopped && outstanding() === 0) finishEditor();
}

function finishEditor(): void {
  if (finished) return;
  finished = true;
  counters.unanswered = outstanding();
  if (ackDeadline) clearTimeout(ackDeadline);
  if (progressTimer) clearInterval(progressTimer);
  send({ t: 'done', pid: process.pid, counters, publishToAck: publishToAck.toJSON() });
}

let ackTimeoutMs = 10_000;

function startEditors(m: Extract<ToWorker, { t: 'start' }>): void {
  ackTimeoutMs = m.ackTimeoutMs;
  sendingUntil = m.t0 + m.seconds * 1000;
  progressTimer = setInterval(() => send({ t: 'progress', pid: process.pid, editor: counters }), 1000);
  setTimeout(stopSending, Math.max(0, sendingUntil - nowMs())).unref?.();
  if (m.mode === 'max') {
    maxInFlight = m.inFlight;
    setTimeout(refill, Math.max(0, m.t0 - nowMs()));
    return;
  }
  // Mode 'rate': edit i is due at t0 + i / perSecond s, round-robin over the connections.
  const intervalMs = 1000 / m.perSecond;
  const total = Math.max(1, Math.round(m.perSecond * m.seconds));
  const pace = (): void => {
    if (sendingStopped) return;
    const due = Math.min(total, Math.floor((nowMs() - m.t0) / intervalMs) + 1);
    while (counters.sent < due) publishOn(counters.sent % sockets.length);
    if (counters.sent < total) setTimeout(pace, Math.max(0, counters.sent * intervalMs - (nowMs() - m.t0)));
    else stopSending();
  };
  setTimeout(pace, Math.max(0, m.t0 - nowMs()));
}

// ---- viewer -----------------------------------------------------------------------------------

const BATCH = 0x81;
const viewer: ViewerCounters = { live: 0, frames: 0, events: 0, eventsPerNode: [], gaps: 0, duplicates: 0, behind: 0, closed: 0, errors: 0, firstErrors: [] };
let versions: number[] = [];

function noteError(text: string): void {
  viewer.errors++;
  if (viewer.firstErrors.length < 10) viewer.firstErrors.push(text);
}

async function connectViewers(m: Extract<ToWorker, { t: 'connect' }>): Promise<void> {
  channel = m.channel;
  viewer.eventsPerNode = m.nodes.map(() => 0);
  versions = m.nodes.map(() => -1);
  const subscribed: Promise<void>[] = [];
  for (let n = 0; n < m.nodes.length; n++) {
    const ws = await openSocket(m.nodes[n].wsUrl);
    sockets.push(ws);
    ws.on('close', () => { if (!finished) { viewer.closed++; fail(`viewer on node ${n} closed`); } });
    subscribed.push(new Promise((resolve) => {
      ws.on('message', (data: Buffer) => { if (onViewerMessage(n, ws, data)) resolve(); });
    }));
    ws.send(encodeClientFrame({ kind: 'subscribe', requestId: 1, channel, mode: SubscribeMode.HEAD, fromVersion: 0, epoch: 0 }));
  }
  await Promise.all(subscribed);
}

/** Returns true when this message made the viewer live. */
function onViewerMessage(n: number, ws: WebSocket, data: Buffer): boolean {
  if (data[0] === BATCH) {
    // 0x81, u8 channel length, channel, u64 firstVersion, u32 count, u16 eventSize, events
    const o = 2 + data[1];
    if (data.length < o + 14) { noteError('short BATCH frame'); return false; }
    const first = data.readUInt32LE(o) + data.readUInt32LE(o + 4) * 4294967296;
    const count = data.readUInt32LE(o + 8);
    viewer.frames++;
    viewer.events += count;
    viewer.eventsPerNode[n] += count;
    const v = versions[n];
    if (first !== v) {
      if (first > v) viewer.gaps++;
      else viewer.duplicates++;
    }
    if (first + count > v) versions[n] = first + count;
    return false;
  }
  let frame;
  try {
    frame = decodeServerFrame(data);
  } catch (err) {
    noteError(`malformed frame: ${(err as Error).message}`);
    return false;
  }
  switch (frame.kind) {
    case 'subscribed':
      versions[n] = frame.headVersion;
      viewer.live++;
      return true;
    case 'behind':
      // Paused by the server (slow reader): resume exactly where it says.
      viewer.behind++;
      versions[n] = frame.version;
      ws.send(encodeClientFrame({ kind: 'subscribe', requestId: 2, channel, mode: SubscribeMode.FROM_VERSION, fromVersion: frame.version, epoch: 0 }));
      return false;
    case 'error':
      noteError(`${frame.code}: ${frame.message}`);
      return false;
    default:
      return false;
  }
}

// ---- IPC --------------------------------------------------------------------------------------

process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'connect': {
      const connect = role === 'editor' ? connectEditors(m) : connectViewers(m);
      connect.then(() => {
        send({ t: 'ready', pid: process.pid });
        if (role === 'viewer') progressTimer = setInterval(() => send({ t: 'progress', pid: process.pid, viewer }), 1000);
      }, (err) => fail(`${role} could not connect: ${(err as Error).message}`));
      break;
    }
    case 'start':
      if (role === 'editor') startEditors(m);
      break;
    case 'versions':
      send({ t: 'versions', pid: process.pid, versions, counters: viewer });
      break;
    case 'exit':
      finished = true;
      if (progressTimer) clearInterval(progressTimer);
      for (const ws of sockets) ws.terminate();
      setTimeout(() => process.exit(0), 100);
      break;
  }
});
