/**
 * Messages between `brigade bench --scenario choir` (choir-bench.ts) and its singer processes
 * (choir-worker.ts), over the fork IPC channel.
 */
import type { HistogramJson } from './histogram.ts';
import type { LoopDelay } from './loop-delay.ts';

export interface ChoirSingerSpec {
  room: string;
  delayMs: number;
}

export type ChoirWorkerIn =
  /** Connect and join every singer at `url` (ws://host:port), then sing until `exit`. */
  | { t: 'start'; url: string; singers: ChoirSingerSpec[]; decodeEvery: number }
  /** Zero the counters (the measured window starts). */
  | { t: 'reset' }
  /** Report the counters since the last reset. */
  | { t: 'report' }
  | { t: 'exit' };

export interface ChoirWorkerStats {
  /** Frames whose 20 ms slot came in the window (what real-time singers would have sent). */
  due: number;
  sent: number;
  replies: number;
  errors: number;
  /** Frames not sent because the singer's oldest frame in flight had had no reply for 20 ms (the server fell behind). */
  skipped: number;
  /**
   * Frames sent with the singer's previous one still in flight, less than 20 ms after it went out:
   * this process had sent that one late (its loop fell behind), so two slots fell due close
   * together. Before, these were skipped: the singers' own lateness counted as the server's.
   */
  sentBehindLateSend: number;
  /** This process's sends: how late after their slot's time, ms (its timer and loop falling behind). */
  sendLag: HistogramJson;
  /** This process's event-loop delay in the window, ms (loop-delay.ts). */
  loopDelay: LoopDelay;
  /** Send → reply, ms, at the client. */
  rtt: HistogramJson;
  /** Mixes decoded (one in decodeEvery) and of those, how many carried the other singers' voice. */
  decoded: number;
  voiced: number;
  firstErrors: string[];
}

export type ChoirWorkerOut =
  | { t: 'joined'; singers: number; nodes: string[] }
  | { t: 'stats'; stats: ChoirWorkerStats; cpuSeconds: number }
  | { t: 'error'; message: string };
