/**
 * The tracker's surface, mounted by the gateway: the websocket tracker at /announce and at /
 * (WebTorrent users often give wss://host as the announce URL), and GET /api/tracker.
 */
import type { HttpRoute, WsRoute } from '../../gateway/index.ts';
import { json } from '../../gateway/index.ts';
import { TrackerStatusView } from './status.ts';
import type { Tracker } from './tracker.ts';

export const TRACKER_WS_PATHS = ['/announce', '/'] as const;

export function trackerWsRoutes(tracker: Tracker): WsRoute[] {
  return TRACKER_WS_PATHS.map((path) => ({ path, onConnection: (ws, req, ip) => tracker.onConnection(ws, req, ip) }));
}

export function trackerHttpRoutes(tracker: Tracker): HttpRoute[] {
  const status = new TrackerStatusView(tracker.engine, tracker.nodeId);
  return [{
    method: 'GET',
    path: /^\/api\/tracker\/?$/,
    async handle(_req, res) {
      try {
        json(res, 200, await status.get());
      } catch {
        json(res, 503, { code: 'UNAVAILABLE', message: 'the tracker could not reach its store; retry later' });
      }
    },
  }];
}
