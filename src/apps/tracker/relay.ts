/**
 * The node-to-node relay message: everything one node has for one other node within one tick,
 * as ONE direct message (the seed's lesson: group the messages). Compact keys, ids in hex;
 * offer_id stays the client's binary string (it is only ever echoed back to clients).
 *
 * `x` may be a RawJson (the SDP as the sender's client wrote it), which the encoder writes into
 * the message as is. (Relays within a node need no item at all: tracker.ts deliverSdp.)
 */
import { isBinaryId, isHexId } from './ids.ts';
import { RawJson } from './json-bytes.ts';

interface ItemBase {
  /** Swarm (info hash, hex). */
  h: string;
  /** The target peer (hex). */
  p: string;
  /** The sending peer (hex). */
  f: string;
  /** offer_id (binary string). */
  o: string;
}

/** An offer for peer `p` of swarm `h`, from peer `f` (held by the sending node). */
export interface OfferItem extends ItemBase { k: 'o'; x: object }
/** An answer for peer `p` (the offerer) from peer `f`, for offer `o`. */
export interface AnswerItem extends ItemBase { k: 'a'; x: object }
/** Trickle extension: candidates for peer `p` from peer `f` about offer `o`, merged per tick. */
export interface SignalItem extends ItemBase { k: 'c'; c: unknown[] }

export type RelayItem = OfferItem | AnswerItem | SignalItem;

export interface RelayMessage {
  /** The sending node. */
  n: string;
  i: RelayItem[];
}

/** JSON of the message, SDPs kept as RawJson written in as they are (no parse and stringify). */
export function encodeRelay(message: RelayMessage): Uint8Array {
  const parts: Buffer[] = [Buffer.from(`{"n":${JSON.stringify(message.n)},"i":[`)];
  message.i.forEach((it, idx) => {
    const head = `${idx ? ',' : ''}{"k":"${it.k}","h":${JSON.stringify(it.h)},"p":${JSON.stringify(it.p)},"f":${JSON.stringify(it.f)},"o":${JSON.stringify(it.o)},`;
    if (it.k === 'c') {
      parts.push(Buffer.from(`${head}"c":${JSON.stringify(it.c)}}`));
    } else {
      parts.push(Buffer.from(`${head}"x":`), it.x instanceof RawJson ? it.x.bytes : Buffer.from(JSON.stringify(it.x)), CLOSE_ITEM);
    }
  });
  parts.push(CLOSE_MESSAGE);
  return Buffer.concat(parts);
}

const CLOSE_ITEM = Buffer.from('}');
const CLOSE_MESSAGE = Buffer.from(']}');

/** Decodes and checks the shape (nodes trust each other, but a bad message must not throw later). */
export function decodeRelay(bytes: Uint8Array): RelayMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return null;
  }
  const msg = m as Partial<RelayMessage> | null;
  if (!msg || typeof msg.n !== 'string' || !Array.isArray(msg.i)) return null;
  const items = msg.i.filter((it): it is RelayItem => {
    if (!it || !isHexId(it.h) || !isHexId(it.p) || !isHexId(it.f) || !isBinaryId(it.o)) return false;
    if (it.k === 'o' || it.k === 'a') return typeof it.x === 'object' && it.x !== null;
    return it.k === 'c' && Array.isArray(it.c);
  });
  return { n: msg.n, i: items };
}
