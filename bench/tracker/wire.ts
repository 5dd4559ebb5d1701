/**
 * The WebTorrent websocket-tracker messages the benchmark's peers send, built the way the
 * `bittorrent-tracker` client (lib/client/websocket-tracker.js) builds them: info_hash, peer_id,
 * offer_id and to_peer_id are 20-character latin1 "binary strings" (any of the 256 code units, so
 * JSON escapes and multi-byte UTF-8 both occur on the wire), offers and answers are simple-peer
 * signal objects `{type, sdp}` with a full, non-trickled SDP (~550 bytes, the size a Chromium data
 * channel offer with two ICE candidates has).
 *
 * Messages are assembled from pre-serialised pieces rather than JSON.stringify of whole objects:
 * the load generator has to stay far cheaper than the servers it measures.
 */

/** The shared seeded PRNG (mulberry32): the same seed gives every target the same peers and SDPs. */
export { prng } from '../../src/util/prng.ts';

/** 20 random latin1 code units (0..255), as hex2bin(randomBytes(20)) gives in the real client. */
export function binaryId(rand: () => number): string {
  let s = '';
  for (let i = 0; i < 20; i++) s += String.fromCharCode((rand() * 256) | 0);
  return s;
}

/** A WebTorrent peer id: `-WW0208-` and 12 random bytes (webtorrent's VERSION_PREFIX + randomBytes). */
export function peerId(rand: () => number): string {
  return '-WW0208-' + binaryId(rand).slice(0, 12);
}

const hexOf = (rand: () => number, bytes: number, sep = '') =>
  Array.from({ length: bytes }, () => ((rand() * 256) | 0).toString(16).padStart(2, '0').toUpperCase()).join(sep);
const alnum = (rand: () => number, n: number) => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let s = '';
  for (let i = 0; i < n; i++) s += abc[(rand() * abc.length) | 0];
  return s;
};

/**
 * A Chromium-style data-channel SDP (offer or answer) after ICE gathering (trickle: false, as the
 * bittorrent-tracker client creates its peers): session lines, one application m-line, ICE
 * credentials, a SHA-256 DTLS fingerprint and an mDNS host plus a server-reflexive candidate.
 */
export function sdp(rand: () => number, type: 'offer' | 'answer'): string {
  const sessionId = String(Math.floor(rand() * 9e18)).padStart(19, '1');
  const port = 40000 + ((rand() * 20000) | 0);
  const mdns = `${hexOf(rand, 4).toLowerCase()}-${hexOf(rand, 2).toLowerCase()}-${hexOf(rand, 2).toLowerCase()}-${hexOf(rand, 2).toLowerCase()}-${hexOf(rand, 6).toLowerCase()}.local`;
  const ip = `203.0.113.${1 + ((rand() * 250) | 0)}`;
  const prio = 2122260223 - ((rand() * 1000) | 0);
  return [
    'v=0',
    `o=- ${sessionId} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS',
    `m=application ${port} UDP/DTLS/SCTP webrtc-datachannel`,
    `c=IN IP4 ${ip}`,
    `a=candidate:${(rand() * 4e9) | 0} 1 udp ${prio} ${mdns} ${port} typ host generation 0 network-id 1`,
    `a=candidate:${(rand() * 4e9) | 0} 1 udp 1686052607 ${ip} ${port} typ srflx raddr 0.0.0.0 rport 0 generation 0 network-id 1`,
    `a=ice-ufrag:${alnum(rand, 4)}`,
    `a=ice-pwd:${alnum(rand, 24)}`,
    'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${hexOf(rand, 32, ':')}`,
    `a=setup:${type === 'offer' ? 'actpass' : 'active'}`,
    'a=mid:0',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
    '',
  ].join('\r\n');
}

/** `"info_hash":…,"peer_id":…` with both already JSON-escaped: the part every message of a peer shares. */
export function identityJson(infoHash: string, peerIdStr: string): string {
  return `"info_hash":${JSON.stringify(infoHash)},"peer_id":${JSON.stringify(peerIdStr)}`;
}

export type AnnounceEvent = 'started' | 'stopped' | 'completed' | null;

/**
 * An announce as the client sends it: numwant, uploaded, downloaded, left, event (none for the
 * periodic update), and for every event but stopped/completed the offers `[{offer, offer_id}]`,
 * as UTF-8 bytes. `offers` are offerParts' pieces (the SDPs pre-encoded: only the small parts are
 * encoded per message).
 */
export function announceBytes(identity: string, left: number, event: AnnounceEvent, offers: Buffer[][] | null): Buffer {
  const head = `{"numwant":${offers ? offers.length : 0},"uploaded":0,"downloaded":0,"left":${left}`;
  const ev = event ? `,"event":"${event}"` : '';
  const parts: Buffer[] = [Buffer.from(`${head}${ev},"action":"announce",${identity}${offers ? ',"offers":[' : ''}`)];
  if (offers) {
    offers.forEach((o, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push(...o);
    });
    parts.push(CLOSE_ARRAY);
  }
  parts.push(CLOSE_OBJECT);
  return Buffer.concat(parts);
}

const COMMA = Buffer.from(',');
const CLOSE_ARRAY = Buffer.from(']');
const CLOSE_OBJECT = Buffer.from('}');
const OFFER_HEAD = Buffer.from('{"offer":{"type":"offer","sdp":');

/** An SDP as the bytes of its JSON string, made once per SDP of the pool. */
export function sdpJsonBytes(sdpText: string): Buffer {
  return Buffer.from(JSON.stringify(sdpText));
}

/** One `{offer:{type:'offer',sdp}, offer_id}` element as pieces; `sdpJson` from sdpJsonBytes. */
export function offerParts(sdpJson: Buffer, offerId: string): Buffer[] {
  return [OFFER_HEAD, sdpJson, Buffer.from(`},"offer_id":${JSON.stringify(offerId)}}`)];
}

/** The answer to a relayed offer: to_peer_id and offer_id as received (already JSON-escaped). */
export function answerBytes(identity: string, toPeerIdJson: string, offerIdJson: string, sdpJson: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`{"action":"announce",${identity},"to_peer_id":${toPeerIdJson},"answer":{"type":"answer","sdp":`),
    sdpJson,
    Buffer.from(`},"offer_id":${offerIdJson}}`),
  ]);
}
