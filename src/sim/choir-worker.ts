/**
 * A singer process of `brigade bench --scenario choir`: S simulated singers, one WebSocket each
 * (raw-ws.ts, cheap), each sending one `choir.frame` REQUEST every k frames (20 ms each, or the
 * server's --choir-frame-ms) in real time with k
 * real Opus packets of a synthesised voice and receiving their k mixes (k: the server's
 * --choir-frames-per-message, from the join reply, as the page sends).
 *
 * The client is made cheap so that the server, not the singers, is what the run measures on a
 * 2-core machine: the voice (a 220 Hz vowel-like tone with a vibrato, 1 s) is Opus-encoded ONCE at
 * start (50 packets) and replayed in a loop, so a frame costs the client a REQUEST header and a
 * socket write; only one singer in `decodeEvery` (of those with someone ahead) decodes its mixes,
 * each with its own decoder, to count those that carry the others' voice. Each singer reads and
 * writes its delay + 200 ms + k frames behind the room's clock. Singers' slots are spread over the
 * period (singer i at i/S of it), like real singers who are not in phase. Every count is in mixes
 * (frames): a message's k mixes are on time or late together.
 *
 * As the page does (web/choir.ts), a singer sends every slot, whatever is still in flight, and a mix
 * counts as lost when its reply comes back more than the page's lead (MIX_LEAD_MS, 100 ms: how far
 * ahead of hearing it the page asks for a mix) after its frame was sent, or has not come back that
 * long after (counted at the report): `lateForLead`. The step's rule is the same by default: a mix
 * not back within the deadline (--choir-deadline-ms, by default the page's lead) of its frame being
 * sent, or unanswered that long at the report, is lost (`lateForDeadline`): the whole path,
 * including the time a frame waits in the
 * server's socket and event loop before its handler runs, which the server's own count
 * (brigade_choir_mix_deadline_misses_total, from the handler's start) cannot see
 * (docs/choir.md "Benchmarks").
 *
 * Slots are sent from the loop's check phase (a 1 ms timer sets an immediate), after its poll phase
 * has read the replies that arrived, not from the timer itself (after a stall Node runs its timers
 * before it reads its sockets).
 */
import { createRequire } from 'node:module';
import { ClientKind, BodyEncoding } from '../protocol/client-frames.ts';
import { ServerKind } from '../protocol/server-frames.ts';
import { encodeFrames, decodeFramesReply, MIX_LEAD_MS } from '../apps/choir/wire.ts';
import { goertzel } from '../apps/choir/dsp.ts';
import { FRAME_SAMPLES } from '../apps/choir/room.ts';
import { Histogram } from './histogram.ts';
import { LoopDelayMonitor } from './loop-delay.ts';
import { RawWs } from './raw-ws.ts';
import type { ChoirWorkerIn, ChoirWorkerOut, ChoirWorkerStats } from './choir-messages.ts';

const require = createRequire(import.meta.url);
interface Opus { encode(pcm: Buffer): Buffer; decode(p: Buffer): Buffer; setBitrate(b: number): void }
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (r: number, c: number) => Opus };

/** Samples in a frame and its ms: the server's --choir-frame-ms, from the bench's start message (checked against the join reply). */
let F = FRAME_SAMPLES;
let PERIOD_MS = 20;
const VOICE_HZ = 220;

const send = (m: ChoirWorkerOut) => process.send!(m);

/** 50 frames of a synthesised voice: 220 Hz with two harmonics and a 5 Hz vibrato, Opus at 32 kb/s. */
function voicePackets(): Uint8Array[] {
  const enc = new OpusEncoder(48_000, 1);
  enc.setBitrate(32_000);
  const out: Uint8Array[] = [];
  let phase = 0;
  for (let k = 0; k < 50; k++) {
    const pcm = new Int16Array(F);
    for (let i = 0; i < F; i++) {
      const t = (k * F + i) / 48_000;
      phase += (2 * Math.PI * VOICE_HZ * (1 + 0.01 * Math.sin(2 * Math.PI * 5 * t))) / 48_000;
      pcm[i] = Math.round(9000 * (Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase)));
    }
    out.push(new Uint8Array(enc.encode(Buffer.from(pcm.buffer))));
  }
  return out;
}

/** REQUEST frame: kind 0x04, u32 requestId, u8 kind length + kind, u8 encoding, body. */
const KIND = Buffer.from('choir.frame');
function requestFrame(requestId: number, body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(1 + 4 + 1 + KIND.length + 1 + body.length);
  out[0] = ClientKind.REQUEST;
  out.writeUInt32LE(requestId, 1);
  out[5] = KIND.length;
  KIND.copy(out, 6);
  out[6 + KIND.length] = BodyEncoding.BYTES;
  out.set(body, 7 + KIND.length);
  return out;
}
function jsonRequest(requestId: number, kind: string, body: unknown): Uint8Array {
  const k = Buffer.from(kind);
  const b = Buffer.from(JSON.stringify(body));
  const out = Buffer.allocUnsafe(1 + 4 + 1 + k.length + 1 + b.length);
  out[0] = ClientKind.REQUEST;
  out.writeUInt32LE(requestId, 1);
  out[5] = k.length;
  k.copy(out, 6);
  out[6 + k.length] = BodyEncoding.JSON;
  b.copy(out, 7 + k.length);
  return out;
}

interface Singer {
  ws: RawWs;
  id: number;
  key: string;
  /** Read position of frame 0 (samples on the room clock), set when sending starts. */
  base: number;
  frame: number;
  /** The singer's delay behind the room's clock, samples. */
  delay: number;
  /** The room's clock in the join reply, and performance.now() when that reply came. */
  joinClock: number;
  joinAt: number;
  /** Its own mix decoder (its mixes, every one, in order), for the voiced count; null: it decodes none. */
  decoder: Opus | null;
  /** The messages in flight: request id → performance.now() when sent (replies may come out of order: two shard lanes). */
  inFlight: Map<number, number>;
  /** Frames in each of its messages (the server's --choir-frames-per-message, from the join reply, as the page). */
  k: number;
  /** How far behind its delay it reads and writes, samples: 200 ms and one message's frames. */
  behind: number;
  reqId: number;
  slotOffsetMs: number;
  nextAt: number;
  joined: (r: { singer: number; key: string; clock: number; node: string; leader: number | null; framesPerMessage?: number; frameSamples?: number }) => void;
  failed: (why: string) => void;
}

function emptyStats(): Omit<ChoirWorkerStats, 'loopDelay'> & { hist: Histogram; lag: Histogram } {
  const hist = new Histogram(), lag = new Histogram();
  return { due: 0, sent: 0, replies: 0, errors: 0, lateForLead: 0, lateForDeadline: 0, sentWithReplyPending: 0, rtt: hist.toJSON(), sendLag: lag.toJSON(), decoded: 0, voiced: 0, positionErrorMs: null, firstErrors: [], hist, lag };
}

let stats = emptyStats();
/** Every singer of this process (the report counts their frames still in flight). */
let allSingers: Singer[] = [];
const loopDelay = new LoopDelayMonitor();
/** A mix later than this after its frame was sent is lost (the bench's --choir-deadline-ms). */
let deadlineMs = 20;
/**
 * How far behind its slot a singer reads and writes, samples: 200 ms, inside the room's window, and
 * one message's frames more (the singer ahead sends a frame up to a message's length after it sang it).
 */
const BEHIND_SLOT = 9600;

async function start(url: string, specs: { room: string; delayMs: number }[], decodeEvery: number): Promise<void> {
  const packets = voicePackets();
  const u = new URL(url);
  const singers: Singer[] = [];
  allSingers = singers;
  const nodes = new Set<string>();
  let decodersLeft = 0;
  // Connect and join a few at a time (a burst of hundreds of handshakes is not what is measured).
  for (let i = 0; i < specs.length; i += 20) {
    await Promise.all(specs.slice(i, i + 20).map((spec, j) => new Promise<void>((resolve, reject) => {
      // One singer in decodeEvery, of those with someone ahead of them (a delay above 0), decodes
      // every mix it gets with a decoder of its own (a decoder must see its encoder's packets in order).
      const decodes = decodeEvery > 0 && spec.delayMs > 0 && decodersLeft-- <= 0;
      if (decodes) decodersLeft = decodeEvery - 1;
      const s = {
        id: 0, key: '', base: 0, frame: 0, delay: Math.round((spec.delayMs * 48_000) / 1000), joinClock: 0, joinAt: 0, decoder: decodes ? new OpusEncoder(48_000, 1) : null,
        inFlight: new Map(), reqId: 1, slotOffsetMs: (i + j) / specs.length, nextAt: 0, k: 1, behind: BEHIND_SLOT,
      } as Singer;
      s.joined = (r) => {
        if ((r.frameSamples ?? FRAME_SAMPLES) !== F) { s.failed(`the server's frame is ${r.frameSamples} samples, the bench's ${F}: --frame-ms must match the server's --choir-frame-ms`); return; }
        s.id = r.singer; s.key = r.key; nodes.add(r.node);
        s.k = Math.max(1, r.framesPerMessage ?? 1);
        s.behind = BEHIND_SLOT + s.k * F;
        s.slotOffsetMs *= s.k * PERIOD_MS;
        s.joinClock = r.clock; s.joinAt = performance.now();
        resolve();
      };
      s.failed = (why) => reject(new Error(why));
      s.ws = new RawWs({ host: u.hostname, port: Number(u.port), path: '/ws', localAddress: `127.0.0.${2 + ((i + j) % 200)}` }, {
        onOpen: () => s.ws.send(jsonRequest(s.reqId++, 'choir.join', { room: spec.room, delayMs: spec.delayMs })),
        onClose: (why) => { if (s.id === 0) s.failed(`singer closed before joining: ${why}`); else { stats.errors++; if (stats.firstErrors.length < 5) stats.firstErrors.push(`closed: ${why}`); } },
        onMessage: (data) => onMessage(s, data),
      });
      singers.push(s);
    })));
  }
  function onMessage(s: Singer, data: Buffer): void {
    if (data[0] === ServerKind.REPLY) {
      const encoding = data[5];
      const body = data.subarray(6);
      if (s.id === 0) {
        if (encoding !== BodyEncoding.JSON) return;
        const r = JSON.parse(body.toString());
        if ('elsewhere' in r) s.failed(`room ${r.room} lives at ${r.elsewhere}: run one node per bench target`);
        else {
          s.joined(r);
          // Voices are added only during a song: each room's leader starts one as it joins (its
          // singers' first frames, up to their delay + 200 ms, fall before it: inside the warm-up).
          if (r.leader === r.singer) s.ws.send(jsonRequest(s.reqId++, 'choir.start', { singer: r.singer, key: r.key }));
        }
        return;
      }
      if (encoding === BodyEncoding.JSON) return; // the reply to the leader's choir.start
      const id = data.readUInt32LE(1);
      const sentAt = s.inFlight.get(id);
      if (sentAt !== undefined) {
        // Counted in mixes: a message's k mixes come back together.
        s.inFlight.delete(id);
        stats.replies += s.k;
        const rtt = performance.now() - sentAt;
        stats.hist.record(rtt);
        if (rtt > deadlineMs) stats.lateForDeadline += s.k;
        if (rtt > MIX_LEAD_MS) stats.lateForLead += s.k;
      }
      if (s.decoder) {
        const reply = decodeFramesReply(body);
        const err = (reply.clock - reply.readPos - s.delay - s.behind) / 48;
        const pe = stats.positionErrorMs;
        stats.positionErrorMs = pe ? { min: Math.min(pe.min, err), max: Math.max(pe.max, err) } : { min: err, max: err };
        for (const mix of reply.mixes) {
          if (mix.length === 0) continue;
          const out = s.decoder.decode(Buffer.from(mix));
          stats.decoded++;
          if (goertzel(new Int16Array(out.buffer, out.byteOffset, out.length / 2), VOICE_HZ) > 0.01) stats.voiced++;
        }
      }
    } else if (data[0] === ServerKind.ERROR) {
      if (s.id === 0) { s.failed(`join refused: ${data.subarray(1).toString('latin1')}`); return; }
      s.inFlight.delete(data.readUInt32LE(1));
      stats.errors++;
      if (stats.firstErrors.length < 5) stats.firstErrors.push(data.subarray(1).toString('latin1').replace(/[^\x20-\x7e]/g, ' ').trim());
    }
  }
  // Real time: each singer's slot every frame (PERIOD_MS) at its offset; a 1 ms timer sends every slot that is due.
  // Each singer reads and writes its delay (+ 200 ms) behind the room's clock, as the page does, so
  // the singers ahead of it have sung what it hears. A room is made by its first join, its clock
  // from 0: sending starts once every room's clock has passed its singers' delays (until
  // 2026-12-07 a position below 0 was taken as 0, and the singers of a young room all sang at the
  // same position, whatever their delay: most mixes were silent; docs/choir.md "Benchmarks").
  const clockAt = (s: Singer, t: number) => s.joinClock + ((t - s.joinAt) * 48_000) / 1000;
  let t0 = performance.now() + 50;
  for (const s of singers) t0 = Math.max(t0, s.joinAt + ((s.delay + s.behind + F - s.joinClock) * 1000) / 48_000);
  for (const s of singers) {
    s.nextAt = t0 + s.slotOffsetMs;
    s.base = Math.floor((clockAt(s, s.nextAt) - s.delay - s.behind) / F) * F;
  }
  // Joined once the singers are singing: the bench's warm-up starts from there.
  setTimeout(() => send({ t: 'joined', singers: singers.length, nodes: [...nodes] }), Math.max(0, t0 - performance.now()));
  // In the check phase, after the poll phase has read the replies that came (see the top).
  const sendDue = () => {
    scheduled = false;
    const now = performance.now();
    for (const s of singers) {
      while (s.nextAt <= now) {
        // A message every k frames with the k frames sung since the last (the page's batch).
        const dueAt = s.nextAt;
        s.nextAt += PERIOD_MS * s.k;
        stats.due += s.k;
        if (s.inFlight.size > 0) stats.sentWithReplyPending++;
        const pos = s.base + s.frame * F;
        const frames: Uint8Array[] = new Array(s.k);
        for (let j = 0; j < s.k; j++) frames[j] = packets[(s.frame + j) % packets.length];
        s.inFlight.set(s.reqId, now);
        s.ws.send(requestFrame(s.reqId++, encodeFrames({ singer: s.id, key: s.key, writePos: pos, readPos: pos, packets: frames })));
        stats.lag.record(now - dueAt);
        s.frame += s.k;
        stats.sent += s.k;
      }
    }
  };
  let scheduled = false;
  setInterval(() => { if (!scheduled) { scheduled = true; setImmediate(sendDue); } }, 1);
}

/** The transport floor's server: answers every binary message with `replyBytes`, nothing else (the `ws` library, as the core uses). */
function echo(replyBytes: number): void {
  const { WebSocketServer } = require('ws') as typeof import('ws');
  const reply = Buffer.alloc(replyBytes, 1);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });
  wss.on('connection', (ws) => ws.on('message', () => ws.send(reply, { binary: true })));
  wss.on('listening', () => send({ t: 'echo-listening', port: (wss.address() as { port: number }).port }));
}

/** The transport floor's clients: each socket sends `frameBytes` every `periodMs`, as a singer does. */
let floorReplies = -1;
function floor(port: number, sockets: number, frameBytes: number, periodMs: number): void {
  floorReplies = 0;
  const frame = Buffer.alloc(frameBytes, 2);
  const all: { ws: RawWs; nextAt: number }[] = [];
  let open = 0;
  for (let i = 0; i < sockets; i++) {
    const c = {
      nextAt: 0,
      ws: new RawWs({ host: '127.0.0.1', port, path: '/', localAddress: `127.0.0.${2 + (i % 200)}` }, {
        onOpen: () => { if (++open === sockets) go(); },
        onMessage: () => { floorReplies++; },
        onClose: (why) => send({ t: 'error', message: `floor socket closed: ${why}` }),
      }),
    };
    all.push(c);
  }
  function go(): void {
    const t0 = performance.now() + 20;
    all.forEach((c, i) => { c.nextAt = t0 + (i / sockets) * periodMs; });
    setInterval(() => {
      const now = performance.now();
      for (const c of all) while (c.nextAt <= now) { c.nextAt += periodMs; c.ws.send(frame); }
    }, 1);
    send({ t: 'floor-ready' });
  }
}

process.on('message', (m: ChoirWorkerIn) => {
  switch (m.t) {
    case 'echo': echo(m.replyBytes); break;
    case 'floor': floor(m.port, m.sockets, m.frameBytes, m.periodMs); break;
    case 'start':
      deadlineMs = m.deadlineMs;
      F = m.frameSamples ?? FRAME_SAMPLES;
      PERIOD_MS = F / 48;
      start(m.url, m.singers, m.decodeEvery).catch((err) => send({ t: 'error', message: (err as Error).message }));
      break;
    case 'reset': stats = emptyStats(); loopDelay.reset(); break;
    case 'report': {
      if (floorReplies >= 0) { send({ t: 'floor-stats', replies: floorReplies }); break; }
      // A frame still unanswered the page's lead after it was sent is a mix the page would not play.
      const now = performance.now();
      for (const s of allSingers) {
        for (const at of s.inFlight.values()) {
          if (now - at > MIX_LEAD_MS) stats.lateForLead += s.k;
          if (now - at > deadlineMs) stats.lateForDeadline += s.k;
        }
      }
      const { hist, lag, ...rest } = stats;
      const u = process.cpuUsage();
      send({ t: 'stats', stats: { ...rest, rtt: hist.toJSON(), sendLag: lag.toJSON(), loopDelay: loopDelay.summary() }, cpuSeconds: (u.user + u.system) / 1e6 });
      break;
    }
    case 'exit': process.exit(0);
  }
});
