/**
 * One tracker connection: the peers it holds, its rate and error windows, and its outbox. The
 * connection itself is the core's FrameSocket (the gateway owns reading, ping/pong and the close
 * handshake); the outbox (core/outbox.ts) builds a tick's messages into one buffer of whole frames
 * and writes it in one write at the tick's flush, under the core's byte limit.
 *
 * What is the tracker's own here: a message is queued as pieces of the kinds the tracker relays
 * without re-encoding them — pre-encoded constants, the SDPs as the sender's client sent them
 * (RawJson), binary ids written as their JSON strings straight from the id (ids.ts writeIdJson) —
 * each copied into the outbox's buffer as it is added.
 */
import { Outbox, type FlushOutcome, type FrameSocket, type OutboxCounters } from '../../core/index.ts';
import { writeIdJson } from './ids.ts';
import { IdMemo, RawJson } from './json-bytes.ts';

/**
 * A piece of a queued message: bytes; a RawJson (bytes of a received message); a string, which is
 * a binary id written as its JSON string (ids.ts writeIdJson); or a non-negative integer, written
 * in decimal.
 */
export type Part = Buffer | RawJson | string | number;

/** What a connection needs to know of the peers it holds (peer.ts LocalPeer, which names its socket). */
export interface HeldPeer {
  readonly infoHex: string;
  readonly peerHex: string;
}

export class TrackerSocket<P extends HeldPeer = HeldPeer> {
  /** Peers held by this connection, by infoHex + peerHex. */
  readonly peers = new Map<string, P>();
  /** This tick's messages, built as they are queued. */
  private readonly outbox: Outbox;
  /** The ids this connection sent last, to skip decoding their repeats (json-bytes.ts). */
  readonly ids = new IdMemo();
  /** Queued for the flush this tick (the tracker's list of dirty sockets). */
  dirty = false;
  closed = false;
  /** Messages received in the current one-second window. */
  windowStartMs = 0;
  windowCount = 0;
  /** Refusals in the current one-minute window. */
  errorWindowStartMs = 0;
  errors = 0;
  private lastPeer: P | undefined;

  /** `counters`: shared by every socket of one tracker (what its flushes sent and dropped). */
  constructor(readonly ws: FrameSocket, readonly ip: string, counters?: OutboxCounters) {
    this.outbox = new Outbox(ws, counters);
  }

  /**
   * The peer this connection holds for (infoHex, peerHex). A browser's connection mostly holds
   * one, so the last one found is checked first: no key string built per message.
   */
  peerOf(infoHex: string, peerHex: string): P | undefined {
    const last = this.lastPeer;
    if (last && last.peerHex === peerHex && last.infoHex === infoHex) return last;
    const peer = this.peers.get(infoHex + peerHex);
    if (peer) this.lastPeer = peer;
    return peer;
  }

  /** Stops holding a peer (it stopped, expired, or moved to another connection). */
  release(key: string): void {
    const peer = this.peers.get(key);
    if (peer && peer === this.lastPeer) this.lastPeer = undefined;
    this.peers.delete(key);
  }

  /** Messages queued since the last flush. */
  get queued(): number {
    return this.outbox.queued;
  }

  /** Queues a message of any text (failures, scrapes: the rare paths). */
  pushText(text: string): void {
    this.outbox.pushText(text);
  }

  /** Adds a piece to the message being queued (the hot path: no intermediate string); end() closes it. */
  add(part: Part): void {
    const outbox = this.outbox;
    if (typeof part === 'string') {
      // At most 6 bytes a character (\u00xx) plus the quotes: room first, then one pass.
      const buf = outbox.reserve(6 * part.length + 2);
      const at = outbox.offset;
      outbox.advance(writeIdJson(buf, at, part) - at);
    } else if (typeof part === 'number') {
      outbox.number(part);
    } else if (part instanceof RawJson) {
      outbox.bytes(part.view);
    } else {
      outbox.bytes(part);
    }
  }

  /** Closes the message (a text frame). */
  end(): void {
    this.outbox.endText();
  }

  /** Drops everything queued (the socket closed); returns how many messages. */
  discard(): number {
    return this.outbox.discard();
  }

  /** Writes the queued messages in one write, or drops them when the socket is over `maxBufferedBytes` unsent (outbox.ts). */
  flush(maxBufferedBytes: number): FlushOutcome {
    return this.outbox.flush(maxBufferedBytes);
  }
}
