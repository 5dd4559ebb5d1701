/**
 * Why the tracker refuses a message. Each refusal is a typed failure: a stable `code` (sent to the
 * client as `failure code`, next to the protocol's `failure reason` text) and a short `reason`
 * label used in metrics (brigade_tracker_failures_total{reason}). Nothing is changed by a refused
 * message: validation happens before any state is touched.
 */
export const TrackerFailureCodes = {
  malformed_json: 'TRACKER_MALFORMED_JSON',
  not_an_object: 'TRACKER_MALFORMED_JSON',
  unknown_action: 'TRACKER_UNKNOWN_ACTION',
  bad_info_hash: 'TRACKER_BAD_INFO_HASH',
  bad_peer_id: 'TRACKER_BAD_PEER_ID',
  bad_to_peer_id: 'TRACKER_BAD_TO_PEER_ID',
  bad_offer_id: 'TRACKER_BAD_OFFER_ID',
  bad_event: 'TRACKER_BAD_EVENT',
  bad_numwant: 'TRACKER_BAD_NUMWANT',
  bad_offers: 'TRACKER_BAD_OFFERS',
  too_many_offers: 'TRACKER_TOO_MANY_OFFERS',
  bad_answer: 'TRACKER_BAD_ANSWER',
  bad_candidates: 'TRACKER_BAD_CANDIDATES',
  too_many_candidates: 'TRACKER_TOO_MANY_CANDIDATES',
  too_many_info_hashes: 'TRACKER_TOO_MANY_INFO_HASHES',
  too_many_peers: 'TRACKER_TOO_MANY_PEERS',
  not_announced: 'TRACKER_NOT_ANNOUNCED',
  unknown_peer: 'TRACKER_UNKNOWN_PEER',
  unknown_offer: 'TRACKER_UNKNOWN_OFFER',
  rate_limited: 'TRACKER_RATE_LIMITED',
  unavailable: 'TRACKER_UNAVAILABLE',
} as const;

export type FailureReason = keyof typeof TrackerFailureCodes;

/** A refused message: what to tell the client, and the metric label. */
export interface TrackerFailure {
  reason: FailureReason;
  message: string;
  /** 'announce' | 'scrape' when the request's action is known (the real client drops replies without one). */
  action?: 'announce' | 'scrape' | 'signal';
  /** Binary info_hash when known, so the client can match the failure to its torrent. */
  infoHash?: string;
}

export function failure(reason: FailureReason, message: string, action?: TrackerFailure['action'], infoHash?: string): TrackerFailure {
  return { reason, message, action, infoHash };
}

/** The JSON text sent for a failure (bittorrent-tracker's shape plus `failure code`). */
export function failureText(f: TrackerFailure): string {
  const body: Record<string, unknown> = {};
  if (f.action) body.action = f.action;
  body['failure reason'] = f.message;
  body['failure code'] = TrackerFailureCodes[f.reason];
  if (f.infoHash !== undefined) body.info_hash = f.infoHash;
  return JSON.stringify(body);
}
