/**
 * The Brigade client for browsers and Node. One WebSocket, many channel subscriptions, each resumed
 * at its exact version after a reconnect or a BEHIND, so the application sees every event once and
 * in order. Imports nothing from Node: in Node pass the `ws` package's WebSocket as an option.
 *
 *   const client = new BrigadeClient('wss://host/ws', { token });
 *   const sub = client.subscribe('place:main', { onBatch, onSnapshot }, { mode: 'snapshot' });
 *   await client.ready();
 *   const version = await client.publish('place:main', edit);
 */
import { Inbox, type InboxOptions } from './inbox.ts';
import {
  BodyEncoding, BrigadeError, decodeServerFrame, encodeClientFrame, isValidChannelName, type ClientFrame, type ServerFrame,
} from '../protocol/index.ts';
import { backoffDelayMs, type BackoffOptions } from './backoff.ts';
import {
  ClientDefaults, type BrigadeClientOptions, type ClientEvents, type WebSocketConstructor, type WebSocketLike,
} from './client-options.ts';
import { Emitter } from './emitter.ts';
import {
  ChannelSubscription, type SubscribeFrom, type Subscription, type SubscriptionHandlers, type SubscriptionHost,
} from './subscription.ts';

interface PendingRequest {
  resolve(value: unknown): void;
  reject(err: BrigadeError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

interface PendingPublish {
  resolve(version: number): void;
  reject(err: BrigadeError): void;
  timer: ReturnType<typeof setTimeout>;
  channel: string;
  payload: Uint8Array;
  /** This client's sequence number for the publish on its channel (PUBLISH_ONCE). */
  seq: number;
  /** A re-send waiting for OUTCOME_UNKNOWN's retryAfterMs. */
  retry: ReturnType<typeof setTimeout> | null;
}

const OPEN = 1; // WebSocket.OPEN in browsers and in `ws`
const NORMAL_CLOSURE = 1000;
const GOING_AWAY = 1001;

/** The requestId after `last`: u32, starting at 1, wrapping past 0xffffffff to 1 (0 means "no request"). */
export function nextRequestId(last: number): number {
  return last >= 0xffffffff || last < 1 ? 1 : last + 1;
}

function ignoreEvent(): void {}

export class BrigadeClient {
  /** The URL given, without the token. */
  /** The node this client connects to now; with several URLs it moves to the next one after a drop. */
  url: string;
  private readonly urls: readonly string[];
  private urlIndex = 0;
  private token: string | undefined;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly backoff: BackoffOptions;
  private readonly publishTimeoutMs: number;
  private readonly events = new Emitter<ClientEvents>();
  private readonly host: SubscriptionHost;

  private socket: WebSocketLike | null = null;
  private isOpen = false;
  private openedAtMs = 0;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private lastRequestId = 0;
  private readyWaiters: { resolve(): void; reject(err: BrigadeError): void }[] = [];

  private readonly subscriptions = new Map<string, ChannelSubscription>();
  /** The latest SUBSCRIBE of each subscription on this connection, by requestId. */
  private readonly subscribeRequests = new Map<number, ChannelSubscription>();
  /** UNSUBSCRIBEs not yet answered: their errors (NOT_SUBSCRIBED) concern no one any more. */
  private readonly unsubscribeRequests = new Set<number>();
  private readonly publishes = new Map<number, PendingPublish>();
  /**
   * This client's producer id: every publish is stamped with it and a sequence number per channel
   * (PUBLISH_ONCE), so re-sending an unanswered publish never commits it twice.
   */
  readonly producer: string;
  private readonly seqs = new Map<string, number>();
  /** REQUESTs waiting for their REPLY or ERROR, by requestId. */
  private readonly requests = new Map<number, PendingRequest>();
  /** PUSH frames' receivers by topic (an app's name: the inbox's `inbox`). */
  private readonly pushReceivers = new Map<string, (body: Uint8Array) => void>();

  /**
   * @param url one node's WebSocket URL (`ws://host/ws`), or several: after a connection drops the
   * client tries the next one, so the clients of a failed node spread over the others.
   */
  constructor(url: string | readonly string[], options: BrigadeClientOptions = {}) {
    this.urls = typeof url === 'string' ? [url] : [...url];
    if (this.urls.length === 0) throw new BrigadeError('UNAVAILABLE', 'BrigadeClient needs at least one URL');
    this.url = this.urls[0];
    this.token = options.token;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) {
      throw new BrigadeError('UNAVAILABLE', 'no WebSocket implementation here: pass options.WebSocket (in Node 20: import { WebSocket } from \'ws\')');
    }
    this.WebSocketImpl = impl;
    this.backoff = {
      minDelayMs: options.reconnect?.minDelayMs ?? ClientDefaults.reconnectMinDelayMs,
      maxDelayMs: options.reconnect?.maxDelayMs ?? ClientDefaults.reconnectMaxDelayMs,
    };
    this.publishTimeoutMs = options.publishTimeoutMs ?? ClientDefaults.publishTimeoutMs;
    this.producer = options.producer ?? randomProducer();
    this.host = {
      resubscribe: (sub) => this.sendSubscribe(sub),
      release: (sub) => this.release(sub),
      reportError: (err) => this.events.emit('error', err),
      reportEpochChange: (change) => this.events.emit('epoch', change),
      minRetryDelayMs: this.backoff.minDelayMs,
    };
    this.connect();
  }

  /** True while the socket is open. */
  get connected(): boolean {
    return this.isOpen;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Receives the server's PUSH frames of `topic` (an app's messages for this connection, tied to no
   * channel or request; docs/PROTOCOL.md). One receiver per topic; returns a function that removes
   * it. `body` is valid only during the call.
   */
  onPush(topic: string, receiver: (body: Uint8Array) => void): () => void {
    this.pushReceivers.set(topic, receiver);
    return () => {
      if (this.pushReceivers.get(topic) === receiver) this.pushReceivers.delete(topic);
    };
  }

  off<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): void {
    this.events.off(event, listener);
  }

  /** Resolves once connected (at once if connected now); rejects with DISCONNECTED if close() comes first. */
  ready(): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    if (this.closed) return Promise.reject(clientClosed());
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** The token for the next (re)connect, e.g. after a refresh; the current connection keeps its identity. */
  setToken(token: string | undefined): void {
    this.token = token;
  }

  /**
   * Subscribes to a channel; one subscription per channel per client. The SUBSCRIBE goes out now
   * when connected, else on open, and again from `version` after every reconnect.
   */
  subscribe(channel: string, handlers: SubscriptionHandlers, from?: SubscribeFrom): Subscription {
    if (this.closed) throw clientClosed();
    if (!isValidChannelName(channel)) {
      throw new BrigadeError('INVALID_CHANNEL_NAME', `channel name ${JSON.stringify(channel)} must be 1-255 bytes of [A-Za-z0-9_.:/-]`);
    }
    if (this.subscriptions.has(channel)) {
      throw new BrigadeError('TOO_MANY_SUBSCRIPTIONS', `already subscribed to ${channel} on this client; share that Subscription or unsubscribe it first`);
    }
    const version = from?.version ?? 0;
    const epoch = from?.epoch ?? 0;
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new BrigadeError('MALFORMED_FRAME', `from.version ${version} must be an integer from 0 to 2^53-1`);
    }
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
      throw new BrigadeError('MALFORMED_FRAME', `from.epoch ${epoch} must be a u32 (0 = unknown)`);
    }
    const sub = new ChannelSubscription(channel, handlers, this.host, from);
    this.subscriptions.set(channel, sub);
    this.sendSubscribe(sub);
    return sub;
  }

  /**
   * Appends one event; resolves with its version once it is committed. Rejects with the server's
   * BrigadeError, with DISCONNECTED when not connected or when the connection drops first, or
   * with TIMEOUT. After DISCONNECTED (dropped) or TIMEOUT the event may or may not have been
   * committed: the subscription will show it if it was.
   */
  publish(channel: string, payload: Uint8Array): Promise<number> {
    if (!this.isOpen) return Promise.reject(new BrigadeError('DISCONNECTED', `not connected to ${this.url}; await client.ready() before publishing`));
    if (!isValidChannelName(channel)) {
      return Promise.reject(new BrigadeError('INVALID_CHANNEL_NAME', `channel name ${JSON.stringify(channel)} must be 1-255 bytes of [A-Za-z0-9_.:/-]`));
    }
    const seq = (this.seqs.get(channel) ?? 0) + 1;
    this.seqs.set(channel, seq);
    const requestId = this.newRequestId();
    const copy = payload.slice();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.publishes.get(requestId);
        if (p?.retry) clearTimeout(p.retry);
        this.publishes.delete(requestId);
        reject(new BrigadeError('TIMEOUT', `no answer to a publish on ${channel} within ${this.publishTimeoutMs} ms; it may or may not have been committed`));
      }, this.publishTimeoutMs);
      this.publishes.set(requestId, { resolve, reject, timer, channel, payload: copy, seq, retry: null });
      this.sendPublish(requestId);
    });
  }

  /** Sends (or re-sends, with the same stamp) a pending publish. */
  private sendPublish(requestId: number): void {
    const p = this.publishes.get(requestId);
    if (!p || !this.isOpen) return;
    this.sendBytes(encodeClientFrame({ kind: 'publish', requestId, channel: p.channel, payload: p.payload, producer: this.producer, seq: p.seq }));
  }

  /**
   * Sends a REQUEST to the app that answers `kind` (`place.canvases`) and resolves with its reply:
   * a Uint8Array body is sent as bytes and a bytes reply resolves as a Uint8Array; anything else
   * goes as JSON and a JSON reply resolves parsed. Rejects with the server's BrigadeError
   * (UNKNOWN_REQUEST, APP_NOT_RUNNING, INVALID_REQUEST, or the app's own codes), DISCONNECTED or
   * TIMEOUT (after `options.timeoutMs`, by default the client's publishTimeoutMs; Infinity for none).
   * A request is not re-sent after a reconnect: the caller decides whether it is safe to.
   */
  request<T = unknown>(kind: string, body: unknown = null, options: { timeoutMs?: number } = {}): Promise<T> {
    if (!this.isOpen) return Promise.reject(new BrigadeError('DISCONNECTED', `not connected to ${this.url}; await client.ready() before a request`));
    const requestId = this.newRequestId();
    let frame: Uint8Array;
    try {
      frame = body instanceof Uint8Array
        ? encodeClientFrame({ kind: 'request', requestId, requestKind: kind, encoding: BodyEncoding.BYTES, body })
        : encodeClientFrame({ kind: 'request', requestId, requestKind: kind, encoding: BodyEncoding.JSON, body: textEncoder.encode(JSON.stringify(body ?? null)) });
    } catch (err) {
      return Promise.reject(err);
    }
    const timeoutMs = options.timeoutMs ?? this.publishTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      // timeoutMs Infinity: a held request (a long poll), answered when the server has something.
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => {
        this.requests.delete(requestId);
        reject(new BrigadeError('TIMEOUT', `no answer to request ${kind} within ${timeoutMs} ms`));
      }, timeoutMs) : undefined;
      this.requests.set(requestId, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.sendBytes(frame);
    });
  }

  /**
   * The inbox of one device (the inbox app): an async iterable of {kind, message} that keeps its
   * cursor and resumes from it after every reconnect. The client needs an identity (`token`).
   */
  inbox(deviceToken: string, options?: InboxOptions): Inbox {
    return new Inbox(this, deviceToken, options);
  }

  /**
   * Closes the connection for good: no reconnect; pending publishes, requests and ready() reject
   * with DISCONNECTED.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    for (const w of this.readyWaiters) w.reject(clientClosed());
    this.readyWaiters = [];
    const unanswered = [...this.publishes.values()];
    this.publishes.clear();
    for (const p of unanswered) {
      clearTimeout(p.timer);
      if (p.retry) clearTimeout(p.retry);
      p.reject(new BrigadeError('DISCONNECTED', 'the client was closed before the publish was acknowledged; it may or may not have been committed'));
    }
    const ws = this.socket;
    if (ws) {
      try {
        ws.close(NORMAL_CLOSURE, 'client closed');
      } catch {
        // Already closing: the close event finishes the work.
      }
      this.dropConnection();
    }
    this.events.emit('close', { code: NORMAL_CLOSURE, reason: 'client closed', willReconnect: false });
  }

  // ---- connection ---------------------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = null;
    if (this.closed) return;
    let ws: WebSocketLike;
    try {
      ws = new this.WebSocketImpl(this.connectUrl());
    } catch (err) {
      this.events.emit('error', new BrigadeError('UNAVAILABLE', `cannot open a WebSocket to ${this.url}: ${err instanceof Error ? err.message : String(err)}`));
      this.scheduleReconnect(this.attempt);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.socket = ws;
    ws.onopen = () => this.handleOpen(ws);
    ws.onmessage = (event: { data: unknown }) => this.handleMessage(ws, event.data);
    ws.onclose = (event: { code?: number; reason?: string }) => this.handleClose(ws, event.code ?? 1006, event.reason ?? '');
    ws.onerror = (event: { message?: unknown }) => {
      if (ws !== this.socket) return;
      const detail = typeof event.message === 'string' ? `: ${event.message}` : '';
      this.events.emit('error', new BrigadeError('DISCONNECTED', `WebSocket error on ${this.url}${detail}`));
    };
  }

  private connectUrl(): string {
    if (this.token === undefined) return this.url;
    return `${this.url}${this.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(this.token)}`;
  }

  private handleOpen(ws: WebSocketLike): void {
    if (ws !== this.socket) return;
    this.isOpen = true;
    this.openedAtMs = Date.now();
    for (const sub of this.subscriptions.values()) this.sendSubscribe(sub);
    for (const requestId of this.publishes.keys()) this.sendPublish(requestId);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.resolve();
    this.events.emit('open');
  }

  private handleClose(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.socket) return;
    const wasOpen = this.isOpen;
    this.dropConnection();
    if (wasOpen && Date.now() - this.openedAtMs >= ClientDefaults.stableConnectionMs) this.attempt = 0;
    this.events.emit('close', { code, reason, willReconnect: !this.closed });
    if (this.urls.length > 1) {
      this.urlIndex = (this.urlIndex + 1) % this.urls.length;
      this.url = this.urls[this.urlIndex];
    }
    // A node going away (shutdown) is not a failure of ours: come back promptly, with jitter.
    this.scheduleReconnect(code === GOING_AWAY ? 0 : this.attempt);
  }

  /** Forgets the socket and everything in flight on it. */
  private dropConnection(): void {
    const ws = this.socket;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Not null: closing a socket that is still connecting makes the `ws` package emit 'error',
      // which throws when nobody listens.
      ws.onerror = ignoreEvent;
    }
    this.socket = null;
    this.isOpen = false;
    this.subscribeRequests.clear();
    this.unsubscribeRequests.clear();
    for (const sub of this.subscriptions.values()) sub.disconnected();
    // Unanswered publishes stay pending: they are re-sent with the same stamp once connected again
    // (handleOpen), which never commits one twice. close() rejects them.
    for (const p of this.publishes.values()) {
      if (p.retry) clearTimeout(p.retry);
      p.retry = null;
    }
    const unanswered = [...this.requests.values()];
    this.requests.clear();
    for (const r of unanswered) {
      clearTimeout(r.timer);
      r.reject(new BrigadeError('DISCONNECTED', `connection to ${this.url} closed before the request was answered`));
    }
  }

  private scheduleReconnect(attempt: number): void {
    if (this.closed || this.reconnectTimer !== null) return;
    const delayMs = backoffDelayMs(attempt, this.backoff);
    this.attempt = attempt + 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
    this.events.emit('reconnecting', { attempt, delayMs });
  }

  // ---- frames -------------------------------------------------------------------------------

  private handleMessage(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.socket) return;
    const bytes = toBytes(data);
    if (!bytes) {
      this.events.emit('error', new BrigadeError('TEXT_NOT_SUPPORTED', 'the server sent a non-binary message; Brigade frames are binary'));
      return;
    }
    let frame: ServerFrame;
    try {
      frame = decodeServerFrame(bytes);
    } catch (err) {
      this.events.emit('error', err instanceof BrigadeError ? err : new BrigadeError('MALFORMED_FRAME', String(err)));
      return;
    }
    this.dispatch(frame);
  }

  private dispatch(frame: ServerFrame): void {
    switch (frame.kind) {
      case 'batch':
        this.subscriptions.get(frame.channel)?.handleBatch(frame.firstVersion, frame.events);
        return;
      case 'snapshot':
        this.subscriptions.get(frame.channel)?.handleSnapshot(frame.version, frame.epoch, frame.state);
        return;
      case 'behind':
        this.subscriptions.get(frame.channel)?.handleBehind(frame.version);
        return;
      case 'subscribed':
        this.subscribeRequests.get(frame.requestId)?.handleSubscribed(frame.requestId, frame.epoch, frame.headVersion);
        return;
      case 'unsubscribed':
        this.unsubscribeRequests.delete(frame.requestId);
        return;
      case 'ack': {
        const p = this.publishes.get(frame.requestId);
        if (!p) return; // timed out already
        this.publishes.delete(frame.requestId);
        clearTimeout(p.timer);
        p.resolve(frame.version);
        return;
      }
      case 'reply': {
        const r = this.requests.get(frame.requestId);
        if (!r) return; // timed out already
        this.requests.delete(frame.requestId);
        clearTimeout(r.timer);
        if (frame.encoding === BodyEncoding.BYTES) return r.resolve(frame.body.slice());
        try {
          r.resolve(JSON.parse(textDecoder.decode(frame.body)));
        } catch {
          r.reject(new BrigadeError('MALFORMED_FRAME', 'a JSON reply could not be parsed'));
        }
        return;
      }
      case 'error':
        this.handleErrorFrame(frame);
        return;
      case 'push':
        this.pushReceivers.get(frame.topic)?.(frame.body);
        return;
    }
  }

  private handleErrorFrame(frame: Extract<ServerFrame, { kind: 'error' }>): void {
    const err = new BrigadeError(frame.code, frame.message, frame.retryAfterMs);
    const id = frame.requestId;
    if (id !== 0) {
      const r = this.requests.get(id);
      if (r) {
        this.requests.delete(id);
        clearTimeout(r.timer);
        r.reject(err);
        return;
      }
      const p = this.publishes.get(id);
      if (p) {
        if (err.code === 'OUTCOME_UNKNOWN') {
          // Safe to re-send with the same stamp: it answers with the one version it has.
          if (p.retry) clearTimeout(p.retry);
          p.retry = setTimeout(() => { p.retry = null; this.sendPublish(id); }, Math.max(err.retryAfterMs, this.backoff.minDelayMs));
          return;
        }
        this.publishes.delete(id);
        clearTimeout(p.timer);
        if (p.retry) clearTimeout(p.retry);
        p.reject(err);
        return;
      }
      const sub = this.subscribeRequests.get(id);
      if (sub) {
        this.subscribeRequests.delete(id);
        // A SUBSCRIBE over the frame-rate limit is answered RATE_LIMITED by its own id, as every
        // temporary refusal: handleSubscribeError sends it again after retryAfterMs.
        if (sub.requestId === id) sub.handleSubscribeError(err);
        return;
      }
      if (this.unsubscribeRequests.delete(id)) return;
    }
    const sub = frame.channel === '' ? undefined : this.subscriptions.get(frame.channel);
    if (sub) sub.handleError(err);
    else this.events.emit('error', err);
  }

  // ---- subscriptions ------------------------------------------------------------------------

  private sendSubscribe(sub: ChannelSubscription): void {
    if (sub.closed || !this.isOpen) return; // sent on the next open
    if (sub.requestId !== 0) this.subscribeRequests.delete(sub.requestId);
    const requestId = this.newRequestId();
    this.subscribeRequests.set(requestId, sub);
    this.sendFrame(sub.subscribeFrame(requestId));
  }

  private release(sub: ChannelSubscription): void {
    if (this.subscriptions.get(sub.channel) === sub) this.subscriptions.delete(sub.channel);
    if (sub.requestId !== 0) this.subscribeRequests.delete(sub.requestId);
    if (!this.isOpen) return;
    const requestId = this.newRequestId();
    this.unsubscribeRequests.add(requestId);
    this.sendFrame({ kind: 'unsubscribe', requestId, channel: sub.channel });
  }

  // ---- sending ------------------------------------------------------------------------------

  private newRequestId(): number {
    let id = this.lastRequestId;
    do id = nextRequestId(id);
    while (this.publishes.has(id) || this.subscribeRequests.has(id) || this.unsubscribeRequests.has(id));
    this.lastRequestId = id;
    return id;
  }

  private sendFrame(frame: ClientFrame): void {
    this.sendBytes(encodeClientFrame(frame));
  }

  private sendBytes(bytes: Uint8Array): void {
    const ws = this.socket;
    if (!ws || ws.readyState !== OPEN) return; // the close event settles whatever waits on this
    try {
      ws.send(bytes);
    } catch (err) {
      this.events.emit('error', new BrigadeError('DISCONNECTED', `send failed: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}

function clientClosed(): BrigadeError {
  return new BrigadeError('DISCONNECTED', 'this BrigadeClient was closed; create a new one');
}

/** Binary message data as bytes (ArrayBuffer in browsers and `ws` with binaryType 'arraybuffer'; a Buffer otherwise). */
function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer || Object.prototype.toString.call(data) === '[object ArrayBuffer]') {
    return new Uint8Array(data as ArrayBuffer);
  }
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** A random producer id for this client: `sdk-` and 16 hex digits. */
function randomProducer(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return 'sdk-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
