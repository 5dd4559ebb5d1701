/**
 * Push mode, the server's half (docs/jobs.md#push-mode): workers connected to this node are offered
 * jobs as they become ready, within the credit they granted.
 *
 * A push worker keeps one `jobs.subscribe` request open: its reply is the worker's mailbox, held
 * until this node has claimed jobs for it (no timer, so an idle worker costs no traffic at all).
 * Credit is additive (as AMQP's prefetch or Reactive Streams' request(n)): `jobs.subscribe`,
 * `jobs.complete`, `jobs.fail` and `jobs.credit` may each add some; every job claimed for the worker
 * spends one. So a worker that grants its free slots once and one more per finished job never holds
 * more jobs than its concurrency, whatever the timing of replies.
 *
 * The node claims on a worker's behalf (the same engine claim as `jobs.claim`, with its lease) when a
 * job may have become ready: an enqueue on this node, a promote tick, a credit granted. Jobs claimed
 * while the worker's mailbox is between two requests wait in it until the next `jobs.subscribe`.
 */
import type { ClaimedJob, JobQueues } from '../../core/engine.ts';
import type { QueueStats } from './stats.ts';

/** Most credit a worker may hold at once. */
export const MAX_CREDIT = 1000;
/** Most jobs claimed in one engine call for a queue's push workers. */
const MAX_CLAIM_PER_CALL = 100;

type Mailbox = (jobs: ClaimedJob[]) => void;

interface PushWorker {
  readonly queue: string;
  readonly id: string;
  credit: number;
  /** The open subscribe's reply, or null between two. */
  mailbox: Mailbox | null;
  /** Jobs claimed for it while no subscribe was open. */
  held: ClaimedJob[];
  cancelClose: () => void;
  gone: boolean;
}

interface QueuePush {
  workers: Map<string, PushWorker>;
  /** Rotates who is offered first. */
  next: number;
  running: boolean;
  again: boolean;
}

export class PushDispatcher {
  private readonly queues = new Map<string, QueuePush>();

  constructor(private readonly engine: JobQueues, private readonly statsOf: (queue: string) => QueueStats,
    private readonly onError: (err: unknown) => void) {}

  /**
   * Opens (or reopens) `worker`'s mailbox with `credit` more; resolves with the jobs claimed for it
   * (at least one), or none when another subscribe replaced this one, the worker unsubscribed or
   * its connection closed (then the reply goes nowhere).
   */
  subscribe(queue: string, workerId: string, credit: number, onClose: (fn: () => void) => () => void): Promise<ClaimedJob[]> {
    const q = this.queueOf(queue);
    let w = q.workers.get(workerId);
    if (!w) {
      const created: PushWorker = { queue, id: workerId, credit: 0, mailbox: null, held: [], cancelClose: () => {}, gone: false };
      q.workers.set(workerId, created);
      created.cancelClose = onClose(() => this.remove(created));
      w = created;
    }
    w.mailbox?.([]);
    w.mailbox = null;
    w.credit = Math.min(MAX_CREDIT, w.credit + credit);
    const worker = w;
    return new Promise<ClaimedJob[]>((resolve) => {
      if (worker.held.length > 0) {
        const jobs = worker.held;
        worker.held = [];
        resolve(jobs);
        return;
      }
      worker.mailbox = resolve;
      if (worker.credit > 0) this.dispatch(queue);
    });
  }

  /** Adds credit to a subscribed worker (a finished job); false when it has no subscription here. */
  credit(queue: string, workerId: string, credit: number): boolean {
    const w = this.queues.get(queue)?.workers.get(workerId);
    if (!w || credit <= 0) return false;
    w.credit = Math.min(MAX_CREDIT, w.credit + credit);
    this.dispatch(queue);
    return true;
  }

  /** Ends a worker's subscription: its open subscribe is answered with no jobs. */
  unsubscribe(queue: string, workerId: string): void {
    const w = this.queues.get(queue)?.workers.get(workerId);
    if (w) this.remove(w);
  }

  /** Jobs may have become ready in `queue`: offer them to its push workers with credit. */
  ready(queue: string): void {
    if (this.queues.has(queue)) this.dispatch(queue);
  }

  /** Queues with a push worker that has credit (the tick offers their promoted jobs). */
  hungryQueues(): string[] {
    const out: string[] = [];
    for (const [name, q] of this.queues) if ([...q.workers.values()].some((w) => w.credit > 0)) out.push(name);
    return out;
  }

  /** Subscribed push workers and their credit, per queue (the dashboard). */
  describe(): Record<string, { workers: number; credit: number }> {
    const out: Record<string, { workers: number; credit: number }> = {};
    for (const [name, q] of this.queues) {
      let credit = 0;
      for (const w of q.workers.values()) credit += w.credit;
      out[name] = { workers: q.workers.size, credit };
    }
    return out;
  }

  /** Answers every open subscribe with no jobs (the node stops). */
  close(): void {
    for (const q of this.queues.values()) for (const w of [...q.workers.values()]) this.remove(w);
  }

  private queueOf(queue: string): QueuePush {
    let q = this.queues.get(queue);
    if (!q) {
      q = { workers: new Map(), next: 0, running: false, again: false };
      this.queues.set(queue, q);
    }
    return q;
  }

  private remove(w: PushWorker): void {
    if (w.gone) return;
    w.gone = true;
    w.cancelClose();
    const q = this.queues.get(w.queue);
    q?.workers.delete(w.id);
    if (q && q.workers.size === 0 && !q.running) this.queues.delete(w.queue);
    // Jobs held for it were claimed with a lease: they run again when it expires (at least once).
    w.held = [];
    w.mailbox?.([]);
    w.mailbox = null;
  }

  /** Claims for the queue's workers with credit until the queue is empty or the credit spent; one run per queue at a time. */
  private dispatch(queue: string): void {
    const q = this.queues.get(queue);
    if (!q) return;
    if (q.running) {
      q.again = true;
      return;
    }
    q.running = true;
    void this.run(queue, q).catch(this.onError).finally(() => {
      q.running = false;
      if (q.workers.size === 0) this.queues.delete(queue);
    });
  }

  private async run(queue: string, q: QueuePush): Promise<void> {
    for (;;) {
      q.again = false;
      let want = 0;
      for (const w of q.workers.values()) want += w.credit;
      want = Math.min(want, MAX_CLAIM_PER_CALL);
      if (want === 0) return;
      const now = Date.now();
      const jobs = await this.engine.claimJobs(queue, want, now);
      if (jobs.length > 0) {
        const stats = this.statsOf(queue);
        stats.count('claimed', jobs.length, now);
        stats.count('pushed', jobs.length, now);
        this.deal(q, jobs);
      }
      // Fewer than asked: the queue is empty for now; stop unless credit or jobs arrived meanwhile.
      if (jobs.length < want && !q.again) return;
    }
  }

  /** Deals the claimed jobs round robin to the workers with credit (credit only grew while claiming). */
  private deal(q: QueuePush, jobs: ClaimedJob[]): void {
    const workers = [...q.workers.values()];
    const given = new Map<PushWorker, ClaimedJob[]>();
    let i = 0;
    for (const job of jobs) {
      let placed = false;
      for (let tries = 0; tries < workers.length && !placed; tries++) {
        const w = workers[(q.next + i++) % workers.length]!;
        if (w.credit <= 0) continue;
        w.credit--;
        let list = given.get(w);
        if (!list) given.set(w, (list = []));
        list.push(job);
        placed = true;
      }
      // No worker left with credit (one disconnected while claiming): the lease expires, the job runs again.
      if (!placed) break;
    }
    q.next = (q.next + 1) % Math.max(1, workers.length);
    for (const [w, list] of given) {
      if (w.mailbox) {
        const mailbox = w.mailbox;
        w.mailbox = null;
        mailbox([...w.held, ...list]);
        w.held = [];
      } else {
        w.held.push(...list);
      }
    }
  }
}
