/**
 * The tracker node: WebTorrent's websocket-tracker protocol (as bittorrent-tracker serves it),
 * with swarms kept as expiring membership in the engine and relays to peers of other nodes sent
 * through the engine's direct messages, so peers on different nodes sharing one Redis find each
 * other.
 *
 * Everything is grouped per tick (trackerTickMs, run by the core: AppCore.tick), the lesson of the
 * seed (streamroot's tracker):
 * - the announces of one swarm within a tick share one membership read;
 * - everything bound for one other node within a tick travels as ONE direct message;
 * - everything bound for one local socket within a tick is written in one write (core/outbox.ts);
 * - trickle candidates (extension) from one peer to one peer within a tick become one message.
 * Answers and signals need no shared read: the answering peer's node remembers which node the
 * offer came from (peer.ts links), so it routes the answer straight there.
 */
import { randomBytes } from 'node:crypto';
import type client from 'prom-client';
import { newOutboxCounters, type CoreStats, type DirectMessages, type FrameSocket, type Logger, type Membership, type TickHandle } from '../../core/index.ts';
import { RateWindow } from '../../util/metrics.ts';
import { CloseCodes } from '../../protocol/index.ts';
import { failure, failureText, type TrackerFailure } from './failures.ts';
import { hexToBin, idJson } from './ids.ts';
import { RawJson } from './json-bytes.ts';
import { EMPTY_SWARM, NODES_SET, SWARMS_SET, nodeAddress, peerMember, sameMembers, swarmSet, swarmView, type SwarmView } from './members.ts';
import type { TrackerOptions } from './options.ts';
import { parseMessageBytes, type AnnounceRequest, type AnswerRequest, type ParseLimits, type ScrapeRequest, type SignalRequest } from './parse.ts';
import { PeerLinks, pickTargets, type LocalPeer, type PeerSocket } from './peer.ts';
import { decodeRelay, encodeRelay, type RelayItem } from './relay.ts';
import { TrackerSocket } from './socket.ts';
import { bump, newTrackerStats, registerTrackerMetrics, type TrackerStats } from './stats.ts';

/** The engine abilities the tracker uses: shared swarms (membership) and relays between nodes (direct messages). */
export type TrackerEngine = DirectMessages & Membership;

export interface TrackerDeps {
  /** Swarms and node records: expiring members shared by every node of the engine. */
  membership: Membership;
  /** Relays to peers held by other nodes. */
  direct: DirectMessages;
  /** The node's core counters: tracker sockets count in connections and messages in/out too. */
  coreStats: CoreStats;
  logger: Logger;
  /** A socket with more unsent bytes than this gets no more relays until it drains, bytes. */
  maxBufferedBytes: number;
  /** Fixed node id (tests); random by default. */
  nodeId?: string;
  /** The node's prom-client registry (/metrics): the tracker's metrics are added to it. */
  registry?: client.Registry;
}

/** What each node publishes about itself for /api/tracker (see status.ts). */
export interface NodeStats {
  nodeId: string;
  connections: number;
  peers: number;
  swarms: number;
  connectsPerSecond: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  /** ms since the epoch when the record was made. */
  at: number;
}

interface PendingAnnounce {
  socket: PeerSocket;
  req: AnnounceRequest;
  /** The peer once applied (its cached JSON ids build the reply and the offers). */
  peer?: LocalPeer;
  /** Set while applying: refused at the tick (too many peers on the socket). */
  refused?: TrackerFailure;
}

interface PendingSignal {
  nodeId: string;
  item: Extract<RelayItem, { k: 'c' }>;
}

// Fixed pieces of the messages the tracker sends, as bytes (socket.ts assembles them per tick).
const OFFER_HEAD = Buffer.from('{"action":"announce","offer":');
const ANSWER_HEAD = Buffer.from('{"action":"announce","answer":');
const OFFER_ID_KEY = Buffer.from(',"offer_id":');
const PEER_ID_KEY = Buffer.from(',"peer_id":');
const INFO_HASH_KEY = Buffer.from(',"info_hash":');
const COMPLETE_KEY = Buffer.from(',"complete":');
const INCOMPLETE_KEY = Buffer.from(',"incomplete":');
const CLOSE = Buffer.from('}');

/** How often each node re-publishes its stats record, ms; the record lives three times as long. */
export const NODE_STATS_INTERVAL_MS = 2000;

export class Tracker {
  readonly nodeId: string;
  readonly stats: TrackerStats = newTrackerStats();
  /** infoHex → peerHex → peer held by this node. */
  private readonly swarms = new Map<string, Map<string, LocalPeer>>();
  private localPeers = 0;
  /** When this node last refreshed each of its swarms in the shared index (SWARMS_SET). */
  private readonly indexRefreshedAt = new Map<string, number>();
  /** The last read of each swarm this node holds peers of, and its view (reused while unchanged). */
  private readonly lastReads = new Map<string, { members: readonly string[]; view: SwarmView }>();
  private readonly limits: ParseLimits;

  private pendingAnnounces = new Map<string, PendingAnnounce[]>();
  private pendingScrapes: { socket: PeerSocket; req: ScrapeRequest }[] = [];
  private pendingSignals = new Map<string, PendingSignal>();
  private remoteOutbox = new Map<string, RelayItem[]>();
  /** Sockets with messages for this tick's flush (each once: TrackerSocket.dirty). */
  private dirtySockets: PeerSocket[] = [];

  /** What every socket's outbox sent and dropped (read after each flush into the stats). */
  private readonly outCounters = newOutboxCounters();
  private stopped = false;
  /** The core's on-demand tick: woken by every piece of work (until start, nothing runs it). */
  private tickTimer: TickHandle = { wake() {} };
  /** Engine writes not tied to a tick (leaves on close, stats records): awaited by stop(). */
  private readonly inflight = new Set<Promise<unknown>>();
  private stopReceiving: (() => void) | null = null;
  private statsMember = '';
  private readonly rates: RateWindow<'connects' | 'messagesIn' | 'messagesOut'>;
  /** `{"action":"announce","interval":N,"info_hash":` — every announce reply starts so. */
  private readonly replyHead: Buffer;

  constructor(private readonly options: TrackerOptions, private readonly deps: TrackerDeps) {
    this.nodeId = deps.nodeId ?? randomBytes(6).toString('hex');
    this.limits = {
      maxOffers: options.trackerMaxOffers,
      maxNumwant: options.trackerMaxNumwant,
      maxScrapeHashes: options.trackerMaxScrapeHashes,
      maxCandidates: options.trackerMaxCandidates,
      trickle: options.trackerTrickle,
    };
    this.replyHead = Buffer.from(`{"action":"announce","interval":${Math.ceil(options.trackerIntervalMs / 1000)},"info_hash":`);
    this.rates = new RateWindow(10, {
      connects: () => this.stats.connectsTotal,
      messagesIn: () => this.stats.messagesIn,
      messagesOut: () => this.stats.messagesOut,
    });
    if (deps.registry) registerTrackerMetrics(deps.registry, this.stats, () => this.local());
  }

  /** The shared membership (swarms, node records), for the status view. */
  get membership(): Membership {
    return this.deps.membership;
  }

  /**
   * Starts receiving relays from other nodes and publishes this node's stats record. The core
   * runs the ticks (app.ts registers them with AppCore.tick): `tick` at most trackerTickMs after
   * it is woken (`tickTimer`, on demand), and `publishStats` every NODE_STATS_INTERVAL_MS.
   */
  start(tickTimer: TickHandle): void {
    this.tickTimer = tickTimer;
    this.stopReceiving = this.deps.direct.receive(nodeAddress(this.nodeId), (bytes) => this.onRelay(bytes));
    this.publishStats();
  }

  /**
   * Stops receiving, and removes this node's stats record. Call after the core has stopped this
   * app's ticks (AppHost.stop awaits a running one) and the gateway has closed the clients (their
   * peers leave their swarms then), and before the engine closes.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.rates.stop();
    this.stopReceiving?.();
    if (this.statsMember) this.track(this.deps.membership.leave(NODES_SET, this.statsMember));
    await Promise.allSettled([...this.inflight]);
  }

  /** Local counts (for metrics and the stats record). */
  local(): { swarms: number; peers: number } {
    return { swarms: this.swarms.size, peers: this.localPeers };
  }

  nodeStats(): NodeStats {
    return {
      nodeId: this.nodeId,
      connections: this.stats.connections,
      peers: this.localPeers,
      swarms: this.swarms.size,
      connectsPerSecond: round(this.rates.perSecond('connects')),
      messagesInPerSecond: round(this.rates.perSecond('messagesIn')),
      messagesOutPerSecond: round(this.rates.perSecond('messagesOut')),
      at: Date.now(),
    };
  }

  // ---------------------------------------------------------------- connections

  /** The core hands over each upgraded socket of /announce and /. */
  onConnection(ws: FrameSocket): void {
    const socket = new TrackerSocket<LocalPeer>(ws, ws.ip, this.outCounters);
    this.stats.connections++;
    this.stats.connectsTotal++;
    this.deps.coreStats.connections++;
    this.deps.coreStats.connectsTotal++;
    ws.handler = {
      onMessage: (data, isBinary) => this.onMessage(socket, data, isBinary),
      onClose: () => this.onClose(socket),
      onProtocolError: (code) => {
        // The socket's reader closes by itself (1002, 1007, 1009); counted with the rest.
        bump(this.stats.failures, code === 1009 ? 'too_big' : code === 1007 ? 'bad_utf8' : 'bad_frame');
        bump(this.stats.closes, code);
      },
    };
  }

  private onClose(socket: PeerSocket): void {
    if (socket.closed) return;
    socket.closed = true;
    socket.discard();
    this.stats.connections--;
    this.deps.coreStats.connections--;
    // A closed socket's peers leave at once (their announces still queued are skipped by the tick).
    for (const peer of [...socket.peers.values()]) {
      this.track(this.removePeer(peer));
    }
  }

  private onMessage(socket: PeerSocket, bytes: Buffer, isBinary: boolean): void {
    if (socket.closed) return;
    this.stats.messagesIn++;
    this.deps.coreStats.messagesIn++;
    const now = Date.now();
    if (now - socket.windowStartMs >= 1000) { socket.windowStartMs = now; socket.windowCount = 0; }
    const limit = this.options.trackerMaxMessagesPerSecond;
    if (limit > 0 && ++socket.windowCount > limit) {
      bump(this.stats.failures, 'rate_limited');
      if (socket.windowCount > limit * 10) return this.closeSocket(socket, CloseCodes.FLOODING, 'message rate far over the limit');
      // Told once per window; the rest of the window's messages are dropped silently.
      if (socket.windowCount === limit + 1) {
        this.queue(socket, failureText(failure('rate_limited', `more than ${limit} messages/s on one connection; messages dropped until the next second`)));
      }
      return;
    }
    const req = parseMessageBytes(bytes, isBinary, this.limits, socket.ids);
    if ('reason' in req) return this.refuse(socket, req);
    switch (req.kind) {
      case 'announce': return this.onAnnounce(socket, req);
      case 'answer': return this.onAnswer(socket, req);
      case 'signal': return this.onSignal(socket, req);
      case 'scrape':
        this.pendingScrapes.push({ socket, req });
        return this.tickTimer.wake();
    }
  }

  /**
   * Replies with a failure, counts it, and closes the socket past the error limit (4400). Our own
   * trouble (the store unreachable) is not held against the client.
   */
  private refuse(socket: PeerSocket, f: TrackerFailure): void {
    bump(this.stats.failures, f.reason);
    this.queue(socket, failureText(f));
    if (f.reason === 'unavailable') return;
    const now = Date.now();
    if (now - socket.errorWindowStartMs >= 60_000) { socket.errorWindowStartMs = now; socket.errors = 0; }
    if (++socket.errors > this.options.trackerMaxErrors) this.closeSocket(socket, CloseCodes.PROTOCOL_ERRORS, 'too many refused messages');
  }

  private closeSocket(socket: PeerSocket, code: number, reason: string): void {
    if (socket.closed) return;
    bump(this.stats.closes, code);
    // The failure that explains the close goes first (unless the socket is over the byte limit).
    this.flushSockets([socket]);
    socket.ws.close(code, reason);
    this.onClose(socket);
  }

  private onAnnounce(socket: PeerSocket, req: AnnounceRequest): void {
    this.stats.announces++;
    let list = this.pendingAnnounces.get(req.infoHex);
    if (!list) this.pendingAnnounces.set(req.infoHex, (list = []));
    // Every field from the start: one object shape, no property added later.
    list.push({ socket, req, peer: undefined, refused: undefined });
    this.tickTimer.wake();
  }

  /** An answer goes to the node the offer came from, as this peer's link to the offerer says. */
  private onAnswer(socket: PeerSocket, req: AnswerRequest): void {
    const peer = socket.peerOf(req.infoHex, req.peerHex);
    if (!peer) return this.refuse(socket, failure('not_announced', 'answer from a peer_id that has not announced this info_hash on this connection', 'announce', req.infoHash));
    const link = peer.links.find(req.toPeerHex, req.offerId);
    if (link < 0 || peer.links.answered(link)) {
      return this.refuse(socket, link < 0 && peer.links.knows(req.toPeerHex)
        ? failure('unknown_offer', 'no offer with that offer_id was relayed to you from to_peer_id (or it is too old)', 'announce', req.infoHash)
        : link >= 0 ? failure('unknown_offer', 'that offer_id was already answered', 'announce', req.infoHash)
          : failure('unknown_peer', 'no offer from to_peer_id was relayed to you (unknown peer, or too old)', 'announce', req.infoHash));
    }
    peer.links.markAnswered(link);
    const linkNode = peer.links.nodeId(link);
    this.stats.answers++;
    if (linkNode === this.nodeId) {
      this.stats.answersRelayedLocal++;
      this.deliverSdp('a', req.infoHex, req.toPeerHex, req.peerHex, req.offerId, req.answer, peer.peerIdJson, this.nodeId);
    } else {
      this.stats.answersRelayedRemote++;
      this.toNode(linkNode, { k: 'a', h: req.infoHex, p: req.toPeerHex, f: req.peerHex, o: req.offerId, x: req.answer });
    }
    this.tickTimer.wake();
  }

  /** Trickle extension: candidates for the other end of a link, merged per target per tick. */
  private onSignal(socket: PeerSocket, req: SignalRequest): void {
    const peer = socket.peerOf(req.infoHex, req.peerHex);
    if (!peer) return this.refuse(socket, failure('not_announced', 'signal from a peer_id that has not announced this info_hash on this connection', 'signal', req.infoHash));
    const link = peer.links.find(req.toPeerHex, req.offerId);
    if (link < 0) {
      return this.refuse(socket, peer.links.knows(req.toPeerHex)
        ? failure('unknown_offer', 'no offer or answer with that offer_id was exchanged with to_peer_id', 'signal', req.infoHash)
        : failure('unknown_peer', 'no offer or answer was exchanged with to_peer_id', 'signal', req.infoHash));
    }
    this.stats.signals++;
    const key = `${req.infoHex}${req.toPeerHex}${req.peerHex}${req.offerId}`;
    const pending = this.pendingSignals.get(key);
    if (pending) {
      for (const c of req.candidates) pending.item.c.push(c);
    } else {
      this.pendingSignals.set(key, { nodeId: peer.links.nodeId(link), item: { k: 'c', h: req.infoHex, p: req.toPeerHex, f: req.peerHex, o: req.offerId, c: [...req.candidates] } });
    }
    this.tickTimer.wake();
  }

  // ---------------------------------------------------------------- relays

  /** Sends an item to the node holding its target: queued locally, or into that node's group. */
  private route(nodeId: string, item: RelayItem): void {
    if (nodeId === this.nodeId) return this.deliver(item, this.nodeId);
    this.toNode(nodeId, item);
  }

  /** Into the group for another node (one direct message per node per tick). */
  private toNode(nodeId: string, item: RelayItem): void {
    let items = this.remoteOutbox.get(nodeId);
    if (!items) this.remoteOutbox.set(nodeId, (items = []));
    items.push(item);
  }

  /**
   * A relay item for a peer of this node (from this node or, via onRelay, from `fromNode`): its
   * message is queued as pieces — fixed keys, the SDP's bytes as the sender's client wrote them,
   * the ids' cached JSON — and assembled into the socket's frames at the flush.
   */
  private deliver(item: RelayItem, fromNode: string): void {
    const peer = this.swarms.get(item.h)?.get(item.p);
    if (!peer || peer.socket.closed) {
      bump(this.stats.dropped, 'gone');
      return;
    }
    const socket = peer.socket;
    if (item.k === 'c') {
      this.queue(socket, JSON.stringify({ action: 'signal', info_hash: peer.infoHash, peer_id: hexToBin(item.f), offer_id: item.o, candidates: item.c }));
      return;
    }
    this.deliverSdp(item.k, item.h, item.p, item.f, item.o, item.x, undefined, fromNode, peer);
  }

  /**
   * An offer ('o') or answer ('a') for peer `p` of swarm `h` from peer `f`: queued as pieces —
   * fixed keys, the SDP's bytes as the sender's client wrote them, the ids written from their
   * strings or the sender's cached JSON (`fj`) — and assembled into frames at the flush. Local
   * relays come here directly, without an item object.
   */
  private deliverSdp(k: 'o' | 'a', h: string, p: string, f: string, o: string, x: object, fj: Buffer | undefined, fromNode: string, target?: LocalPeer): void {
    const peer = target ?? this.swarms.get(h)?.get(p);
    if (!peer || peer.socket.closed) {
      bump(this.stats.dropped, 'gone');
      return;
    }
    const socket = peer.socket;
    // An offer: the target may answer it. An answer: the offerer learns where the answerer is,
    // for the trickle extension's signals back (without the extension nothing would read it).
    if (k === 'o') peer.links.remember(f, o, fromNode, false);
    else if (this.options.trackerTrickle) peer.links.remember(f, o, fromNode, true);
    socket.add(k === 'o' ? OFFER_HEAD : ANSWER_HEAD);
    socket.add(x instanceof RawJson ? x : Buffer.from(JSON.stringify(x), 'utf8'));
    socket.add(OFFER_ID_KEY);
    socket.add(o);
    socket.add(PEER_ID_KEY);
    socket.add(fj ?? hexToBin(f));
    socket.add(INFO_HASH_KEY);
    socket.add(peer.infoHashJson);
    socket.add(CLOSE);
    socket.end();
    this.dirty(socket);
  }

  /** One direct message from another node: this tick's relays for peers of this node. */
  private onRelay(bytes: Uint8Array): void {
    const msg = decodeRelay(bytes);
    if (!msg || this.stopped) return;
    this.stats.directMessagesReceived++;
    this.stats.relayItemsReceived += msg.i.length;
    for (const item of msg.i) this.deliver(item, msg.n);
    this.tickTimer.wake();
  }

  private queue(socket: PeerSocket, text: string): void {
    if (socket.closed) return;
    socket.pushText(text);
    this.dirty(socket);
  }

  /** The socket has messages for this tick's flush. */
  private dirty(socket: PeerSocket): void {
    if (socket.dirty) return;
    socket.dirty = true;
    this.dirtySockets.push(socket);
    this.tickTimer.wake();
  }

  private countOut(n: number): void {
    this.stats.messagesOut += n;
    this.deps.coreStats.messagesOut += n;
  }

  // ---------------------------------------------------------------- the tick

  private hasWork(): boolean {
    return this.pendingAnnounces.size > 0 || this.pendingScrapes.length > 0 || this.pendingSignals.size > 0
      || this.remoteOutbox.size > 0 || this.dirtySockets.length > 0;
  }

  /**
   * The core calls this on its grid, at most trackerTickMs after the first work since the last
   * tick woke it (AppCore.tick on demand: never two at once), so no work waits longer; a tick
   * with nothing to do (after a wake during the last run) returns at once, without a promise.
   */
  readonly tick = (): Promise<void> | undefined => {
    if (this.stopped || !this.hasWork()) return undefined;
    return this.runTick();
  };

  private async runTick(): Promise<void> {
    this.stats.ticks++;
    const announces = this.pendingAnnounces;
    const scrapes = this.pendingScrapes;
    const signals = this.pendingSignals;
    this.pendingAnnounces = new Map();
    this.pendingScrapes = [];
    this.pendingSignals = new Map();
    const engine = this.deps.membership;
    const ttl = this.options.trackerPeerTtlMs;

    // 1. Membership writes, all swarms at once; a swarm whose writes failed gets failures.
    const failed = new Set<string>();
    await Promise.all([...announces].map(async ([infoHex, list]) => {
      const ops: Promise<void>[] = [];
      for (const entry of list) if (!entry.socket.closed) this.apply(entry, ops);
      // The shared index of swarms needs refreshing only now and then (each join costs the
      // engine: the embedded one scans the set), not on every tick with an announce.
      const local = this.swarms.get(infoHex);
      const now = Date.now();
      if (!local || now - (this.indexRefreshedAt.get(infoHex) ?? 0) > ttl / 4) {
        ops.push(engine.join(SWARMS_SET, infoHex, ttl));
        if (local) this.indexRefreshedAt.set(infoHex, now);
      }
      try {
        await Promise.all(ops);
      } catch (err) {
        failed.add(infoHex);
        this.deps.logger.warn({ err: String(err), infoHex }, 'tracker membership write failed');
      }
    }));

    // 2. One read per swarm, shared by every announce and scrape of the tick.
    const wanted = new Set<string>();
    for (const infoHex of announces.keys()) if (!failed.has(infoHex)) wanted.add(infoHex);
    let allSwarms: string[] | null = null;
    if (scrapes.some((s) => s.req.infoHashes === null)) {
      try {
        allSwarms = (await engine.members(SWARMS_SET)).slice(0, this.options.trackerMaxScrapeHashes);
      } catch {
        allSwarms = null;
      }
    }
    for (const { req } of scrapes) {
      for (const h of req.infoHashes ?? allSwarms ?? []) wanted.add(req.infoHashes ? toHex(h) : h);
    }
    const views = new Map<string, SwarmView>();
    await Promise.all([...wanted].map(async (infoHex) => {
      try {
        const members = await engine.members(swarmSet(infoHex));
        this.stats.swarmReads++;
        const last = this.lastReads.get(infoHex);
        if (last && (last.members === members || sameMembers(last.members, members))) {
          views.set(infoHex, last.view);
        } else {
          const view = swarmView(members);
          views.set(infoHex, view);
          if (this.swarms.has(infoHex)) this.lastReads.set(infoHex, { members, view });
        }
      } catch (err) {
        this.deps.logger.warn({ err: String(err), infoHex }, 'tracker swarm read failed');
      }
    }));

    // 3. Replies and offers.
    const interval = Math.ceil(this.options.trackerIntervalMs / 1000);
    for (const [infoHex, list] of announces) {
      const view = views.get(infoHex);
      for (const entry of list) {
        const { socket, req } = entry;
        if (socket.closed) continue;
        if (entry.refused) { this.refuse(socket, entry.refused); continue; }
        if (!view) {
          this.refuse(socket, failure('unavailable', 'the tracker could not reach its store; retry later', 'announce', req.infoHash));
          continue;
        }
        socket.add(this.replyHead);
        socket.add(entry.peer?.infoHashJson ?? req.infoHash);
        socket.add(COMPLETE_KEY);
        socket.add(view.complete);
        socket.add(INCOMPLETE_KEY);
        socket.add(view.incomplete);
        socket.add(CLOSE);
        socket.end();
        this.dirty(socket);
        if (req.numwant === 0) continue;
        const targets = pickTargets(view.peers, req.numwant, req.peerHex);
        const fj = entry.peer?.peerIdJson;
        for (let i = 0; i < targets.length; i++) {
          const t = targets[i];
          const offer = req.offers[i];
          if (t.nodeId === this.nodeId) {
            this.stats.offersRelayedLocal++;
            this.deliverSdp('o', infoHex, t.peerHex, req.peerHex, offer.offerId, offer.offer, fj, this.nodeId);
          } else {
            this.stats.offersRelayedRemote++;
            this.toNode(t.nodeId, { k: 'o', h: infoHex, p: t.peerHex, f: req.peerHex, o: offer.offerId, x: offer.offer });
          }
        }
      }
    }
    for (const { socket, req } of scrapes) {
      if (socket.closed) continue;
      // Named swarms must all have been read; "every swarm" lists those read that have peers.
      const named = req.infoHashes?.map(toHex) ?? null;
      const hexes = named ?? allSwarms;
      if (!hexes || (named && named.some((h) => !views.has(h)))) {
        this.refuse(socket, failure('unavailable', 'the tracker could not reach its store; retry later', 'scrape'));
        continue;
      }
      const files: Record<string, { complete: number; incomplete: number; downloaded: number }> = {};
      for (const h of hexes) {
        const v = views.get(h) ?? EMPTY_SWARM;
        if (!named && v.peers.length === 0) continue;
        // downloaded: like bittorrent-tracker, the seeders are the only lower bound known.
        files[hexToBin(h)] = { complete: v.complete, incomplete: v.incomplete, downloaded: v.complete };
      }
      this.stats.scrapes++;
      this.queue(socket, JSON.stringify({ action: 'scrape', files, flags: { min_request_interval: interval } }));
    }

    // 4. Candidate groups (trickle extension), one per sender → target per tick.
    for (const { nodeId, item } of signals.values()) {
      if (nodeId === this.nodeId) this.stats.signalsRelayedLocal++;
      else this.stats.signalsRelayedRemote++;
      this.route(nodeId, item);
    }

    this.flush();
  }

  /** Applies one announce to this node's peers and queues its membership writes into `ops`. */
  private apply(entry: PendingAnnounce, ops: Promise<void>[]): void {
    const { socket, req } = entry;
    const key = req.infoHex + req.peerHex;
    let swarm = this.swarms.get(req.infoHex);
    let peer = swarm?.get(req.peerHex);
    if (req.event === 'stopped') {
      // Only the connection holding a peer may stop it (peer_ids are relayed to other peers).
      if (peer && peer.socket === socket) ops.push(this.removePeer(peer));
      return;
    }
    if (peer && peer.socket !== socket) {
      // The same peer on a new connection (a reconnect seen before the old close): it moves.
      peer.socket.release(key);
      peer.socket = socket;
      socket.peers.set(key, peer);
    }
    const engine = this.deps.membership;
    if (!peer) {
      if (socket.peers.size >= this.options.trackerMaxPeersPerSocket) {
        entry.refused = failure('too_many_peers', `this connection already holds ${socket.peers.size} (info_hash, peer_id) pairs; at most ${this.options.trackerMaxPeersPerSocket}`, 'announce', req.infoHash);
        return;
      }
      peer = {
        infoHex: req.infoHex, infoHash: req.infoHash, peerHex: req.peerHex, socket, seeder: req.seeder,
        member: peerMember(req.peerHex, this.nodeId, req.seeder), lastAnnounceMs: 0, links: new PeerLinks(this.options.trackerMaxPendingOffers),
        peerIdJson: idJson(req.peerId), infoHashJson: idJson(req.infoHash), setName: swarmSet(req.infoHex),
      };
      if (!swarm) this.swarms.set(req.infoHex, (swarm = new Map()));
      swarm.set(req.peerHex, peer);
      socket.peers.set(key, peer);
      this.localPeers++;
    } else if (req.seeder && !peer.seeder) {
      // A leecher became a seeder (left = 0 or completed): its member string changes. Never back.
      ops.push(engine.leave(swarmSet(req.infoHex), peer.member));
      peer.seeder = true;
      peer.member = peerMember(req.peerHex, this.nodeId, true);
    }
    peer.lastAnnounceMs = Date.now();
    entry.peer = peer;
    ops.push(engine.join(peer.setName, peer.member, this.options.trackerPeerTtlMs));
  }

  /**
   * Forgets peers that stopped announcing on a socket that stays open (a half-open connection,
   * a client that went quiet): their members have expired in the engine; this keeps the node's
   * own maps and gauges in step. Runs with the stats record, every NODE_STATS_INTERVAL_MS.
   */
  private sweepIdle(): void {
    const cutoff = Date.now() - this.options.trackerPeerTtlMs;
    for (const swarm of [...this.swarms.values()]) {
      for (const peer of [...swarm.values()]) if (peer.lastAnnounceMs < cutoff) this.track(this.removePeer(peer));
    }
  }

  /** Forgets a peer here and removes it from its swarm's set now. */
  private removePeer(peer: LocalPeer): Promise<void> {
    const swarm = this.swarms.get(peer.infoHex);
    if (swarm?.get(peer.peerHex) === peer) {
      swarm.delete(peer.peerHex);
      if (swarm.size === 0) {
        this.swarms.delete(peer.infoHex);
        this.indexRefreshedAt.delete(peer.infoHex);
        this.lastReads.delete(peer.infoHex);
      }
      this.localPeers--;
    }
    peer.socket.release(peer.infoHex + peer.peerHex);
    return this.deps.membership.leave(swarmSet(peer.infoHex), peer.member);
  }

  /** Writes every group: one direct message per other node, one write per socket. */
  private flush(): void {
    const remote = this.remoteOutbox;
    this.remoteOutbox = new Map();
    for (const [nodeId, items] of remote) {
      this.stats.directMessagesSent++;
      this.stats.relayItemsSent += items.length;
      this.deps.direct.sendTo(nodeAddress(nodeId), encodeRelay({ n: this.nodeId, i: items })).catch(() => {
        bump(this.stats.dropped, 'unavailable', items.length);
      });
    }
    const sockets = this.dirtySockets;
    this.dirtySockets = [];
    for (const socket of sockets) socket.dirty = false;
    this.flushSockets(sockets);
  }

  /**
   * One write per socket, under the core's byte limit: a client that does not read gets nothing
   * more until it drains (its messages are dropped and counted as 'slow'); the rest are unaffected.
   */
  private flushSockets(sockets: readonly PeerSocket[]): void {
    const counters = this.outCounters;
    const sent = counters.sent;
    const writes = counters.writes;
    const overLimit = counters.overLimit;
    const limit = this.deps.maxBufferedBytes;
    for (const socket of sockets) if (!socket.closed) socket.flush(limit);
    this.countOut(counters.sent - sent);
    this.stats.socketFlushes += counters.writes - writes;
    if (counters.overLimit !== overLimit) bump(this.stats.dropped, 'slow', counters.overLimit - overLimit);
  }

  // ---------------------------------------------------------------- node stats

  /** Re-publishes this node's stats record (and forgets idle peers); the core calls it every NODE_STATS_INTERVAL_MS. */
  publishStats(): void {
    if (this.stopped) return;
    this.sweepIdle();
    const member = `${this.nodeId} ${JSON.stringify(this.nodeStats())}`;
    const previous = this.statsMember;
    this.statsMember = member;
    const engine = this.deps.membership;
    this.track(engine.join(NODES_SET, member, NODE_STATS_INTERVAL_MS * 3).then(() => previous ? engine.leave(NODES_SET, previous) : undefined));
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => this.deps.logger.warn({ err: String(err) }, 'tracker engine write failed'));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }
}

function toHex(bin: string): string {
  return Buffer.from(bin, 'latin1').toString('hex');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
