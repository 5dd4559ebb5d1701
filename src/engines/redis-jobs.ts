/**
 * The Redis engine's JobQueues (core/engine.ts): one Lua script per step (redis-lua-jobs.ts, which
 * documents the keys), on the engine's command connection. Every key of a queue is built in the
 * scripts from ONE key argument, the base `<prefix>jobs:{<queue>}:`, whose hash tag keeps all of
 * them in the queue's slot (so a queue works on a Redis Cluster, on the shard of that slot).
 * Queue names are kept in the set `<prefix>jobs:queues` (added before the first enqueue's script,
 * outside it: it is another slot; on a cluster, every node's first enqueue to a queue asks that
 * one shard).
 */
import { leasePrefix } from './lease-prefix.ts';
import type { Writable } from 'node:stream';
import type { RedisConn } from './redis-target.ts';
import {
  JOB_STATES,
  type ClaimedJob, type EnqueuedJob, type FailOutcome, type JobCompletion, type JobCounts, type JobRecord, type JobRetention, type JobState, type NewJob,
} from '../core/engine.ts';
import {
  JOBS_CLAIM_LUA, JOBS_COMPLETE_LUA, JOBS_ENQUEUE_LUA, JOBS_FAIL_LUA, JOBS_HEARTBEAT_LUA, JOBS_PROMOTE_LUA, JOBS_REAP_LUA,
} from './redis-lua-jobs.ts';
import { JOBS_DROP_DEAD_LUA, JOBS_LIST_LUA, JOBS_PRUNE_LUA, JOBS_RETRY_DEAD_LUA } from './redis-lua-jobs-admin.ts';

interface JobCommands {
  brigadeJobsEnqueue(base: string, ...args: string[]): Promise<Array<string | number>>;
  brigadeJobsClaim(base: string, now: string, max: string, lease: string, promote: string): Promise<string[]>;
  brigadeJobsHeartbeat(base: string, id: string, lease: string, now: string): Promise<number>;
  brigadeJobsComplete(base: string, now: string, n: string, pairs: string, ...results: string[]): Promise<number[]>;
  brigadeJobsFail(base: string, id: string, lease: string, error: string, jitter: string, now: string): Promise<Array<string | number>>;
  brigadeJobsPromote(base: string, now: string, limit: string): Promise<number>;
  brigadeJobsReap(base: string, now: string, jitter: string, limit: string): Promise<number>;
  brigadeJobsList(base: string, state: string, limit: string): Promise<Array<string | string[]>>;
  brigadeJobsRetryDead(base: string, id: string, now: string): Promise<number>;
  brigadeJobsDropDead(base: string, id: string): Promise<number>;
  brigadeJobsPrune(base: string, now: string, completedAge: string, completedCount: string, deadAge: string, deadCount: string, limit: string): Promise<number>;
}

/** Adds the job scripts to a connection (ioredis: EVALSHA, EVAL on NOSCRIPT). */
export function defineJobCommands(cmd: RedisConn): void {
  cmd.defineCommand('brigadeJobsEnqueue', { numberOfKeys: 1, lua: JOBS_ENQUEUE_LUA });
  cmd.defineCommand('brigadeJobsClaim', { numberOfKeys: 1, lua: JOBS_CLAIM_LUA });
  cmd.defineCommand('brigadeJobsHeartbeat', { numberOfKeys: 1, lua: JOBS_HEARTBEAT_LUA });
  cmd.defineCommand('brigadeJobsComplete', { numberOfKeys: 1, lua: JOBS_COMPLETE_LUA });
  cmd.defineCommand('brigadeJobsFail', { numberOfKeys: 1, lua: JOBS_FAIL_LUA });
  cmd.defineCommand('brigadeJobsPromote', { numberOfKeys: 1, lua: JOBS_PROMOTE_LUA });
  cmd.defineCommand('brigadeJobsReap', { numberOfKeys: 1, lua: JOBS_REAP_LUA });
  cmd.defineCommand('brigadeJobsList', { numberOfKeys: 1, lua: JOBS_LIST_LUA });
  cmd.defineCommand('brigadeJobsRetryDead', { numberOfKeys: 1, lua: JOBS_RETRY_DEAD_LUA });
  cmd.defineCommand('brigadeJobsDropDead', { numberOfKeys: 1, lua: JOBS_DROP_DEAD_LUA });
  cmd.defineCommand('brigadeJobsPrune', { numberOfKeys: 1, lua: JOBS_PRUNE_LUA });
}

/**
 * Holds the connection's writes until the end of this event-loop iteration, then sends them in one
 * write(2) (as the gateway corks its sockets, src/gateway/ws-sink.ts). ioredis writes each command to
 * its socket at once, one syscall each; at 1,000 single-job requests a second that was a sixth of
 * the node's CPU (an enqueue and the push claim it triggers, completions from several workers: each
 * its own write, and each wakes redis-server apart). Corked, the scripts a turn asks for go out
 * together at its end (setImmediate: after this iteration's socket reads, with the gateway's own
 * flush) and redis-server answers them in one read. Order on the connection is kept. A cluster
 * client has a connection per node and is left as it is.
 */
export function corkForTurn(conn: RedisConn): void {
  const stream = (conn as { stream?: Writable }).stream;
  if (!stream || stream.writableCorked > 0 || !stream.writable) return;
  stream.cork();
  setImmediate(() => stream.uncork());
}

export function jobQueueBase(prefix: string, queue: string): string {
  return `${prefix}jobs:{${queue}}:`;
}

export class RedisJobs {
  private readonly known = new Set<string>();

  constructor(private readonly prefix: string) {}

  async enqueue(cmd: RedisConn, queue: string, jobs: NewJob[], nowMs: number): Promise<EnqueuedJob[]> {
    if (jobs.length === 0) return [];
    if (!this.known.has(queue)) {
      await cmd.sadd(`${this.prefix}jobs:queues`, queue);
      this.known.add(queue);
    }
    const args: string[] = [String(nowMs), String(jobs.length)];
    const keyTtl = (j: NewJob): string => String(Math.max(1, Math.ceil(j.keyTtlMs ?? 86_400_000)));
    if (sameOptions(jobs)) {
      // A bulk enqueue's usual case: the options once, then payload and key per job (9 values a job were 2).
      const j = jobs[0]!;
      // No job with a key: the payloads alone, one value a job.
      const keyed = jobs.some((job) => job.key !== undefined);
      args.push(keyed ? 'shared' : 'payloads', String(j.runAtMs), String(j.priority), String(j.maxAttempts), String(j.backoffMs),
        String(j.backoffMaxMs), String(j.timeoutMs), keyTtl(j));
      if (keyed) for (const job of jobs) args.push(job.payload, job.key ?? '');
      else for (const job of jobs) args.push(job.payload);
    } else {
      args.push('each');
      for (const j of jobs) {
        args.push(j.payload, String(j.runAtMs), String(j.priority), String(j.maxAttempts), String(j.backoffMs),
          String(j.backoffMaxMs), String(j.timeoutMs), j.key ?? '', keyTtl(j));
      }
    }
    const flat = await c(cmd).brigadeJobsEnqueue(this.base(queue), ...args);
    // The last id before the batch, then (index from 1, id) for each job whose key named an earlier
    // job; every other job was created, its id the next of the sequence.
    let seq = Number(flat[0]);
    let k = 1;
    const out: EnqueuedJob[] = new Array(jobs.length);
    for (let i = 0; i < jobs.length; i++) {
      if (k < flat.length && Number(flat[k]) === i + 1) {
        out[i] = { id: String(flat[k + 1]), created: false };
        k += 2;
      } else out[i] = { id: String(++seq), created: true };
    }
    return out;
  }

  async claim(cmd: RedisConn, queue: string, max: number, nowMs: number): Promise<ClaimedJob[]> {
    const prefix = leasePrefix();
    const flat = await c(cmd).brigadeJobsClaim(this.base(queue), String(nowMs), String(max), prefix, String(Math.max(max, 100)));
    if (flat.length === 0) return [];
    // {meta, payload 1, …}: meta per job id, attempt, maxAttempts, timeoutMs, comma-separated; the
    // lease and its expiry are derived as the script made them (job i's lease "<prefix>.<i>", expiry
    // now + timeoutMs).
    const meta = String(flat[0]).split(',');
    const out: ClaimedJob[] = new Array(flat.length - 1);
    for (let n = 1, m = 0; n < flat.length; n++, m += 4) {
      const timeoutMs = Number(meta[m + 3]);
      out[n - 1] = {
        id: meta[m]!, payload: String(flat[n]), attempt: Number(meta[m + 1]), maxAttempts: Number(meta[m + 2]),
        lease: `${prefix}.${n}`, leaseExpiresAtMs: nowMs + timeoutMs, timeoutMs,
      };
    }
    return out;
  }

  async heartbeat(cmd: RedisConn, queue: string, id: string, lease: string, nowMs: number): Promise<number | null> {
    const expires = Number(await c(cmd).brigadeJobsHeartbeat(this.base(queue), id, lease, String(nowMs)));
    return expires < 0 ? null : expires;
  }

  /**
   * One script for the batch: one boolean per item. The ids and leases go as one string ("<id>
   * <lease> …"), the results only when one is not 'null'; an item whose id is not a job id, or whose
   * lease is empty or holds white space (no lease does: base64url, '.', digits), is not current
   * whatever Redis holds: false, and not sent.
   */
  async complete(cmd: RedisConn, queue: string, items: readonly JobCompletion[], nowMs: number): Promise<boolean[]> {
    const ok: boolean[] = new Array(items.length);
    const sent: number[] = [];
    const pairs: string[] = [];
    let results = false;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      ok[i] = false;
      if (!isJobId(item.id) || !LEASE.test(item.lease)) continue;
      pairs.push(item.id, item.lease);
      sent.push(i);
      if (item.result !== 'null') results = true;
    }
    if (sent.length === 0) return ok;
    const args = results ? sent.map((i) => items[i]!.result) : [];
    const lost = await c(cmd).brigadeJobsComplete(this.base(queue), String(nowMs), String(sent.length), pairs.join(' '), ...args);
    for (const i of sent) ok[i] = true;
    // The indexes (from 1, among those sent) of the jobs whose lease was not current.
    for (const k of lost) ok[sent[Number(k) - 1]!] = false;
    return ok;
  }

  async fail(cmd: RedisConn, queue: string, id: string, lease: string, error: string, jitter: number, nowMs: number): Promise<FailOutcome | null> {
    const r = await c(cmd).brigadeJobsFail(this.base(queue), id, lease, error, String(jitter), String(nowMs));
    if (r.length === 0) return null;
    return { state: r[0] === 'dead' ? 'dead' : 'failed', runAtMs: Number(r[1]) };
  }

  async promote(cmd: RedisConn, queue: string, nowMs: number, limit: number): Promise<number> {
    return Number(await c(cmd).brigadeJobsPromote(this.base(queue), String(nowMs), String(limit)));
  }

  async reap(cmd: RedisConn, queue: string, nowMs: number, jitter: number, limit: number): Promise<number> {
    return Number(await c(cmd).brigadeJobsReap(this.base(queue), String(nowMs), String(jitter), String(limit)));
  }

  async get(cmd: RedisConn, queue: string, id: string): Promise<JobRecord | null> {
    if (!isJobId(id)) return null;
    const h = await cmd.hgetall(`${this.base(queue)}job:${id}`);
    return h.state ? recordOf(queue, id, h) : null;
  }

  async list(cmd: RedisConn, queue: string, state: JobState, limit: number): Promise<JobRecord[]> {
    const flat = await c(cmd).brigadeJobsList(this.base(queue), state, String(limit));
    const out: JobRecord[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const fields = flat[i + 1] as string[];
      const h: Record<string, string> = {};
      for (let f = 0; f < fields.length; f += 2) h[fields[f]!] = fields[f + 1]!;
      out.push(recordOf(queue, String(flat[i]), h));
    }
    return out;
  }

  async retryDead(cmd: RedisConn, queue: string, id: string, nowMs: number): Promise<boolean> {
    return isJobId(id) && Number(await c(cmd).brigadeJobsRetryDead(this.base(queue), id, String(nowMs))) === 1;
  }

  async dropDead(cmd: RedisConn, queue: string, id: string): Promise<boolean> {
    return isJobId(id) && Number(await c(cmd).brigadeJobsDropDead(this.base(queue), id)) === 1;
  }

  async prune(cmd: RedisConn, queue: string, retention: JobRetention, nowMs: number, limit: number): Promise<number> {
    const r = retention;
    return Number(await c(cmd).brigadeJobsPrune(this.base(queue), String(nowMs), String(r.completedMaxAgeMs), String(r.completedMaxCount),
      String(r.deadMaxAgeMs), String(r.deadMaxCount), String(limit)));
  }

  async counts(cmd: RedisConn, queue: string): Promise<JobCounts> {
    const base = this.base(queue);
    const pipeline = cmd.pipeline();
    for (const state of JOB_STATES) pipeline.zcard(base + state);
    const replies = (await pipeline.exec()) ?? [];
    const counts = {} as JobCounts;
    JOB_STATES.forEach((state, i) => {
      const [err, n] = replies[i] ?? [new Error('no reply'), 0];
      if (err) throw err;
      counts[state] = Number(n);
    });
    return counts;
  }

  async queueNames(cmd: RedisConn): Promise<string[]> {
    return (await cmd.smembers(`${this.prefix}jobs:queues`)).sort();
  }

  private base(queue: string): string {
    return jobQueueBase(this.prefix, queue);
  }
}

/** Whether every job has the first one's options (all but payload and key). */
function sameOptions(jobs: readonly NewJob[]): boolean {
  const f = jobs[0]!;
  const ttl = f.keyTtlMs ?? 86_400_000;
  for (const j of jobs) {
    if (j.runAtMs !== f.runAtMs || j.priority !== f.priority || j.maxAttempts !== f.maxAttempts || j.backoffMs !== f.backoffMs
      || j.backoffMaxMs !== f.backoffMaxMs || j.timeoutMs !== f.timeoutMs || (j.keyTtlMs ?? 86_400_000) !== ttl) return false;
  }
  return true;
}

/** A lease the one string can carry: no white space (leases are base64url, ".", the job's index; an empty one is never current). */
const LEASE = /^\S+$/;

function isJobId(id: string): boolean {
  return /^[1-9][0-9]{0,14}$/.test(id);
}

/** Where each option sits in a job hash's packed `o` (redis-lua-jobs.ts); a field of its own wins. */
const PACKED: Record<string, number> = { priority: 0, backoffMs: 1, backoffMaxMs: 2, runAt: 3, createdAt: 4 };

function recordOf(queue: string, id: string, h: Record<string, string>): JobRecord {
  const packed = h.o === undefined ? [] : h.o.split(',');
  const num = (k: string): number => Number(h[k] ?? (PACKED[k] === undefined ? undefined : packed[PACKED[k]!]) ?? 0);
  return {
    queue, id, state: h.state as JobState, payload: h.payload ?? '', priority: num('priority'), runAtMs: num('runAt'),
    attempt: num('attempt'), maxAttempts: num('maxAttempts'), backoffMs: num('backoffMs'), backoffMaxMs: num('backoffMaxMs'),
    // A lease's expiry means something only while the job is active (a completion leaves it); a
    // completed job's absent result is 'null' (the script writes none for it).
    timeoutMs: num('timeoutMs'), createdAtMs: num('createdAt'), leaseExpiresAtMs: h.state === 'active' ? num('leaseExpiresAt') : 0,
    finishedAtMs: num('finishedAt'), result: h.result ?? (h.state === 'completed' ? 'null' : null), error: h.error ?? null,
  };
}

function c(cmd: RedisConn): JobCommands {
  return cmd as unknown as JobCommands;
}
