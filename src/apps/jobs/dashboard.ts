/**
 * The JSON behind the /jobs page: `GET /api/jobs` (every queue's counts, push workers, per-second
 * throughput and claim arrivals of the last minutes, the newest dead jobs), and the admin tools
 * `POST /api/jobs/:queue/:id/retry` and `/drop` for dead jobs (Bearer admin token).
 */
import type { AppCore } from '../../core/app.ts';
import type { JobQueues, JobRecord } from '../../core/engine.ts';
import { sendJson } from '../../core/http.ts';
import { JobsError } from './errors.ts';
import type { PushDispatcher } from './push.ts';
import { checkQueue } from './spec.ts';
import { SERIES_KINDS, type JobsStats } from './stats.ts';

/** Seconds of throughput the overview carries. */
export const OVERVIEW_SECONDS = 120;
/** Dead jobs listed per queue. */
const DEAD_LISTED = 20;
/** Claim arrivals listed per queue: those of the last this many ms. */
const ARRIVALS_MS = 10_000;

export function registerDashboard(core: AppCore, describeJob: (job: JobRecord) => unknown, queues: JobQueues, stats: JobsStats, push: PushDispatcher,
  isAdmin: (authorization: string | undefined) => boolean, fail: (res: Parameters<typeof sendJson>[0], err: unknown, what: string) => void): void {
  core.http({
    method: 'GET',
    path: /^\/api\/jobs\/?$/,
    async handle(_req, res) {
      try {
        const now = Date.now();
        const pushed = push.describe();
        const out = [];
        for (const queue of await queues.jobQueueNames()) {
          const q = stats.queue(queue);
          const series = Object.fromEntries(SERIES_KINDS.map((k) => [k, q.series[k].last(now, OVERVIEW_SECONDS)]));
          const dead = (await queues.listJobs(queue, 'dead', DEAD_LISTED)).map(describeJob);
          out.push({
            queue, counts: await queues.jobCounts(queue), push: pushed[queue] ?? { workers: 0, credit: 0 },
            totals: q.counters, series, arrivals: q.arrivalsSince(now - ARRIVALS_MS), dead,
          });
        }
        sendJson(res, 200, { now, seconds: OVERVIEW_SECONDS, nodeId: core.nodeId, queues: out });
      } catch (err) {
        fail(res, err, 'jobs overview');
      }
    },
  });
  core.http({
    method: 'POST',
    path: /^\/api\/jobs\/([^/]+)\/([^/]+)\/(retry|drop)$/,
    async handle(req, res, match) {
      try {
        if (!isAdmin(req.headers.authorization)) throw new JobsError('JOBS_BAD_KEY', 'send Authorization: Bearer <the admin token>');
        const queue = checkQueue(decodeURIComponent(match[1]!));
        const id = decodeURIComponent(match[2]!);
        const retry = match[3] === 'retry';
        const done = retry ? await queues.retryDeadJob(queue, id, Date.now()) : await queues.dropDeadJob(queue, id);
        if (!done) throw new JobsError('JOBS_NOT_FOUND', `no dead job ${id} in queue ${queue}`);
        if (retry) push.ready(queue);
        sendJson(res, 200, { ok: true, queue, id, action: match[3] });
      } catch (err) {
        fail(res, err, 'dead job admin');
      }
    },
  });
}
