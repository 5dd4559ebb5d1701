/**
 * Request/reply on the wire: a REQUEST frame names a kind (`place.canvases`); the router hands it
 * to the app that registered that kind and answers with one REPLY or one ERROR carrying the
 * request's id. Kinds are namespaced by app: the part before the first dot names the app, so a
 * request to an app this node does not run is told so (APP_NOT_RUNNING) instead of UNKNOWN_REQUEST.
 */
import { BodyEncoding, BrigadeError, encodeReply, type ClientFrame } from '../protocol/index.ts';
import { JsonText, type AppRequest, type PushTarget, type RequestHandler } from './app.ts';
import type { Logger } from './options.ts';
import type { Publisher } from './channel-type.ts';

type RequestFrame = Extract<ClientFrame, { kind: 'request' }>;

/** Where a reply goes: one session's connection. */
export interface ReplyTarget extends PushTarget {
  readonly publisher: Publisher;
  /** Calls `fn` once when the connection closes; returns its cancel. */
  onClose(fn: () => void): () => void;
  sendError(requestId: number, err: BrigadeError): void;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export class RequestRouter {
  private readonly handlers = new Map<string, RequestHandler>();
  /** Apps running on this node, and every app this build knows (running or not). */
  private readonly running = new Set<string>();
  private readonly known = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** Names the apps this build knows, so a request to one that is not running gets APP_NOT_RUNNING. */
  know(appNames: Iterable<string>): void {
    for (const n of appNames) this.known.add(n);
  }

  /** Marks `app` running (its kinds may be registered). */
  run(app: string): void {
    this.known.add(app);
    this.running.add(app);
  }

  register(app: string, kind: string, handler: RequestHandler): void {
    if (!kind.startsWith(app + '.') || kind.length === app.length + 1) throw new Error(`${app}: request kind ${JSON.stringify(kind)} must be ${app}.<name>`);
    if (this.handlers.has(kind)) throw new Error(`${app}: request kind ${kind} is registered twice`);
    this.handlers.set(kind, handler);
  }

  /** Handles one REQUEST: exactly one REPLY or ERROR with its id, now or when the handler settles. */
  handle(target: ReplyTarget, f: RequestFrame): void {
    const { requestId, requestKind } = f;
    const handler = this.handlers.get(requestKind);
    if (!handler) return target.sendError(requestId, this.unknown(requestKind));
    const request: AppRequest = {
      kind: requestKind,
      body: f.body,
      publisher: target.publisher,
      json: () => parseJson(f.body, requestKind),
      onClose: (fn) => target.onClose(fn),
      connection: target,
    };
    let result: unknown;
    try {
      result = handler(request);
    } catch (err) {
      return this.fail(target, requestId, requestKind, err);
    }
    if (result instanceof Promise) {
      // The frame's bytes may be reused once this returns: a late handler has its own copy.
      request.body = Uint8Array.prototype.slice.call(f.body);
      result.then((r) => this.reply(target, requestId, r), (err) => this.fail(target, requestId, requestKind, err));
    } else {
      this.reply(target, requestId, result);
    }
  }

  private unknown(kind: string): BrigadeError {
    const dot = kind.indexOf('.');
    const app = dot < 0 ? kind : kind.slice(0, dot);
    if (this.known.has(app) && !this.running.has(app)) {
      return new BrigadeError('APP_NOT_RUNNING', `app ${app} is not running on this node (brigade serve --apps); ${kind} cannot be answered here`);
    }
    const kinds = [...this.handlers.keys()].sort().join(', ') || 'none';
    return new BrigadeError('UNKNOWN_REQUEST', `no app answers request kind ${JSON.stringify(kind)}; kinds here: ${kinds}`);
  }

  private reply(target: ReplyTarget, requestId: number, result: unknown): void {
    if (target.closed) return;
    if (result instanceof Uint8Array) return target.send(encodeReply(requestId, BodyEncoding.BYTES, result));
    const text = result instanceof JsonText ? result.text : JSON.stringify(result === undefined ? null : result);
    target.send(encodeReply(requestId, BodyEncoding.JSON, encoder.encode(text)));
  }

  private fail(target: ReplyTarget, requestId: number, kind: string, err: unknown): void {
    if (err instanceof BrigadeError) return target.sendError(requestId, err);
    this.logger.error({ kind, err: String(err) }, 'request handler failed');
    target.sendError(requestId, new BrigadeError('INTERNAL', `the ${kind} handler failed; it has been logged`));
  }
}

function parseJson(body: Uint8Array, kind: string): unknown {
  try {
    return JSON.parse(decoder.decode(body));
  } catch {
    throw new BrigadeError('INVALID_REQUEST', `${kind} wants a JSON body (encoding 1); this one is not valid UTF-8 JSON`);
  }
}
