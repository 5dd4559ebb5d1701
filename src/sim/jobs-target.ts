/**
 * The jobs benchmarks' view of a queue under test (`brigade bench --scenario jobs-*`): Brigade
 * (embedded SQLite or Redis, through the SDK), and the peers plainjob (a SQLite queue
 * that runs inside the worker and producer processes: there is no server) and bullmq (Redis). Each
 * adapter is src/sim/protocols/jobs-<name>.ts, loaded by name in the simulator's worker processes
 * (src/sim/jobs-worker.ts), so a process loads only the library it drives.
 *
 * A payload is `{ n, t }`: the job's number in the run and its enqueue time on the run's one clock
 * (`simNow`, shared by every process of the machine).
 */
export const JOBS_TARGETS = ['brigade', 'brigade-redis', 'plainjob', 'bullmq'] as const;
export type JobsTargetName = (typeof JOBS_TARGETS)[number];

export interface JobPayload { n: number; t: number }

/** A pick-up slower than this, ms, is kept with its time by the push run (when late jobs come, and to how many workers at once). */
export const LATE_MS = 5;

/** SQLite's synchronous for the SQLite targets (Brigade's `--sqlite-synchronous`; plainjob's connections). */
export type SqliteSynchronous = 'full' | 'normal';

/** Who checkpoints Brigade embedded's WAL (`--sqlite-checkpoint`). */
export type SqliteCheckpoint = 'thread' | 'inline';

/** Where a target's queue lives; set by the coordinator for every process of a run. */
export interface JobsConn {
  /** Brigade: ws://127.0.0.1:port (the SDK adds /ws). */
  wsUrl?: string;
  producerKey?: string;
  workerKey?: string;
  /** bullmq: redis://127.0.0.1:port */
  redisUrl?: string;
  /** plainjob: the SQLite file every process opens. */
  sqliteFile?: string;
  /** plainjob: SQLite's synchronous on its connections (plainjob itself sets NORMAL). */
  sqliteSynchronous?: SqliteSynchronous;
}

export interface WorkerSpec {
  queue: string;
  /** Handlers run at once in this worker. */
  concurrency: number;
  /** Brigade: 'push' (held subscribe, credit) or 'poll' (jobs.claim). Peers have their own one way. */
  mode: 'push' | 'poll';
  /** Brigade poll mode: 'fixed' sleeps pollMs after an empty poll; 'slots' sleeps to the worker's own slot. */
  poll?: 'fixed' | 'slots';
  pollMs?: number;
  /** Brigade: the lease of a claim is the job's; a peer's own timeout, ms. */
  leaseMs?: number;
  workerId?: string;
}

export interface EnqueueSpec {
  queue: string;
  /** Brigade: the lease (visibility timeout) of each job, ms. */
  timeoutMs?: number;
  /** Brigade: attempts before a job goes dead (the crash run allows many: a job must never die of kills). */
  maxAttempts?: number;
  /** Brigade: an idempotency key per job (`n`), so a batch resent after a server crash adds nothing twice. */
  keyed?: boolean;
}

export interface RunningWorker {
  /** Empty polls this worker sent (poll modes; 0 where the adapter cannot tell). */
  polls(): number;
  stop(): Promise<void>;
}

export interface JobsProducer {
  /** Enqueues the jobs in one step where the library has one (bulk), resolving once stored. */
  enqueue(payloads: JobPayload[]): Promise<void>;
  close(): Promise<void>;
}

export interface JobsTarget {
  /** Creates what the queue needs before any worker or producer opens it; optional. */
  prepare?(conn: JobsConn): Promise<void>;
  producer(conn: JobsConn, spec: EnqueueSpec): Promise<JobsProducer>;
  /**
   * `handler` runs for every job the worker takes; its return resolves the job. `frameAt`: when the
   * frame that brought the job reached this process (simNow), where the adapter can tell (Brigade).
   */
  worker(conn: JobsConn, spec: WorkerSpec, handler: (payload: JobPayload, attempt: number, frameAt?: number) => unknown): Promise<RunningWorker>;
}

export async function loadJobsTarget(name: string): Promise<JobsTarget> {
  if (!(JOBS_TARGETS as readonly string[]).includes(name)) throw new Error(`unknown jobs target ${JSON.stringify(name)}; targets: ${JOBS_TARGETS.join(', ')}`);
  const file = name === 'brigade-redis' ? 'brigade' : name;
  // Same layout in src/sim and dist/sim; only the extension differs.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const url = new URL(`./protocols/jobs-${file}${ext}`, import.meta.url);
  const mod = (await import(url.href)) as { jobsTarget?: JobsTarget };
  if (!mod.jobsTarget) throw new Error(`${url.pathname} exports no \`jobsTarget\``);
  return mod.jobsTarget;
}
