/**
 * jobs — a durable work queue with competing consumers (seed 002, docs/jobs.md).
 *
 * Producers enqueue over HTTP (`POST /api/jobs/:queue`, Bearer producer key) or the `jobs.enqueue`
 * request; workers claim, heartbeat, complete and fail over WebSocket requests (src/sdk/jobs.ts).
 * Jobs live in the engine's JobQueues ability (SQLite or Redis), so a claim is a lease that
 * survives a worker's crash only until it expires: at least once, every attempt on record.
 */
export { jobsApp, describeJob } from './app.ts';
export type { JobsOptions } from './app.ts';
export { JOBS_ERRORS, JobsError } from './errors.ts';
export { parseJob, parseJobs, checkQueue } from './spec.ts';
