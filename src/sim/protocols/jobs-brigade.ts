/**
 * jobs-bench adapter for Brigade (embedded or Redis engine alike: the node hides it): the SDK's
 * JobsClient over one BrigadeClient per process, producers with `jobs.enqueue` (bulk), workers in
 * push or poll mode. The client reconnects on its own (the crash run restarts the server on the
 * same port), with a short backoff.
 */
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../sdk/client.ts';
import { JobsClient } from '../../sdk/jobs.ts';
import type { JobPayload, JobsConn, JobsTarget } from '../jobs-target.ts';
import { simNow } from '../protocol.ts';

/** When this process's last WebSocket frame arrived (simNow), stamped before the SDK reads it. */
let frameAt = 0;

/** A ws WebSocket that stamps each frame's arrival first (its listener runs before the SDK's). */
class StampedWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    this.on('message', () => { frameAt = simNow(); });
  }
}

function connect(conn: JobsConn, stamped = false): BrigadeClient {
  if (!conn.wsUrl) throw new Error('brigade needs conn.wsUrl');
  return new BrigadeClient(`${conn.wsUrl}/ws`, { WebSocket: (stamped ? StampedWebSocket : WebSocket) as never, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
}

export const jobsTarget: JobsTarget = {
  async producer(conn, spec) {
    const client = connect(conn);
    const jobs = new JobsClient(client, { producerKey: conn.producerKey });
    return {
      async enqueue(payloads: JobPayload[]) {
        await client.ready();
        await jobs.enqueueMany(spec.queue, payloads.map((payload) => ({
          payload, ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}), ...(spec.maxAttempts ? { maxAttempts: spec.maxAttempts } : {}), ...(spec.keyed ? { key: `n${payload.n}` } : {}),
        })));
      },
      async close() { client.close(); },
    };
  },
  async worker(conn, spec, handler) {
    const client = connect(conn, true);
    await client.ready();
    const worker = new JobsClient(client, { workerKey: conn.workerKey }).worker<JobPayload>(
      spec.queue, ({ payload, attempt }) => handler(payload, attempt, frameAt),
      { concurrency: spec.concurrency, mode: spec.mode, poll: spec.poll, pollMs: spec.pollMs, workerId: spec.workerId, onError: () => {} },
    );
    return {
      polls: () => worker.stats.polls,
      async stop() {
        await worker.stop();
        client.close();
      },
    };
  },
};
