/** The client's options, events and defaults, and the shape of WebSocket it needs. */
import type { BrigadeError } from '../protocol/index.ts';
import type { BackoffOptions } from './backoff.ts';
import type { EpochChange } from './subscription.ts';

/** What the client needs of a WebSocket; both the browser's and the `ws` package's fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface BrigadeClientOptions {
  /** Signed identity token, sent as `?token=` on every (re)connect. */
  token?: string;
  /** WebSocket implementation; default globalThis.WebSocket. In Node 20: `import { WebSocket } from 'ws'`. */
  WebSocket?: WebSocketConstructor;
  reconnect?: Partial<BackoffOptions>;
  /**
   * A publish with no ACK or ERROR by then rejects with TIMEOUT, ms. Until then an unanswered
   * publish is re-sent, with the same stamp, after every reconnect and after OUTCOME_UNKNOWN.
   */
  publishTimeoutMs?: number;
  /**
   * The producer id publishes are stamped with (PUBLISH_ONCE), 1-64 bytes of [A-Za-z0-9_.:-];
   * default: random per client. Reuse one only for a client that continues another's sequence.
   */
  producer?: string;
}

/** Defaults, each with its unit. */
export const ClientDefaults = {
  reconnectMinDelayMs: 250,
  reconnectMaxDelayMs: 10_000,
  publishTimeoutMs: 10_000,
  /** A connection that stayed open this long was healthy: the next drop starts the backoff afresh, ms. */
  stableConnectionMs: 5_000,
} as const;

export interface CloseInfo {
  code: number;
  reason: string;
  /** False once close() was called. */
  willReconnect: boolean;
}

export interface ClientEvents {
  /** Connected, and every live subscription has been re-sent. */
  open: () => void;
  close: (info: CloseInfo) => void;
  /** A reconnect is scheduled: attempt counts from 0 after each healthy connection. */
  reconnecting: (info: { attempt: number; delayMs: number }) => void;
  /** Errors not tied to a publish or to a subscription with its own onError. */
  error: (err: BrigadeError) => void;
  /**
   * A subscription's log was replaced by a new epoch (the server's storage lost it): its state was
   * replaced by a snapshot of the new log (SubscriptionHandlers.onEpochChange says the same per channel).
   */
  epoch: (change: EpochChange) => void;
}
