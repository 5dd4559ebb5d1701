/**
 * What the tracker benchmark's coordinator (bench/tracker/announce.ts) and its peer workers
 * (bench/tracker/peer-worker.ts) say to each other over the fork IPC channel, and the counters a
 * worker keeps. Counters are cumulative since the worker connected; the coordinator subtracts the
 * values at the start of the measured window from those at its end.
 */
import type { HistogramJson } from '../lib/histogram.ts';

export interface LoadSpec {
  /** ws:// URLs; peer i connects to urls[floor(i / swarms) % urls.length] (two nodes: every swarm spans both). */
  urls: string[];
  /** Global index of this worker's first peer and how many peers it runs, of totalPeers in all. */
  firstPeer: number;
  peers: number;
  totalPeers: number;
  swarms: number;
  offers: number;
  /** Fraction of peers that are seeders (left 0). */
  seederFraction: number;
  /** Announces per second per peer at most; 0 = closed loop (next announce as soon as the reply arrives). */
  ratePerPeer: number;
  /** Mean seconds between a peer's `stopped` + re-`started` churn; 0 = no churn. */
  churnSeconds: number;
  /** An announce unanswered this long counts as timed out and the peer goes on. */
  replyTimeoutMs: number;
  /** Local (source) addresses to spread connections over, e.g. 127.0.0.1..127.0.0.4. */
  localAddresses: string[];
  /** Connections opened at once while connecting. */
  connectConcurrency: number;
  /** Seed for peer ids, swarm membership and SDP text, so every target gets the same load. */
  seed: number;
}

export interface PeerCounters {
  /** Sockets open now. */
  open: number;
  /** Connection attempts that failed (after one retry). */
  connectFailures: number;
  /** Sockets closed by the server (or errored) while the load ran. */
  closedByServer: number;
  closeCodes: Record<string, number>;
  announcesSent: number;
  /** Replies to announces (the `interval`/`complete`/`incomplete` message). */
  announceResponses: number;
  /** Announce replies with no announce of that peer waiting (e.g. a reply to an answer). */
  unsolicitedResponses: number;
  /** Announces that got no reply within replyTimeoutMs. */
  announceTimeouts: number;
  stoppedSent: number;
  offersSent: number;
  offersReceived: number;
  /** Offers that reached a peer after it sent `stopped` (left unanswered, as a departed client would). */
  offersIgnoredStopped: number;
  answersSent: number;
  answersReceived: number;
  /** Answers whose offer_id this peer had sent (and not yet seen answered). */
  answersMatched: number;
  /** With several nodes: offers / matched answers that came from a peer connected to another node. */
  crossNodeOffers: number;
  crossNodeAnswers: number;
  /** Offers from the peer itself, offers/answers for another swarm, answers to unknown offer ids. */
  misrouted: number;
  /** Messages that carried a 'failure reason', by reason. */
  failures: Record<string, number>;
  /** Messages that were not JSON, or JSON of no known shape. */
  malformed: number;
  /** Messages received in all (any kind): what aquatic's load test calls responses. */
  messagesReceived: number;
  bytesReceived: number;
  bytesSent: number;
  /** Sum of complete / incomplete over announce replies, to see that both move. */
  completeSum: number;
  incompleteSum: number;
  firstErrors: string[];
}

export function emptyCounters(): PeerCounters {
  return {
    open: 0, connectFailures: 0, closedByServer: 0, closeCodes: {}, announcesSent: 0, announceResponses: 0,
    unsolicitedResponses: 0, announceTimeouts: 0, stoppedSent: 0, offersSent: 0, offersReceived: 0, offersIgnoredStopped: 0,
    answersSent: 0, answersReceived: 0, answersMatched: 0, crossNodeOffers: 0, crossNodeAnswers: 0, misrouted: 0, failures: {}, malformed: 0,
    messagesReceived: 0, bytesReceived: 0, bytesSent: 0, completeSum: 0, incompleteSum: 0, firstErrors: [],
  };
}

export type ToPeerWorker =
  | { t: 'connect'; spec: LoadSpec }
  /** Start announcing (every peer sends its `started`). */
  | { t: 'go' }
  /** Reply `counters` now (the coordinator's once-a-second progress line). */
  | { t: 'sample' }
  /** Start of the measured window: latency histograms restart; reply `counters`. */
  | { t: 'window' }
  /** End of the measured window: reply `counters` with the window's histograms. */
  | { t: 'stop-window' }
  | { t: 'exit' };

export type FromPeerWorker =
  | { t: 'connected'; pid: number; counters: PeerCounters }
  | {
    t: 'counters'; pid: number; at: number; counters: PeerCounters;
    /** Announce sent → its reply, ms (window only; empty at the window's start). */
    announceRtt?: HistogramJson;
    /** Offer sent (in an announce) → the answer to it back at the offerer, ms. */
    offerToAnswer?: HistogramJson;
  }
  | { t: 'error'; pid: number; message: string };
