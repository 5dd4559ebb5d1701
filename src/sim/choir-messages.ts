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
  | { t: 'start'; url: string; singers: ChoirSingerSpec[]; decodeEvery: number; deadlineMs: number; frameSamples?: number }
  /**
   * The transport floor (choir-bench.ts): this process becomes a WebSocket server that answers
   * every binary message with `replyBytes` and does nothing else.
   */
  | { t: 'echo'; replyBytes: number }
  /** The floor's clients: `sockets` connections to the echo server, each sending `frameBytes` every `periodMs`, in phases spread over the period. */
  | { t: 'floor'; port: number; sockets: number; frameBytes: number; periodMs: number }
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
  /**
   * Mixes the page would not have played: replies that came back more than its lead (MIX_LEAD_MS,
   * 100 ms) after their frame was sent, and frames still unanswered that long after at the report.
   */
  lateForLead: number;
  /**
   * Mixes not back within the deadline (--choir-deadline-ms; the bench's default is the page's
   * lead, 100 ms) of their frame being sent: replies later than that, and frames still unanswered
   * that long after at the report. The whole path,
   * the server's socket and event-loop queues included (docs/choir.md "Benchmarks").
   */
  lateForDeadline: number;
  /** Frames sent with a previous one of the same singer still in flight (the page sends every frame regardless). */
  sentWithReplyPending: number;
  /** This process's sends: how late after their slot's time, ms (its timer and loop falling behind). */
  sendLag: HistogramJson;
  /** This process's event-loop delay in the window, ms (loop-delay.ts). */
  loopDelay: LoopDelay;
  /** Send → reply, ms, at the client. */
  rtt: HistogramJson;
  /** Mixes decoded (those of one singer in decodeEvery, with someone ahead) and of those, how many carried the other singers' voice. */
  decoded: number;
  voiced: number;
  /**
   * Where those singers sang: (the reply's room clock − its read position) − (delay + 200 ms), ms,
   * least and most over their replies: 0 up to the reply's time in flight when each sings its delay
   * behind the room's clock, as the page does. null: none decoded.
   */
  positionErrorMs: { min: number; max: number } | null;
  firstErrors: string[];
}

export type ChoirWorkerOut =
  | { t: 'joined'; singers: number; nodes: string[] }
  | { t: 'echo-listening'; port: number }
  | { t: 'floor-ready' }
  /** The floor clients' replies so far (answer to 'report' in a floor process). */
  | { t: 'floor-stats'; replies: number }
  | { t: 'stats'; stats: ChoirWorkerStats; cpuSeconds: number }
  | { t: 'error'; message: string };
