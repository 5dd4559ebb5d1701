/**
 * The editor process of bench/place-fanout.ts: W WebSocket connections, each signed in with a
 * token from POST /api/identity, publishing random 3-byte place edits at E edits/s in total, paced
 * evenly (edit i is due at t0 + i/E s) and spread round-robin over the connections. For every edit
 * it keeps the send time, and from the server's ACK the version and the ack time.
 */
import { WebSocket } from 'ws';
import { decodeServerFrame, encodeClientFrame } from '../src/protocol/index.ts';
import { makeEditCodec } from '../src/apps/place/edit-codec.ts';
import { Histogram } from './lib/histogram.ts';
import { nowMs } from './lib/proc.ts';
import type { EditorCounters, FromEditor, ToEditor } from './lib/messages.ts';

if (!process.send) {
  console.error('bench/editor-worker.ts is started by bench/place-fanout.ts (it needs an IPC channel)');
  process.exit(2);
}
const send = (m: FromEditor) => process.send!(m);
process.on('disconnect', () => process.exit(0));

let channel = '';
let width = 1000;
let height = 1000;
let colours = 16;
let codec = makeEditCodec(width, height, colours);
const sockets: WebSocket[] = [];
/** Per connection: requestId → edit index. */
const pending: Map<number, number>[] = [];
const counters: EditorCounters = { sent: 0, acked: 0, refused: 0, lastSendAt: 0, lastAckAt: 0, refusals: {} };
const publishToAck = new Histogram();
let versionOf = new Float64Array(0);
let sendAt = new Float64Array(0);
let ackAt = new Float64Array(0);
let total = 0;
let nextRequestId = 1;
let finished = false;
let progressTimer: NodeJS.Timeout | null = null;

function fail(message: string): void {
  send({ t: 'error', pid: process.pid, message });
}

async function connect(m: Extract<ToEditor, { t: 'connect' }>): Promise<void> {
  channel = m.channel;
  width = m.width;
  height = m.height;
  colours = m.colours;
  codec = makeEditCodec(width, height, colours);
  const opened: Promise<void>[] = [];
  for (let c = 0; c < m.connections; c++) {
    const res = await fetch(`${m.httpUrl}/api/identity`, { method: 'POST' });
    if (!res.ok) throw new Error(`POST /api/identity answered ${res.status}`);
    const { token } = (await res.json()) as { token: string };
    const ws = new WebSocket(`${m.wsUrl}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false, localAddress: m.localAddress });
    sockets.push(ws);
    pending.push(new Map());
    ws.on('message', (data: Buffer) => onMessage(c, data));
    ws.on('close', () => { if (!finished) fail(`editor connection ${c} closed`); });
    opened.push(new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (err) => reject(err));
    }));
  }
  await Promise.all(opened);
}

function onMessage(c: number, data: Buffer): void {
  const at = nowMs();
  let frame;
  try {
    frame = decodeServerFrame(data);
  } catch (err) {
    fail(`editor got a malformed frame: ${(err as Error).message}`);
    return;
  }
  if (frame.kind !== 'ack' && frame.kind !== 'error') return;
  const map = pending[c];
  const idx = map.get(frame.requestId);
  if (idx === undefined) {
    if (frame.kind === 'error') counters.refusals[`unmatched ${frame.code}`] = (counters.refusals[`unmatched ${frame.code}`] ?? 0) + 1;
    return;
  }
  map.delete(frame.requestId);
  if (frame.kind === 'ack') {
    versionOf[idx] = frame.version;
    ackAt[idx] = at;
    counters.acked++;
    counters.lastAckAt = at;
    publishToAck.record(at - sendAt[idx]);
  } else {
    counters.refused++;
    counters.refusals[frame.code] = (counters.refusals[frame.code] ?? 0) + 1;
  }
  maybeDone();
}

let ackDeadline: NodeJS.Timeout | null = null;

function maybeDone(): void {
  if (finished || counters.sent < total || counters.acked + counters.refused < total) return;
  finish();
}

function finish(): void {
  if (finished) return;
  finished = true;
  if (ackDeadline) clearTimeout(ackDeadline);
  if (progressTimer) clearInterval(progressTimer);
  send({ t: 'done', pid: process.pid, counters, publishToAck: publishToAck.toJSON(), version: versionOf, sendAt, ackAt });
}

function start(m: Extract<ToEditor, { t: 'start' }>): void {
  total = Math.max(1, Math.round(m.editsPerSecond * m.seconds));
  versionOf = new Float64Array(total).fill(NaN);
  sendAt = new Float64Array(total).fill(NaN);
  ackAt = new Float64Array(total).fill(NaN);
  const intervalMs = 1000 / m.editsPerSecond;
  const begin = m.t0;
  progressTimer = setInterval(() => send({ t: 'progress', pid: process.pid, counters }), 1000);

  const publishOne = () => {
    const i = counters.sent;
    const c = i % sockets.length;
    const ws = sockets[c];
    const requestId = nextRequestId;
    nextRequestId = nextRequestId >= 0xffffffff ? 1 : nextRequestId + 1;
    const payload = codec.encode(
      Math.floor(Math.random() * width), Math.floor(Math.random() * height), Math.floor(Math.random() * colours),
    );
    pending[c].set(requestId, i);
    const at = nowMs();
    sendAt[i] = at;
    counters.sent++;
    counters.lastSendAt = at;
    ws.send(encodeClientFrame({ kind: 'publish', requestId, channel, payload }));
  };

  const pace = () => {
    const elapsed = nowMs() - begin;
    const due = Math.min(total, Math.floor(elapsed / intervalMs) + 1);
    while (counters.sent < due) publishOne();
    if (counters.sent < total) {
      setTimeout(pace, Math.max(0, counters.sent * intervalMs - (nowMs() - begin)));
    } else {
      // Everything sent: wait for the answers, but not for ever.
      ackDeadline = setTimeout(finish, m.ackTimeoutMs);
      maybeDone();
    }
  };
  setTimeout(pace, Math.max(0, begin - nowMs()));
}

process.on('message', (m: ToEditor) => {
  switch (m.t) {
    case 'connect':
      connect(m).then(() => send({ t: 'ready', pid: process.pid }), (err) => fail(`editor could not connect: ${(err as Error).message}`));
      break;
    case 'start':
      start(m);
      break;
    case 'exit':
      finished = true;
      for (const ws of sockets) ws.terminate();
      setTimeout(() => process.exit(0), 200);
      break;
  }
});
