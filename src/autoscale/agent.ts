/**
 * The monitoring agent's loop, once per intervalMs: read every node (health + load gauges), take
 * the decision (decide.ts), act on it and publish the status.
 *
 * - LocalAgent runs the nodes itself through the Supervisor.
 * - PrintAgent watches a static list of node URLs and prints one JSON line per round with the
 *   figures and the desired count, for an external orchestrator; it starts and stops nothing.
 */
import type { Logger } from 'pino';
import { decide, decideWorkers, type Decision, type NodeFigures, type QueueDepth, type WorkerDecision } from './decide.ts';
import type { Policy } from './policy.ts';
import { read, type NodeReading } from './scrape.ts';
import type { StatusPublisher } from './status.ts';
import { nodeUrl, Supervisor } from './supervisor.ts';
import { WorkerPool } from './worker-pool.ts';

/** A queue's depth over the nodes that reported it: the largest (every node reads the same engine; one may lag). */
export function depthOf(queue: string, readings: ReadonlyArray<Map<string, QueueDepth>>): QueueDepth | null {
  let found = false;
  let waiting = 0;
  let active = 0;
  for (const queues of readings) {
    const d = queues.get(queue);
    if (!d) continue;
    found = true;
    waiting = Math.max(waiting, d.waiting);
    active = Math.max(active, d.active);
  }
  return found ? { waiting, active } : null;
}

/** Runs `round` every intervalMs, never two at once; stop() waits for the one in flight. */
abstract class Loop {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = false;

  constructor(protected readonly policy: Policy, protected readonly logger: Logger) {}

  protected abstract round(): Promise<void>;

  protected startLoop(firstDelayMs = this.policy.intervalMs): void {
    const tick = async () => {
      const began = Date.now();
      this.inFlight = this.round().catch((err) => this.logger.error({ err }, 'autoscale round failed'));
      await this.inFlight;
      this.inFlight = null;
      if (!this.stopped) this.timer = setTimeout(tick, Math.max(0, this.policy.intervalMs - (Date.now() - began)));
    };
    this.timer = setTimeout(tick, firstDelayMs);
  }

  protected async stopLoop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }
}

/** What a decision is logged and printed with: its inputs, then its outcome. */
function record(nodes: unknown[], current: number, d: Decision) {
  return { nodes, sums: d.sums, current, load: d.load, formula: d.formula, desired: d.desired, action: d.action, reason: d.reason };
}

function figuresOut(f: NodeFigures | null) {
  return f && { ...f, messagesPerSecond: f.messagesInPerSecond + f.messagesOutPerSecond };
}

export class LocalAgent extends Loop {
  readonly supervisor: Supervisor;
  private lastChangeAt: number | null = null;
  private lastDecision: (ReturnType<typeof record> & { at: string }) | null = null;

  readonly pools: WorkerPool[];

  constructor(policy: Policy, command: string[], env: NodeJS.ProcessEnv, logger: Logger, private readonly status: StatusPublisher, workerEnv: NodeJS.ProcessEnv = env) {
    super(policy, logger);
    this.supervisor = new Supervisor(policy, command, env, logger, () => this.publish());
    this.pools = policy.workers.map((p) => new WorkerPool(p, workerEnv, logger, () => this.publish()));
  }

  /** Starts minNodes at once, then follows the load. */
  start(): void {
    this.logger.info({ minNodes: this.policy.minNodes, maxNodes: this.policy.maxNodes, connectsPerSecond: this.policy.connectsPerSecond, messagesPerSecond: this.policy.messagesPerSecond }, 'autoscale starting (local)');
    this.supervisor.setWant(this.policy.minNodes);
    this.startLoop();
  }

  protected async round(): Promise<void> {
    await this.supervisor.check();
    const now = Date.now();
    const running = this.supervisor.list().filter((n) => n.state === 'running');
    const current = this.supervisor.wanted;
    const d = decide({
      now, current, lastChangeAt: this.lastChangeAt, policy: this.policy,
      figures: running.flatMap((n) => (n.figures ? [n.figures] : [])),
    });
    const nodes = this.supervisor.list().map((n) => ({ node: n.id, pid: n.pid, port: n.port, state: n.state, healthFailures: n.healthFailures, figures: figuresOut(n.figures) }));
    const rec = record(nodes, current, d);
    this.lastDecision = { at: new Date(now).toISOString(), ...rec };
    this.logger.info(rec, 'autoscale decision');
    if (d.action !== 'hold') {
      this.lastChangeAt = now;
      this.supervisor.setWant(d.desired);
    } else {
      this.supervisor.reconcile(); // catches up after restarts delayed by backoff
    }
    this.scaleWorkers(now, running.map((n) => n.queues), running.map((n) => nodeUrl(this.policy.local.host, n.port)));
    this.publish();
  }

  /** One decision per worker pool on its queue's depth; workers are pointed at the running nodes. */
  private scaleWorkers(now: number, readings: Map<string, QueueDepth>[], urls: string[]): void {
    for (const pool of this.pools) {
      const current = pool.wanted;
      const d = decideWorkers({ now, current, depth: depthOf(pool.policy.queue, readings), lastChangeAt: pool.lastChangeAt, pool: pool.policy, policy: this.policy });
      pool.lastDecision = { at: new Date(now).toISOString(), current, ...d };
      this.logger.info({ pool: pool.policy.name, queue: pool.policy.queue, ...pool.lastDecision }, 'autoscale workers decision');
      if (d.action !== 'hold') pool.lastChangeAt = now;
      pool.setWant(d.desired, urls);
    }
  }

  publish(): void {
    this.status.publish({
      mode: 'local',
      pid: process.pid,
      at: new Date().toISOString(),
      minNodes: this.policy.minNodes,
      maxNodes: this.policy.maxNodes,
      wanted: this.supervisor.wanted,
      lastChangeAt: this.lastChangeAt === null ? null : new Date(this.lastChangeAt).toISOString(),
      lastDecision: this.lastDecision,
      nodes: this.supervisor.list().map((n) => ({
        node: n.id, pid: n.pid, port: n.port, url: n.state === 'starting' ? null : nodeUrl(this.policy.local.host, n.port),
        state: n.state, startedAt: new Date(n.startedAt).toISOString(), healthFailures: n.healthFailures,
        figures: figuresOut(n.figures), lastError: n.lastError,
      })),
      events: this.supervisor.events,
      workers: this.pools.map((p) => p.describe()),
    });
  }

  /** Stops the loop, then every worker (they finish their jobs while the nodes still run), then every node. */
  async stop(reason: string): Promise<void> {
    this.logger.info({ reason }, 'autoscale stopping its workers and nodes');
    await this.stopLoop();
    await Promise.all(this.pools.map((p) => p.shutdown(reason)));
    await this.supervisor.shutdown(reason);
    this.publish();
  }

  /** Last resort on the autoscaler's own exit: leave no orphans behind. */
  killAllNow(): void {
    for (const p of this.pools) p.killAllNow();
    this.supervisor.killAllNow();
  }
}

export class PrintAgent extends Loop {
  /** The count last printed: the orchestrator is taken to run it, for hysteresis and cool-down. */
  private current: number;
  private lastChangeAt: number | null = null;
  /** Failed health probes in a row, per listed node. */
  private readonly failures: number[];
  /** Per worker pool: the count last printed and when it changed. */
  private readonly pools: { current: number; lastChangeAt: number | null }[];

  constructor(policy: Policy, logger: Logger, private readonly status: StatusPublisher, private readonly out: (line: string) => void) {
    super(policy, logger);
    this.current = policy.nodes.length;
    this.failures = policy.nodes.map(() => 0);
    this.pools = policy.workers.map((p) => ({ current: p.minWorkers, lastChangeAt: null }));
  }

  start(): void {
    this.logger.info({ nodes: this.policy.nodes }, 'autoscale starting (print)');
    this.startLoop(0);
  }

  protected async round(): Promise<void> {
    const { path, timeoutMs } = this.policy.health;
    const readings: NodeReading[] = await Promise.all(this.policy.nodes.map((u) => read(u, path, timeoutMs)));
    const now = Date.now();
    const d = decide({
      now, current: this.current, lastChangeAt: this.lastChangeAt, policy: this.policy,
      figures: readings.flatMap((r) => (r.figures ? [r.figures] : [])),
    });
    readings.forEach((r, i) => { this.failures[i] = r.healthy ? 0 : this.failures[i] + 1; });
    // `replace`: the orchestrator's cue, after failuresBeforeReplace failed probes in a row.
    const nodes = this.policy.nodes.map((url, i) => ({
      url, healthy: readings[i].healthy, healthFailures: this.failures[i], replace: this.failures[i] >= this.policy.health.failuresBeforeReplace,
      figures: figuresOut(readings[i].figures), error: readings[i].healthError ?? readings[i].scrapeError,
    }));
    const queues = readings.map((r) => r.queues);
    const workers = this.policy.workers.map((pool, i) => {
      const state = this.pools[i]!;
      const w: WorkerDecision = decideWorkers({ now, current: state.current, depth: depthOf(pool.queue, queues), lastChangeAt: state.lastChangeAt, pool, policy: this.policy });
      const out = { pool: pool.name, queue: pool.queue, current: state.current, ...w };
      if (w.action !== 'hold') {
        state.lastChangeAt = now;
        state.current = w.desired;
      }
      return out;
    });
    const line = { at: new Date(now).toISOString(), ...record(nodes, this.current, d), ...(workers.length > 0 ? { workers } : {}) };
    if (d.action !== 'hold') {
      this.lastChangeAt = now;
      this.current = d.desired;
    }
    this.out(JSON.stringify(line));
    this.status.publish({ mode: 'print', pid: process.pid, ...line });
  }

  async stop(): Promise<void> {
    await this.stopLoop();
  }
}
