/**
 * The place app's HTTP surface, mounted by the gateway: canvas metadata, cacheable snapshots
 * (PNG and raw bytes, each naming the version it includes so a client catches up from there),
 * and the admin tools. Paths match with or without a query string.
 */
import './errors.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreApi } from '../../core/core-api.ts';
import type { CanvasSpec, CanvasState, PlaceChannelType } from './canvas.ts';
import { makeAdminCheck, handleErase, handleRollback } from './admin.ts';
import { CANVAS_NAME_PATTERN, PNG_MIN_INTERVAL_MS } from './constants.ts';
import type { HttpRoute } from '../../core/app.ts';
import { HttpError, sendError, sendJson } from '../../core/http.ts';
import { matchesIfNoneMatch } from './http.ts';
import { PngCache } from './png.ts';
import { RenderCache } from './render-cache.ts';
import { isNibblePalette } from './snapshot-codec.ts';

/** A place route: the core's HttpRoute. */
export type PlaceRoute = HttpRoute;

export interface PlaceRoutesOptions {
  /** Bearer token for /admin routes; '' disables them (every call is refused). */
  adminToken: string;
  /** Minimum time between two renders of one canvas's snapshot, ms (default PNG_MIN_INTERVAL_MS). */
  pngMinIntervalMs?: number;
  now?: () => number;
}

/** What a client needs to draw and edit a canvas. */
export interface CanvasDescription {
  name: string;
  width: number;
  height: number;
  palette: string[];
  cooldownMs: number;
  /** Bytes per edit on the wire. */
  eventSize: number;
  /** Layout of snapshot.bin and SNAPSHOT frames: 'nibbles' (≤ 16 colours) or 'bytes'. */
  snapshotEncoding: 'nibbles' | 'bytes';
}

const QUERY = '(?:\\?.*)?$';
const canvasPath = (suffix: string): RegExp => new RegExp(`^/api/place/([^/?]+)/${suffix}${QUERY}`);

/** Headers that cache proxies and browser scripts need around a snapshot. */
const EXPOSED = 'X-Brigade-Version, X-Brigade-Epoch, ETag, X-Canvas-Width, X-Canvas-Height';

export function describeCanvas(type: PlaceChannelType, spec: CanvasSpec): CanvasDescription {
  return {
    name: spec.name,
    width: spec.width,
    height: spec.height,
    palette: [...spec.palette],
    cooldownMs: type.cooldownMs,
    eventSize: spec.codec.eventSize,
    snapshotEncoding: isNibblePalette(spec.palette.length) ? 'nibbles' : 'bytes',
  };
}

export function placeRoutes(core: CoreApi, type: PlaceChannelType, options: PlaceRoutesOptions): PlaceRoute[] {
  const cacheOptions = { minIntervalMs: options.pngMinIntervalMs ?? PNG_MIN_INTERVAL_MS, now: options.now };
  const pngs = new PngCache(type, cacheOptions);
  const bins = new RenderCache((_channel, state) => type.encodeSnapshot(state), cacheOptions);
  const checkAdmin = makeAdminCheck(options.adminToken);

  function canvasOf(match: RegExpMatchArray): CanvasSpec {
    let name = '';
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      // A malformed escape names no canvas; fall through to the 404 below.
    }
    const spec = CANVAS_NAME_PATTERN.test(name) ? type.canvas(`${type.prefix}${name}`) : undefined;
    if (spec === undefined) {
      const names = type.canvases().map((c) => c.name).join(', ') || '(none)';
      throw new HttpError(404, 'PLACE_UNKNOWN_CANVAS', `no canvas named ${JSON.stringify(name)}; canvases: ${names}`);
    }
    return spec;
  }

  /** Wraps a handler so every failure becomes a typed JSON reply. */
  function route(method: 'GET' | 'POST', path: RegExp, fn: PlaceRoute['handle']): PlaceRoute {
    return {
      method,
      path,
      async handle(req, res, match) {
        try {
          await fn(req, res, match);
        } catch (err) {
          sendError(res, err);
        }
      },
    };
  }

  function sendSnapshot(
    req: IncomingMessage, res: ServerResponse, spec: CanvasSpec, contentType: string,
    r: { epoch: number; version: number; etag: string; body: Uint8Array },
  ): void {
    const headers: Record<string, string | number> = {
      'X-Brigade-Version': r.version,
      'X-Brigade-Epoch': r.epoch,
      'X-Canvas-Width': spec.width,
      'X-Canvas-Height': spec.height,
      ETag: r.etag,
      // One second lets nginx or a CDN absorb a crowd; the version header keeps clients exact.
      'Cache-Control': 'public, max-age=1',
      'Access-Control-Expose-Headers': EXPOSED,
    };
    if (matchesIfNoneMatch(req, r.etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': contentType, 'Content-Length': r.body.length });
    res.end(r.body);
  }

  return [
    route('GET', new RegExp(`^/api/place/canvases${QUERY}`), async (_req, res) => {
      sendJson(res, 200, type.canvases().map((spec) => describeCanvas(type, spec)));
    }),

    route('GET', canvasPath('info'), async (_req, res, match) => {
      const spec = canvasOf(match);
      const view = await core.view<CanvasState>(spec.channel);
      sendJson(res, 200, { ...describeCanvas(type, spec), version: view.version, epoch: view.epoch });
    }),

    route('GET', canvasPath('snapshot\\.png'), async (req, res, match) => {
      const spec = canvasOf(match);
      const png = pngs.get(spec.channel, await core.view<CanvasState>(spec.channel));
      sendSnapshot(req, res, spec, 'image/png', { ...png, body: png.png });
    }),

    route('GET', canvasPath('snapshot\\.bin'), async (req, res, match) => {
      const spec = canvasOf(match);
      const bin = bins.get(spec.channel, await core.view<CanvasState>(spec.channel));
      sendSnapshot(req, res, spec, 'application/octet-stream', { ...bin, body: bin.value });
    }),

    route('POST', canvasPath('admin/erase'), async (req, res, match) => {
      checkAdmin(req);
      await handleErase(core, canvasOf(match), req, res);
    }),

    route('POST', canvasPath('admin/rollback'), async (req, res, match) => {
      checkAdmin(req);
      await handleRollback(core, type, canvasOf(match), req, res);
    }),
  ];
}
