/**
 * What producers and workers send, checked: a job's options (`{payload, runAt | delayMs, priority,
 * maxAttempts, backoff, timeoutMs, key}`) become the engine's NewJob, and every refusal is typed
 * (JOBS_BAD_OPTION with the field, JOBS_PAYLOAD_TOO_LARGE, JOBS_INVALID_QUEUE). Pure: the time and
 * the limits are given.
 */
import { JOB_QUEUE_NAME, type NewJob } from '../../core/engine.ts';
import { JobsError } from './errors.ts';

export interface JobLimits {
  /** Largest payload (and result), as JSON text, bytes. */
  maxPayloadBytes: number;
  /** Most jobs in one bulk enqueue. */
  maxBulk: number;
  /** How long an idempotency key names its job, ms. */
  keyWindowMs: number;
  /** Defaults for options a job leaves out. */
  defaultTimeoutMs: number;
  defaultMaxAttempts: number;
  defaultBackoffMs: number;
  defaultMaxBackoffMs: number;
}

export const JOB_OPTION_NAMES = ['payload', 'runAt', 'delayMs', 'priority', 'maxAttempts', 'backoff', 'timeoutMs', 'key'] as const;
const KNOWN = new Set<string>(JOB_OPTION_NAMES);
const BACKOFF_KNOWN = new Set(['type', 'delayMs', 'maxDelayMs']);

/** Lease lengths accepted, ms. */
export const TIMEOUT_RANGE = { min: 100, max: 24 * 3_600_000 } as const;
export const MAX_ATTEMPTS = 1000;
/** Furthest ahead a job may be scheduled, ms (a year). */
export const MAX_DELAY_MS = 366 * 86_400_000;

export function checkQueue(queue: unknown): string {
  if (typeof queue !== 'string' || !JOB_QUEUE_NAME.test(queue)) {
    throw new JobsError('JOBS_INVALID_QUEUE', `queue names are 1-64 of A-Z a-z 0-9 _ . -; got ${JSON.stringify(queue)?.slice(0, 80)}`, 'queue');
  }
  return queue;
}

/** The JSON text of a payload or result, refused past the limit; `index`: the field is `<field>[<index>]` (made only for a refusal). */
export function jsonText(value: unknown, maxBytes: number, field: string, index?: number): string {
  const text = JSON.stringify(value === undefined ? null : value);
  // A UTF-16 code unit is at most 3 bytes of UTF-8: a short text needs no count (most payloads).
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) throw new JobsError('JOBS_PAYLOAD_TOO_LARGE', `is ${bytes} bytes as JSON; at most ${maxBytes} are allowed`, index === undefined ? field : `${field}[${index}]`);
  return text;
}

function int(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new JobsError('JOBS_BAD_OPTION', `must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}`, field);
  }
  return value;
}

/** One job's options → NewJob. `at`: the field prefix in a bulk request (`jobs[3].`). */
export function parseJob(input: unknown, nowMs: number, limits: JobLimits, at = ''): NewJob {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new JobsError('JOBS_BAD_OPTION', 'a job is a JSON object {payload, runAt | delayMs, priority, maxAttempts, backoff, timeoutMs, key}', at.replace(/\.$/, '') || 'job');
  }
  const o = input as Record<string, unknown>;
  // for-in, not Object.keys: no array per job (a parsed JSON object has no inherited keys).
  for (const name in o) {
    if (!KNOWN.has(name)) throw new JobsError('JOBS_BAD_OPTION', `unknown option; the options are ${JOB_OPTION_NAMES.join(', ')}`, at + name);
  }
  const payload = jsonText(o.payload, limits.maxPayloadBytes, `${at}payload`);
  let runAtMs = nowMs;
  if (o.runAt !== undefined && o.delayMs !== undefined) throw new JobsError('JOBS_BAD_OPTION', 'give runAt or delayMs, not both', `${at}delayMs`);
  if (o.runAt !== undefined) {
    const t = typeof o.runAt === 'string' ? Date.parse(o.runAt) : o.runAt;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > nowMs + MAX_DELAY_MS) {
      throw new JobsError('JOBS_BAD_OPTION', 'must be ms since the epoch or an ISO 8601 time, at most a year ahead', `${at}runAt`);
    }
    runAtMs = Math.floor(t);
  }
  if (o.delayMs !== undefined) runAtMs = nowMs + int(o.delayMs, `${at}delayMs`, 0, MAX_DELAY_MS);
  const priority = o.priority === undefined ? 0 : int(o.priority, `${at}priority`, -1000, 1000);
  const maxAttempts = o.maxAttempts === undefined ? limits.defaultMaxAttempts : int(o.maxAttempts, `${at}maxAttempts`, 1, MAX_ATTEMPTS);
  const timeoutMs = o.timeoutMs === undefined ? limits.defaultTimeoutMs : int(o.timeoutMs, `${at}timeoutMs`, TIMEOUT_RANGE.min, TIMEOUT_RANGE.max);
  let backoffMs = limits.defaultBackoffMs;
  let backoffMaxMs = limits.defaultMaxBackoffMs;
  if (typeof o.backoff === 'number') {
    backoffMs = int(o.backoff, `${at}backoff`, 0, MAX_DELAY_MS);
    backoffMaxMs = Math.max(backoffMs, backoffMaxMs);
  } else if (o.backoff !== undefined) {
    if (o.backoff === null || typeof o.backoff !== 'object' || Array.isArray(o.backoff)) {
      throw new JobsError('JOBS_BAD_OPTION', 'is a number of ms or {type: "exponential" | "fixed", delayMs, maxDelayMs}', `${at}backoff`);
    }
    const b = o.backoff as Record<string, unknown>;
    for (const name of Object.keys(b)) {
      if (!BACKOFF_KNOWN.has(name)) throw new JobsError('JOBS_BAD_OPTION', 'unknown; backoff takes type, delayMs, maxDelayMs', `${at}backoff.${name}`);
    }
    const type = b.type ?? 'exponential';
    if (type !== 'exponential' && type !== 'fixed') throw new JobsError('JOBS_BAD_OPTION', 'is "exponential" or "fixed"', `${at}backoff.type`);
    if (b.delayMs !== undefined) backoffMs = int(b.delayMs, `${at}backoff.delayMs`, 0, MAX_DELAY_MS);
    if (type === 'fixed') {
      if (b.maxDelayMs !== undefined) throw new JobsError('JOBS_BAD_OPTION', 'a fixed backoff has no maxDelayMs', `${at}backoff.maxDelayMs`);
      backoffMaxMs = backoffMs;
    } else {
      backoffMaxMs = b.maxDelayMs === undefined ? Math.max(backoffMs, backoffMaxMs) : int(b.maxDelayMs, `${at}backoff.maxDelayMs`, backoffMs, MAX_DELAY_MS);
    }
  }
  const job: NewJob = { payload, runAtMs, priority, maxAttempts, backoffMs, backoffMaxMs, timeoutMs };
  if (o.key !== undefined) {
    if (typeof o.key !== 'string' || o.key.length < 1 || o.key.length > 200) {
      throw new JobsError('JOBS_BAD_OPTION', 'is a string of 1-200 characters', `${at}key`);
    }
    job.key = o.key;
    job.keyTtlMs = limits.keyWindowMs;
  }
  return job;
}

/** One job or an array of them (bulk). */
export function parseJobs(input: unknown, nowMs: number, limits: JobLimits): { jobs: NewJob[]; bulk: boolean } {
  if (!Array.isArray(input)) return { jobs: [parseJob(input, nowMs, limits)], bulk: false };
  if (input.length === 0 || input.length > limits.maxBulk) {
    throw new JobsError('JOBS_BAD_OPTION', `a bulk enqueue holds 1 to ${limits.maxBulk} jobs; got ${input.length}`, 'jobs');
  }
  return { jobs: input.map((one, i) => parseJob(one, nowMs, limits, `jobs[${i}].`)), bulk: true };
}

/**
 * A column enqueue, `{payloads, options, keys}` (what the SDK sends for a bulk whose jobs share their
 * options): `payloads` 1…maxBulk, `options` the jobs' shared options (as one job's, without payload
 * and key; absent: the defaults), `keys` a parallel array of idempotency keys (null for none), or
 * absent. The options are checked once, not per job.
 */
export function parseJobColumns(body: { payloads?: unknown; options?: unknown; keys?: unknown; jobs?: unknown }, nowMs: number, limits: JobLimits): NewJob[] {
  if (body.jobs !== undefined) throw new JobsError('JOBS_BAD_OPTION', 'give jobs, or payloads (with options and keys), not both', 'jobs');
  const payloads = body.payloads;
  if (!Array.isArray(payloads) || payloads.length < 1 || payloads.length > limits.maxBulk) {
    throw new JobsError('JOBS_BAD_OPTION', `is an array of 1 to ${limits.maxBulk} payloads`, 'payloads');
  }
  const n = payloads.length;
  const options = body.options;
  if (options !== undefined) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new JobsError('JOBS_BAD_OPTION', 'is an object {runAt | delayMs, priority, maxAttempts, backoff, timeoutMs}', 'options');
    }
    for (const name of ['payload', 'key']) {
      if (name in options) throw new JobsError('JOBS_BAD_OPTION', `is not a shared option: give ${name === 'payload' ? 'payloads' : 'keys'}`, `options.${name}`);
    }
  }
  const keys = body.keys;
  if (keys !== undefined && (!Array.isArray(keys) || keys.length !== n)) {
    throw new JobsError('JOBS_BAD_OPTION', `is an array of ${n} keys (null for none), one per payload, or absent`, 'keys');
  }
  const shared = parseJob(options ?? {}, nowMs, limits, 'options.');
  const out: NewJob[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const job: NewJob = {
      payload: jsonText(payloads[i], limits.maxPayloadBytes, 'payloads', i), runAtMs: shared.runAtMs, priority: shared.priority,
      maxAttempts: shared.maxAttempts, backoffMs: shared.backoffMs, backoffMaxMs: shared.backoffMaxMs, timeoutMs: shared.timeoutMs,
    };
    const key: unknown = keys === undefined ? null : (keys as unknown[])[i];
    if (key !== null) {
      if (typeof key !== 'string' || key.length < 1 || key.length > 200) throw new JobsError('JOBS_BAD_OPTION', 'is a string of 1-200 characters, or null', `keys[${i}]`);
      job.key = key;
      job.keyTtlMs = limits.keyWindowMs;
    }
    out[i] = job;
  }
  return out;
}
