/**
 * The App contract: the one way an app plugs into Brigade (docs/APPS.md is the guide).
 *
 * An app is a plain object (`App`) that says who it is, which options it takes and which error
 * codes it owns, and a `start(core)` that registers everything it serves through the ports of
 * `AppCore`: its channel types, HTTP routes, WebSocket paths of its own protocol, request
 * handlers, tick callbacks and metrics. The core and the gateway own every socket, timer and
 * engine; an app only answers callbacks (Phoenix channels, Fastify plugins). An app imports
 * `core/` and `protocol/` only (the layer rules in .dependency-cruiser.cjs check it).
 *
 * Life: the CLI resolves each app's options (defaults, config file `apps.<name>.<option>`,
 * `BRIGADE_<NAME>_<OPTION>`, `--<name>-<option>`), validates them, calls `start(core)` for
 * every app it runs before the node listens, and the handle's `stop()` after the clients are
 * closed and before the engine closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorBlock } from '../protocol/index.ts';
import type { ChannelType, Publisher } from './channel-type.ts';
import type { CoreApi } from './core-api.ts';
import type { Claims, DirectMessages, HeldClaims, JobQueues, Membership } from './engine.ts';
import type { Logger } from './options.ts';
import type { CoreStats } from './stats.ts';

/** An option value: what a flag, an environment variable or a config file can give. */
export type OptionValue = number | string | boolean;

/** One option of an app: its default (which fixes its type), what it means, and its check. */
export interface OptionSpec<T extends OptionValue = OptionValue> {
  default: T;
  /** One line for `--help`, with the unit. */
  help: string;
  /** Returns why a value is refused (the node does not start), or null. Numbers are already known to be finite and ≥ 0. */
  validate?(value: T): string | null;
  /**
   * A top-level setting name this option also answers to, kept when an option moved into its app
   * (`adminToken` for `apps.place.adminToken`: `--admin-token` keeps working).
   */
  alias?: string;
}

/** The specs of an app's options, one per key of its options object. */
export type OptionSpecs<O> = { [K in keyof O]: O[K] extends OptionValue ? OptionSpec<O[K]> : never };

/** The resolved options of an app. */
export type AppOptions = Record<string, OptionValue>;

/**
 * An HTTP route of an app. `path` is matched against the path without the query string. A `GET`
 * route answers `HEAD` as well, with the same handler: node's http server sends the status and
 * headers and drops the body (so set Content-Length explicitly for it to reach a HEAD answer).
 */
export interface HttpRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: RegExp;
  handle(req: IncomingMessage, res: ServerResponse, match: RegExpMatchArray): Promise<void>;
}

/** What an app's socket handler is told. */
export interface FrameHandler {
  /**
   * One whole message. A text message is valid UTF-8 (the transport closes with 1007 otherwise).
   * `data` is the app's to keep: the transport never writes into its bytes again (it is a view of
   * a read chunk or a buffer of its own), so an app may relay slices of it later (the tracker's
   * RawJson) without copying.
   */
  onMessage(data: Buffer, isBinary: boolean): void;
  onClose(): void;
  /** The transport refused a frame and is closing the socket (code: 1002, 1007 or 1009). */
  onProtocolError?(code: number): void;
}

/**
 * How a transport frames messages, for apps that build a tick's messages into one buffer
 * (Outbox): the header that goes in front of a payload of `length` bytes.
 */
export interface Framing {
  headerSize(length: number): number;
  /** Writes the header of one message at `at`; returns the offset after it. */
  writeHeader(buf: Uint8Array, at: number, length: number, text: boolean): number;
}

/**
 * A client connection on an app's own protocol (the tracker's JSON), implemented by the gateway.
 * The app never sees the underlying socket or WebSocket library.
 */
export interface FrameSocket {
  /** The client's address (X-Forwarded-For behind a trusted proxy). */
  readonly ip: string;
  /** The request path and query the client connected with. */
  readonly url: string;
  readonly open: boolean;
  /** Bytes queued in user space, not yet taken by the kernel. Compare with AppCore.limits.maxBufferedBytes. */
  readonly bufferedAmount: number;
  /** The message framing of this transport (for Outbox). */
  readonly framing: Framing;
  /** Receives this socket's messages; set it once, in the accept callback. */
  handler: FrameHandler;
  /** Sends one message (text or binary). */
  send(payload: Uint8Array, text: boolean): void;
  /** Writes bytes that hold whole messages framed with `framing`, in one write. */
  writeFramed(bytes: Uint8Array): void;
  /** Starts the closing handshake. */
  close(code: number, reason: string): void;
}

/** Called for every upgraded connection on one of the app's socket paths. */
export type SocketAcceptor = (socket: FrameSocket) => void;

/**
 * The core connection a request came on, as an app may keep it to push to it later (PUSH frames,
 * docs/PROTOCOL.md), never the socket: a frame goes out corked with the connection's other frames
 * of the same event-loop turn, in order with its replies.
 */
export interface PushTarget {
  readonly closed: boolean;
  /** Bytes queued and not yet taken by the kernel. Compare with AppCore.limits.maxBufferedBytes before sending. */
  readonly bufferedAmount: number;
  /**
   * Queues one whole server frame (protocol's `encodePush`). Send the same bytes to every
   * connection a message goes to: the gateway frames a payload once for the connections it is
   * written to in a row.
   */
  send(frame: Uint8Array): void;
}

/** A request from a client (REQUEST frame, docs/PROTOCOL.md) as its handler sees it. */
export interface AppRequest {
  /** The full kind, e.g. `place.canvases`. */
  kind: string;
  body: Uint8Array;
  /** The body as JSON; throws BrigadeError INVALID_REQUEST when it is not JSON. */
  json(): unknown;
  /** Who sent it, as the gateway established it. */
  publisher: Publisher;
  /**
   * Calls `fn` once when the connection that sent this request closes (at once if it already has):
   * a handler that holds its reply (a long poll: the jobs app's push mode) lets go of it then.
   * Returns a function that cancels the call.
   */
  onClose(fn: () => void): () => void;
  /** The connection the request came on, to push to it later (the inbox's deliveries). */
  readonly connection: PushTarget;
}

/**
 * A reply that is JSON text already (sent as JSON, encoding 1, not stringified again): for a handler
 * that holds stored JSON (a job's payload) and would otherwise parse it only to have it stringified
 * back. The text must be valid JSON; the handler vouches for it.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * Answers one request: bytes (sent as they are), JSON text (JsonText) or any JSON value (sent as JSON). Throwing a
 * BrigadeError sends it as the request's ERROR; anything else is logged and answered INTERNAL.
 */
export type RequestHandler = (request: AppRequest) => unknown;

/** A callback run on the core's tick grid every `intervalMs` (wall-clock multiples of it). */
export type TickCallback = (nowMs: number) => void | Promise<void>;

/** How a tick callback is run. */
export interface TickOptions {
  /**
   * Run only when asked: after `TickHandle.wake()` (work arrived), at the next grid point, so the
   * work waits at most `intervalMs`; a wake during a run makes one more run after it. While the
   * app is idle no timer runs at all. Default false: a run at every grid point.
   */
  onDemand?: boolean;
}

/** What `AppCore.tick` hands back. */
export interface TickHandle {
  /** Asks for a run at the next grid point (on-demand ticks; a no-op otherwise). Cheap enough to call for every piece of work. */
  wake(): void;
}

/** Limits the core enforces that an app's own protocol should follow too. */
export interface CoreLimits {
  /** A connection with more unsent bytes than this gets nothing more until it drains, bytes. */
  maxBufferedBytes: number;
  /** Largest message a client may send, bytes. */
  maxFrameBytes: number;
}

/** The ports the core offers an app in `start`. */
export interface AppCore<O extends AppOptions = AppOptions> {
  /** This app's options, resolved and validated. */
  readonly options: O;
  /** This node's id (random per process), the same for every app. */
  readonly nodeId: string;
  readonly logger: Logger;
  readonly limits: CoreLimits;
  /** The node's counters: an app's connections and messages count in them too. */
  readonly stats: CoreStats;
  /** Channel state, logs, snapshots and server-side publishes. */
  readonly channels: CoreApi;
  /** Engine abilities, or null when this node's engine lacks one. */
  readonly direct: DirectMessages | null;
  readonly membership: Membership | null;
  readonly claims: Claims | null;
  /** Claims with a holder, renewed by it (choir's "this room lives here"). */
  readonly heldClaims: HeldClaims | null;
  /**
   * The base URL (http: or https:) at which a client reaches this node alone, from `--public-url`
   * (`{port}` is this node's own port). Read it once the node listens (from a request, not in start).
   */
  publicUrl(): string;
  /** Durable job queues (the jobs app). */
  readonly jobs: JobQueues | null;
  /**
   * The node's metrics registry (a prom-client Registry, typed loosely so the core depends on no
   * metrics library): register the app's metrics in it; they appear on /metrics.
   */
  readonly metricsRegistry: unknown;
  /**
   * A secret kept in the node's data directory (created on first start), or `given` when set:
   * admin tokens and publisher keys survive restarts.
   */
  secret(name: string, given: string): string;
  /** Serves channels whose names start with `type.prefix`. */
  channelType(type: ChannelType<any>): void;
  http(route: HttpRoute): void;
  /** Upgrades WebSocket connections on `path` to the app's own protocol. */
  socket(path: string, accept: SocketAcceptor): void;
  /** Answers REQUEST frames of `kind`, which must start with the app's name and a dot (`place.canvases`). */
  request(kind: string, handler: RequestHandler): void;
  /**
   * Runs `fn` on the core's tick grid every `intervalMs` (or, on demand, at the grid point after a
   * wake); a run never overlaps the previous one. The core stops it before the app's `stop()`.
   */
  tick(intervalMs: number, fn: TickCallback, options?: TickOptions): TickHandle;
}

/** What a started app hands back. */
export interface AppHandle {
  /** Called after the clients are closed, before the engine closes. */
  stop?(): Promise<void>;
}

export interface App<O extends AppOptions = AppOptions> {
  /** Lower case letters and digits: the config section, flag prefix and request-kind prefix. */
  readonly name: string;
  /** One line for the `/` page and /api/apps. */
  readonly description: string;
  /** The app's web page, when it has one (`/place`). */
  readonly page?: string;
  readonly options: OptionSpecs<O>;
  /** The app's error codes (a block of 100 from 100 up), registered before it starts. */
  readonly errors?: ErrorBlock;
  /** Engine abilities the app cannot run without; the node refuses to start it on an engine that lacks one. */
  readonly needs?: readonly ('direct' | 'membership' | 'claims' | 'jobs')[];
  start(core: AppCore<O>): AppHandle | void | Promise<AppHandle | void>;
}

/** What /api/apps and the `/` page list. */
export interface AppListing {
  name: string;
  description: string;
  path: string;
}
