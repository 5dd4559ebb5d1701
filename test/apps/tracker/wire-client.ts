/**
 * A websocket-tracker client for tests that sends exactly the JSON the unmodified
 * bittorrent-tracker client sends (lib/client/websocket-tracker.js, v11): the same fields, the
 * same binary-string ids, the same text frames. (The real client cannot load in Node here: its
 * WebRTC dependency needs node-datachannel; the Chromium tests drive the real one.)
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';

export type Json = Record<string, any>;

/** A random 20-byte id as the client sends it: a 20-character latin1 "binary string". */
export function binaryId(): string {
  return randomBytes(20).toString('latin1');
}

export function hex(bin: string): string {
  return Buffer.from(bin, 'latin1').toString('hex');
}

/** An SDP offer/answer object as simple-peer signals it (non-trickle). */
export function sdp(type: 'offer' | 'answer', tag = randomBytes(4).toString('hex')): Json {
  return { type, sdp: `v=0\r\no=- ${tag} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n` };
}

export class WireClient {
  readonly received: Json[] = [];
  /** Text of messages that were not JSON (should never happen). */
  readonly garbage: string[] = [];
  private waiters: { pred: (m: Json) => boolean; resolve: (m: Json) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let msg: Json;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        this.garbage.push(data.toString());
        return;
      }
      const i = this.waiters.findIndex((w) => w.pred(msg));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(msg);
      else this.received.push(msg);
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static connect(url: string): Promise<WireClient> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WireClient(ws)));
      ws.once('error', reject);
    });
  }

  send(msg: Json): void {
    this.ws.send(JSON.stringify(msg));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The first message (already received or still to come) that matches. */
  next(pred: (m: Json) => boolean = () => true, timeoutMs = 10_000): Promise<Json> {
    const i = this.received.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (m: Json) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching message within ${timeoutMs} ms; received: ${JSON.stringify(this.received).slice(0, 2000)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** One torrent of one client: what bittorrent-tracker's WebSocketTracker sends for it. */
export class WirePeer {
  readonly peerId: string;
  /** offer_id (binary) → the offer we sent, as the client keeps `this.peers[offerId]`. */
  readonly offersSent = new Map<string, Json>();

  constructor(readonly client: WireClient, readonly infoHash: string, peerId = binaryId()) {
    this.peerId = peerId;
  }

  /**
   * announce(opts): `Object.assign({}, opts, {action, info_hash, peer_id})`, and for events other
   * than stopped/completed `numwant = min(opts.numwant, 5)` offers with that numwant.
   */
  announce(opts: { event?: string; numwant?: number; left?: number; offers?: number } = {}): Json[] {
    const params: Json = { numwant: opts.numwant ?? 50, uploaded: 0, downloaded: 0 };
    if (opts.event !== undefined) params.event = opts.event;
    if (opts.left !== undefined) params.left = opts.left;
    Object.assign(params, { action: 'announce', info_hash: this.infoHash, peer_id: this.peerId });
    const offers: Json[] = [];
    if (opts.event !== 'stopped' && opts.event !== 'completed') {
      const numwant = Math.min(opts.offers ?? params.numwant, 5);
      for (let i = 0; i < numwant; i++) {
        const offerId = randomBytes(20).toString('latin1');
        const offer = sdp('offer');
        this.offersSent.set(offerId, offer);
        offers.push({ offer, offer_id: offerId });
      }
      params.numwant = numwant;
      params.offers = offers;
    }
    this.client.send(params);
    return offers;
  }

  /** The reply to our own announce (the client matches it by info_hash and `complete`). */
  reply(timeoutMs?: number): Promise<Json> {
    return this.client.next((m) => m.action === 'announce' && m.info_hash === this.infoHash && m.complete !== undefined, timeoutMs);
  }

  /** An offer relayed to us in this torrent. */
  offer(timeoutMs?: number, from?: string): Promise<Json> {
    return this.client.next((m) => m.action === 'announce' && m.info_hash === this.infoHash && m.offer !== undefined && (from === undefined || m.peer_id === from), timeoutMs);
  }

  /** An answer relayed to us in this torrent. */
  answer(timeoutMs?: number): Promise<Json> {
    return this.client.next((m) => m.action === 'announce' && m.info_hash === this.infoHash && m.answer !== undefined, timeoutMs);
  }

  /** The client's answer to an offer: `{action, info_hash, peer_id, to_peer_id, answer, offer_id}`. */
  sendAnswer(offerMsg: Json, answer: Json = sdp('answer')): void {
    this.client.send({ action: 'announce', info_hash: this.infoHash, peer_id: this.peerId, to_peer_id: offerMsg.peer_id, answer, offer_id: offerMsg.offer_id });
  }

  /** A failure for this torrent. */
  failure(timeoutMs?: number): Promise<Json> {
    return this.client.next((m) => m['failure reason'] !== undefined && (m.info_hash === undefined || m.info_hash === this.infoHash), timeoutMs);
  }
}

/** scrape(opts): `{action: 'scrape', info_hash: <binary or array of binary>}`. */
export function scrape(client: WireClient, infoHash?: string | string[]): Promise<Json> {
  const msg: Json = { action: 'scrape' };
  if (infoHash !== undefined) msg.info_hash = infoHash;
  client.send(msg);
  return client.next((m) => m.action === 'scrape' && m['failure reason'] === undefined);
}

