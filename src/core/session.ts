/**
 * One client connection as the core sees it: a sink to write frames to, who the client is, and
 * its subscriptions. The gateway owns the socket; the core only writes through `Sink`.
 * Depends on the `SessionHost` it defines here (the hub implements it), never on the hub itself.
 */
import {
  BrigadeError, decodeClientFrame, encodeError, type ClientFrame,
} from '../protocol/index.ts';
import type { ConnectingPublisher, Publisher } from './channel-type.ts';
import { SessionSubscriptions } from './session-subscriptions.ts';
import type { CoreStats } from './stats.ts';
import type { Sink } from './sink.ts';
import type { SubscriberSession, Subscription } from './subscription.ts';

export type { Sink } from './sink.ts';

export type FrameVerdict = 'ok' | 'close-protocol-errors';

/** What a session hands its frames to (the hub). */
export interface SessionHost {
  readonly stats: CoreStats;
  readonly options: { readonly maxProtocolErrors: number };
  readonly requests: { handle(session: Session, frame: Extract<ClientFrame, { kind: 'request' }>): void };
  subscribe(session: Session, frame: Extract<ClientFrame, { kind: 'subscribe' }>): void;
  unsubscribe(session: Session, requestId: number, channel: string): void;
  publish(session: Session, requestId: number, channel: string, payload: Uint8Array, stamp?: { producer: string; seq: number }): void;
  /** The session is closed: forget it and its subscriptions. */
  disconnect(session: Session): void;
}

export class Session implements SubscriberSession, Publisher {
  readonly subscriptions = new SessionSubscriptions<Subscription>();
  closed = false;
  private protocolErrors = 0;
  private closeHandlers: Set<() => void> | null = null;

  /** Who publishes through this connection (Publisher): kept as two fields, not the caller's object (one object fewer per connection). */
  readonly userId: string;
  /** The remote address given to hub.connect, or null until `ip` asks the sink (Sink.peerAddress). */
  private ipKnown: string | null;

  constructor(private readonly hub: SessionHost, readonly sink: Sink, publisher: ConnectingPublisher) {
    this.userId = publisher.userId;
    this.ipKnown = publisher.ip ?? null;
  }

  /** The remote address, for per-IP limits: the one given at connect, else the sink's, looked up once on first use. */
  get ip(): string {
    return (this.ipKnown ??= this.sink.peerAddress?.() ?? '');
  }

  /** The connection's publisher: the session itself. */
  get publisher(): Publisher {
    return this;
  }

  /** Handles one binary frame from the client; never throws. */
  handleFrame(bytes: Uint8Array): FrameVerdict {
    this.hub.stats.messagesIn++;
    let frame: ClientFrame;
    try {
      frame = decodeClientFrame(bytes);
    } catch (err) {
      const e = err instanceof BrigadeError ? err : new BrigadeError('MALFORMED_FRAME', 'frame could not be decoded');
      // A well-formed frame naming a bad channel is a refused request, answered with its own id,
      // not a protocol violation.
      if (e.code === 'INVALID_CHANNEL_NAME' && e.requestId !== 0) {
        this.sendError(e.requestId, e);
        return 'ok';
      }
      return this.protocolError(e);
    }
    switch (frame.kind) {
      case 'subscribe': this.hub.subscribe(this, frame); break;
      case 'unsubscribe': this.hub.unsubscribe(this, frame.requestId, frame.channel); break;
      case 'publish':
        this.hub.publish(this, frame.requestId, frame.channel, frame.payload,
          frame.producer === undefined ? undefined : { producer: frame.producer, seq: frame.seq! });
        break;
      case 'request': this.hub.requests.handle(this, frame); break;
    }
    return 'ok';
  }

  /** Counts a protocol violation (malformed, unknown kind, text frame) and reports it to the client. */
  protocolError(err: BrigadeError): FrameVerdict {
    this.protocolErrors++;
    this.hub.stats.protocolErrors++;
    this.sendError(err.requestId, err);
    return this.protocolErrors > this.hub.options.maxProtocolErrors ? 'close-protocol-errors' : 'ok';
  }

  sendError(requestId: number, err: BrigadeError, channel = ''): void {
    if (this.closed) return;
    this.hub.stats.messagesOut++;
    this.sink.send(encodeError(requestId, err, channel));
  }

  /** Bytes queued for this connection and not yet taken by the kernel. */
  get bufferedAmount(): number {
    return this.sink.bufferedAmount;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.hub.stats.messagesOut++;
    this.sink.send(frame);
  }

  /** Calls `fn` once when this session closes (at once when it already has); returns its cancel. */
  onClose(fn: () => void): () => void {
    if (this.closed) {
      fn();
      return () => {};
    }
    const handlers = (this.closeHandlers ??= new Set());
    const once = (): void => fn();
    handlers.add(once);
    return () => { handlers.delete(once); };
  }

  /** Called by the gateway when the socket is gone. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.disconnect(this);
    const handlers = this.closeHandlers;
    this.closeHandlers = null;
    if (handlers) for (const fn of handlers) fn();
  }
}
