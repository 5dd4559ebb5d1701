/**
 * jobs-bench adapter for BullMQ (Redis): `Queue.addBulk` to enqueue, one `Worker` with the
 * run's concurrency per process, defaults otherwise (completed jobs are kept, as Brigade keeps
 * them). BullMQ's workers wait on Redis for jobs (blocking commands), so it has no poll interval.
 */
import { Queue, Worker } from 'bullmq';
import type { JobPayload, JobsConn, JobsTarget } from '../jobs-target.ts';

function connection(conn: JobsConn): { host: string; port: number; maxRetriesPerRequest: null } {
  if (!conn.redisUrl) throw new Error('bullmq needs conn.redisUrl');
  const u = new URL(conn.redisUrl);
  return { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
}

export const jobsTarget: JobsTarget = {
  async producer(conn, spec) {
    const queue = new Queue(spec.queue, { connection: connection(conn) });
    return {
      async enqueue(payloads: JobPayload[]) {
        await queue.addBulk(payloads.map((data) => ({ name: 'job', data })));
      },
      async close() { await queue.close(); },
    };
  },
  async worker(conn, spec, handler) {
    const worker = new Worker(spec.queue, async (job) => handler(job.data as JobPayload, job.attemptsMade + 1),
      { connection: connection(conn), concurrency: spec.concurrency, ...(spec.leaseMs ? { lockDuration: spec.leaseMs } : {}) });
    worker.on('error', () => {});
    await worker.waitUntilReady();
    return { polls: () => 0, async stop() { await worker.close(); } };
  },
};
