/**
 * The worker process of the jobs benchmarks (`brigade bench --scenario jobs-*`): it runs queue
 * workers or a producer of one target through its adapter (src/sim/jobs-target.ts) and reports to
 * the coordinator over IPC. Workers' handlers do no work: each records when it started (the pick-up
 * latency from the payload's enqueue time, on the run's one clock) and the job's number.
 */
import { Histogram, type HistogramJson } from './histogram.ts';
import { LoopDelayMonitor, type LoopDelay } from './loop-delay.ts';
import { LATE_MS, loadJobsTarget, type EnqueueSpec, type JobPayload, type JobsConn, type RunningWorker, type WorkerSpec } from './jobs-target.ts';
import { simNow } from './protocol.ts';

export type ToJobsWorker =
  | { t: 'workers'; target: string; conn: JobsConn; spec: WorkerSpec; count: number; keepNumbers: boolean }
  | { t: 'produce'; target: string; conn: JobsConn; spec: EnqueueSpec; first: number; count: number; batch: number; perSecond: number; inFlight: number; retry: boolean }
  | { t: 'prepare'; target: string; conn: JobsConn }
  /** `late`: with the late jobs' times (the end of a measured window only: they are many). */
  | { t: 'report'; late?: boolean }
  /** Forget what was measured so far (the end of a warm-up). */
  | { t: 'reset' }
  | { t: 'stop' }
  | { t: 'exit' };

export interface JobsWorkerReport {
  t: 'report';
  handled: number;
  firstAt: number;
  lastAt: number;
  polls: number;
  /** Enqueue → handler start, ms. */
  pickup: HistogramJson;
  /**
   * The same split where the adapter stamps frames (Brigade): enqueue → the job's frame reaching
   * this process (producer → node → worker), and that frame → handler start (in this process). Empty otherwise.
   */
  toWorker: HistogramJson;
  inWorker: HistogramJson;
  /** Job numbers handled since the last report (when asked to keep them). */
  numbers: number[];
  /** Handler runs that were not the job's first attempt. */
  retries: number;
  /** This process's event-loop delay since it started or was reset. */
  loopDelay: LoopDelay;
  /** Jobs picked up later than LATE_MS: [enqueue time on the run's clock, pick-up ms, of which in this process (frame → handler; -1: not stamped)], the first LATE_KEPT. */
  late: [number, number, number][];
}

const LATE_KEPT = 5000;

export type FromJobsWorker =
  | { t: 'ready' }
  | { t: 'prepared' }
  | JobsWorkerReport
  | { t: 'produced'; enqueued: number; firstAt: number; lastAt: number; errors: number }
  | { t: 'stopped' }
  | { t: 'error'; message: string };

if (!process.send) {
  console.error('jobs-worker is started by `brigade bench` (it needs an IPC channel)');
  process.exit(2);
}
const send = (m: FromJobsWorker) => process.send!(m);
process.on('disconnect', () => process.exit(0));

const workers: RunningWorker[] = [];
const pickup = new Histogram();
const toWorker = new Histogram();
const inWorker = new Histogram();
const loopDelay = new LoopDelayMonitor();
let handled = 0, firstAt = 0, lastAt = 0, retries = 0;
let keepNumbers = false;
let late: [number, number, number][] = [];
let numbers: number[] = [];

function onJob(payload: JobPayload, attempt: number, frameAt?: number): null {
  const now = simNow();
  const ms = now - payload.t;
  pickup.record(ms);
  let here = -1;
  if (frameAt !== undefined && frameAt >= payload.t) {
    here = now - frameAt;
    toWorker.record(frameAt - payload.t);
    inWorker.record(here);
  }
  if (ms > LATE_MS && late.length < LATE_KEPT) late.push([payload.t, Math.round(ms * 100) / 100, Math.round(here * 100) / 100]);
  if (handled === 0) firstAt = now;
  lastAt = now;
  handled++;
  if (attempt > 1) retries++;
  if (keepNumbers) numbers.push(payload.n);
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function produce(m: Extract<ToJobsWorker, { t: 'produce' }>): Promise<void> {
  const target = await loadJobsTarget(m.target);
  const producer = await target.producer(m.conn, m.spec);
  let next = 0, enqueued = 0, errors = 0, first = 0, last = 0;
  const start = simNow();
  // Each lane sends a batch, waits for it to be stored, and takes the next one that is due.
  const lane = async () => {
    while (next < m.count) {
      const i = next;
      const n = Math.min(m.batch, m.count - i);
      next += n;
      if (m.perSecond > 0) {
        const due = start + (i / m.perSecond) * 1000;
        const wait = due - simNow();
        if (wait > 1) await sleep(wait);
      }
      const t = simNow();
      const payloads = Array.from({ length: n }, (_, k) => ({ n: m.first + i + k, t }));
      if (first === 0) first = t;
      for (;;) {
        try {
          await producer.enqueue(payloads);
          break;
        } catch (err) {
          errors++;
          if (!m.retry) throw err;
          if (errors === 1) process.stderr.write(`jobs-worker: enqueue failed, retrying: ${err instanceof Error ? err.message : String(err)}\n`);
          await sleep(100);
        }
      }
      enqueued += n;
      last = simNow();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, m.inFlight) }, lane));
  await producer.close();
  send({ t: 'produced', enqueued, firstAt: first, lastAt: last, errors });
}

process.on('message', (m: ToJobsWorker) => {
  void (async () => {
    switch (m.t) {
      case 'prepare': {
        const target = await loadJobsTarget(m.target);
        await target.prepare?.(m.conn);
        send({ t: 'prepared' });
        return;
      }
      case 'workers': {
        const target = await loadJobsTarget(m.target);
        keepNumbers = m.keepNumbers;
        for (let k = 0; k < m.count; k++) {
          workers.push(await target.worker(m.conn, { ...m.spec, workerId: m.spec.workerId ? `${m.spec.workerId}-${k}` : undefined }, onJob));
        }
        send({ t: 'ready' });
        return;
      }
      case 'produce':
        await produce(m);
        return;
      case 'report': {
        let polls = 0;
        for (const w of workers) polls += w.polls();
        send({ t: 'report', handled, firstAt, lastAt, polls, pickup: pickup.toJSON(), toWorker: toWorker.toJSON(), inWorker: inWorker.toJSON(), numbers, retries, loopDelay: loopDelay.summary(), late: m.late ? late : [] });
        numbers = [];
        return;
      }
      case 'reset':
        pickup.reset();
        toWorker.reset();
        inWorker.reset();
        loopDelay.reset();
        late = [];
        handled = 0; firstAt = 0; lastAt = 0; retries = 0; numbers = [];
        return;
      case 'stop':
        await Promise.all(workers.splice(0).map((w) => w.stop()));
        send({ t: 'stopped' });
        return;
      case 'exit':
        process.exit(0);
    }
  })().catch((err: unknown) => send({ t: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
