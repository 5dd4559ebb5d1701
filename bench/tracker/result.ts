/**
 * The shape of a tracker benchmark result (bench/results/tracker-<timestamp>.json), written by
 * bench/tracker/announce.ts and read by bench/tracker/report.ts and chart.ts.
 */
import type { LatencySummary } from '../lib/histogram.ts';
import type { PeerCounters } from './messages.ts';

export interface TargetResult {
  target: 'brigade' | 'reference';
  /** Server processes measured (Brigade nodes, or 1 for the reference). */
  nodes: number;
  server: {
    commands: string[];
    /** Settings flags passed to Brigade (those its `serve --help` lists), and those it did not have. */
    flags: string[];
    skippedFlags: string[];
    pids: number[];
    redis: { pid: number } | null;
  };
  windowSeconds: number;
  connected: number;
  connectFailures: number;
  connectSeconds: number;
  /** Per second of the window, as received by the peers. */
  rates: {
    announceResponsesPerSecond: number;
    offersRelayedPerSecond: number;
    answersRelayedPerSecond: number;
    /** Every message received (announce replies + offers + answers + errors): aquatic's "responses". */
    messagesPerSecond: number;
    announcesSentPerSecond: number;
    offersSentPerSecond: number;
    bytesInPerSecond: number;
    bytesOutPerSecond: number;
  };
  cpu: {
    /** utime + stime over the window of the server processes (and their children). */
    serverSeconds: number;
    redisSeconds: number;
    /** (server + redis) CPU-seconds per second, in % of one core. */
    serverPctOfCore: number;
    serverPctOfCorePerProcess: number[];
    generatorSeconds: number;
    generatorPctOfCore: number;
    /** Everything else the machine ran in the window, % of one core. */
    othersPctOfCore: number;
  };
  /** Per CPU-second of server (+ redis) time: "per server core". */
  perServerCpuSecond: { announceResponses: number; messages: number };
  /** Some server process used >= 90 % of a core: the server, not the load, was the limit. */
  saturated: boolean;
  latencyMs: { announceRoundTrip: LatencySummary; offerToAnswer: LatencySummary };
  rssMB: { idle: number; connected: number; peak: number; perPeerKB: number };
  /** Mean complete / incomplete in announce replies. */
  swarm: { meanComplete: number; meanIncomplete: number };
  /** The window's counters, summed over the peers. */
  counters: PeerCounters;
  /** Failures, malformed or misrouted messages, timeouts, server closes, failed connects (window). */
  errors: number;
  /** The reference's 'warning' events in the window (bad requests as it sees them), by message; null for Brigade. */
  serverWarnings: { warnings: number; byReason: Record<string, number> } | null;
  timeline: {
    s: number;
    announceResponsesPerSecond: number;
    messagesPerSecond: number;
    offersPerSecond: number;
    answersPerSecond: number;
    serverCpuPct: number;
    generatorCpuPct: number;
  }[];
}

export interface TrackerBenchResult {
  bench: 'tracker-announce';
  startedAt: string;
  command: string;
  label: string;
  versions: { brigade: string; bittorrentTracker: string };
  machine: { cores: number; cpuModel: string; node: string; kernel: string; memoryGiB: number; clockTicksPerSecond: number };
  params: {
    peers: number; swarms: number; offers: number; numwant: number; seconds: number; warmup: number;
    targets: string[]; brigadeNodes: number; workers: number; ratePerPeer: number; churnSeconds: number;
    seederFraction: number; replyTimeoutMs: number; seed: number;
  };
  targets: TargetResult[];
  comparison: {
    /** Brigade's announce responses per server CPU-second over the reference's. */
    announceResponsesPerCpuSecondRatio: number | null;
    messagesPerCpuSecondRatio: number | null;
    target: number;
  } | null;
}

/**
 * aquatic_ws's published figure (documents/aquatic-ws-load-test-2023-01-25.pdf in
 * greatest-ape/aquatic): 120,125 responses/s on "1 CPU core" (taskset 0,24: one physical core, both
 * hyperthreads), 1,020 connections, TLS 1.3, 10 offers per announce of 47-byte SDPs, responses =
 * announce replies + offers + answers received by the load tester.
 */
export const AQUATIC = {
  responsesPerSecondOneCore: 120_125,
  url: 'https://github.com/greatest-ape/aquatic/blob/master/documents/aquatic-ws-load-test-2023-01-25.pdf',
  bittorrentTrackerOneCore: 24_857,
};
