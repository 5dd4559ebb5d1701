/**
 * One load-generator process of the tracker benchmark (forked by bench/tracker/announce.ts): runs
 * a slice of the simulated WebTorrent peers, each on its own WebSocket: the simulator's minimal
 * client (src/sim/raw-ws.ts, text frames), so the load generator, which shares the machine with the
 * server it measures, stays far cheaper than that server.
 *
 * A peer announces in a closed loop: the next announce leaves when the reply to the previous one
 * has arrived (or, paced, no sooner than 1/rate s after the previous one left). Every announce but
 * `stopped` carries `offers` offers with a full SDP and numwant = offers, as the bittorrent-tracker
 * client sends them. A peer that receives a relayed offer answers it at once (to_peer_id, offer_id),
 * so the server relays answers too; an answer that comes back to the offerer is matched against the
 * offer ids it sent. With churn, a peer now and then sends `stopped` and then `started` again.
 *
 * Counters are cumulative and go to the parent when it asks (once a second); latency histograms
 * restart at the parent's `window` message and go to it at `stop-window`.
 */
import { RawWs } from '../../src/sim/raw-ws.ts';
import { Histogram } from '../lib/histogram.ts';
import { nowMs } from '../lib/proc.ts';
import { emptyCounters, type FromPeerWorker, type LoadSpec, type PeerCounters, type ToPeerWorker } from './messages.ts';
import { announceBytes, answerBytes, binaryId, identityJson, offerParts, peerId, prng, sdp, sdpJsonBytes, type AnnounceEvent } from './wire.ts';

interface Peer {
  index: number;
  url: string;
  localAddress: string | undefined;
  ws: RawWs | null;
  infoHash: string;
  peerId: string;
  identity: string;
  left: number;
  /** An announce of this peer waits for its reply. */
  waiting: boolean;
  sentAt: number;
  /** Whether the last announce sent was `stopped` (the next one is `started` again). */
  stopped: boolean;
  /** Time of the next churn (stopped + started); Infinity without churn. */
  churnAt: number;
  pace: NodeJS.Timeout | null;
  /** offer_id → time the announce carrying it left. */
  offers: Map<string, number>;
}

const SDP_POOL = 64;
/** Unanswered offers a peer remembers, per offer of an announce; older ones count as never answered. */
const MAX_OPEN_OFFERS_PER_K = 64;

const send = (m: FromPeerWorker) => process.send!(m);
const counters: PeerCounters = emptyCounters();
let rtt = new Histogram();
let offerToAnswer = new Histogram();
let spec: LoadSpec;
let peers: Peer[] = [];
let running = false;
let exiting = false;
let rand: () => number;
let offerSdps: Buffer[] = [];
let answerSdps: Buffer[] = [];
/** With several nodes: every peer id of the run → its node, to count relays that crossed nodes. */
let nodeOfPeerId: Map<string, number> | null = null;

function noteError(msg: string): void {
  if (counters.firstErrors.length < 10) counters.firstErrors.push(msg.slice(0, 300));
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Node by index / swarms: consecutive members of a swarm (i, i + S, …) alternate nodes, so with two nodes every swarm spans both and relays cross nodes. */
const nodeOf = (index: number) => Math.floor(index / spec.swarms) % spec.urls.length;

/** Peer i's id and seeder status (and its swarm) are functions of the seed and i only, the same in every run. */
function identityOf(index: number): { r: () => number; seeder: boolean; id: string } {
  const r = prng(spec.seed * 1_000_003 + index);
  const seeder = r() < spec.seederFraction;
  return { r, seeder, id: peerId(r) };
}

function makePeer(index: number): Peer {
  const { r, seeder, id } = identityOf(index);
  const infoHash = binaryId(prng(spec.seed * 7919 + (index % spec.swarms)));
  return {
    index, url: spec.urls[nodeOf(index)],
    localAddress: spec.localAddresses.length ? spec.localAddresses[index % spec.localAddresses.length] : undefined,
    ws: null, infoHash, peerId: id, identity: identityJson(infoHash, id), left: seeder ? 0 : 1 + ((r() * 1e9) | 0),
    waiting: false, sentAt: 0, stopped: false,
    churnAt: spec.churnSeconds > 0 ? nowMs() + spec.churnSeconds * 1000 * (0.5 + r()) : Infinity,
    pace: null, offers: new Map(),
  };
}

/**
 * Sockets corked during this turn of the event loop. A peer that gets several messages in one read
 * (a server that groups per tick) answers them all in the same turn; corking turns those frames
 * into one write system call instead of one each, which keeps the load generator cheap. The
 * server still receives one WebSocket message per answer, as from a browser.
 */
const corked: RawWs[] = [];
function uncorkAll(): void {
  for (const ws of corked) ws.uncork();
  corked.length = 0;
}

/** Sends one message (UTF-8 bytes) as a text frame. */
function transmit(p: Peer, bytes: Buffer): void {
  const ws = p.ws;
  if (!ws || !ws.isOpen) return;
  counters.bytesSent += bytes.length;
  if (ws.cork() && corked.push(ws) === 1) process.nextTick(uncorkAll);
  ws.send(bytes, true);
}

function announce(p: Peer): void {
  if (!running || !p.ws || !p.ws.isOpen) return;
  const now = nowMs();
  let event: AnnounceEvent = null;
  let offers: Buffer[][] | null = null;
  if (!p.stopped && now >= p.churnAt) {
    event = 'stopped';
    p.stopped = true;
    p.churnAt = now + spec.churnSeconds * 1000 * (0.5 + rand());
    counters.stoppedSent++;
  } else {
    if (p.stopped || p.sentAt === 0) event = 'started';
    p.stopped = false;
    offers = [];
    for (let k = 0; k < spec.offers; k++) {
      const id = binaryId(rand);
      p.offers.set(id, now);
      offers.push(offerParts(offerSdps[(rand() * SDP_POOL) | 0], id));
    }
    // Offers nobody answers (swarm smaller than K + 1, targets that left) must not pile up: keep
    // the newest MAX_OPEN_OFFERS_PER_K * K (a Map iterates oldest first).
    while (p.offers.size > MAX_OPEN_OFFERS_PER_K * spec.offers) p.offers.delete(p.offers.keys().next().value as string);
    counters.offersSent += offers.length;
  }
  p.waiting = true;
  p.sentAt = now;
  counters.announcesSent++;
  transmit(p, announceBytes(p.identity, p.left, event, offers));
}

/** After a reply (or a timeout): the next announce now, or when the pace allows. */
function next(p: Peer): void {
  if (spec.ratePerPeer <= 0) { announce(p); return; }
  const due = p.sentAt + 1000 / spec.ratePerPeer - nowMs();
  if (due <= 0) announce(p);
  else p.pace = setTimeout(() => { p.pace = null; announce(p); }, due);
}

interface TrackerMessage {
  action?: unknown;
  'failure reason'?: unknown;
  info_hash?: unknown;
  peer_id?: unknown;
  offer?: unknown;
  offer_id?: unknown;
  answer?: unknown;
  complete?: unknown;
  incomplete?: unknown;
  interval?: unknown;
}

// The load generator reads what it needs from a message's bytes instead of JSON.parse-ing all of
// it (an offer is ~600 bytes of SDP the peer never looks at): the generator shares the machine
// with the server it measures, and parsing every byte made it the bottleneck. A key pattern such
// as `"offer_id":` cannot occur inside a JSON string (every quote in one is escaped), so finding
// it finds the key, whatever order a server writes its keys in. One message in FULL_CHECK_EVERY is
// still JSON.parse-d whole and compared with what was read (a mismatch counts as malformed).
const FULL_CHECK_EVERY = 64;
const KEY = (k: string) => Buffer.from(`"${k}":`);
const K_FAILURE = KEY('failure reason');
const K_ACTION = KEY('action');
const K_INFO = KEY('info_hash');
const K_PEER = KEY('peer_id');
const K_OFFER = KEY('offer');
const K_OFFER_ID = KEY('offer_id');
const K_ANSWER = KEY('answer');
const K_COMPLETE = KEY('complete');
const K_INCOMPLETE = KEY('incomplete');
const K_INTERVAL = KEY('interval');
let messagesSeen = 0;

/**
 * Where the value of `key` starts (whitespace skipped), or -1. `last`: searched from the end —
 * the ids follow the SDP in both servers' relays, so that finds them without scanning it.
 */
function valueAt(data: Buffer, key: Buffer, last = false): number {
  const i = last ? data.lastIndexOf(key) : data.indexOf(key);
  if (i < 0) return -1;
  let p = i + key.length;
  while (p < data.length && (data[p] === 0x20 || data[p] === 0x0a || data[p] === 0x0d || data[p] === 0x09)) p++;
  return p < data.length ? p : -1;
}

/** The JSON string value of `key` (JSON.parse of just that string), undefined when absent or not a string. */
function stringOf(data: Buffer, key: Buffer, last = false): string | undefined {
  const p = valueAt(data, key, last);
  if (p < 0 || data[p] !== 0x22) return undefined;
  let q = p + 1;
  let plain = true;
  while (q < data.length && data[q] !== 0x22) {
    if (data[q] === 0x5c) { q++; plain = false; } else if (data[q] >= 0x80) plain = false;
    q++;
  }
  if (q >= data.length) return undefined;
  if (plain) return data.toString('latin1', p + 1, q);
  return decodeId(data, p + 1, q) ?? JSON.parse(data.toString('utf8', p, q + 1)) as string;
}

const units = new Uint16Array(20);

/** A hex digit's value, or 16 for anything else. */
function hex(c: number): number {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : 16;
}
const ESCAPED: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9 };

/**
 * A 20-character binary id (every character below U+0100) from the bytes of its JSON string
 * between the quotes; undefined for anything else (the caller falls back to JSON.parse). Most ids
 * hold escapes and two-byte UTF-8, and decoding them here instead of toString + JSON.parse was a
 * tenth of the load generator's time.
 */
function decodeId(data: Buffer, start: number, end: number): string | undefined {
  let n = 0;
  for (let i = start; i < end;) {
    const c = data[i];
    let u: number;
    if (c === 0x5c) {
      const x = data[i + 1];
      if (x === 0x75) {
        const h0 = hex(data[i + 2]), h1 = hex(data[i + 3]), h2 = hex(data[i + 4]), h3 = hex(data[i + 5]);
        if ((h0 | h1 | h2 | h3) > 15) return undefined;
        u = (h0 << 12) | (h1 << 8) | (h2 << 4) | h3;
        i += 6;
      } else {
        const e = ESCAPED[x];
        if (e === undefined) return undefined;
        u = e;
        i += 2;
      }
    } else if (c < 0x80) {
      u = c;
      i++;
    } else if ((c & 0xe0) === 0xc0 && i + 1 < end && (data[i + 1] & 0xc0) === 0x80) {
      u = ((c & 0x1f) << 6) | (data[i + 1] & 0x3f);
      i += 2;
    } else {
      return undefined;
    }
    if (n === 20 || u > 0xff) return undefined;
    units[n++] = u;
  }
  if (n !== 20) return undefined;
  const a = units;
  return String.fromCharCode(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19]);
}

/** A non-negative integer value of `key`, or undefined. */
function intOf(data: Buffer, key: Buffer): number | undefined {
  let p = valueAt(data, key);
  if (p < 0 || data[p] < 0x30 || data[p] > 0x39) return undefined;
  let n = 0;
  while (p < data.length && data[p] >= 0x30 && data[p] <= 0x39) n = n * 10 + data[p++] - 0x30;
  return n;
}

/** What onMessage needs of a message, read from its bytes; `undefined` fields are absent. */
function readFast(data: Buffer): TrackerMessage {
  // Relays first (most messages): their kind is near the start, their ids at the end.
  const offer = valueAt(data, K_OFFER) >= 0;
  if (offer || valueAt(data, K_ANSWER) >= 0) {
    const m: TrackerMessage = { action: stringOf(data, K_ACTION), info_hash: stringOf(data, K_INFO, true), peer_id: stringOf(data, K_PEER, true), offer_id: stringOf(data, K_OFFER_ID, true) };
    if (offer) m.offer = true;
    else m.answer = true;
    return m;
  }
  const failure = valueAt(data, K_FAILURE);
  if (failure >= 0) return { 'failure reason': stringOf(data, K_FAILURE) ?? data.toString('utf8', failure, failure + 100) };
  return {
    action: stringOf(data, K_ACTION), info_hash: stringOf(data, K_INFO),
    complete: intOf(data, K_COMPLETE), incomplete: intOf(data, K_INCOMPLETE), interval: intOf(data, K_INTERVAL),
  };
}

/** The fields readFast reads, from JSON.parse's value, for the sampled cross-check. */
function sameAsFull(fast: TrackerMessage, full: TrackerMessage): boolean {
  if ('failure reason' in fast) return full['failure reason'] !== undefined;
  if (fast.action !== full.action || fast.info_hash !== full.info_hash) return false;
  if (fast.offer !== undefined || fast.answer !== undefined) {
    return (fast.offer !== undefined) === (full.offer !== undefined) && fast.peer_id === full.peer_id && fast.offer_id === full.offer_id;
  }
  const num = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
  return fast.complete === num(full.complete) && fast.incomplete === num(full.incomplete) && fast.interval === num(full.interval);
}

function onMessage(p: Peer, data: Buffer): void {
  counters.messagesReceived++;
  counters.bytesReceived += data.length;
  const m = readFast(data);
  if (++messagesSeen % FULL_CHECK_EVERY === 0) {
    let full: TrackerMessage | null = null;
    try {
      full = JSON.parse(data.toString('utf8')) as TrackerMessage;
    } catch { /* counted below */ }
    if (typeof full !== 'object' || full === null || !sameAsFull(m, full)) {
      counters.malformed++;
      noteError(`not JSON, or not what the byte reader read: ${data.toString('utf8', 0, 120)}`);
      return;
    }
  }
  const failure = m['failure reason'];
  if (failure !== undefined) {
    // Not the end of a round trip: the failure may be about an answer, not the announce waiting.
    // An announce refused outright ends as a timeout (replyTimeoutMs) instead.
    bump(counters.failures, String(failure));
    return;
  }
  if (m.action !== 'announce') {
    counters.malformed++;
    noteError(`unexpected action: ${data.toString('utf8', 0, 200)}`);
    return;
  }
  if (m.info_hash !== p.infoHash) {
    counters.misrouted++;
    noteError('message for another info_hash');
    return;
  }
  if (m.offer !== undefined) {
    counters.offersReceived++;
    if (typeof m.peer_id !== 'string' || typeof m.offer_id !== 'string' || m.peer_id.length !== 20 || m.offer_id.length !== 20) {
      counters.malformed++;
      noteError(`offer without peer_id/offer_id: ${data.toString('utf8', 0, 200)}`);
      return;
    }
    if (m.peer_id === p.peerId) { counters.misrouted++; noteError('own offer relayed back'); return; }
    // A peer that has announced `stopped` has left the swarm (a real client has destroyed its
    // tracker by then): offers still in flight to it go unanswered.
    if (p.stopped) { counters.offersIgnoredStopped++; return; }
    if (nodeOfPeerId && nodeOfPeerId.get(m.peer_id) !== nodeOf(p.index)) counters.crossNodeOffers++;
    counters.answersSent++;
    transmit(p, answerBytes(p.identity, JSON.stringify(m.peer_id), JSON.stringify(m.offer_id), answerSdps[(rand() * SDP_POOL) | 0]));
    return;
  }
  if (m.answer !== undefined) {
    counters.answersReceived++;
    const sentAt = typeof m.offer_id === 'string' ? p.offers.get(m.offer_id) : undefined;
    if (sentAt === undefined) { counters.misrouted++; noteError('answer to an offer_id this peer did not send (or already answered)'); return; }
    p.offers.delete(m.offer_id as string);
    counters.answersMatched++;
    if (nodeOfPeerId && nodeOfPeerId.get(m.peer_id as string) !== nodeOf(p.index)) counters.crossNodeAnswers++;
    offerToAnswer.record(nowMs() - sentAt);
    return;
  }
  if (m.complete !== undefined || m.incomplete !== undefined || m.interval !== undefined) {
    counters.announceResponses++;
    if (typeof m.complete === 'number') counters.completeSum += m.complete;
    if (typeof m.incomplete === 'number') counters.incompleteSum += m.incomplete;
    if (!p.waiting) { counters.unsolicitedResponses++; return; }
    p.waiting = false;
    rtt.record(nowMs() - p.sentAt);
    next(p);
    return;
  }
  counters.malformed++;
  noteError(`announce message of no known shape: ${data.toString('utf8', 0, 200)}`);
}

function open(p: Peer, retry: boolean): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(p.url);
    let opened = false;
    const ws: RawWs = new RawWs({ host: url.hostname, port: Number(url.port), path: url.pathname, localAddress: p.localAddress, handshakeTimeoutMs: 20_000 }, {
      onOpen: () => {
        opened = true;
        p.ws = ws;
        counters.open++;
        resolve();
      },
      onMessage: (data) => onMessage(p, data),
      onClose: (reason) => {
        // RawWs says "closed with <code>" for a close frame; anything else is a dropped connection.
        const code = /^closed with (\d+)$/.exec(reason)?.[1] ?? '1006';
        if (!opened) {
          if (retry) { setTimeout(() => void open(p, false).then(resolve), 200); return; }
          counters.connectFailures++;
          noteError(`connect to ${p.url} failed (${reason})`);
          resolve();
          return;
        }
        counters.open--;
        p.ws = null;
        if (p.pace) clearTimeout(p.pace);
        if (!exiting) { counters.closedByServer++; bump(counters.closeCodes, code); }
      },
    });
  });
}

async function connectAll(): Promise<void> {
  rand = prng(spec.seed * 31 + spec.firstPeer);
  const sdpRand = prng(spec.seed * 131 + spec.firstPeer);
  offerSdps = Array.from({ length: SDP_POOL }, () => sdpJsonBytes(sdp(sdpRand, 'offer')));
  answerSdps = Array.from({ length: SDP_POOL }, () => sdpJsonBytes(sdp(sdpRand, 'answer')));
  peers = Array.from({ length: spec.peers }, (_, i) => makePeer(spec.firstPeer + i));
  if (spec.urls.length > 1) {
    nodeOfPeerId = new Map();
    for (let i = 0; i < spec.totalPeers; i++) nodeOfPeerId.set(identityOf(i).id, nodeOf(i));
  }
  let nextPeer = 0;
  const lane = async () => {
    while (nextPeer < peers.length) await open(peers[nextPeer++], true);
  };
  await Promise.all(Array.from({ length: Math.max(1, spec.connectConcurrency) }, lane));
}

/** Announces that got no reply in time end their round trip as timeouts; old unanswered offers are forgotten. */
function sweep(): void {
  const now = nowMs();
  for (const p of peers) {
    if (p.waiting && now - p.sentAt > spec.replyTimeoutMs) {
      counters.announceTimeouts++;
      p.waiting = false;
      next(p);
    }
    // Oldest first: stop at the first offer young enough to be answered still.
    for (const [id, at] of p.offers) { if (now - at <= 60_000) break; p.offers.delete(id); }
  }
}

process.on('message', (msg: ToPeerWorker) => {
  switch (msg.t) {
    case 'connect':
      spec = msg.spec;
      connectAll().then(
        () => send({ t: 'connected', pid: process.pid, counters }),
        (err: Error) => send({ t: 'error', pid: process.pid, message: err.stack ?? err.message }),
      );
      break;
    case 'go':
      running = true;
      // Spread the first announces over the first ~100 ms rather than one burst.
      peers.forEach((p, i) => setTimeout(() => announce(p), (i * 100) / peers.length));
      setInterval(sweep, 500).unref();
      break;
    case 'sample':
      send({ t: 'counters', pid: process.pid, at: nowMs(), counters });
      break;
    case 'window':
      rtt = new Histogram();
      offerToAnswer = new Histogram();
      send({ t: 'counters', pid: process.pid, at: nowMs(), counters });
      break;
    case 'stop-window':
      send({ t: 'counters', pid: process.pid, at: nowMs(), counters, announceRtt: rtt.toJSON(), offerToAnswer: offerToAnswer.toJSON() });
      break;
    case 'exit':
      exiting = true;
      running = false;
      for (const p of peers) p.ws?.reset(); // a reset: no TIME_WAIT left on the source ports for the next round
      setTimeout(() => process.exit(0), 50);
      break;
  }
});

process.on('disconnect', () => process.exit(0));
