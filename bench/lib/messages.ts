/**
 * Messages between bench/place-fanout.ts (the parent) and its child processes, over the IPC
 * channel of child_process.fork with `serialization: 'advanced'` (typed arrays travel as such).
 */
import type { HistogramJson } from './histogram.ts';

// ---- viewer workers ---------------------------------------------------------------------------

export type ToViewer =
  /**
   * Open `count` viewers. The first of them is a checker: it subscribes with a snapshot and folds
   * every edit into its own copy of the canvas (width x height, `colours` colours).
   */
  | { t: 'connect'; wsUrl: string; channel: string; count: number; localAddresses: string[]; concurrency: number; width: number; height: number; colours: number }
  /** Start of the measured window: counters restart and every batch's receipt time is kept. */
  | { t: 'window'; t0: number; maxSeconds: number }
  /** End of the measured window: reply with `window-counters`; nothing more is recorded. */
  | { t: 'stop-window' }
  | { t: 'versions'; head: number }
  /** Reply `batch-mins`: the earliest receipt of each distinct batch in this process. */
  | { t: 'batch-mins' }
  /** Compare the checker's canvas with snapshot.bin's bytes at `version`; reply `canvas-check`. */
  | { t: 'check-canvas'; version: number; bytes: Uint8Array }
  /**
   * Ack and send times of every edit, indexed by version - v0 (NaN: unknown), and the earliest
   * receipt of each batch over all viewer processes (keys as in `batch-mins`); reply `latency`.
   */
  | { t: 'latency'; v0: number; ackAt: Float64Array; sendAt: Float64Array; batchKeys: Float64Array; batchMins: Float64Array }
  | { t: 'exit' };

export interface ViewerCounters {
  /** Sockets open and subscribed now. */
  live: number;
  /** Sockets that never got subscribed (after retries). */
  failed: number;
  /** Sockets closed after being subscribed (not asked for). */
  closed: number;
  frames: number;
  bytes: number;
  events: number;
  /** BATCH frames whose first version was past the viewer's version (lost events). */
  gaps: number;
  /** BATCH frames that repeated versions the viewer had. */
  duplicates: number;
  behind: number;
  snapshots: number;
  errors: number;
  malformed: number;
  /** Receipt samples dropped because the per-worker sample cap was reached. */
  samplesDropped: number;
  firstErrors: string[];
}

export type FromViewer =
  | { t: 'progress'; pid: number; counters: ViewerCounters }
  | { t: 'ready'; pid: number; counters: ViewerCounters }
  | {
    t: 'window-counters'; pid: number; counters: ViewerCounters;
    /** Per second of the window (by receipt time): frames, events, bytes. */
    framesPerSecond: number[]; eventsPerSecond: number[]; bytesPerSecond: number[];
  }
  | { t: 'versions'; pid: number; atHead: number; below: number; above: number; min: number; max: number; live: number }
  /** key = firstVersion * 2^20 + count, min = earliest receipt time (ms, shared clock). */
  | { t: 'batch-mins'; pid: number; keys: Float64Array; mins: Float64Array }
  /** checkerVersion: the checker's version; equal: its canvas equals the bytes (null: versions differ or no checker). */
  | { t: 'canvas-check'; pid: number; checkerVersion: number; equal: boolean | null; differingBytes: number }
  | {
    t: 'latency'; pid: number; ack: HistogramJson; send: HistogramJson;
    /** receipt - the earliest receipt of the same batch by any viewer: how long one fan-out takes to reach everyone. */
    spread: HistogramJson;
    /** ack → receipt per second of the window, by the edit's ack time. */
    perSecondAck: HistogramJson[];
    /** publish → receipt per second of the window, by the edit's ack time. */
    perSecondSend: HistogramJson[];
    perSecondSpread: HistogramJson[];
  };

// ---- editor -----------------------------------------------------------------------------------

export type ToEditor =
  | { t: 'connect'; httpUrl: string; wsUrl: string; channel: string; connections: number; localAddress: string; width: number; height: number; colours: number }
  | { t: 'start'; t0: number; editsPerSecond: number; seconds: number; ackTimeoutMs: number }
  | { t: 'exit' };

export interface EditorCounters {
  sent: number;
  acked: number;
  refused: number;
  lastSendAt: number;
  lastAckAt: number;
  refusals: Record<string, number>;
}

export type FromEditor =
  | { t: 'ready'; pid: number }
  | { t: 'progress'; pid: number; counters: EditorCounters }
  | {
    t: 'done'; pid: number; counters: EditorCounters; publishToAck: HistogramJson;
    /** Per edit, in send order: the version acknowledged (NaN if refused or unanswered), send and ack times. */
    version: Float64Array; sendAt: Float64Array; ackAt: Float64Array;
  }
  | { t: 'error'; pid: number; message: string };
