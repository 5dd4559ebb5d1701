/**
 * The jobs app's client (docs/jobs.md): `enqueue` over a request (or HTTP), and `worker`, which
 * claims jobs over the BrigadeClient's requests, heartbeats while the handler runs, completes with
 * the handler's result, and fails the attempt (a retry, with backoff, on the server) when the handler
 * throws or outlives its timeout. `attempt` is visible to the handler: a job runs at least once.
 *
 * Polling: `poll: 'slots'` (default) sleeps to the worker's own slot (sdk/slots.ts) as the server's
 * `jobs.slots` assigns it; `poll: 'fixed'` sleeps `pollMs` between empty polls (the seed's baseline).
 */
import { BrigadeError, registerErrorCodes, type ErrorBlock } from '../protocol/index.ts';
import type { BrigadeClient } from './client.ts';
import { sleepUntilSlotMs } from './slots.ts';

/**
 * The jobs app's codes, as src/apps/jobs/errors.ts registers them (the SDK imports nothing of the
 * server; test/sdk/jobs-sdk.test.ts checks the two agree), so a client decodes them by name.
 */
export const JOBS_ERROR_BLOCK: ErrorBlock = {
  owner: 'jobs',
  first: 300,
  codes: {
    JOBS_INVALID_QUEUE: { wire: 300 },
    JOBS_BAD_OPTION: { wire: 301 },
    JOBS_PAYLOAD_TOO_LARGE: { wire: 302, http: 413 },
    JOBS_BAD_KEY: { wire: 303, http: 401 },
    JOBS_LEASE_LOST: { wire: 304, http: 409 },
    JOBS_NOT_FOUND: { wire: 305, http: 404 },
  },
};
registerErrorCodes(JOBS_ERROR_BLOCK);

export interface EnqueueOptions {
  runAt?: number | string;
  delayMs?: number;
  priority?: number;
  maxAttempts?: number;
  backoff?: number | { type?: 'exponential' | 'fixed'; delayMs?: number; maxDelayMs?: number };
  timeoutMs?: number;
  key?: string;
}

export interface JobContext<P = unknown> {
  queue: string;
  id: string;
  payload: P;
  /** 1 for the first run; more when an earlier attempt failed, timed out or lost its lease. */
  attempt: number;
  maxAttempts: number;
  /** Aborted when the handler's time is up or the lease was lost: stop working. */
  signal: AbortSignal;
}

export type JobHandler<P = unknown> = (job: JobContext<P>) => unknown;

export interface WorkerOptions {
  /** Jobs run at once (push mode: the credit it grants). Default 1. */
  concurrency?: number;
  /**
   * 'poll' (default): claim with `jobs.claim`, sleeping between empty polls. 'push': keep one
   * `jobs.subscribe` open and be sent jobs as they become ready, within `concurrency` credit; an idle
   * push worker sends nothing.
   */
  mode?: 'poll' | 'push';
  /** How to wait after an empty poll: 'slots' (default) or 'fixed'. */
  poll?: 'slots' | 'fixed';
  /** 'fixed': ms between empty polls. Default 1000. */
  pollMs?: number;
  /** 'slots': the worker group (default: the queue). */
  group?: string;
  /** A handler running longer fails its attempt, ms. Default 300000. */
  handlerTimeoutMs?: number;
  /** Heartbeat every this fraction of the lease. Default 1/3. */
  heartbeatFraction?: number;
  /** This worker's id in its group. Default random. */
  workerId?: string;
  /** Called on errors the worker handles itself (lost leases, disconnects). */
  onError?: (err: unknown) => void;
  /**
   * Completions of one event-loop turn go in one `jobs.complete_many` request (one engine step on the
   * server), each job's outcome answered alone. Default true; false sends one `jobs.complete` each.
   */
  batchCompletions?: boolean;
}

export interface WorkerStats {
  polls: number;
  claimed: number;
  completed: number;
  failed: number;
  /** Completions or failures refused with JOBS_LEASE_LOST. */
  leasesLost: number;
  /** Push mode: `jobs.subscribe` requests sent. */
  subscribes: number;
  /** Most handlers running at once (never over `concurrency`). */
  maxHeld: number;
}

export interface JobsWorker {
  readonly stats: WorkerStats;
  /** Stops claiming and waits for the running handlers. */
  stop(): Promise<void>;
}

interface ClaimReply {
  jobs: { id: string; payload: unknown; attempt: number; maxAttempts: number; lease: string; leaseExpiresAt: number; timeoutMs: number }[];
  now: number;
}

interface SlotsReply { index: number; count: number; separationMs: number; groupOffsetMs: number; ttlMs: number; now: number }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** After this turn's I/O callbacks (Node), or as soon as a timer allows (browsers). */
const afterTurn: (fn: () => void) => void = typeof setImmediate === 'function' ? (fn) => { setImmediate(fn); } : (fn) => { setTimeout(fn, 0); };
/** Most jobs in one jobs.complete_many (the server's MAX_COMPLETE_BATCH). */
const MAX_COMPLETE_BATCH = 1000;

interface PendingCompletion { id: string; lease: string; result: unknown }
/** jobs.complete_many's reply with `compact: true`. */
interface CompleteManyReply { lost: number[]; now: number }

export class JobsClient {
  constructor(private readonly client: BrigadeClient, private readonly keys: { producerKey?: string; workerKey?: string } = {}) {}

  /** Enqueues one job over a request; resolves its id (and whether its key named an earlier one). */
  async enqueue(queue: string, payload: unknown, options: EnqueueOptions = {}): Promise<{ id: string; created: boolean }> {
    const reply = await this.client.request<{ id: string; created: boolean }>('jobs.enqueue', {
      key: this.keys.producerKey, queue, jobs: { payload, ...options },
    });
    return { id: reply.id, created: reply.created };
  }

  /**
   * Enqueues many jobs in one step. When they share their options (all but payload and key) they go
   * as columns, `{payloads, options, keys}`: the server checks the options once and parses no
   * object per job.
   */
  async enqueueMany(queue: string, jobs: Array<{ payload: unknown } & EnqueueOptions>): Promise<{ id: string; created: boolean }[]> {
    const columns = jobColumns(jobs);
    if (columns) {
      const reply = await this.client.request<EnqueueColumnsReply>('jobs.enqueue', { key: this.keys.producerKey, queue, ...columns });
      const out: { id: string; created: boolean }[] = new Array(reply.ids.length);
      let k = 0;
      for (let i = 0; i < reply.ids.length; i++) {
        const existing = reply.existing[k] === i;
        if (existing) k++;
        out[i] = { id: reply.ids[i]!, created: !existing };
      }
      return out;
    }
    const reply = await this.client.request<{ jobs: { id: string; created: boolean }[] }>('jobs.enqueue', {
      key: this.keys.producerKey, queue, jobs,
    });
    return reply.jobs;
  }

  worker<P = unknown>(queue: string, handler: JobHandler<P>, options: WorkerOptions = {}): JobsWorker {
    if (options.mode === 'push') return new PushWorker<P>(this.client, this.keys.workerKey ?? '', queue, handler, options);
    return new PollingWorker<P>(this.client, this.keys.workerKey ?? '', queue, handler, options);
  }
}

/** Enqueues over HTTP (`POST /api/jobs/:queue`): `baseUrl` is `http://host:port`. */
export async function enqueueHttp(baseUrl: string, producerKey: string, queue: string, jobs: unknown): Promise<unknown> {
  const res = await fetch(`${baseUrl}/api/jobs/${encodeURIComponent(queue)}`, {
    method: 'POST', headers: { Authorization: `Bearer ${producerKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify(jobs),
  });
  const body = await res.json() as { code?: string; message?: string };
  if (!res.ok) throw new BrigadeError(body.code ?? 'INTERNAL', body.message ?? `HTTP ${res.status}`);
  return body;
}

/** jobs.enqueue's reply to columns: ids in order, and the indexes of those whose key named an earlier job. */
interface EnqueueColumnsReply { ids: string[]; existing: number[]; now: number }

const OPTION_NAMES = ['runAt', 'delayMs', 'priority', 'maxAttempts', 'backoff', 'timeoutMs'] as const;

/** Shallow equality of two options' values (backoff may be an object). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const ak = Object.keys(a), bk = Object.keys(b);
  return ak.length === bk.length && ak.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
}

/**
 * A bulk enqueue as columns, `{payloads, options, keys}`, when every job has the first one's options
 * and no field the columns cannot carry; null otherwise (then it goes as `jobs`, and the server
 * checks each job alone, unknown fields included).
 */
function jobColumns(jobs: ReadonlyArray<{ payload: unknown } & EnqueueOptions>): { payloads: unknown[]; options?: EnqueueOptions; keys?: (string | null)[] } | null {
  if (jobs.length === 0) return null;
  const first = jobs[0]! as unknown as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) if (first[name] !== undefined) options[name] = first[name];
  const payloads: unknown[] = new Array(jobs.length);
  let keys: (string | null)[] | undefined;
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]! as unknown as Record<string, unknown>;
    for (const name in job) {
      if (name === 'payload' || name === 'key') continue;
      if (!(OPTION_NAMES as readonly string[]).includes(name)) return null;
    }
    for (const name of OPTION_NAMES) if (!sameValue(job[name], first[name])) return null;
    payloads[i] = job.payload;
    if (job.key !== undefined) {
      if (typeof job.key !== 'string') return null;
      (keys ??= new Array<string | null>(jobs.length).fill(null))[i] = job.key;
    }
  }
  return { payloads, ...(Object.keys(options).length > 0 ? { options: options as EnqueueOptions } : {}), ...(keys ? { keys } : {}) };
}

type ClaimedJob = ClaimReply['jobs'][number];

/**
 * One attempt as its handler sees it (JobContext). A class, so the per-job context costs one object
 * and no closures; its AbortController is made only when the handler reads `signal` or the attempt
 * is aborted (making one is slow in Node 20: 10-20 µs each on the loaded bench machine).
 */
class Attempt<P> implements JobContext<P> {
  #controller: AbortController | null = null;
  /** A heartbeat was refused: the lease is gone, nothing is reported for this attempt. */
  #lost = false;

  constructor(readonly queue: string, readonly id: string, readonly payload: P, readonly attempt: number, readonly maxAttempts: number) {}

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  get lost(): boolean {
    return this.#lost;
  }

  abort(reason: unknown, lost: boolean): void {
    if (lost) this.#lost = true;
    (this.#controller ??= new AbortController()).abort(reason);
  }
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: string };

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** What both kinds of worker share: running a claimed job, heartbeats, completion or failure. */
abstract class BaseWorker<P> implements JobsWorker {
  readonly stats: WorkerStats = { polls: 0, claimed: 0, completed: 0, failed: 0, leasesLost: 0, subscribes: 0, maxHeld: 0 };
  protected stopped = false;
  /** Jobs taken and not yet finished: handler running, or its complete/fail not yet answered. */
  protected held = 0;
  private idleWaiters: (() => void)[] = [];
  protected readonly concurrency: number;
  protected readonly workerId: string;
  protected wake: (() => void) | null = null;
  private handling = 0;
  private completions: PendingCompletion[] = [];
  private completionsScheduled = false;

  constructor(protected readonly client: BrigadeClient, protected readonly key: string, protected readonly queue: string,
    protected readonly handler: JobHandler<P>, protected readonly options: WorkerOptions) {
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.workerId = options.workerId ?? Math.random().toString(36).slice(2, 12);
  }

  abstract stop(): Promise<void>;

  /** Resolves when every job taken has finished (its complete or fail answered). */
  protected allFinished(): Promise<void> {
    if (this.held === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Extra fields of complete/fail for `jobs` finished jobs (push mode: the credit they free). */
  protected finishFields(_jobs: number): Record<string, unknown> {
    return {};
  }

  /** Batches the completion with the other completions of this turn (one jobs.complete_many). */
  private queueCompletion(id: string, lease: string, result: unknown): void {
    this.completions.push({ id, lease, result });
    if (!this.completionsScheduled) {
      this.completionsScheduled = true;
      afterTurn(() => this.sendCompletions());
    }
  }

  private sendCompletions(): void {
    this.completionsScheduled = false;
    while (this.completions.length > 0) {
      const batch = this.completions.splice(0, MAX_COMPLETE_BATCH);
      // Columns: ids, leases and (unless every one is null) results, no object per job for the
      // server to parse.
      const ids: string[] = new Array(batch.length), leases: string[] = new Array(batch.length);
      let results: unknown[] | undefined;
      for (let i = 0; i < batch.length; i++) {
        const c = batch[i]!;
        ids[i] = c.id;
        leases[i] = c.lease;
        if (c.result !== null) (results ??= new Array<unknown>(batch.length).fill(null))[i] = c.result;
      }
      this.client.request<CompleteManyReply>('jobs.complete_many', {
        key: this.key, queue: this.queue, ids, leases, ...(results ? { results } : {}), ...this.finishFields(batch.length), compact: true,
      }).then((reply) => {
        // compact: the indexes of the jobs refused JOBS_LEASE_LOST, in order.
        let k = 0;
        for (let i = 0; i < batch.length; i++) {
          if (reply.lost[k] === i) {
            k++;
            this.refused(new BrigadeError('JOBS_LEASE_LOST', `job ${batch[i]!.id}'s lease is not current (it expired, or another attempt holds it): nothing was recorded`));
          } else {
            this.stats.completed++;
          }
          this.finished();
        }
      }, (err: unknown) => {
        for (let i = 0; i < batch.length; i++) {
          this.refused(err);
          this.finished();
        }
      });
    }
  }

  /** A complete or fail that did not go through: counted when its lease was lost, reported. */
  private refused(err: unknown): void {
    if (err instanceof BrigadeError && err.code === 'JOBS_LEASE_LOST') this.stats.leasesLost++;
    this.options.onError?.(err);
  }

  /** A taken job is done with (its outcome answered, or its lease lost). */
  private finished(): void {
    this.held--;
    this.wake?.();
    if (this.held === 0 && this.idleWaiters.length > 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** A job finished without a complete or fail reaching the server (its lease was lost). */
  protected onSlotFreedSilently(): void {}

  /**
   * Runs a claimed job. A handler that returns without a promise (or throws) is done at once: no
   * heartbeat or timeout timers are made for it (it held the event loop, so neither could have
   * fired). One that returns a promise gets them for as long as it runs.
   */
  protected start(job: ClaimedJob): void {
    this.stats.claimed++;
    this.held++;
    const attempt = new Attempt<P>(this.queue, job.id, job.payload as P, job.attempt, job.maxAttempts);
    this.stats.maxHeld = Math.max(this.stats.maxHeld, ++this.handling);
    let result: unknown;
    try {
      result = this.handler(attempt);
    } catch (err) {
      this.handling--;
      this.report(job, attempt, { ok: false, error: errorText(err) });
      return;
    }
    if (!isThenable(result)) {
      this.handling--;
      this.report(job, attempt, { ok: true, result: result === undefined ? null : result });
      return;
    }
    void this.awaitHandler(job, attempt, result);
  }

  private async awaitHandler(job: ClaimedJob, attempt: Attempt<P>, running: PromiseLike<unknown>): Promise<void> {
    const base = { key: this.key, queue: this.queue, id: job.id, lease: job.lease };
    const beatMs = Math.max(50, job.timeoutMs * (this.options.heartbeatFraction ?? 1 / 3));
    const beat = setInterval(() => {
      this.client.request('jobs.heartbeat', base).catch((err: unknown) => {
        if (err instanceof BrigadeError && err.code === 'JOBS_LEASE_LOST') attempt.abort(err, true);
        this.options.onError?.(err);
      });
    }, beatMs);
    const timeoutMs = this.options.handlerTimeoutMs ?? 300_000;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`handler timed out after ${timeoutMs} ms`);
        attempt.abort(err, false);
        reject(err);
      }, timeoutMs);
    });
    let outcome: Outcome;
    try {
      const result = await Promise.race([running, timedOut]);
      outcome = { ok: true, result: result === undefined ? null : result };
    } catch (err) {
      outcome = { ok: false, error: errorText(err) };
    } finally {
      this.handling--;
      clearInterval(beat);
      if (timer) clearTimeout(timer);
    }
    this.report(job, attempt, outcome);
  }

  /** Sends the attempt's outcome (completions batched unless batchCompletions is false). */
  private report(job: ClaimedJob, attempt: Attempt<P>, outcome: Outcome): void {
    if (attempt.lost) {
      this.stats.leasesLost++;
      this.onSlotFreedSilently();
      this.finished();
      return;
    }
    if (outcome.ok && this.options.batchCompletions !== false) {
      this.queueCompletion(job.id, job.lease, outcome.result);
      return;
    }
    const body = { key: this.key, queue: this.queue, id: job.id, lease: job.lease, ...this.finishFields(1) };
    const sent = outcome.ok
      ? this.client.request('jobs.complete', { ...body, result: outcome.result }).then(() => { this.stats.completed++; })
      : this.client.request('jobs.fail', { ...body, error: outcome.error }).then(() => { this.stats.failed++; });
    sent.catch((err: unknown) => this.refused(err)).finally(() => this.finished());
  }
}

/**
 * Push mode: one `jobs.subscribe` open at a time (its reply is the mailbox, held by the server
 * until it has claimed jobs for this worker), credit granted additively: the free slots on each new
 * connection, then one per finished job (carried by its complete or fail). So the jobs held never
 * exceed `concurrency`, and an idle worker sends nothing.
 */
class PushWorker<P> extends BaseWorker<P> {
  private readonly loop: Promise<void>;
  /** Credit to grant with the next subscribe (the free slots, on a new connection). */
  private grant = -1;

  constructor(client: BrigadeClient, key: string, queue: string, handler: JobHandler<P>, options: WorkerOptions) {
    super(client, key, queue, handler, options);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client.request('jobs.unsubscribe', { key: this.key, queue: this.queue, worker: this.workerId }).catch(() => {});
    await this.loop;
    await this.allFinished();
  }

  protected override finishFields(jobs: number): Record<string, unknown> {
    return { worker: this.workerId, credit: jobs };
  }

  protected override onSlotFreedSilently(): void {
    if (this.stopped || this.grant < 0) return;
    this.client.request('jobs.credit', { key: this.key, queue: this.queue, worker: this.workerId, credit: 1 }).catch(() => {});
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.client.ready();
        // A new connection is a new subscription on the server: grant the slots free now.
        const credit = this.grant < 0 ? this.concurrency - this.held : 0;
        this.grant = 0;
        this.stats.subscribes++;
        const reply = await this.client.request<ClaimReply>('jobs.subscribe', {
          key: this.key, queue: this.queue, worker: this.workerId, credit,
        }, { timeoutMs: Infinity });
        for (const job of reply.jobs) this.start(job);
        // The next subscribe goes at the end of this turn, after the completions of the handlers that
        // finished in it (their jobs.complete_many was scheduled first): the node reads both at once,
        // and when the credit they grant claims jobs at once (a backlog), the completion's reply and
        // the next jobs leave the node in one write.
        if (reply.jobs.length > 0) await new Promise<void>((resolve) => afterTurn(resolve));
      } catch (err) {
        if (this.stopped) break;
        this.grant = -1;
        this.options.onError?.(err);
        await sleep(err instanceof BrigadeError && err.code === 'DISCONNECTED' ? 50 : 500);
      }
    }
  }
}

class PollingWorker<P> extends BaseWorker<P> {
  private readonly loop: Promise<void>;
  private clockOffsetMs = 0;
  private latencyMs = 0;
  private slots: SlotsReply | null = null;
  private slotsAtMs = 0;
  /** Ends the current nap early (stop()). */
  private stopWake: (() => void) | null = null;

  constructor(client: BrigadeClient, key: string, queue: string, handler: JobHandler<P>, options: WorkerOptions) {
    super(client, key, queue, handler, options);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWake?.();
    await this.loop;
    await this.allFinished();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.client.ready();
        const free = this.concurrency - this.held;
        if (free === 0) {
          await this.nap(Infinity, true);
          continue;
        }
        const sent = Date.now();
        const reply = await this.client.request<ClaimReply>('jobs.claim', { key: this.key, queue: this.queue, max: free });
        this.measure(sent, Date.now(), reply.now);
        this.stats.polls++;
        for (const job of reply.jobs) this.start(job);
        // A full claim: there may be more (a backlog drains at full speed). Otherwise the queue is
        // empty for now: the next poll waits for the worker's slot (or pollMs), however soon its
        // handlers finish, so the polls that reach the server keep their separation (seed 002).
        if (reply.jobs.length === free) continue;
        await this.idle();
      } catch (err) {
        if (this.stopped) break;
        this.options.onError?.(err);
        await this.nap(err instanceof BrigadeError && err.code === 'DISCONNECTED' ? 50 : 500, false);
      }
    }
  }

  /** Sleeps up to `ms`, or until stop() is called, or (`onFinish`) a handler finishes. */
  private nap(ms: number, onFinish: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : null;
      const self = this;
      function done(): void {
        if (timer) clearTimeout(timer);
        self.wake = null;
        self.stopWake = null;
        resolve();
      }
      if (onFinish) this.wake = done;
      this.stopWake = done;
    });
  }

  private measure(sentMs: number, receivedMs: number, serverNow: number): void {
    const rtt = Math.max(0, receivedMs - sentMs);
    const offset = serverNow - (sentMs + rtt / 2);
    this.clockOffsetMs = this.stats.polls === 0 ? offset : this.clockOffsetMs * 0.8 + offset * 0.2;
    this.latencyMs = this.stats.polls === 0 ? rtt / 2 : this.latencyMs * 0.8 + (rtt / 2) * 0.2;
  }

  /**
   * Waits for the next poll. Slots: in steps of at most a third of the membership's TTL, re-joining
   * the group at each (so a worker whose period is longer than the TTL stays a member, and learns a
   * new count or index while it sleeps), until the slot.
   */
  private async idle(): Promise<void> {
    for (;;) {
      const waitMs = await this.idleWaitMs();
      const stepMs = this.options.poll === 'fixed' ? waitMs : Math.min(waitMs, (this.slots?.ttlMs ?? 3000) / 3);
      await this.nap(stepMs, false);
      if (this.stopped || stepMs === waitMs) return;
    }
  }

  private async idleWaitMs(): Promise<number> {
    if (this.options.poll === 'fixed') return this.options.pollMs ?? 1000;
    const now = Date.now();
    if (!this.slots || now - this.slotsAtMs > this.slots.ttlMs / 3) {
      this.slots = await this.client.request<SlotsReply>('jobs.slots', {
        key: this.key, queue: this.queue, group: this.options.group, worker: this.workerId,
      });
      this.slotsAtMs = Date.now();
    }
    const s = this.slots;
    return sleepUntilSlotMs({
      groupOffsetMs: s.groupOffsetMs, index: s.index, count: s.count, separationMs: s.separationMs,
      nowMs: Date.now(), clockOffsetMs: this.clockOffsetMs, latencyMs: this.latencyMs,
    });
  }
}
