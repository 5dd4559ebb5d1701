/**
 * One viewer process of `brigade bench`: holds up to ~18,000 simulated viewers of one target
 * (through its SimProtocol adapter), all starting at the same position, and checks and times what
 * they receive while keeping the cost per viewer tiny:
 *
 * - per viewer only its next expected position (a float64) and a state byte; a run that does not
 *   start there is a gap or a duplicate and breaks that viewer;
 * - per process one canonical copy of the stream: the first viewer to receive a position stores
 *   its bytes, every later copy is compared with Buffer.compare (memcmp), and the store's sha256 is
 *   compared across processes and with what the editors sent at the positions the server acknowledged;
 * - for latency, per distinct run (first, count) a float32 array of receipt times, one per viewer
 *   that received it; the ack times arrive at the end and the histogram of receipt − ack per
 *   (viewer, edit) is built from those, never storing a sample per (viewer, edit).
 *
 * Started by the coordinator with child_process.fork; talks only over IPC; exits when told to, or
 * when the parent goes away.
 */
import { createHash } from 'node:crypto';
import { makeEditCodec, type EditCodec } from '../apps/place/edit-codec.ts';
import { Histogram } from './histogram.ts';
import { loadProtocol } from './load-protocol.ts';
import type { FromViewer, ToViewer, ViewerCounters, ViewerSetup } from './messages.ts';
import type { SimConnection, SimProtocol } from './protocol.ts';

if (!process.send) {
  console.error('viewer-worker is started by `brigade bench` (it needs an IPC channel)');
  process.exit(2);
}
const send = (m: FromViewer) => process.send!(m);
process.on('disconnect', () => process.exit(0));

/** Most receipt samples one process keeps (4 bytes each, 240 MB). */
const MAX_SAMPLES = 60_000_000;
const CONNECT_RETRIES = 3;
/** Ack times within a run are grouped to this resolution (ms) before the histogram: error ≤ 0.05 ms. */
const ACK_QUANTUM_MS = 0.1;

const S_IDLE = 0;
const S_CONNECTING = 1;
const S_LIVE = 2;
const S_CLOSED = 3;
const S_FAILED = 4;
const S_BROKEN = 5; // saw a gap, duplicate or different bytes: cannot converge

let setup: ViewerSetup;
let protocol: SimProtocol;
let codec: EditCodec;
let eventSize = 3;
let conns: (SimConnection | undefined)[] = [];
let next = new Float64Array(0);
let state = new Uint8Array(0);
let attempts = new Uint8Array(0);

const counters: ViewerCounters = {
  live: 0, failed: 0, closed: 0, frames: 0, bytes: 0, events: 0, gaps: 0, duplicates: 0, mismatches: 0,
  samplesDropped: 0, firstErrors: [],
};

function noteError(text: string): void {
  if (counters.firstErrors.length < 10) counters.firstErrors.push(text);
}

// ---- the canonical stream: positions [from, known), bytes as first received -----------------

let store = new Uint8Array(64 * 1024);
let known = 0;

function storeAppend(edits: Uint8Array): void {
  const need = (known - setup.from) * eventSize + edits.length;
  if (need > store.length) {
    const bigger = new Uint8Array(Math.max(need, store.length * 2));
    bigger.set(store.subarray(0, (known - setup.from) * eventSize));
    store = bigger;
  }
  store.set(edits, (known - setup.from) * eventSize);
}

// ---- receipt records --------------------------------------------------------------------------

interface RunRecord { first: number; count: number; times: Float32Array; n: number }
const records = new Map<number, RunRecord>();
let lastRecord: RunRecord | null = null;
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
      r = { first, count, times: new Float32Array(Math.min(1024, conns.length || 1)), n: 0 };
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

// ---- receiving: the hot path ------------------------------------------------------------------

let runsSeen = new Uint32Array(0);

function onEdits(i: number, first: number, count: number, edits: Uint8Array, at: number, wireBytes: number): void {
  counters.frames++;
  counters.bytes += wireBytes;
  counters.events += count;
  if (recording) record(first, count, at, wireBytes);
  if (state[i] !== S_LIVE) return;
  if (setup.fault !== 'none' && i === conns.length - 1 && setup.firstIndex === 0 && ++runsSeen[0] === 2) {
    // Test-only: the last viewer of the first process loses or garbles its second run.
    if (setup.fault === 'drop-frame') return;
    const copy = Uint8Array.from(edits);
    copy[0] ^= 0xff;
    edits = copy;
  }
  const v = next[i];
  if (first !== v) {
    if (first > v) counters.gaps++;
    else counters.duplicates++;
    noteError(`viewer ${setup.firstIndex + i}: run [${first}, ${first + count}) while expecting ${v}`);
    state[i] = S_BROKEN;
    return;
  }
  const end = first + count;
  // Compare the part this process has seen before with its first copy; store the rest.
  const overlap = Math.min(known, end) - first;
  if (overlap > 0) {
    const off = (first - setup.from) * eventSize;
    if (Buffer.compare(store.subarray(off, off + overlap * eventSize), edits.subarray(0, overlap * eventSize)) !== 0) {
      counters.mismatches++;
      noteError(`viewer ${setup.firstIndex + i}: bytes of [${first}, ${first + overlap}) differ from the first copy`);
      state[i] = S_BROKEN;
      return;
    }
  }
  if (end > known) {
    storeAppend(edits.subarray(Math.max(0, overlap) * eventSize, count * eventSize));
    known = end;
  }
  next[i] = end;
}

// ---- connecting -------------------------------------------------------------------------------

let nextToOpen = 0;
let inFlight = 0;
let readySent = false;
let exiting = false;
let rssBeforeConnect = 0;

function pump(): void {
  while (inFlight < setup.concurrency && nextToOpen < conns.length) open(nextToOpen++);
  if (!readySent && nextToOpen >= conns.length && inFlight === 0) {
    readySent = true;
    send({ t: 'ready', pid: process.pid, counters, rssBeforeConnect });
  }
}

function open(i: number): void {
  inFlight++;
  state[i] = S_CONNECTING;
  attempts[i]++;
  const g = setup.firstIndex + i;
  protocol.openViewer({
    url: setup.urls[g % setup.urls.length],
    localAddress: setup.localAddresses[i % setup.localAddresses.length],
    codec,
    channel: setup.channel,
    from: setup.from,
    onEdits: (first, count, edits, at, wireBytes) => onEdits(i, first, count, edits, at, wireBytes),
    onClose: (reason) => {
      if (state[i] === S_LIVE || state[i] === S_BROKEN) {
        if (state[i] === S_LIVE) counters.live--;
        state[i] = S_CLOSED;
        if (!exiting) {
          counters.closed++;
          noteError(`viewer ${g} closed: ${reason}`);
        }
      }
    },
  }).then((conn) => {
    conns[i] = conn;
    state[i] = S_LIVE;
    counters.live++;
    inFlight--;
    pump();
  }, (err: Error) => {
    inFlight--;
    if (attempts[i] <= CONNECT_RETRIES && !exiting) {
      state[i] = S_IDLE;
      inFlight++; // keep its slot while it waits
      setTimeout(() => { inFlight--; open(i); }, 200 * attempts[i]);
      return;
    }
    state[i] = S_FAILED;
    counters.failed++;
    noteError(`viewer ${g} could not connect: ${err.message}`);
    pump();
  });
}

// ---- latency ----------------------------------------------------------------------------------

function latency(ackAt: Float64Array): FromViewer {
  const all = new Histogram();
  const perSecond: Histogram[] = [];
  const from = setup.from;
  const groups = new Map<number, number>();
  for (const r of records.values()) {
    // Group the run's edits by (quantised) ack time: a tick's edits are acknowledged together, so
    // a run of hundreds of edits has a handful of distinct ack times.
    groups.clear();
    for (let k = 0; k < r.count; k++) {
      const idx = r.first + k - from;
      const a = idx >= 0 && idx < ackAt.length ? ackAt[idx] : NaN;
      if (Number.isNaN(a)) continue;
      const q = Math.round((a - t0) / ACK_QUANTUM_MS);
      groups.set(q, (groups.get(q) ?? 0) + 1);
    }
    for (const [q, n] of groups) {
      const ackOffset = q * ACK_QUANTUM_MS;
      const sec = Math.min(maxSeconds - 1, Math.max(0, Math.floor(ackOffset / 1000)));
      const h = (perSecond[sec] ??= new Histogram());
      const times = r.times;
      for (let j = 0; j < r.n; j++) {
        const d = times[j] - ackOffset;
        all.recordN(d, n);
        h.recordN(d, n);
      }
    }
  }
  const empty = new Histogram().toJSON();
  return {
    t: 'latency', pid: process.pid, ack: all.toJSON(),
    perSecond: Array.from({ length: maxSeconds }, (_, s) => perSecond[s]?.toJSON() ?? empty),
  };
}

// ---- control ----------------------------------------------------------------------------------

let progressTimer: NodeJS.Timeout | null = null;

process.on('message', (m: ToViewer) => {
  switch (m.t) {
    case 'connect':
      setup = m;
      codec = makeEditCodec(m.width, m.height, m.colours);
      eventSize = codec.eventSize;
      conns = new Array(m.count);
      next = new Float64Array(m.count).fill(m.from);
      state = new Uint8Array(m.count);
      attempts = new Uint8Array(m.count);
      runsSeen = new Uint32Array(1);
      known = m.from;
      progressTimer = setInterval(() => send({ t: 'progress', pid: process.pid, counters }), 500);
      loadProtocol(m.protocol).then((p) => {
        protocol = p;
        rssBeforeConnect = process.memoryUsage().rss;
        pump();
      }, (err: Error) => send({ t: 'error', pid: process.pid, message: err.message }));
      break;
    case 'window':
      t0 = m.t0;
      maxSeconds = m.maxSeconds;
      framesPerSecond = new Array<number>(maxSeconds).fill(0);
      eventsPerSecond = new Array<number>(maxSeconds).fill(0);
      bytesPerSecond = new Array<number>(maxSeconds).fill(0);
      counters.frames = counters.bytes = counters.events = 0;
      records.clear();
      lastRecord = null;
      samples = 0;
      recording = true;
      break;
    case 'stop-window':
      recording = false;
      send({ t: 'window-counters', pid: process.pid, counters, framesPerSecond, eventsPerSecond, bytesPerSecond, distinctRuns: records.size });
      break;
    case 'check': {
      let converged = 0, behindHead = 0, broken = 0;
      for (let i = 0; i < conns.length; i++) {
        if (state[i] === S_BROKEN) broken++;
        else if (state[i] === S_LIVE) {
          if (next[i] === m.head) converged++;
          else behindHead++;
        }
      }
      const sha256 = createHash('sha256').update(store.subarray(0, (known - setup.from) * eventSize)).digest('hex');
      send({ t: 'check', pid: process.pid, live: counters.live, converged, behindHead, broken, known, sha256 });
      break;
    }
    case 'latency':
      send(latency(m.ackAt));
      break;
    case 'exit':
      exiting = true;
      if (progressTimer) clearInterval(progressTimer);
      for (const c of conns) c?.close();
      setTimeout(() => process.exit(0), 100);
      break;
  }
});
