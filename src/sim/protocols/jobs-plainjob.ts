/**
 * jobs-bench adapter for plainjob (SQLite through better-sqlite3, WAL; plainjob sets synchronous =
 * NORMAL, and the bench then sets its --sqlite-synchronous, so both SQLite targets run at one durability): the queue runs inside each process that opens the file. plainjob's worker takes one
 * job at a time, so a worker of concurrency C is C plainjob workers on one connection. Producers
 * add a batch in one transaction. An idle plainjob worker polls every `pollMs` (plainjob's
 * `pollIntervall`, 1 s by default; the bench passes its own).
 */
import Database from 'better-sqlite3';
import { better, defineQueue, defineWorker } from 'plainjob';
import type { JobPayload, JobsConn, JobsTarget } from '../jobs-target.ts';

const silent = { error() {}, warn() {}, info() {}, debug() {} };

function open(conn: JobsConn, leaseMs?: number) {
  if (!conn.sqliteFile) throw new Error('plainjob needs conn.sqliteFile');
  const db = new Database(conn.sqliteFile);
  const queue = defineQueue({ connection: better(db), logger: silent, ...(leaseMs ? { timeout: leaseMs } : {}) });
  // After plainjob's own `synchronous = 1` (NORMAL): the bench runs both SQLite queues at one durability.
  if (conn.sqliteSynchronous) db.pragma(`synchronous = ${conn.sqliteSynchronous.toUpperCase()}`);
  return { db, queue };
}

export const jobsTarget: JobsTarget = {
  async prepare(conn) {
    open(conn).queue.close();
  },
  async producer(conn, spec) {
    const { db, queue } = open(conn);
    const addAll = db.transaction((payloads: JobPayload[]) => { for (const p of payloads) queue.add(spec.queue, p); });
    return {
      async enqueue(payloads: JobPayload[]) { addAll(payloads); },
      async close() { queue.close(); },
    };
  },
  async worker(conn, spec, handler) {
    const { queue } = open(conn, spec.leaseMs);
    const workers = Array.from({ length: spec.concurrency }, () => defineWorker(spec.queue,
      async (job) => { await handler(JSON.parse(job.data) as JobPayload, 1); }, { queue, logger: silent, pollIntervall: spec.pollMs ?? 1000 }));
    for (const w of workers) void w.start().catch(() => {});
    return {
      polls: () => 0,
      async stop() {
        await Promise.all(workers.map((w) => w.stop()));
        queue.close();
      },
    };
  },
};
