/**
 * HTTP and WebSocket on one port. HTTP: app routes, /api/identity, /api/apps, /healthz, /readyz,
 * /metrics, static web files. WebSocket at /ws: binary frames only, handed to the core's Session;
 * at the apps' socket paths (the tracker's /announce and /), their own protocol through the core's
 * FrameSocket (frame-socket.ts). Every WebSocket is served by the lean server of lean-ws.ts
 * (upgrade + frame reader; no per-frame objects).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import client from 'prom-client';
import { BrigadeError, CloseCodes } from '../protocol/index.ts';
import { RateLimiter, type AppListing, type Hub, type HttpRoute, type Logger, type Session, type SocketAcceptor } from '../core/index.ts';
import { LeanFrameSocket } from './frame-socket.ts';
import { admitFrame, initFrameRate, type FrameRateState } from './frame-rate.ts';
import type { IdentityIssuer } from './identity.ts';
import type { GatewayMetrics } from './metrics.ts';
import { acceptLeanUpgrade, type LeanHandler, type LeanSocket, type LeanSocketOptions } from './lean-ws.ts';
import { serveStatic } from './static-files.ts';
import { WsSink } from './ws-sink.ts';

export interface GatewayOptions {
  host: string;
  port: number;
  /** Largest WebSocket message accepted, bytes; larger ones close the connection with 1009. */
  maxFrameBytes: number;
  /** Frames one connection may send per second (bursts of one second's worth); past it each frame is refused with RATE_LIMITED (frame-rate.ts). 0 = no limit. */
  maxFramesPerSecond: number;
  /** Take the client address from X-Forwarded-For (behind nginx/HAProxy). */
  trustProxy: boolean;
  /** Directory of the bundled web clients, or '' for none. */
  webRoot: string;
  /** WebSocket connections this node holds at most (every path); 0 = no limit. Past it: HTTP 503 TOO_MANY_CONNECTIONS. */
  maxConnections: number;
  /** WebSocket connections one client address may hold; 0 = no limit. Past it: HTTP 429 TOO_MANY_CONNECTIONS_PER_IP. */
  maxConnectionsPerIp: number;
  /**
   * Identity tokens (`POST /api/identity`) one client address may mint per minute, with a burst of as
   * many; past it: HTTP 429 RATE_LIMITED with Retry-After. 0 = no limit. Per process.
   */
  identityPerMinutePerIp: number;
}

export interface GatewayDeps {
  hub: Hub;
  identity: IdentityIssuer;
  metrics: GatewayMetrics;
  logger: Logger;
  /** The apps' HTTP routes (read on every request: apps may register until the node listens). */
  routes: readonly HttpRoute[];
  /** The apps' WebSocket paths besides /ws (which is the core protocol), by path. */
  sockets?: ReadonlyMap<string, { accept: SocketAcceptor }>;
  /** The running apps, for /api/apps and the `/` page. */
  apps: readonly AppListing[];
}

export class Gateway {
  readonly http: Server;
  /** This node's own port beside the shared one (`--node-port`, every `--workers` worker), when open. */
  private nodeServer: Server | null = null;
  /** Every open WebSocket (lean-ws.ts), closed at shutdown. */
  private readonly sockets = new Set<LeanSocket>();
  /** Open WebSocket connections per client address (kept only with a per-address limit). */
  private readonly perIp = new Map<string, number>();
  private readonly refusals: client.Counter<'reason'>;
  private draining = false;
  /** Identity tokens minted per client address (token buckets). */
  private readonly identityLimiter: RateLimiter;
  /** One options object for every socket (each keeps a reference, not a copy). */
  private readonly leanOptions: LeanSocketOptions;

  constructor(private readonly options: GatewayOptions, private readonly deps: GatewayDeps) {
    this.refusals = new client.Counter({
      name: 'brigade_connections_refused_total', help: 'WebSocket upgrades refused by a connection limit',
      labelNames: ['reason'], registers: [deps.metrics.registry],
    });
    this.leanOptions = { maxPayload: options.maxFrameBytes, registry: this.sockets };
    this.identityLimiter = new RateLimiter(options.identityPerMinutePerIp / 60, Math.max(1, options.identityPerMinutePerIp));
    this.http = createServer((req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req, socket, head) => {
      const path = (req.url ?? '').split('?')[0];
      const route = path === '/ws' ? null : deps.sockets?.get(path);
      if (this.draining || (path !== '/ws' && !route)) {
        socket.end(this.draining ? 'HTTP/1.1 503 Service Unavailable\r\n\r\n' : 'HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      // The address only when something reads it now (an app's socket, the per-address limit, a
      // trusted proxy's header); a /ws session looks it up on first use (Sink.peerAddress): the
      // getpeername(2) was 2–6 % of a node's time in a reconnect storm, for nothing.
      const ip = route || this.options.maxConnectionsPerIp > 0 || this.options.trustProxy ? this.clientIp(req) : undefined;
      if (!this.admit(ip ?? '', socket)) return;
      const lean = acceptLeanUpgrade(req, socket, head, this.leanOptions);
      if (!lean) return;
      if (route) route.accept(new LeanFrameSocket(lean, ip!, req.url ?? path));
      else this.onConnection(lean, req, ip);
      lean.start();
    });
  }

  /**
   * The connection limits, checked before the upgrade: a refusal is an HTTP answer with a JSON body
   * ({code, message}) and Retry-After, and the socket is closed. An admitted connection is counted
   * against its address until the socket closes (whatever the upgrade's outcome).
   */
  private admit(ip: string, socket: Duplex): boolean {
    const { maxConnections, maxConnectionsPerIp } = this.options;
    if (maxConnections > 0 && this.sockets.size >= maxConnections) {
      this.refusals.inc({ reason: 'node' });
      refuseUpgrade(socket, 503, 'Service Unavailable', 'TOO_MANY_CONNECTIONS',
        `this node holds its limit of ${maxConnections} WebSocket connections (--max-connections); retry later, or on another node`);
      return false;
    }
    if (maxConnectionsPerIp > 0) {
      const open = this.perIp.get(ip) ?? 0;
      if (open >= maxConnectionsPerIp) {
        this.refusals.inc({ reason: 'ip' });
        refuseUpgrade(socket, 429, 'Too Many Requests', 'TOO_MANY_CONNECTIONS_PER_IP',
          `${ip} already has ${open} WebSocket connections open here, the limit per address (--max-connections-per-ip)`);
        return false;
      }
      this.perIp.set(ip, open + 1);
      socket.once('close', () => {
        const left = (this.perIp.get(ip) ?? 1) - 1;
        if (left > 0) this.perIp.set(ip, left);
        else this.perIp.delete(ip);
      });
    }
    return true;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.host, () => resolve(this.http.address() as AddressInfo));
    });
  }

  /**
   * Also serves everything on `port` of this process alone (`exclusive`: under node:cluster the
   * shared port reaches any worker, this one only this worker), so a client can be sent to this
   * node (choir's rooms). Port 0: any free port. Resolves the port it listens on.
   */
  listenNodePort(port: number): Promise<number> {
    const server = createServer();
    server.on('request', (req, res) => this.http.emit('request', req, res));
    server.on('upgrade', (req, socket, head) => this.http.emit('upgrade', req, socket, head));
    this.nodeServer = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: this.options.host, exclusive: true }, () => resolve((server.address() as AddressInfo).port));
    });
  }

  get ready(): boolean {
    return !this.draining && this.deps.hub.engine.isReady();
  }

  /** Stops accepting connections and requests; existing sockets stay open until closeClients(). */
  stopAccepting(): void {
    this.draining = true;
    this.http.close();
    this.nodeServer?.close();
  }

  /** Closes every client with 1001 going-away and waits briefly for the close handshakes. */
  async closeClients(timeoutMs = 2000): Promise<void> {
    for (const socket of this.sockets) socket.close(CloseCodes.GOING_AWAY, 'server shutting down');
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of this.sockets) socket.terminate();
    this.http.closeAllConnections?.();
    this.nodeServer?.closeAllConnections?.();
  }

  private clientIp(req: IncomingMessage): string {
    if (this.options.trustProxy) {
      const fwd = req.headers['x-forwarded-for'];
      const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim();
      if (first) return first;
    }
    return req.socket.remoteAddress ?? '';
  }

  private onConnection(socket: LeanSocket, req: IncomingMessage, ip: string | undefined): void {
    const { hub, identity } = this.deps;
    const token = queryParam(req.url ?? '', 'token');
    let userId = '';
    let tokenError: BrigadeError | null = null;
    if (token) {
      const check = identity.verify(token);
      if (check.ok) userId = check.userId;
      else tokenError = new BrigadeError('INVALID_TOKEN', `${check.reason}; connected as anonymous (read-only)`);
    }
    const conn = new CoreConnection(socket, this.options.maxFramesPerSecond);
    const session = hub.connect(conn, { userId, ip });
    conn.session = session;
    if (tokenError) session.sendError(0, tokenError);
    socket.handler = conn;
  }

  /**
   * `POST /api/identity`: the body, when there is one, must be a JSON object (the endpoint takes no
   * fields yet; `{}` or nothing is fine), and each client address may mint `identityPerMinutePerIp`
   * tokens a minute (a bucket of as many, refilled evenly), so fresh identities cannot be used to
   * step around per-user limits such as place's cooldown.
   */
  private async mintIdentity(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, IDENTITY_BODY_LIMIT);
    if (body === null) {
      return json(res, 413, { code: 'INVALID_REQUEST', message: `the body is over ${IDENTITY_BODY_LIMIT} bytes; send {} or nothing` });
    }
    const text = body.toString('utf8').trim();
    if (text !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return json(res, 400, { code: 'INVALID_REQUEST', message: 'the body is not JSON; send {} or nothing' });
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return json(res, 400, { code: 'INVALID_REQUEST', message: 'the body must be a JSON object; send {} or nothing' });
      }
    }
    const ip = this.clientIp(req);
    const waitMs = this.identityLimiter.take(ip, Date.now());
    if (waitMs > 0) {
      const text = JSON.stringify({
        code: 'RATE_LIMITED',
        message: `${ip} minted its ${this.options.identityPerMinutePerIp} identities per minute (--identity-per-minute-per-ip); keep the token you have, or retry in ${Math.ceil(waitMs / 1000)} s`,
      });
      res.writeHead(429, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Retry-After': String(Math.ceil(waitMs / 1000)) }).end(text);
      return;
    }
    json(res, 200, this.deps.identity.issue());
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      if (url.pathname === '/healthz') return json(res, 200, { ok: true });
      if (url.pathname === '/readyz') {
        return json(res, this.ready ? 200 : 503, { ready: this.ready, engine: this.deps.hub.engine.kind, draining: this.draining });
      }
      if (url.pathname === '/metrics') {
        const reg = this.deps.metrics.registry;
        res.writeHead(200, { 'Content-Type': reg.contentType }).end(await reg.metrics());
        return;
      }
      if (url.pathname === '/api/apps') return json(res, 200, this.deps.apps);
      if (url.pathname === '/api/identity' && req.method === 'POST') return await this.mintIdentity(req, res);
      for (const r of this.deps.routes) {
        const m = url.pathname.match(r.path);
        // A GET route answers HEAD too: node's ServerResponse sends the status and headers (an
        // explicit Content-Length included) and drops the body of a HEAD answer.
        if (m && (r.method === req.method || (req.method === 'HEAD' && r.method === 'GET'))) return await r.handle(req, res, m);
      }
      if ((req.method === 'GET' || req.method === 'HEAD') && this.options.webRoot && serveStatic(this.options.webRoot, req, res)) return;
      json(res, 404, { code: 'NOT_FOUND', message: `no route for ${req.method} ${url.pathname}` });
    } catch (err) {
      this.deps.logger.error({ err: String(err), path: url.pathname }, 'request failed');
      if (!res.headersSent) json(res, 500, { code: 'INTERNAL', message: 'internal error' });
      else res.destroy();
    }
  }
}

/**
 * A core protocol connection in one object (no closure per connection): the session's sink (WsSink),
 * the socket's handler, and its frame-rate buckets (frame-rate.ts), so an idle connection costs one
 * object here instead of three (docs/BENCHMARKS.md, idle memory).
 */
class CoreConnection extends WsSink implements LeanHandler, FrameRateState {
  /** Set right after hub.connect(this): nothing is read before the socket starts. */
  session: Session | null = null;
  tokens = 0;
  floodTokens = 0;
  atMs = 0;

  constructor(socket: LeanSocket, readonly rate: number) {
    super(socket);
    initFrameRate(this);
  }

  /** The TCP peer's address (asked once, by the session, when a per-IP limit first needs it). */
  peerAddress(): string {
    return (this.socket.socket as Partial<Socket>).remoteAddress ?? '';
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    const session = this.session!;
    const admission = admitFrame(this);
    if (admission === 'flood') {
      this.socket.close(CloseCodes.FLOODING, 'frame rate far over the limit');
      return;
    }
    if (admission > 0) {
      // Every refused frame is answered, by its own request id when it has one (frame-rate.ts).
      const limit = this.rate;
      session.sendError(isBinary ? requestIdOf(data) : 0, new BrigadeError('RATE_LIMITED',
        `more than ${limit} frames/s on this connection (--max-frames-per-second); this frame was not handled: send it again in ${admission} ms`, admission));
      return;
    }
    const verdict = isBinary
      ? session.handleFrame(data)
      : session.protocolError(new BrigadeError('TEXT_NOT_SUPPORTED', 'text frames are not part of the protocol; send binary frames (docs/PROTOCOL.md)'));
    if (verdict === 'close-protocol-errors') this.socket.close(CloseCodes.PROTOCOL_ERRORS, 'too many malformed frames');
  }

  onClose(): void {
    this.session?.close();
  }
}

/**
 * The first value of `name` in a request target's query, or null: URLSearchParams over the query
 * alone, without a URL object per connection (a reconnect storm makes garbage of them).
 */
export function queryParam(target: string, name: string): string | null {
  const q = target.indexOf('?');
  if (q < 0) return null;
  const hash = target.indexOf('#', q);
  return new URLSearchParams(target.slice(q + 1, hash < 0 ? undefined : hash)).get(name);
}

/** Largest body `POST /api/identity` reads, bytes. */
const IDENTITY_BODY_LIMIT = 4096;

/** The request's body, or null when it is over `limit` bytes (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The request id of a client frame without decoding it: SUBSCRIBE, UNSUBSCRIBE, PUBLISH and REQUEST
 * (kinds 0x01-0x04) carry a u32 at bytes 1..4. 0 ("not tied to a request") for anything else.
 */
function requestIdOf(frame: Buffer): number {
  return frame.length >= 5 && frame[0] >= 0x01 && frame[0] <= 0x04 ? frame.readUInt32LE(1) : 0;
}

/** Answers an upgrade request with an HTTP error (JSON {code, message}, Retry-After) and closes the socket. */
function refuseUpgrade(socket: Duplex, status: number, reason: string, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
    + `Retry-After: 5\r\nConnection: close\r\n\r\n${body}`);
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
