/**
 * The tracker on the App contract: its options (`--tracker-interval-ms`, …), its WebSocket paths
 * (/announce and /) through the core's FrameSocket, GET /api/tracker, its metrics, and the engine
 * abilities it needs (membership for swarms, direct messages for relays between nodes).
 */
import type { App, OptionSpec, OptionSpecs } from '../../core/index.ts';
import { defaultTrackerOptions, type TrackerOptions } from './options.ts';
import { TRACKER_WS_PATHS, trackerHttpRoutes } from './routes.ts';
import { NODE_STATS_INTERVAL_MS, Tracker } from './tracker.ts';
import type client from 'prom-client';

/** The app's option names: TrackerOptions' without the `tracker` prefix (`intervalMs` → `--tracker-interval-ms`). */
export type TrackerAppOptions = { [key: string]: number | boolean };

const HELP: Record<keyof TrackerOptions, string> = {
  trackerIntervalMs: 'announce interval told to clients (sent in seconds), ms',
  trackerPeerTtlMs: 'how long a peer stays in its swarm without announcing again, ms',
  trackerMaxOffers: 'most offers one announce may carry',
  trackerMaxNumwant: 'largest numwant accepted',
  trackerTickMs: 'replies, relays and membership reads of one tick go out together, ms',
  trackerMaxMessagesPerSecond: 'messages one connection may send per second',
  trackerMaxErrors: 'refused messages tolerated per connection per minute before a 4400 close',
  trackerMaxPeersPerSocket: '(info_hash, peer_id) pairs one connection may hold',
  trackerMaxPendingOffers: 'relayed offers remembered per peer so its answers can be checked',
  trackerMaxScrapeHashes: 'most info_hashes in one scrape',
  trackerTrickle: 'accept the signal extension (trickle ICE candidates)',
  trackerMaxCandidates: 'most candidates in one signal message',
};

const short = (k: string) => k[7].toLowerCase() + k.slice(8);

const specs: Record<string, OptionSpec> = {};
for (const k of Object.keys(defaultTrackerOptions) as (keyof TrackerOptions)[]) {
  specs[short(k)] = { default: defaultTrackerOptions[k], help: HELP[k] };
}
specs.tickMs.validate = (v) => (Number.isInteger(v) && (v as number) >= 1 ? null : 'must be a whole number of milliseconds, at least 1');

/** TrackerOptions out of the app's options. */
export function trackerOptionsFrom(options: TrackerAppOptions): TrackerOptions {
  const out = { ...defaultTrackerOptions };
  for (const k of Object.keys(defaultTrackerOptions) as (keyof TrackerOptions)[]) {
    const v = options[short(k)];
    if (v !== undefined) (out as Record<string, number | boolean>)[k] = v;
  }
  return out;
}

export const trackerApp: App<TrackerAppOptions> = {
  name: 'tracker',
  description: 'WebTorrent tracker: swarms, peers and messages/s per node, live',
  page: '/tracker',
  options: specs as OptionSpecs<TrackerAppOptions>,
  needs: ['direct', 'membership'],
  start(core) {
    const options = trackerOptionsFrom(core.options);
    const tracker = new Tracker(options, {
      membership: core.membership!,
      direct: core.direct!,
      coreStats: core.stats,
      logger: core.logger,
      maxBufferedBytes: core.limits.maxBufferedBytes,
      nodeId: core.nodeId,
      registry: core.metricsRegistry as client.Registry | undefined,
    });
    for (const path of TRACKER_WS_PATHS) core.socket(path, (socket) => tracker.onConnection(socket));
    for (const route of trackerHttpRoutes(tracker)) core.http(route);
    // The core owns the timers: the tick, on demand (woken by the first work after an idle spell,
    // so an idle tracker costs no timer), and the stats record.
    tracker.start(core.tick(options.trackerTickMs, tracker.tick, { onDemand: true }));
    core.tick(NODE_STATS_INTERVAL_MS, () => tracker.publishStats());
    return { stop: () => tracker.stop() };
  },
};
