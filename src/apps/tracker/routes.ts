/**
 * The tracker's surface: the websocket tracker at /announce and at / (WebTorrent users often give
 * wss://host as the announce URL), and GET /api/tracker.
 */
import type { HttpRoute } from '../../core/index.ts';
import { sendJson } from '../../core/index.ts';
import { TrackerStatusView } from './status.ts';
import type { Tracker } from './tracker.ts';

export const TRACKER_WS_PATHS = ['/announce', '/'] as const;

export function trackerHttpRoutes(tracker: Tracker): HttpRoute[] {
  const status = new TrackerStatusView(tracker.membership, tracker.nodeId);
  return [{
    method: 'GET',
    path: /^\/api\/tracker\/?$/,
    async handle(_req, res) {
      try {
        sendJson(res, 200, await status.get());
      } catch {
        sendJson(res, 503, { code: 'UNAVAILABLE', message: 'the tracker could not reach its store; retry later' });
      }
    },
  }];
}
