/**
 * Local job worker processes for `brigade autoscale`: keeps `want` processes of one pool's command
 * live, each pointed at a running node (BRIGADE_URL, round robin over the nodes when it starts).
 * Extras are stopped newest first with SIGTERM (a worker finishes the jobs it holds and exits;
 * SIGKILL after stopTimeoutMs, and what it held runs again when its leases expire). A worker that
 * exits by itself is replaced after restartDelayMs, doubling while workers die young.
 *
 * It only acts on processes it spawned, by their ChildProcess handle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { onLines } from '../sim/listening.ts';
import type { WorkerDecision } from './decide.ts';
import type { WorkerPoolPolicy } from './policy.ts';

export interface ManagedWorker {
  id: number;
  pid: number;
  proc: ChildProcess;
  /** The node it was given. */
  url: string;
  state: 'running' | 'stopping';
  startedAt: number;
  stopReason: string | null;
  exited: Promise<void>;
}

export interface WorkerEvent {
  at: string;
  event: 'start' | 'stop' | 'kill' | 'exit';
  worker: number;
  pid: number;
  reason?: string;
  code?: number | null;
  signal?: string | null;
}

/** A worker that exits sooner than this after its start died young: restarts back off. */
const YOUNG_MS = 5000;
const MAX_RESTART_DELAY_MS = 30_000;
const EVENTS_KEPT = 50;

export class WorkerPool {
  private readonly workers = new Map<number, ManagedWorker>();
  private nextId = 1;
  private want = 0;
  private shuttingDown = false;
  private youngExits = 0;
  private notBefore = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private urls: string[] = [];
  private nextUrl = 0;
  lastChangeAt: number | null = null;
  lastDecision: (WorkerDecision & { at: string; current: number }) | null = null;
  readonly events: WorkerEvent[] = [];

  constructor(
    readonly policy: WorkerPoolPolicy,
    /** Environment for every worker (the shared secrets); the pool's own env and BRIGADE_* go on top. */
    private readonly env: NodeJS.ProcessEnv,
    private readonly logger: Logger,
    private readonly onChange: () => void = () => {},
  ) {}

  get wanted(): number {
    return this.want;
  }

  list(): ManagedWorker[] {
    return [...this.workers.values()];
  }

  live(): ManagedWorker[] {
    return this.list().filter((w) => w.state === 'running');
  }

  /** Sets the count and the nodes new workers may be pointed at, then starts or stops workers. */
  setWant(n: number, urls: string[]): void {
    this.want = n;
    this.urls = urls;
    this.reconcile();
  }

  reconcile(): void {
    if (this.shuttingDown) return;
    const live = this.live();
    if (live.length > this.want) {
      const newest = [...live].sort((a, b) => b.id - a.id);
      for (const w of newest.slice(0, live.length - this.want)) void this.stop(w, 'scale down');
      return;
    }
    // No node to point a worker at: wait for the next round.
    if (live.length === this.want || this.urls.length === 0) return;
    const wait = this.notBefore - Date.now();
    if (wait > 0) {
      this.retryTimer ??= setTimeout(() => { this.retryTimer = null; this.reconcile(); }, wait);
      return;
    }
    for (let i = live.length; i < this.want; i++) this.start();
  }

  private start(): void {
    const p = this.policy;
    const id = this.nextId++;
    const url = this.urls[this.nextUrl++ % this.urls.length]!;
    const env = {
      ...this.env, ...p.env,
      BRIGADE_URL: url, BRIGADE_JOBS_QUEUE: p.queue, BRIGADE_WORKER_ID: `${p.name}-${id}-${process.pid}`,
    };
    const proc = spawn(p.command[0]!, p.command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env, cwd: p.cwd || undefined });
    if (proc.pid === undefined) {
      proc.once('error', (err) => {
        this.logger.error({ pool: p.name, command: p.command[0], err: err.message }, 'could not start a worker');
        this.diedYoung();
      });
      return;
    }
    const worker: ManagedWorker = {
      id, pid: proc.pid, proc, url, state: 'running', startedAt: Date.now(), stopReason: null,
      exited: new Promise((resolve) => proc.once('exit', () => resolve())),
    };
    this.workers.set(id, worker);
    this.event({ event: 'start', worker: id, pid: worker.pid, reason: url });
    this.logger.info({ pool: p.name, worker: id, pid: worker.pid, url }, 'worker starting');
    for (const stream of [proc.stdout!, proc.stderr!]) {
      onLines(stream, (line) => { if (p.forwardLogs) process.stderr.write(line + '\n'); });
    }
    proc.once('exit', (code, signal) => this.onExit(worker, code, signal));
    this.onChange();
  }

  private onExit(worker: ManagedWorker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.id);
    this.event({ event: 'exit', worker: worker.id, pid: worker.pid, code, signal, reason: worker.stopReason ?? 'exited by itself' });
    if (worker.state !== 'stopping') {
      this.logger.warn({ pool: this.policy.name, worker: worker.id, pid: worker.pid, code, signal }, 'worker exited by itself; starting another');
      if (Date.now() - worker.startedAt < YOUNG_MS) this.diedYoung();
      else {
        this.youngExits = 0;
        this.notBefore = Math.max(this.notBefore, Date.now() + this.policy.restartDelayMs);
      }
    }
    this.onChange();
    this.reconcile();
  }

  private diedYoung(): void {
    this.youngExits++;
    const delay = Math.min(MAX_RESTART_DELAY_MS, this.policy.restartDelayMs * 2 ** Math.min(this.youngExits, 10));
    this.notBefore = Date.now() + Math.max(delay, 1);
    this.reconcile();
  }

  stop(worker: ManagedWorker, reason: string): Promise<void> {
    if (worker.state !== 'stopping') {
      worker.state = 'stopping';
      worker.stopReason = reason;
      this.event({ event: 'stop', worker: worker.id, pid: worker.pid, reason });
      this.logger.info({ pool: this.policy.name, worker: worker.id, pid: worker.pid, reason }, 'stopping worker');
      signal(worker, 'SIGTERM');
      const timer = setTimeout(() => {
        if (worker.proc.exitCode !== null || worker.proc.signalCode !== null) return;
        this.event({ event: 'kill', worker: worker.id, pid: worker.pid, reason: `still running ${this.policy.stopTimeoutMs} ms after SIGTERM` });
        signal(worker, 'SIGKILL');
      }, this.policy.stopTimeoutMs);
      void worker.exited.then(() => clearTimeout(timer));
      this.onChange();
    }
    return worker.exited;
  }

  async shutdown(reason: string): Promise<void> {
    this.shuttingDown = true;
    this.want = 0;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all(this.list().map((w) => this.stop(w, reason)));
  }

  killAllNow(): void {
    for (const w of this.workers.values()) signal(w, 'SIGKILL');
  }

  describe(): Record<string, unknown> {
    const p = this.policy;
    return {
      name: p.name, queue: p.queue, minWorkers: p.minWorkers, maxWorkers: p.maxWorkers, jobsPerWorker: p.jobsPerWorker,
      wanted: this.want, lastChangeAt: this.lastChangeAt === null ? null : new Date(this.lastChangeAt).toISOString(),
      lastDecision: this.lastDecision,
      workers: this.list().map((w) => ({ worker: w.id, pid: w.pid, url: w.url, state: w.state, startedAt: new Date(w.startedAt).toISOString() })),
      events: this.events,
    };
  }

  private event(e: Omit<WorkerEvent, 'at'>): void {
    this.events.push({ at: new Date().toISOString(), ...e });
    if (this.events.length > EVENTS_KEPT) this.events.shift();
  }
}

function signal(worker: ManagedWorker, sig: NodeJS.Signals): void {
  if (worker.proc.exitCode === null && worker.proc.signalCode === null) worker.proc.kill(sig);
}
