/**
 * The editor process of `brigade bench`: W editor connections of one target (through its adapter),
 * publishing seeded-random place edits at E edits/s in total, paced evenly (edit i is due at
 * t0 + i/E s) and spread round-robin over the connections, one edit per send. For every edit it
 * keeps the bytes, the send time and, from the acknowledgement, the position and the ack time:
 * with those the coordinator knows the server's whole log (what was sent at which position) and
 * when each position was acknowledged, independently of what any viewer received.
 */
import { makeEditCodec, type EditCodec } from '../apps/place/edit-codec.ts';
import { Histogram } from './histogram.ts';
import { loadProtocol } from './load-protocol.ts';
import type { EditorCounters, FromEditor, ToEditor } from './messages.ts';
import { simNow, type SimEditor } from './protocol.ts';
import { prng } from '../util/prng.ts';

if (!process.send) {
  console.error('editor-worker is started by `brigade bench` (it needs an IPC channel)');
  process.exit(2);
}
const send = (m: FromEditor) => process.send!(m);
process.on('disconnect', () => process.exit(0));

let codec: EditCodec = makeEditCodec(1000, 1000, 16);
let random: () => number = Math.random;
const editors: SimEditor[] = [];
/** Per connection: edit indexes sent and not yet acknowledged, oldest first (acks come in send order). */
const pending: number[][] = [];
const counters: EditorCounters = { sent: 0, acked: 0, lastSendAt: 0, lastAckAt: 0 };
const sendToAck = new Histogram();
let position = new Float64Array(0);
let sendAt = new Float64Array(0);
let ackAt = new Float64Array(0);
let edits = new Uint8Array(0);
let total = 0;
let finished = false;
let progressTimer: NodeJS.Timeout | null = null;
let ackDeadline: NodeJS.Timeout | null = null;


function fail(message: string): void {
  send({ t: 'error', pid: process.pid, message });
}

async function connect(m: Extract<ToEditor, { t: 'connect' }>): Promise<void> {
  codec = makeEditCodec(m.width, m.height, m.colours);
  random = prng(m.seed);
  const protocol = await loadProtocol(m.protocol);
  for (let c = 0; c < m.connections; c++) {
    pending.push([]);
    editors.push(await protocol.openEditor({
      url: m.urls[c % m.urls.length],
      localAddress: m.localAddress,
      codec,
      channel: m.channel,
      onAck: (first, count, at) => onAck(c, first, count, at),
      onClose: (reason) => { if (!finished) fail(`editor connection ${c} closed: ${reason}`); },
    }));
  }
}

function onAck(c: number, first: number, count: number, at: number): void {
  const queue = pending[c];
  for (let k = 0; k < count; k++) {
    const idx = queue.shift();
    if (idx === undefined) { fail(`editor connection ${c}: acknowledgement of position ${first + k} for no edit in flight`); return; }
    position[idx] = first + k;
    ackAt[idx] = at;
    counters.acked++;
    sendToAck.record(at - sendAt[idx]);
  }
  counters.lastAckAt = at;
  maybeDone();
}

function maybeDone(): void {
  if (!finished && counters.sent === total && counters.acked === total) finish();
}

function finish(): void {
  if (finished) return;
  finished = true;
  if (ackDeadline) clearTimeout(ackDeadline);
  if (progressTimer) clearInterval(progressTimer);
  send({ t: 'done', pid: process.pid, counters, sendToAck: sendToAck.toJSON(), position, sendAt, ackAt, edits });
}

function start(m: Extract<ToEditor, { t: 'start' }>): void {
  total = Math.max(1, Math.round(m.editsPerSecond * m.seconds));
  const size = codec.eventSize;
  position = new Float64Array(total).fill(NaN);
  sendAt = new Float64Array(total).fill(NaN);
  ackAt = new Float64Array(total).fill(NaN);
  edits = new Uint8Array(total * size);
  for (let i = 0; i < total; i++) {
    edits.set(codec.encode(Math.floor(random() * codec.width), Math.floor(random() * codec.height), Math.floor(random() * codec.paletteSize)), i * size);
  }
  const intervalMs = 1000 / m.editsPerSecond;
  progressTimer = setInterval(() => send({ t: 'progress', pid: process.pid, counters }), 500);

  const pace = () => {
    const due = Math.min(total, Math.floor((simNow() - m.t0) / intervalMs) + 1);
    while (counters.sent < due) {
      const i = counters.sent;
      const c = i % editors.length;
      pending[c].push(i);
      const at = simNow();
      sendAt[i] = at;
      counters.sent++;
      counters.lastSendAt = at;
      editors[c].send(edits.subarray(i * size, (i + 1) * size));
    }
    if (counters.sent < total) {
      setTimeout(pace, Math.max(0, counters.sent * intervalMs - (simNow() - m.t0)));
    } else {
      // Everything sent: wait for the answers, but not for ever.
      ackDeadline = setTimeout(finish, m.ackTimeoutMs);
      maybeDone();
    }
  };
  setTimeout(pace, Math.max(0, m.t0 - simNow()));
}

process.on('message', (m: ToEditor) => {
  switch (m.t) {
    case 'connect':
      connect(m).then(() => send({ t: 'ready', pid: process.pid }), (err: Error) => fail(`editor could not connect: ${err.message}`));
      break;
    case 'start':
      start(m);
      break;
    case 'exit':
      finished = true;
      for (const e of editors) e.close();
      setTimeout(() => process.exit(0), 100);
      break;
  }
});
