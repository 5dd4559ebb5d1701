/**
 * Messages between the `brigade bench` coordinator (src/sim/run-target.ts) and its worker
 * processes (viewer-worker.ts, editor-worker.ts), over the IPC channel of child_process.fork with
 * `serialization: 'advanced'`, so typed arrays travel as such.
 */
import type { HistogramJson } from './histogram.ts';

/** A deliberate fault, for the simulator's own tests: proves the convergence check can fail. */
export type Fault = 'none' | 'drop-frame' | 'corrupt-byte';

// ---- viewer workers ---------------------------------------------------------------------------

export interface ViewerSetup {
  t: 'connect';
  /** Adapter name (src/sim/protocols/<name>). */
  protocol: string;
  /** Server base URLs; viewer i of the whole run connects to urls[i % urls.length]. */
  urls: string[];
  channel: string;
  /** Viewers in this process, and the run-wide index of the first (for spreading over urls). */
  count: number;
  firstIndex: number;
  localAddresses: string[];
  /** Handshakes in flight at once in this process. */
  concurrency: number;
  width: number;
  height: number;
  colours: number;
  /** Position every viewer starts from (the log's head before the window; 0 on a fresh server). */
  from: number;
  fault: Fault;
}

export type ToViewer =
  | ViewerSetup
  /** Start of the measured window: per-second counters start at t0 and receipt times are kept. */
  | { t: 'window'; t0: number; maxSeconds: number }
  /** End of the measured window: reply `window-counters`; nothing more is recorded. */
  | { t: 'stop-window' }
  /** Reply `check`: where the viewers stand against `head`, and the canonical stream's hash. */
  | { t: 'check'; head: number }
  /** Ack time of every position from `from` on (NaN: unknown); reply `latency`. */
  | { t: 'latency'; ackAt: Float64Array }
  | { t: 'exit' };

export interface ViewerCounters {
  /** Viewers open and receiving now. */
  live: number;
  /** Viewers that could not connect (after retries). */
  failed: number;
  /** Viewers closed after they opened (not asked for). */
  closed: number;
  frames: number;
  bytes: number;
  events: number;
  /** Runs that started past a viewer's next position (lost edits). */
  gaps: number;
  /** Runs that started before a viewer's next position (repeated edits). */
  duplicates: number;
  /** Runs whose bytes differ from the first copy of the same positions this process saw. */
  mismatches: number;
  /** Receipt samples dropped at the per-process cap. */
  samplesDropped: number;
  firstErrors: string[];
}

export interface ViewerCheck {
  t: 'check';
  pid: number;
  live: number;
  /** Viewers whose every run was in order and byte-identical, and that reached the head. */
  converged: number;
  /** Viewers short of the head (no failure seen yet: maybe still receiving). */
  behindHead: number;
  /** Viewers that saw a gap, a duplicate or different bytes. */
  broken: number;
  /** Positions [from, known) of the canonical stream this process holds, and their sha256. */
  known: number;
  sha256: string;
}

export type FromViewer =
  | { t: 'progress'; pid: number; counters: ViewerCounters }
  /** Every viewer opened or gave up; rssBeforeConnect: this process's RSS before the first viewer, bytes. */
  | { t: 'ready'; pid: number; counters: ViewerCounters; rssBeforeConnect: number }
  | {
    t: 'window-counters'; pid: number; counters: ViewerCounters;
    /** Per second of the window, by receipt time. */
    framesPerSecond: number[]; eventsPerSecond: number[]; bytesPerSecond: number[];
    /** Distinct (first, count) runs received: with every viewer receiving every frame, frames = runs x viewers. */
    distinctRuns: number;
  }
  | ViewerCheck
  | {
    t: 'latency'; pid: number;
    /** ack → receipt per (viewer, edit), whole window and per second of the edit's ack. */
    ack: HistogramJson; perSecond: HistogramJson[];
  }
  | { t: 'error'; pid: number; message: string };

// ---- editor -----------------------------------------------------------------------------------

export type ToEditor =
  | {
    t: 'connect'; protocol: string; urls: string[]; channel: string; connections: number; localAddress: string;
    width: number; height: number; colours: number; seed: number;
  }
  | { t: 'start'; t0: number; editsPerSecond: number; seconds: number; ackTimeoutMs: number }
  | { t: 'exit' };

export interface EditorCounters {
  sent: number;
  acked: number;
  lastSendAt: number;
  lastAckAt: number;
}

export type FromEditor =
  | { t: 'ready'; pid: number }
  | { t: 'progress'; pid: number; counters: EditorCounters }
  | {
    t: 'done'; pid: number; counters: EditorCounters; sendToAck: HistogramJson;
    /** Per edit, in send order: the position acknowledged (NaN: unanswered), send and ack times, and its bytes. */
    position: Float64Array; sendAt: Float64Array; ackAt: Float64Array; edits: Uint8Array;
  }
  | { t: 'error'; pid: number; message: string };
