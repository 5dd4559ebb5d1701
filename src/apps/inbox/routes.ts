/**
 * inbox's HTTP API (docs/inbox.md): devices register and update themselves with their device
 * token; publishers check expressions and publish, edit, recall and read messages with the
 * publisher key. Every refusal is typed ({code, message}; a bad expression adds position and
 * expected).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RateLimiter, readJsonBody, sendError, sendJson, type HttpRoute } from '../../core/index.ts';
import { BrigadeError } from '../../protocol/index.ts';
import { ExpressionError } from './expression.ts';
import type { Inbox } from './inbox.ts';
import { checkSubscription } from './push.ts';
import { bearer, checkKey, type DeviceTokens } from './tokens.ts';

export interface RoutesOptions {
  publisherKey: string;
  /** Publisher requests per second per client address (0: no limit), with a burst of twice as many. */
  publishPerSecond: number;
  /** Device registrations per minute per client address (0: no limit). */
  registerPerMinute: number;
  /** Largest request body, bytes. */
  maxRequestBytes: number;
}

/** A bulk registration (POST /api/inbox/devices/bulk): at most this many devices, and this many bytes of JSON. */
export const BULK_MAX_DEVICES = 10_000;
export const BULK_MAX_BYTES = 16 * 1024 * 1024;

function fail(res: ServerResponse, err: unknown): void {
  if (err instanceof ExpressionError) {
    sendJson(res, 400, { code: err.code, message: err.message, position: err.position, expected: err.expected });
  } else {
    sendError(res, err, 'an inbox request');
  }
}

function ipOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}

export function inboxRoutes(
  inbox: Inbox, tokens: DeviceTokens, options: RoutesOptions, onDeviceChanged: (id: string) => void,
  push: { publicKey: string; allowHttp: boolean; online(id: string): Promise<boolean> },
): HttpRoute[] {
  const publishLimiter = new RateLimiter(options.publishPerSecond, Math.max(1, options.publishPerSecond * 2));
  const registerLimiter = new RateLimiter(options.registerPerMinute / 60, Math.max(1, options.registerPerMinute));
  const body = (req: IncomingMessage) => readJsonBody(req, options.maxRequestBytes, 'INBOX_BAD_REQUEST');

  const publisher = (req: IncomingMessage): string => {
    checkKey(bearer(req.headers.authorization), options.publisherKey);
    const ip = ipOf(req);
    const wait = publishLimiter.take(ip, Date.now());
    if (wait > 0) {
      throw new BrigadeError('RATE_LIMITED', `this publisher (${ip}) is over ${options.publishPerSecond} requests/s (--inbox-publish-per-second); retry in ${wait} ms`, wait);
    }
    return 'publisher@' + ip;
  };

  const route = (method: HttpRoute['method'], path: RegExp, fn: (req: IncomingMessage, m: RegExpMatchArray) => Promise<[number, unknown]>): HttpRoute => ({
    method, path,
    async handle(req, res, m) {
      try {
        const [status, out] = await fn(req, m);
        sendJson(res, status, out);
      } catch (err) {
        fail(res, err);
      }
    },
  });

  return [
    route('POST', /^\/api\/inbox\/devices$/, async (req) => {
      const wait = registerLimiter.take(ipOf(req), Date.now());
      if (wait > 0) throw new BrigadeError('RATE_LIMITED', `over ${options.registerPerMinute} device registrations a minute from this address (--inbox-register-per-minute); retry in ${wait} ms`, wait);
      const { id } = await inbox.register(await body(req));
      return [201, { id, token: tokens.issue(id) }];
    }),
    route('POST', /^\/api\/inbox\/devices\/bulk$/, async (req) => {
      publisher(req);
      const { ids } = await inbox.registerMany(await readJsonBody(req, BULK_MAX_BYTES, 'INBOX_BAD_REQUEST'), BULK_MAX_DEVICES);
      return [201, { ids, tokens: ids.map((id) => tokens.issue(id)) }];
    }),
    route('GET', /^\/api\/inbox\/devices\/me$/, async (req) => {
      const id = tokens.verify(bearer(req.headers.authorization));
      return [200, { id, ...(await inbox.device(id)), online: await push.online(id) }];
    }),
    route('PATCH', /^\/api\/inbox\/devices\/me$/, async (req) => {
      const id = tokens.verify(bearer(req.headers.authorization));
      const version = await inbox.updateDevice(id, await body(req));
      onDeviceChanged(id);
      return [200, { id, ...(await inbox.device(id, version)) }];
    }),
    route('GET', /^\/api\/inbox\/push\/key$/, async () => [200, { publicKey: push.publicKey }]),
    route('PUT', /^\/api\/inbox\/devices\/me\/push$/, async (req) => {
      const id = tokens.verify(bearer(req.headers.authorization));
      await inbox.mustExist(id);
      const version = await inbox.setPush(id, checkSubscription(await body(req), push.allowHttp));
      return [200, { id, ...(await inbox.device(id, version)) }];
    }),
    route('DELETE', /^\/api\/inbox\/devices\/me\/push$/, async (req) => {
      const id = tokens.verify(bearer(req.headers.authorization));
      await inbox.mustExist(id);
      const version = await inbox.dropPush(id);
      return [200, { id, ...(await inbox.device(id, version)) }];
    }),
    route('POST', /^\/api\/inbox\/expressions\/check$/, async (req) => {
      publisher(req);
      return [200, await inbox.check(await body(req))];
    }),
    route('POST', /^\/api\/inbox\/messages$/, async (req) => {
      const by = publisher(req);
      return [201, await inbox.publish(await body(req), by)];
    }),
    route('GET', /^\/api\/inbox\/messages$/, async (req) => {
      publisher(req);
      return [200, await inbox.list()];
    }),
    route('GET', /^\/api\/inbox\/messages\/([0-9a-f]{16})$/, async (req, m) => {
      publisher(req);
      return [200, await inbox.get(m[1])];
    }),
    route('PATCH', /^\/api\/inbox\/messages\/([0-9a-f]{16})$/, async (req, m) => {
      const by = publisher(req);
      return [200, await inbox.edit(m[1], await body(req), by)];
    }),
    route('DELETE', /^\/api\/inbox\/messages\/([0-9a-f]{16})$/, async (req, m) => {
      const by = publisher(req);
      return [200, await inbox.recall(m[1], by)];
    }),
    // Any other message path (an id that is not 16 hex digits) names no message.
    ...(['GET', 'PATCH', 'DELETE'] as const).map((method) => route(method, /^\/api\/inbox\/messages\/[^/]+$/, async (req) => {
      publisher(req);
      throw new BrigadeError('INBOX_UNKNOWN_MESSAGE', 'message ids are 16 hex digits, as POST /api/inbox/messages returned');
    })),
  ];
}
