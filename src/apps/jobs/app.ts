/**
 * jobs on the App contract: durable queues over the engine's JobQueues ability (`needs: ['jobs']`).
 *
 * - HTTP: `POST /api/jobs/:queue` (Bearer producer key; one job or an array), `GET /api/jobs/:queue`
 *   (counts), `GET /api/jobs/:queue/:id` (a job's record).
 * - Requests over the WebSocket: `jobs.enqueue` (producer key), `jobs.claim`, `jobs.heartbeat`,
 *   `jobs.complete`, `jobs.fail`, `jobs.slots` (worker key). Every reply carries the server's `now`.
 * - A tick every `tickMs` promotes due delayed/failed jobs and reaps expired leases in every queue,
 *   and (at most once a second, a bounded batch per queue) deletes finished jobs past the retention.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { JsonText, type App, type AppCore, type AppRequest } from '../../core/app.ts';
import type { ClaimedJob, EnqueuedJob, JobCompletion, JobCounts, JobQueues, JobRecord, JobRetention } from '../../core/engine.ts';
import { HttpError, readJsonBody, sendError, sendJson } from '../../core/http.ts';
import { JOBS_ERRORS, JobsError } from './errors.ts';
import { registerDashboard } from './dashboard.ts';
import { MAX_CREDIT, PushDispatcher } from './push.ts';
import { Slots } from './slots-registry.ts';
import { JobsStats, registerJobsMetrics } from './stats.ts';
import type client from 'prom-client';
import { checkQueue, jsonText, parseJobColumns, parseJobs, type JobLimits } from './spec.ts';

export interface JobsOptions {
  [key: string]: string | number | boolean;
  producerKey: string;
  workerKey: string;
  maxPayloadBytes: number;
  maxBodyBytes: number;
  maxBulk: number;
  keyWindowMs: number;
  timeoutMs: number;
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  tickMs: number;
  slotSeparationMs: number;
  adminToken: string;
  keepCompletedMs: number;
  keepCompletedCount: number;
  keepDeadMs: number;
  keepDeadCount: number;
}

/** Most jobs one claim takes. */
export const MAX_CLAIM = 100;
/** Most jobs promoted or reaped per queue per tick. */
const TICK_BATCH = 1000;
/** Retention runs at most this often, ms (it scans every queue). */
const RETENTION_EVERY_MS = 1000;
/** Most completed (and, apart, dead) jobs deleted per queue per retention pass. */
const RETENTION_BATCH = 1000;
/** Longest error text kept from a failed attempt, characters. */
const MAX_ERROR_CHARS = 4096;

const positive = (v: number): string | null => (v >= 1 ? null : 'must be at least 1');
const zeroOrMore = (v: number): string | null => (Number.isInteger(v) && v >= 0 ? null : 'must be a whole number, 0 or more (0: no limit)');

export const jobsApp: App<JobsOptions> = {
  name: 'jobs',
  description: 'Durable job queues: producers over HTTP, competing workers over the WebSocket',
  errors: JOBS_ERRORS,
  page: '/jobs',
  needs: ['jobs'],
  options: {
    producerKey: { default: '', help: 'Bearer key for POST /api/jobs/:queue and jobs.enqueue; generated into DATA/jobs-producer-key when empty' },
    workerKey: { default: '', help: 'key workers give in jobs.claim/heartbeat/complete/fail; generated into DATA/jobs-worker-key when empty' },
    maxPayloadBytes: { default: 1024 * 1024, help: 'largest job payload (and result) as JSON, bytes', validate: positive },
    maxBodyBytes: { default: 8 * 1024 * 1024, help: 'largest POST /api/jobs body, bytes', validate: positive },
    maxBulk: { default: 1000, help: 'most jobs in one bulk enqueue', validate: positive },
    keyWindowMs: { default: 24 * 3_600_000, help: 'how long an idempotency key names its job, ms', validate: positive },
    timeoutMs: { default: 30_000, help: 'default lease (visibility timeout) of a claim, ms', validate: (v) => (v >= 100 ? null : 'must be at least 100') },
    maxAttempts: { default: 3, help: 'default attempts before a job goes dead', validate: positive },
    backoffMs: { default: 1000, help: 'default backoff before the first retry, ms (doubling each attempt)' },
    maxBackoffMs: { default: 3_600_000, help: 'default longest backoff between attempts, ms' },
    tickMs: { default: 250, help: 'how often delayed jobs are promoted and expired leases reaped, ms', validate: (v) => (v >= 10 ? null : 'must be at least 10') },
    adminToken: { default: '', alias: 'adminToken', help: 'Bearer token for the /jobs page\'s tools (retry/drop dead jobs, enqueue); shared with place, generated into DATA/admin-token when empty' },
    keepCompletedMs: { default: 7 * 86_400_000, help: 'retention: completed jobs are deleted this long after they completed, ms (0: no age limit)', validate: zeroOrMore },
    keepCompletedCount: { default: 0, help: 'retention: only the newest this many completed jobs per queue are kept (0: no count limit)', validate: zeroOrMore },
    keepDeadMs: { default: 30 * 86_400_000, help: 'retention: dead jobs are deleted this long after they went dead, ms (0: no age limit)', validate: zeroOrMore },
    keepDeadCount: { default: 0, help: 'retention: only the newest this many dead jobs per queue are kept (0: no count limit)', validate: zeroOrMore },
    slotSeparationMs: { default: 250, help: 'slot polling: the declared gap between polls of one worker group arriving here, ms', validate: positive },
  },
  start(core) {
    const queues = core.jobs;
    if (!queues) throw new Error('jobs needs the engine\'s jobs ability');
    const o = core.options;
    const producerKey = core.secret('jobs-producer-key', o.producerKey);
    const workerKey = core.secret('jobs-worker-key', o.workerKey);
    const adminToken = core.secret('admin-token', o.adminToken);
    const limits: JobLimits = {
      maxPayloadBytes: o.maxPayloadBytes, maxBulk: o.maxBulk, keyWindowMs: o.keyWindowMs, defaultTimeoutMs: o.timeoutMs,
      defaultMaxAttempts: o.maxAttempts, defaultBackoffMs: o.backoffMs, defaultMaxBackoffMs: Math.max(o.backoffMs, o.maxBackoffMs),
    };
    const slots = new Slots(core.membership, o.slotSeparationMs);
    const stats = new JobsStats();
    registerJobsMetrics(core.metricsRegistry as client.Registry, stats, () => readAllCounts(queues));
    const push = new PushDispatcher(queues, (q) => stats.queue(q), (err) => core.logger.error({ err: String(err) }, 'jobs: push dispatch failed'),
      (ms) => stats.offer(ms));
    registerRoutes(core, queues, limits, producerKey, stats, push, adminToken);
    registerRequests(core, queues, limits, producerKey, workerKey, slots, stats, push);
    const retention: JobRetention = {
      completedMaxAgeMs: o.keepCompletedMs, completedMaxCount: o.keepCompletedCount, deadMaxAgeMs: o.keepDeadMs, deadMaxCount: o.keepDeadCount,
    };
    const retains = Object.values(retention).some((v) => v > 0);
    let retainedAtMs = 0;
    core.tick(o.tickMs, async (nowMs) => {
      // Queues with hungry push workers are offered what became ready meanwhile (promoted here,
      // or enqueued on another node sharing the engine).
      for (const queue of push.hungryQueues()) push.ready(queue);
      const retainNow = retains && nowMs - retainedAtMs >= RETENTION_EVERY_MS;
      if (retainNow) retainedAtMs = nowMs;
      for (const queue of await queues.jobQueueNames()) {
        // One bounded batch per pass: a backlog of finished jobs is worked off over several passes.
        if (retainNow) {
          const pruned = await queues.pruneJobs(queue, retention, nowMs, RETENTION_BATCH);
          if (pruned > 0) stats.queue(queue).count('pruned', pruned, nowMs);
        }
        await queues.promoteJobs(queue, nowMs, TICK_BATCH);
        const reaped = await queues.reapJobs(queue, nowMs, Math.random(), TICK_BATCH);
        if (reaped > 0) {
          stats.queue(queue).count('leaseExpired', reaped, nowMs);
          stats.queue(queue).count('failed', reaped, nowMs);
        }
      }
    });
    return { async stop() { push.close(); } };
  },
};

/** Every queue's state counts (one engine call per queue). */
export async function readAllCounts(queues: JobQueues): Promise<Map<string, JobCounts>> {
  const out = new Map<string, JobCounts>();
  for (const queue of await queues.jobQueueNames()) out.set(queue, await queues.jobCounts(queue));
  return out;
}

/** The expected keys' digests, computed once (a node has a few keys; every request checks one). */
const keyDigests = new Map<string, Buffer>();

/** Compares digests in constant time, so neither the key's length nor its bytes leak through timing. */
function sameKey(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  let b = keyDigests.get(expected);
  if (!b) keyDigests.set(expected, (b = createHash('sha256').update(expected).digest()));
  return timingSafeEqual(createHash('sha256').update(given).digest(), b);
}

/**
 * The key each connection has proven (a matching `key` in an earlier request), per connection and
 * expected key. A worker sends its key in every request: hashing it each time was 4 % of the node's
 * busy samples in the throughput run. The `===` below is no timing oracle: it compares with a key
 * this connection already gave, so it can only tell that connection what it knew.
 */
const provenKeys = new WeakMap<object, Map<string, string>>();

function connectionKey(req: AppRequest, given: unknown, expected: string): boolean {
  const conn = req.connection as object;
  const proven = provenKeys.get(conn)?.get(expected);
  if (proven !== undefined && given === proven) return true;
  if (!sameKey(given, expected)) return false;
  let m = provenKeys.get(conn);
  if (!m) provenKeys.set(conn, (m = new Map()));
  m.set(expected, given as string);
  return true;
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** A job as clients see it: payload and result as JSON values. */
export function describeJob(job: JobRecord): Record<string, unknown> {
  return {
    queue: job.queue, id: job.id, state: job.state, payload: JSON.parse(job.payload) as unknown, priority: job.priority,
    runAt: job.runAtMs, attempt: job.attempt, maxAttempts: job.maxAttempts, timeoutMs: job.timeoutMs,
    backoff: { delayMs: job.backoffMs, maxDelayMs: job.backoffMaxMs }, createdAt: job.createdAtMs,
    leaseExpiresAt: job.leaseExpiresAtMs || null, finishedAt: job.finishedAtMs || null,
    result: job.result === null ? null : JSON.parse(job.result) as unknown, error: job.error,
  };
}

/**
 * The reply of jobs.claim and jobs.subscribe, `{jobs: [{id, attempt, payload, maxAttempts,
 * leaseExpiresAt, timeoutMs, lease}], now}`, written as text: each payload is the JSON text the
 * engine stored (checked and written by JSON.stringify at enqueue), spliced in rather than parsed and
 * stringified again per job. The pieces go into one array joined once (no string per job, and the
 * part a claim's jobs share, from maxAttempts to the lease's opening quote, made once: 2026-12-07).
 * Ids (decimal) and leases (base64url, '.', digits) need no escaping.
 */
function claimedReply(jobs: readonly ClaimedJob[], now: number): JsonText {
  const parts: Array<string | number> = ['{"jobs":['];
  let shared = '', maxAttempts = -1, expires = -1, timeoutMs = -1;
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i]!;
    if (j.maxAttempts !== maxAttempts || j.leaseExpiresAtMs !== expires || j.timeoutMs !== timeoutMs) {
      maxAttempts = j.maxAttempts;
      expires = j.leaseExpiresAtMs;
      timeoutMs = j.timeoutMs;
      shared = `,"maxAttempts":${maxAttempts},"leaseExpiresAt":${expires},"timeoutMs":${timeoutMs},"lease":"`;
    }
    parts.push(i === 0 ? '{"id":"' : ',{"id":"', j.id, '","attempt":', j.attempt, ',"payload":', j.payload, shared, j.lease, '"}');
  }
  parts.push('],"now":', now, '}');
  return new JsonText(parts.join(''));
}

function registerRoutes(core: AppCore<JobsOptions>, queues: JobQueues, limits: JobLimits, producerKey: string, stats: JobsStats, push: PushDispatcher, adminToken: string): void {
  const fail = (res: Parameters<typeof sendError>[0], err: unknown, what: string): void => {
    if (err instanceof JobsError) {
      sendJson(res, statusOf(err), { code: err.code, message: err.message, field: err.field });
      return;
    }
    if (!(err instanceof Error && 'code' in err)) core.logger.error({ err: String(err) }, `jobs: ${what} failed`);
    sendError(res, err, what);
  };
  // Before the routes below: /api/jobs/:queue/:id/retry must not read as a job id.
  registerDashboard(core as unknown as AppCore, describeJob, queues, stats, push, (auth) => sameKey(/^Bearer (.+)$/.exec(auth ?? '')?.[1], adminToken), fail);
  core.http({
    method: 'POST',
    path: /^\/api\/jobs\/([^/]+)$/,
    async handle(req, res, match) {
      try {
        const given = bearer(req);
        // The admin token enqueues too: the /jobs page's form.
        if (!sameKey(given, producerKey) && !sameKey(given, adminToken)) throw new JobsError('JOBS_BAD_KEY', 'send Authorization: Bearer <the producer key>');
        const queue = checkQueue(decodeURIComponent(match[1]!));
        const body = await readJsonBody(req, core.options.maxBodyBytes, 'JOBS_PAYLOAD_TOO_LARGE').catch((err: unknown) => {
          // readJsonBody gives one code for both refusals: name the field, and keep 413 for size only.
          if (err instanceof HttpError) throw new JobsError(err.status === 413 ? 'JOBS_PAYLOAD_TOO_LARGE' : 'JOBS_BAD_OPTION', err.message, 'body');
          throw err;
        });
        const now = Date.now();
        const { jobs, bulk } = parseJobs(body, now, limits);
        const ids = await enqueueAndOffer(queues, push, queue, jobs, now);
        countEnqueued(stats, queue, ids, now);
        sendJson(res, 201, bulk ? { jobs: ids } : ids[0]);
      } catch (err) {
        fail(res, err, 'enqueue');
      }
    },
  });
  core.http({
    method: 'GET',
    path: /^\/api\/jobs\/([^/]+)$/,
    async handle(_req, res, match) {
      try {
        const queue = checkQueue(decodeURIComponent(match[1]!));
        sendJson(res, 200, { queue, counts: await queues.jobCounts(queue) });
      } catch (err) {
        fail(res, err, 'queue counts');
      }
    },
  });
  core.http({
    method: 'GET',
    path: /^\/api\/jobs\/([^/]+)\/([^/]+)$/,
    async handle(_req, res, match) {
      try {
        const queue = checkQueue(decodeURIComponent(match[1]!));
        const job = await queues.getJob(queue, decodeURIComponent(match[2]!));
        if (!job) throw new JobsError('JOBS_NOT_FOUND', `no job ${match[2]} in queue ${queue}`);
        sendJson(res, 200, describeJob(job));
      } catch (err) {
        fail(res, err, 'job read');
      }
    },
  });
}

/**
 * Enqueues, and offers the queue's push workers what may now be ready before the enqueue has
 * committed: their claim is asked for right after the enqueue, so on the embedded engine it runs in
 * the same group commit (one fsync for both, not two in a row) and on Redis it follows on the same
 * connection. The claim sees the new jobs either way (steps run in the order asked).
 *
 * The producer is answered after the jobs that claim took were dealt (the claim settles with the
 * enqueue's commit on the embedded engine, in the same read on Redis), so the offer's reply is held
 * for its connection before the enqueue's, and the turn's flush writes it first: on a machine with
 * few cores, the worker is woken before the producer, not queued behind it for a CPU
 * (docs/benchmarks-jobs.md, follow-up 8).
 */
async function enqueueAndOffer(queues: JobQueues, push: PushDispatcher, queue: string, jobs: Parameters<JobQueues['enqueueJobs']>[1], nowMs: number): Promise<EnqueuedJob[]> {
  const enqueued = queues.enqueueJobs(queue, jobs, nowMs);
  const dealt = push.ready(queue, jobs.length);
  const ids = await enqueued;
  if (dealt) await dealt;
  return ids;
}

/**
 * The reply of a column enqueue: `{ids: [each job's id, in order], existing: [indexes of the jobs
 * whose key named an earlier job: not created], now}`, as text (no object per job).
 */
function columnsReply(ids: readonly EnqueuedJob[], now: number): JsonText {
  let list = '', existing = '';
  for (let i = 0; i < ids.length; i++) {
    const j = ids[i]!;
    list += i === 0 ? JSON.stringify(j.id) : `,${JSON.stringify(j.id)}`;
    if (!j.created) existing += existing === '' ? String(i) : `,${i}`;
  }
  return new JsonText(`{"ids":[${list}],"existing":[${existing}],"now":${now}}`);
}

function countEnqueued(stats: JobsStats, queue: string, ids: EnqueuedJob[], nowMs: number): void {
  const created = ids.filter((j) => j.created).length;
  if (created > 0) stats.queue(queue).count('enqueued', created, nowMs);
}

function statusOf(err: JobsError): number {
  const spec = JOBS_ERRORS.codes[err.code];
  return spec?.http ?? 400;
}

interface Body { [k: string]: unknown }

/** The fields each request takes; any other is refused (JOBS_BAD_OPTION naming it), so a typo is never ignored. */
const REQUEST_FIELDS: Record<string, readonly string[]> = {
  'jobs.enqueue': ['key', 'queue', 'jobs', 'payloads', 'options', 'keys'],
  'jobs.claim': ['key', 'queue', 'max'],
  'jobs.heartbeat': ['key', 'queue', 'id', 'lease'],
  'jobs.complete': ['key', 'queue', 'id', 'lease', 'result', 'worker', 'credit'],
  'jobs.complete_many': ['key', 'queue', 'jobs', 'ids', 'leases', 'results', 'worker', 'credit', 'compact'],
  'jobs.fail': ['key', 'queue', 'id', 'lease', 'error', 'worker', 'credit'],
  'jobs.subscribe': ['key', 'queue', 'worker', 'credit'],
  'jobs.credit': ['key', 'queue', 'worker', 'credit'],
  'jobs.unsubscribe': ['key', 'queue', 'worker'],
  'jobs.slots': ['key', 'queue', 'group', 'worker'],
};

function bodyOf(req: AppRequest): Body {
  const body = req.json();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new JobsError('JOBS_BAD_OPTION', 'the request body is a JSON object', 'body');
  const known = REQUEST_FIELDS[req.kind];
  if (known) {
    for (const name of Object.keys(body)) {
      if (!known.includes(name)) throw new JobsError('JOBS_BAD_OPTION', `unknown field of ${req.kind}; it takes ${known.join(', ')}`, name);
    }
  }
  return body as Body;
}

function str(body: Body, field: string, max = 200): string {
  const v = body[field];
  if (typeof v !== 'string' || v.length < 1 || v.length > max) throw new JobsError('JOBS_BAD_OPTION', `is a string of 1-${max} characters`, field);
  return v;
}

function registerRequests(core: AppCore<JobsOptions>, queues: JobQueues, limits: JobLimits, producerKey: string,
  workerKey: string, slots: Slots, stats: JobsStats, push: PushDispatcher): void {
  const worker = (req: AppRequest): { body: Body; queue: string } => {
    const body = bodyOf(req);
    if (!connectionKey(req, body.key, workerKey)) throw new JobsError('JOBS_BAD_KEY', 'give the worker key as `key`');
    return { body, queue: checkQueue(body.queue) };
  };
  core.request('jobs.enqueue', async (req) => {
    const body = bodyOf(req);
    if (!connectionKey(req, body.key, producerKey)) throw new JobsError('JOBS_BAD_KEY', 'give the producer key as `key`');
    const queue = checkQueue(body.queue);
    const now = Date.now();
    if (body.payloads !== undefined || body.options !== undefined || body.keys !== undefined) {
      // Columns: {payloads, options, keys} → {ids, existing, now} (docs/jobs.md#producing).
      const jobs = parseJobColumns(body, now, limits);
      const ids = await enqueueAndOffer(queues, push, queue, jobs, now);
      countEnqueued(stats, queue, ids, now);
      return columnsReply(ids, now);
    }
    const { jobs, bulk } = parseJobs(body.jobs, now, limits);
    const ids = await enqueueAndOffer(queues, push, queue, jobs, now);
    countEnqueued(stats, queue, ids, now);
    return bulk ? { jobs: ids, now } : { ...ids[0], now };
  });
  core.request('jobs.claim', async (req) => {
    const { body, queue } = worker(req);
    const max = body.max === undefined ? 1 : body.max;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_CLAIM) {
      throw new JobsError('JOBS_BAD_OPTION', `must be an integer from 1 to ${MAX_CLAIM}`, 'max');
    }
    const now = Date.now();
    const q = stats.queue(queue);
    q.count('claimRequests', 1, now);
    const jobs = await queues.claimJobs(queue, max, now);
    if (jobs.length > 0) q.count('claimed', jobs.length, now);
    return claimedReply(jobs, now);
  });
  core.request('jobs.heartbeat', async (req) => {
    const { body, queue } = worker(req);
    const now = Date.now();
    const expires = await queues.heartbeatJob(queue, str(body, 'id'), str(body, 'lease'), now);
    if (expires === null) throw leaseLost(body);
    return { leaseExpiresAt: expires, now };
  });
  core.request('jobs.complete', async (req) => {
    const { body, queue } = worker(req);
    const result = jsonText(body.result, limits.maxPayloadBytes, 'result');
    const now = Date.now();
    const credit = creditOf(body, false);
    const workerId = credit > 0 ? str(body, 'worker', 64) : '';
    const completed = queues.completeJob(queue, str(body, 'id'), str(body, 'lease'), result, now);
    // The worker's slot is free whatever becomes of the lease. Granted before the completion commits,
    // so that the claim it triggers shares the completion's commit (the embedded engine's group commit).
    if (credit > 0) push.credit(queue, workerId, credit);
    if (!(await completed)) throw leaseLost(body);
    stats.queue(queue).count('completed', 1, now);
    return { ok: true, now };
  });
  core.request('jobs.complete_many', async (req) => {
    const { body, queue } = worker(req);
    const items = completionsOf(body, limits.maxPayloadBytes);
    if (body.compact !== undefined && typeof body.compact !== 'boolean') throw new JobsError('JOBS_BAD_OPTION', 'is true (reply {lost, now}) or false', 'compact');
    const now = Date.now();
    const credit = creditOf(body, false);
    const workerId = credit > 0 ? str(body, 'worker', 64) : '';
    // One engine step for the batch (one transaction, one Lua script); credit granted before it
    // commits, as for jobs.complete.
    const completed = queues.completeJobs(queue, items, now);
    if (credit > 0) push.credit(queue, workerId, credit);
    const outcomes = await completed;
    const done = outcomes.filter(Boolean).length;
    if (done > 0) stats.queue(queue).count('completed', done, now);
    if (body.compact === true) {
      // {lost: [indexes of the jobs refused JOBS_LEASE_LOST], now}: no object per completed job.
      let lost = '';
      for (let i = 0; i < outcomes.length; i++) if (!outcomes[i]) lost += lost === '' ? String(i) : `,${i}`;
      return new JsonText(`{"lost":[${lost}],"now":${now}}`);
    }
    return {
      outcomes: outcomes.map((ok, i) => (ok ? { id: items[i]!.id, ok: true } : { id: items[i]!.id, ok: false, code: 'JOBS_LEASE_LOST' })),
      now,
    };
  });
  core.request('jobs.fail', async (req) => {
    const { body, queue } = worker(req);
    const error = typeof body.error === 'string' ? body.error.slice(0, MAX_ERROR_CHARS) : 'failed';
    const now = Date.now();
    const credit = creditOf(body, false);
    let outcome;
    try {
      outcome = await queues.failJob(queue, str(body, 'id'), str(body, 'lease'), error, randomInt(0, 2 ** 30) / 2 ** 30, now);
    } finally {
      if (credit > 0) push.credit(queue, str(body, 'worker', 64), credit);
    }
    if (!outcome) throw leaseLost(body);
    stats.queue(queue).count('failed', 1, now);
    if (outcome.state === 'dead') stats.queue(queue).count('dead', 1, now);
    return { state: outcome.state, runAt: outcome.runAtMs || null, now };
  });
  core.request('jobs.subscribe', async (req) => {
    const { body, queue } = worker(req);
    const jobs = await push.subscribe(queue, str(body, 'worker', 64), creditOf(body, true), req.onClose);
    return claimedReply(jobs, Date.now());
  });
  core.request('jobs.credit', (req) => {
    const { body, queue } = worker(req);
    return { subscribed: push.credit(queue, str(body, 'worker', 64), creditOf(body, true)), now: Date.now() };
  });
  core.request('jobs.unsubscribe', (req) => {
    const { body, queue } = worker(req);
    push.unsubscribe(queue, str(body, 'worker', 64));
    return { ok: true, now: Date.now() };
  });
  core.request('jobs.slots', async (req) => {
    const { body, queue } = worker(req);
    const group = body.group === undefined ? queue : str(body, 'group', 64);
    return slots.join(group, str(body, 'worker', 64), Date.now());
  });
}

/** Most jobs one jobs.complete_many completes. */
export const MAX_COMPLETE_BATCH = 1000;

/**
 * jobs.complete_many's completions, each checked before anything is recorded (a bad one refuses the
 * whole request, naming it: `jobs[3].lease`, `leases[3]`). Two forms:
 * - `jobs`: 1…MAX_COMPLETE_BATCH of `{id, lease, result}`;
 * - columns (what the SDK sends): `ids` and `leases`, parallel arrays of strings, and `results`, a
 *   parallel array of results, or absent when every result is null. No object per job to parse.
 */
function completionsOf(body: Body, maxResultBytes: number): JobCompletion[] {
  if (body.ids !== undefined || body.leases !== undefined || body.results !== undefined) return completionColumns(body, maxResultBytes);
  const list = body.jobs;
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_COMPLETE_BATCH) {
    throw new JobsError('JOBS_BAD_OPTION', `is an array of 1-${MAX_COMPLETE_BATCH} {id, lease, result}`, 'jobs');
  }
  // Field names are made only for a refusal, and for-in makes no array per item: this runs per job.
  return list.map((item: unknown, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new JobsError('JOBS_BAD_OPTION', 'is an object {id, lease, result}', `jobs[${i}]`);
    const o = item as Body;
    for (const name in o) {
      if (name !== 'id' && name !== 'lease' && name !== 'result') throw new JobsError('JOBS_BAD_OPTION', 'unknown field; a completion takes id, lease, result', `jobs[${i}].${name}`);
    }
    const id = o.id, lease = o.lease;
    if (typeof id !== 'string' || id.length < 1 || id.length > 200) throw new JobsError('JOBS_BAD_OPTION', 'is a string of 1-200 characters', `jobs[${i}].id`);
    if (typeof lease !== 'string' || lease.length < 1 || lease.length > 200) throw new JobsError('JOBS_BAD_OPTION', 'is a string of 1-200 characters', `jobs[${i}].lease`);
    const result = o.result === undefined || o.result === null ? 'null' : jsonText(o.result, maxResultBytes, `jobs[${i}].result`);
    return { id, lease, result };
  });
}

/** jobs.complete_many's columns: `ids`, `leases` (parallel arrays of strings), `results` (optional, parallel). */
function completionColumns(body: Body, maxResultBytes: number): JobCompletion[] {
  if (body.jobs !== undefined) throw new JobsError('JOBS_BAD_OPTION', 'give jobs ({id, lease, result} each) or ids and leases, not both', 'jobs');
  const ids = body.ids, leases = body.leases, results = body.results;
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_COMPLETE_BATCH) {
    throw new JobsError('JOBS_BAD_OPTION', `is an array of 1-${MAX_COMPLETE_BATCH} job ids`, 'ids');
  }
  const n = ids.length;
  if (!Array.isArray(leases) || leases.length !== n) throw new JobsError('JOBS_BAD_OPTION', `is an array of ${n} leases, one per id`, 'leases');
  if (results !== undefined && (!Array.isArray(results) || results.length !== n)) {
    throw new JobsError('JOBS_BAD_OPTION', `is an array of ${n} results, one per id, or absent (every result null)`, 'results');
  }
  const out: JobCompletion[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const id: unknown = ids[i], lease: unknown = leases[i];
    if (typeof id !== 'string' || id.length < 1 || id.length > 200) throw new JobsError('JOBS_BAD_OPTION', 'is a string of 1-200 characters', `ids[${i}]`);
    if (typeof lease !== 'string' || lease.length < 1 || lease.length > 200) throw new JobsError('JOBS_BAD_OPTION', 'is a string of 1-200 characters', `leases[${i}]`);
    const r: unknown = results === undefined ? null : (results as unknown[])[i];
    out[i] = { id, lease, result: r === undefined || r === null ? 'null' : jsonText(r, maxResultBytes, 'results', i) };
  }
  return out;
}

/** The credit a request grants (push mode): an integer 0…MAX_CREDIT; absent is 0 unless `required`. */
function creditOf(body: Body, required: boolean): number {
  const v = body.credit;
  if (v === undefined && !required) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_CREDIT) {
    throw new JobsError('JOBS_BAD_OPTION', `must be an integer from 0 to ${MAX_CREDIT}`, 'credit');
  }
  return v;
}

function leaseLost(body: Body): JobsError {
  return new JobsError('JOBS_LEASE_LOST', `job ${String(body.id)}'s lease is not current (it expired, or another attempt holds it): nothing was recorded`, 'lease');
}
