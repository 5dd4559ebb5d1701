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
  /** When the claim of the oldest held job was asked for (performance.now()). */
  heldAskedAt: number;
  cancelClose: () => void;
  gone: boolean;
}

interface QueuePush {
  workers: Map<string, PushWorker>;
  /** Rotates who is offered first. */
  next: number;
  /** Credit promised to claims in flight: what they may bring back. */
  reserved: number;
  /** Claims in flight for this queue. */
  claiming: number;
  /** The last claim found fewer jobs than it asked for, and nothing may have become ready since. */
  drained: boolean;
  /** Grows with every ready(): a short claim marks the queue drained only if none came after it was asked. */
  readyEpoch: number;
  /** A ready() came while all credit was promised to claims in flight: claim again when one returns. */
  again: boolean;
}

export class PushDispatcher {
  private readonly queues = new Map<string, QueuePush>();

  /**
   * `onOffer(ms)`: an offer went to a worker `ms` after its claim was asked for (performance.now()
   * clock; brigade_jobs_push_offer_seconds).
   */
  constructor(private readonly engine: JobQueues, private readonly statsOf: (queue: string) => QueueStats,
    private readonly onError: (err: unknown) => void, private readonly onOffer: (ms: number) => void = () => {}) {}

  /**
   * Opens (or reopens) `worker`'s mailbox with `credit` more; resolves with the jobs claimed for it
   * (at least one), or none when another subscribe replaced this one, the worker unsubscribed or
   * its connection closed (then the reply goes nowhere).
   */
  subscribe(queue: string, workerId: string, credit: number, onClose: (fn: () => void) => () => void): Promise<ClaimedJob[]> {
    const q = this.queueOf(queue);
    let w = q.workers.get(workerId);
    if (!w) {
      const created: PushWorker = { queue, id: workerId, credit: 0, mailbox: null, held: [], heldAskedAt: 0, cancelClose: () => {}, gone: false };
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
        this.onOffer(performance.now() - worker.heldAskedAt);
        resolve(jobs);
        return;
      }
      worker.mailbox = resolve;
      if (worker.credit > 0) this.dispatch(queue, 0);
    });
  }

  /** Adds credit to a subscribed worker (a finished job); false when it has no subscription here. */
  credit(queue: string, workerId: string, credit: number): boolean {
    const w = this.queues.get(queue)?.workers.get(workerId);
    if (!w || credit <= 0) return false;
    w.credit = Math.min(MAX_CREDIT, w.credit + credit);
    this.dispatch(queue, 0);
    return true;
  }

  /** Ends a worker's subscription: its open subscribe is answered with no jobs. */
  unsubscribe(queue: string, workerId: string): void {
    const w = this.queues.get(queue)?.workers.get(workerId);
    if (w) this.remove(w);
  }

  /**
   * Jobs may have become ready in `queue` (`count` of them when known: an enqueue on this node):
   * offer them to its push workers with credit.
   */
  ready(queue: string, count?: number): Promise<void> | undefined {
    if (!this.queues.has(queue)) return undefined;
    // A known count the claim can take in one call: the claim asked for it accounts for these jobs
    // alone, so the queue's drained state does not change for them (see dispatch).
    const exact = count !== undefined && count >= 1 && count <= MAX_CLAIM_PER_CALL;
    return this.dispatch(queue, Math.max(1, Math.min(count ?? MAX_CLAIM_PER_CALL, MAX_CLAIM_PER_CALL)), exact);
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
      q = { workers: new Map(), next: 0, reserved: 0, claiming: 0, drained: false, readyEpoch: 0, again: false };
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
    if (q && q.workers.size === 0 && q.claiming === 0) this.queues.delete(w.queue);
    // Jobs held for it were claimed with a lease: they run again when it expires (at least once).
    w.held = [];
    w.mailbox?.([]);
    w.mailbox = null;
  }

  /**
   * Claims for the queue's workers with credit not yet promised to a claim in flight. Called the
   * moment jobs may have become ready (`readyCount` > 0: how many, at most; an enqueue, a promote, a
   * retry) or credit grew (0). The claim is asked for at once, in the same turn as the enqueue that
   * triggered it, even while other claims are in flight (each is one atomic engine step, so two never
   * return the same job): on the embedded engine it runs right after the enqueue in the enqueue's
   * group commit, and the job is offered in the turn of that commit. It asks for no more than the
   * enqueue added, so the credit stays free for the next enqueue's claim in the same turn. Credit alone
   * (a completion) claims nothing while the queue is known drained, so completions add no claim steps
   * ahead of the enqueues that follow them.
   */
  private dispatch(queue: string, readyCount: number, exact = false): Promise<void> | undefined {
    const q = this.queues.get(queue);
    if (!q) return undefined;
    const wasDrained = q.drained;
    if (readyCount > 0 && !exact) {
      q.readyEpoch++;
      q.drained = false;
    } else if (readyCount === 0 && q.drained) {
      return;
    }
    let credit = 0;
    for (const w of q.workers.values()) credit += w.credit;
    const limit = readyCount > 0 ? readyCount : MAX_CLAIM_PER_CALL;
    const want = Math.min(credit - q.reserved, limit);
    if (exact && want < readyCount) {
      // Not all of this enqueue's jobs can be claimed now (credit is short or promised): they are
      // ready and unclaimed, so credit granted later claims for them.
      q.readyEpoch++;
      q.drained = false;
    }
    if (want <= 0) {
      if (readyCount > 0) q.again = true;
      return;
    }
    q.reserved += want;
    q.claiming++;
    const epoch = q.readyEpoch;
    const now = Date.now();
    const askedAt = performance.now();
    let more = false;
    // Settles (never rejects) once the claimed jobs were dealt: ready()'s caller may wait for it.
    const dealt = this.engine.claimJobs(queue, want, now).then((jobs) => {
      q.reserved -= want;
      if (jobs.length > 0) {
        const stats = this.statsOf(queue);
        stats.count('claimed', jobs.length, now);
        stats.count('pushed', jobs.length, now);
        this.deal(q, jobs, askedAt);
      }
      const noReadySince = epoch === q.readyEpoch;
      if (jobs.length < want) {
        if (noReadySince) q.drained = true;
      } else if (want < limit || readyCount === 0) {
        // Cut short by credit or the per-call cap: there may be more.
        more = true;
      } else if (!exact && wasDrained && noReadySince) {
        // It took as many as the enqueue added to a drained queue: drained again.
        q.drained = true;
      }
    }, (err: unknown) => {
      q.reserved -= want;
      // The jobs it was to claim may still be ready: credit claims for them again.
      q.readyEpoch++;
      q.drained = false;
      this.onError(err);
    }).finally(() => {
      q.claiming--;
      if (q.workers.size === 0 && q.claiming === 0) {
        this.queues.delete(queue);
        return;
      }
      // There may be more, or a ready() found all credit promised: claim for it now.
      if (more || q.again) {
        q.again = false;
        this.dispatch(queue, 0);
      }
    });
    return dealt;
  }

  /**
   * Deals the claimed jobs to the workers with credit, each worker taking as many as its credit
   * allows before the next is offered any: first those with a subscribe open (the jobs go out now),
   * then the others (held until their next subscribe arrives, a round trip later). Who is offered
   * first rotates with every claim. Filling one worker's free slots rather than spreading a claim
   * one job at a time over every worker sends fewer, larger replies, and each worker completes
   * them in fewer `jobs.complete_many` (one per reply when its handlers finish in one turn): 100
   * jobs over 8 workers of concurrency 50 are 2 replies, not 8 (docs/benchmarks-jobs.md). A worker
   * never gets more than the slots it declared free.
   */
  private deal(q: QueuePush, jobs: ClaimedJob[], askedAt: number): void {
    const workers = [...q.workers.values()];
    const n = workers.length;
    let j = 0;
    for (let pass = 0; pass < 2 && j < jobs.length; pass++) {
      const open = pass === 0;
      for (let k = 0; k < n && j < jobs.length; k++) {
        const w = workers[(q.next + k) % n]!;
        if ((w.mailbox !== null) !== open || w.credit <= 0) continue;
        const take = Math.min(w.credit, jobs.length - j);
        w.credit -= take;
        const list = jobs.slice(j, j + take);
        j += take;
        if (w.mailbox) {
          const mailbox = w.mailbox;
          w.mailbox = null;
          const held = w.held;
          w.held = [];
          this.onOffer(performance.now() - (held.length > 0 ? w.heldAskedAt : askedAt));
          mailbox(held.length > 0 ? held.concat(list) : list);
        } else {
          if (w.held.length === 0) w.heldAskedAt = askedAt;
          for (const job of list) w.held.push(job);
        }
      }
    }
    // Jobs no worker had credit for (one disconnected while claiming): their leases expire, they run again.
    q.next = (q.next + 1) % Math.max(1, n);
  }
}
