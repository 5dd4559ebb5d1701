/**
 * Parses and checks one client message of the websocket tracker protocol (as the unmodified
 * bittorrent-tracker client sends it: lib/client/websocket-tracker.js) into a typed request, or a
 * typed failure. Pure: no state is read or changed here, so a refused message changes nothing.
 */
import { binToHex, isBinaryId } from './ids.ts';
import { failure, type TrackerFailure } from './failures.ts';
import { readMessage, toMessage, type IdMemo, type Message } from './json-bytes.ts';

export type AnnounceEvent = 'started' | 'stopped' | 'completed' | 'update' | 'paused';

export interface Offer {
  /**
   * The SDP offer object, relayed unchanged: a RawJson (its bytes as received) when read by
   * parseMessageBytes' fast reader, else the parsed object.
   */
  offer: object;
  /** Binary string, 20 characters. */
  offerId: string;
}

/** Fields every swarm-bound request has: the torrent and the sending peer, binary and hex. */
interface PeerRef {
  infoHash: string;
  infoHex: string;
  peerId: string;
  peerHex: string;
}

export interface AnnounceRequest extends PeerRef {
  kind: 'announce';
  event: AnnounceEvent;
  /** True when the peer says it has everything (left = 0 or event completed). */
  seeder: boolean;
  /** How many of the offers to relay (to that many distinct peers). */
  numwant: number;
  offers: Offer[];
}

export interface AnswerRequest extends PeerRef {
  kind: 'answer';
  toPeerHex: string;
  offerId: string;
  /** The SDP answer object, relayed unchanged (a RawJson or the parsed object, as Offer.offer). */
  answer: object;
}

/** The trickle extension: ICE candidates for the peer at the other end of `offerId`. */
export interface SignalRequest extends PeerRef {
  kind: 'signal';
  toPeerHex: string;
  offerId: string;
  candidates: unknown[];
}

export interface ScrapeRequest {
  kind: 'scrape';
  /** Binary info_hashes; null = every swarm (capped). */
  infoHashes: string[] | null;
}

export type TrackerRequest = AnnounceRequest | AnswerRequest | SignalRequest | ScrapeRequest;

export interface ParseLimits {
  maxOffers: number;
  maxNumwant: number;
  maxScrapeHashes: number;
  maxCandidates: number;
  trickle: boolean;
}

const EVENTS: Record<string, AnnounceEvent> = {
  started: 'started', stopped: 'stopped', completed: 'completed', update: 'update', paused: 'paused', empty: 'update', '': 'update',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the text of one WebSocket message. */
export function parseMessage(text: string, limits: ParseLimits): TrackerRequest | TrackerFailure {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return failure('malformed_json', 'message is not valid JSON');
  }
  return checkMessage(toMessage(msg), limits);
}

/**
 * Parses one WebSocket message as ws delivered it. A text frame is read from its bytes by the fast
 * reader (json-bytes.ts: SDPs kept as bytes); whatever that reader is unsure of, and binary
 * frames, go through parseMessage. Both end in the same checks, so they accept and refuse alike.
 */
export function parseMessageBytes(bytes: Buffer, isBinary: boolean, limits: ParseLimits, ids: IdMemo | null = null): TrackerRequest | TrackerFailure {
  const msg = isBinary ? undefined : readMessage(bytes, ids);
  return msg ? checkMessage(msg, limits, ids) : parseMessage(bytes.toString('utf8'), limits);
}

/** Checks a parsed message (JSON.parse's value, or the fast reader's) into a request. */
function checkMessage(msg: unknown, limits: ParseLimits, ids: IdMemo | null = null): TrackerRequest | TrackerFailure {
  if (!isObject(msg)) return failure('not_an_object', 'message must be a JSON object');
  return checkFields(msg as unknown as Message, limits, ids);
}

/** Both paths hand a Message (one object shape; see json-bytes.ts), so these loads stay monomorphic. */
function checkFields(msg: Message, limits: ParseLimits, ids: IdMemo | null): TrackerRequest | TrackerFailure {
  const action = msg.action;
  if (action === 'announce') return parseAnnounce(msg, limits, ids);
  if (action === 'scrape') return parseScrape(msg, limits);
  if (action === 'signal' && limits.trickle) return parseSignal(msg, limits);
  const allowed = limits.trickle ? 'announce, scrape or signal' : 'announce or scrape';
  return failure('unknown_action', `unknown action ${JSON.stringify(action)}: expected ${allowed}`);
}

/** info_hash and peer_id, checked in that order. */
function parsePeerRef(msg: Message, action: 'announce' | 'signal'): PeerRef | TrackerFailure {
  const infoHash = msg.info_hash;
  if (!isBinaryId(infoHash)) return failure('bad_info_hash', 'info_hash must be a 20-character binary string', action);
  const peerId = msg.peer_id;
  if (!isBinaryId(peerId)) return failure('bad_peer_id', 'peer_id must be a 20-character binary string', action, infoHash);
  return { infoHash, infoHex: binToHex(infoHash), peerId, peerHex: binToHex(peerId) };
}

/** The hex of the connection's usual ids is made once (json-bytes.ts IdMemo), not per message. */
function infoHexOf(infoHash: string, ids: IdMemo | null): string {
  if (!ids || infoHash !== ids.infoHash) return binToHex(infoHash);
  return ids.infoHex || (ids.infoHex = binToHex(infoHash));
}

function peerHexOf(peerId: string, ids: IdMemo | null): string {
  if (!ids || peerId !== ids.peerId) return binToHex(peerId);
  return ids.peerHex || (ids.peerHex = binToHex(peerId));
}

function announceFailure(reason: Parameters<typeof failure>[0], infoHash: string, message: string): TrackerFailure {
  return failure(reason, message, 'announce', infoHash);
}

// Every message of a peer passes here (an announce, then one answer per offer it received): no
// closures or object spreads, which were a good part of the parse's garbage.
function parseAnnounce(msg: Message, limits: ParseLimits, ids: IdMemo | null): AnnounceRequest | AnswerRequest | TrackerFailure {
  const infoHash = msg.info_hash;
  if (!isBinaryId(infoHash)) return failure('bad_info_hash', 'info_hash must be a 20-character binary string', 'announce');
  const peerId = msg.peer_id;
  if (!isBinaryId(peerId)) return failure('bad_peer_id', 'peer_id must be a 20-character binary string', 'announce', infoHash);

  const answer = msg.answer;
  if (answer !== undefined && answer !== null) {
    if (!isObject(answer)) return announceFailure('bad_answer', infoHash, 'answer must be an object (the SDP answer)');
    const toPeerId = msg.to_peer_id;
    if (!isBinaryId(toPeerId)) return announceFailure('bad_to_peer_id', infoHash, 'to_peer_id must be a 20-character binary string (required with answer)');
    const offerId = msg.offer_id;
    if (!isBinaryId(offerId)) return announceFailure('bad_offer_id', infoHash, 'offer_id must be a 20-character binary string (required with answer)');
    return { kind: 'answer', infoHash, infoHex: infoHexOf(infoHash, ids), peerId, peerHex: peerHexOf(peerId, ids), toPeerHex: binToHex(toPeerId), offerId, answer };
  }

  const rawEvent = msg.event ?? '';
  const event = typeof rawEvent === 'string' && Object.hasOwn(EVENTS, rawEvent) ? EVENTS[rawEvent] : undefined;
  if (!event) return announceFailure('bad_event', infoHash, `event must be started, stopped, completed, update, paused or absent, got ${JSON.stringify(rawEvent)}`);

  const rawOffers = msg.offers ?? [];
  if (!Array.isArray(rawOffers)) return announceFailure('bad_offers', infoHash, 'offers must be an array of {offer, offer_id}');
  if (rawOffers.length > limits.maxOffers) return announceFailure('too_many_offers', infoHash, `${rawOffers.length} offers; at most ${limits.maxOffers} per announce`);
  const offers: Offer[] = [];
  for (const o of rawOffers) {
    if (!isObject(o) || !isObject(o.offer)) return announceFailure('bad_offers', infoHash, 'each offer must be {offer: <SDP object>, offer_id}');
    if (!isBinaryId(o.offer_id)) return announceFailure('bad_offer_id', infoHash, 'offer_id must be a 20-character binary string');
    offers.push({ offer: o.offer, offerId: o.offer_id });
  }

  // numwant: absent means "as many as there are offers" (bittorrent-tracker relays every offer).
  // Not checked on stopped/completed: the real client sends those without offers but with its
  // default numwant (50, or whatever the app set), and a stop must always be honoured.
  let numwant = offers.length;
  const checked = event !== 'stopped' && event !== 'completed';
  if (msg.numwant !== undefined && msg.numwant !== null && checked) {
    const n = msg.numwant;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > limits.maxNumwant) {
      return announceFailure('bad_numwant', infoHash, `numwant must be an integer from 0 to ${limits.maxNumwant}, got ${JSON.stringify(n)}`);
    }
    numwant = Math.min(n, offers.length);
  }

  // left: like bittorrent-tracker, anything that is not a number (absent, null for "unknown") is a leecher.
  const left = Number(msg.left ?? NaN);
  const seeder = event === 'completed' || left === 0;
  return {
    kind: 'announce', infoHash, infoHex: infoHexOf(infoHash, ids), peerId, peerHex: peerHexOf(peerId, ids), event, seeder,
    numwant: checked ? numwant : 0, offers: checked ? offers : [],
  };
}

function parseSignal(msg: Message, limits: ParseLimits): SignalRequest | TrackerFailure {
  const ref = parsePeerRef(msg, 'signal');
  if ('reason' in ref) return ref;
  const fail = (reason: Parameters<typeof failure>[0], message: string) => failure(reason, message, 'signal', ref.infoHash);
  if (!isBinaryId(msg.to_peer_id)) return fail('bad_to_peer_id', 'to_peer_id must be a 20-character binary string');
  if (!isBinaryId(msg.offer_id)) return fail('bad_offer_id', 'offer_id must be a 20-character binary string');
  const candidates = msg.candidates;
  if (!Array.isArray(candidates) || candidates.length === 0) return fail('bad_candidates', 'candidates must be a non-empty array');
  if (candidates.length > limits.maxCandidates) return fail('too_many_candidates', `${candidates.length} candidates; at most ${limits.maxCandidates} per message`);
  return { kind: 'signal', ...ref, toPeerHex: binToHex(msg.to_peer_id), offerId: msg.offer_id, candidates };
}

function parseScrape(msg: Message, limits: ParseLimits): ScrapeRequest | TrackerFailure {
  const raw = msg.info_hash;
  if (raw === undefined || raw === null) return { kind: 'scrape', infoHashes: null };
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list)) return failure('bad_info_hash', 'info_hash must be a 20-character binary string or an array of them', 'scrape');
  if (list.length === 0) return { kind: 'scrape', infoHashes: null };
  if (list.length > limits.maxScrapeHashes) return failure('too_many_info_hashes', `${list.length} info_hashes; at most ${limits.maxScrapeHashes} per scrape`, 'scrape');
  for (const h of list) {
    if (!isBinaryId(h)) return failure('bad_info_hash', 'info_hash must be a 20-character binary string or an array of them', 'scrape');
  }
  return { kind: 'scrape', infoHashes: [...new Set(list as string[])] };
}
