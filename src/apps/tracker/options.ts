/**
 * The tracker's limits and timings, each with its unit. Every one is an option of the tracker app
 * (app.ts): `trackerIntervalMs` is `--tracker-interval-ms`, file key `apps.tracker.intervalMs`.
 */
export interface TrackerOptions {
  /** Announce interval told to clients (the reply's `interval`, sent in seconds), ms. */
  trackerIntervalMs: number;
  /**
   * How long a peer stays in its swarm without announcing again, ms. About twice the interval, so
   * one lost announce does not drop a peer; it is also how long a peer of a crashed node lingers.
   */
  trackerPeerTtlMs: number;
  /** Most offers one announce may carry. */
  trackerMaxOffers: number;
  /** Largest numwant accepted. */
  trackerMaxNumwant: number;
  /** Work is grouped per tick: replies, relays and membership reads of one tick go out together, ms. */
  trackerTickMs: number;
  /** Messages one connection may send per second; past it they are refused, and far past it the connection is closed (4429). */
  trackerMaxMessagesPerSecond: number;
  /** Refused messages tolerated per connection per minute before it is closed with 4400. */
  trackerMaxErrors: number;
  /** (info_hash, peer_id) pairs one connection may hold (the real client shares one socket for all its torrents). */
  trackerMaxPeersPerSocket: number;
  /** Relayed offers remembered per peer so its answers can be checked (oldest forgotten first). */
  trackerMaxPendingOffers: number;
  /** Most info_hashes in one scrape, and the most swarms a scrape without info_hash reports. */
  trackerMaxScrapeHashes: number;
  /** Accept the `signal` extension (trickle ICE candidates, grouped per tick); off by default. */
  trackerTrickle: boolean;
  /** Most candidates in one `signal` message. */
  trackerMaxCandidates: number;
}

export const defaultTrackerOptions: TrackerOptions = {
  trackerIntervalMs: 120_000,
  trackerPeerTtlMs: 240_000,
  trackerMaxOffers: 10,
  trackerMaxNumwant: 100,
  trackerTickMs: 25,
  trackerMaxMessagesPerSecond: 100,
  trackerMaxErrors: 20,
  trackerMaxPeersPerSocket: 500,
  trackerMaxPendingOffers: 256,
  trackerMaxScrapeHashes: 100,
  trackerTrickle: false,
  trackerMaxCandidates: 32,
};
