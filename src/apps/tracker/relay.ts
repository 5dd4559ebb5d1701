/**
 * The node-to-node relay message: everything one node has for one other node within one tick,
 * as ONE direct message (the seed's lesson: group the messages). Compact keys, ids in hex;
 * offer_id stays the client's binary string (it is only ever echoed back to clients).
 */
import { isBinaryId, isHexId } from './ids.ts';

/** An offer for peer `p` of swarm `h`, from peer `f` (held by the sending node). */
export interface OfferItem { k: 'o'; h: string; p: string; f: string; o: string; x: object }
/** An answer for peer `p` (the offerer) from peer `f`, for offer `o`. */
export interface AnswerItem { k: 'a'; h: string; p: string; f: string; o: string; x: object }
/** Trickle extension: candidates for peer `p` from peer `f` about offer `o`, merged per tick. */
export interface SignalItem { k: 'c'; h: string; p: string; f: string; o: string; c: unknown[] }

export type RelayItem = OfferItem | AnswerItem | SignalItem;

export interface RelayMessage {
  /** The sending node. */
  n: string;
  i: RelayItem[];
}

export function encodeRelay(message: RelayMessage): Uint8Array {
  return Buffer.from(JSON.stringify(message));
}

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
