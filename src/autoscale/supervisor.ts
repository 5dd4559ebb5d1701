/**
 * Local node processes for `brigade autoscale`: keeps `want` `brigade serve` processes live,
 * stops the extras gracefully (SIGTERM, SIGKILL after stopTimeoutMs), replaces nodes that fail
 * their health check or never start, and starts a new node when one exits by itself (with a
 * growing delay while nodes die before listening, so a bad flag does not become a fork loop).
 *
 * It only acts on processes it spawned, by their ChildProcess handle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import { onLines } from '../sim/listening.ts';
import type { NodeFigures, QueueDepth } from './decide.ts';
import type { LocalPolicy, Policy } from './policy.ts';
import { read } from './scrape.ts';

export type NodeState = 'starting' | 'running' | 'stopping';

export interface ManagedNode {
  id: number;
  pid: number;
  proc: ChildProcess;
  /** Asked for on the command line (0 = any); the real one once listening. */
  port: number;
  state: NodeState;
  startedAt: number;
  listeningAt: number | null;
  healthFailures: number;
  figures: NodeFigures | null;
  /** Per-queue depth from its last scrape (jobs app). */
  queues: Map<string, QueueDepth>;
  lastError: string | null;
  stopReason: string | null;
  exited: Promise<void>;
}

export interface NodeEvent {
  at: string;
  event: 'start' | 'listening' | 'stop' | 'kill' | 'exit' | 'replace';
  node: number;
  pid: number;
  port?: number;
  reason?: string;
  code?: number | null;
  signal?: string | null;
}

const MAX_RESTART_DELAY_MS = 30_000;
const EVENTS_KEPT = 50;

export class Supervisor {
  private readonly nodes = new Map<number, ManagedNode>();
  private nextId = 1;
  private want = 0;
  private shuttingDown = false;
  /** Nodes in a row that exited before listening; restarts wait restartDelayMs × 2^this. */
  private earlyExits = 0;
  private notBefore = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  /** start() calls between reconcile() and the spawn: they count as live, so none is doubled. */
  private pendingStarts = 0;
  /** Ports picked by pending starts, not yet on a node. */
  private readonly reservedPorts = new Set<number>();
  readonly events: NodeEvent[] = [];

  constructor(
    private readonly policy: Policy,
    /** argv[0..] up to and including the subcommand, e.g. [node, bin/brigade.js, 'serve']. */
    private readonly command: string[],
    /** Environment for every node (the shared secrets, then the policy's extra env). */
    private readonly env: NodeJS.ProcessEnv,
    private readonly logger: Logger,
    /** Called after every change of a node's state (for the status output). */
    private readonly onChange: () => void = () => {},
  ) {}

  get local(): LocalPolicy {
    return this.policy.local;
  }

  get wanted(): number {
    return this.want;
  }

  list(): ManagedNode[] {
    return [...this.nodes.values()];
  }

  /** Starting or running: what counts toward `want`. */
  live(): ManagedNode[] {
    return this.list().filter((n) => n.state !== 'stopping');
  }

  setWant(n: number): void {
    this.want = n;
    this.reconcile();
  }

  /** Starts or stops nodes until `want` are live. */
  reconcile(): void {
    if (this.shuttingDown) return;
    const live = this.live();
    if (live.length > this.want) {
      // Stop the nodes that disturb the fewest users: not-yet-listening ones, then the least
      // connected, then the newest.
      const order = [...live].sort((a, b) =>
        rank(a) - rank(b) || (a.figures?.connections ?? 0) - (b.figures?.connections ?? 0) || b.id - a.id);
      for (const n of order.slice(0, live.length - this.want)) this.stop(n, 'scale down');
      return;
    }
    const missing = this.want - live.length - this.pendingStarts;
    if (missing <= 0) return;
    const wait = this.notBefore - Date.now();
    if (wait > 0) {
      this.retryTimer ??= setTimeout(() => { this.retryTimer = null; this.reconcile(); }, wait);
      return;
    }
    for (let i = 0; i < missing; i++) {
      this.pendingStarts++;
      void this.start().finally(() => { this.pendingStarts--; });
    }
  }

  private async start(): Promise<void> {
    const port = await this.pickPort();
    if (port === null) {
      this.logger.error({ ports: this.local.ports }, 'no free port in local.ports; retrying');
      this.backoff();
      return;
    }
    this.reservedPorts.delete(port);
    if (this.shuttingDown) return;
    const l = this.local;
    const argv = [...this.command, ...(l.redis ? ['--redis', l.redis] : []), '--host', l.host, '--port', String(port), '--data', l.data, ...l.args];
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
    const id = this.nextId++;
    const node: ManagedNode = {
      id, pid: proc.pid ?? -1, proc, port, state: 'starting', startedAt: Date.now(), listeningAt: null,
      healthFailures: 0, figures: null, queues: new Map(), lastError: null, stopReason: null,
      exited: new Promise((resolve) => proc.once('exit', () => resolve())),
    };
    if (proc.pid === undefined) {
      // spawn failed (bad command): there is no process, and 'error' follows instead of 'exit'.
      proc.once('error', (err) => {
        this.logger.error({ node: id, command: argv[0], err: err.message }, 'could not start a node');
        this.exitedEarly();
      });
      return;
    }
    this.nodes.set(id, node);
    this.event({ event: 'start', node: id, pid: node.pid, port });
    this.logger.info({ node: id, pid: node.pid, port, argv }, 'node starting');
    this.watchOutput(node);
    proc.once('exit', (code, signal) => this.onExit(node, code, signal));
    const timer = setTimeout(() => {
      if (this.nodes.get(id) === node && node.state === 'starting') this.replace(node, `not listening after ${l.startTimeoutMs} ms`);
    }, l.startTimeoutMs);
    void node.exited.then(() => clearTimeout(timer));
    this.onChange();
  }

  /** Reads the node's output line by line: the 'brigade listening' line gives its port. */
  private watchOutput(node: ManagedNode): void {
    const forward = this.local.forwardLogs;
    const watch = (stream: NodeJS.ReadableStream, isStdout: boolean) => onLines(stream, (line) => {
      if (forward) process.stderr.write(line + '\n');
      if (isStdout && node.state === 'starting' && line.includes('brigade listening')) this.onListening(node, line);
    });
    watch(node.proc.stdout!, true);
    watch(node.proc.stderr!, false);
  }

  private onListening(node: ManagedNode, line: string): void {
    let port: unknown;
    try {
      const rec = JSON.parse(line);
      if (rec.msg !== 'brigade listening') return;
      port = rec.port;
    } catch {
      return;
    }
    if (typeof port !== 'number') return;
    node.port = port;
    node.state = 'running';
    node.listeningAt = Date.now();
    this.earlyExits = 0;
    this.event({ event: 'listening', node: node.id, pid: node.pid, port });
    this.logger.info({ node: node.id, pid: node.pid, port, startMs: node.listeningAt - node.startedAt }, 'node listening');
    this.onChange();
  }

  private onExit(node: ManagedNode, code: number | null, signal: NodeJS.Signals | null): void {
    this.nodes.delete(node.id);
    this.event({ event: 'exit', node: node.id, pid: node.pid, port: node.port, code, signal, reason: node.stopReason ?? 'exited by itself' });
    if (node.state === 'stopping') {
      this.logger.info({ node: node.id, pid: node.pid, code, signal, reason: node.stopReason }, 'node stopped');
    } else {
      this.logger.warn({ node: node.id, pid: node.pid, code, signal, wasListening: node.listeningAt !== null }, 'node exited by itself; starting another');
      if (node.listeningAt === null) this.exitedEarly();
      else this.notBefore = Math.max(this.notBefore, Date.now() + this.local.restartDelayMs);
    }
    this.onChange();
    this.reconcile();
  }

  private exitedEarly(): void {
    this.earlyExits++;
    this.backoff();
  }

  private backoff(): void {
    const delay = Math.min(MAX_RESTART_DELAY_MS, this.local.restartDelayMs * 2 ** Math.min(this.earlyExits, 10));
    this.notBefore = Date.now() + Math.max(delay, 1);
    this.reconcile();
  }

  /** SIGTERM (the node drains), SIGKILL if it has not exited after stopTimeoutMs. */
  stop(node: ManagedNode, reason: string): Promise<void> {
    if (node.state !== 'stopping') {
      node.state = 'stopping';
      node.stopReason = reason;
      this.event({ event: 'stop', node: node.id, pid: node.pid, port: node.port, reason });
      this.logger.info({ node: node.id, pid: node.pid, reason }, 'stopping node');
      signal(node, 'SIGTERM');
      const timer = setTimeout(() => {
        if (node.proc.exitCode !== null || node.proc.signalCode !== null) return;
        this.event({ event: 'kill', node: node.id, pid: node.pid, reason: `still running ${this.local.stopTimeoutMs} ms after SIGTERM` });
        this.logger.warn({ node: node.id, pid: node.pid }, 'node did not stop in time; SIGKILL');
        signal(node, 'SIGKILL');
      }, this.local.stopTimeoutMs);
      void node.exited.then(() => clearTimeout(timer));
      this.onChange();
    }
    return node.exited;
  }

  /** Stops a node (SIGKILL follows if it hangs) and starts another in its place at once. */
  replace(node: ManagedNode, reason: string): void {
    if (node.state === 'stopping') return;
    this.event({ event: 'replace', node: node.id, pid: node.pid, port: node.port, reason });
    this.logger.warn({ node: node.id, pid: node.pid, reason }, 'replacing node');
    void this.stop(node, `replaced: ${reason}`);
    this.reconcile();
  }

  /**
   * Probes and scrapes every running node at once. Health failures count in a row; at
   * failuresBeforeReplace the node is replaced, at most one per round, so a hiccup of the
   * autoscaler's own machine does not restart the whole fleet at once.
   */
  async check(): Promise<void> {
    const { path, timeoutMs, failuresBeforeReplace } = this.policy.health;
    const running = this.list().filter((n) => n.state === 'running');
    const readings = await Promise.all(running.map((n) => read(nodeUrl(this.local.host, n.port), path, timeoutMs)));
    let replaced = false;
    running.forEach((node, i) => {
      const r = readings[i];
      node.figures = r.figures;
      node.queues = r.queues;
      node.lastError = r.healthError ?? r.scrapeError;
      node.healthFailures = r.healthy ? 0 : node.healthFailures + 1;
      if (!r.healthy) this.logger.warn({ node: node.id, pid: node.pid, failures: node.healthFailures, err: r.healthError }, 'health check failed');
      if (node.state === 'running' && node.healthFailures >= failuresBeforeReplace && !replaced) {
        replaced = true;
        this.replace(node, `${node.healthFailures} health checks failed in a row (${r.healthError})`);
      }
    });
    this.onChange();
  }

  /** Stops every node (graceful, SIGKILL after stopTimeoutMs) and resolves when all have exited. */
  async shutdown(reason: string): Promise<void> {
    this.shuttingDown = true;
    this.want = 0;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all(this.list().map((n) => this.stop(n, reason)));
  }

  /** Last resort on the autoscaler's own exit: leave no orphans behind. */
  killAllNow(): void {
    for (const n of this.nodes.values()) signal(n, 'SIGKILL');
  }

  private event(e: Omit<NodeEvent, 'at'>): void {
    this.events.push({ at: new Date().toISOString(), ...e });
    if (this.events.length > EVENTS_KEPT) this.events.shift();
  }

  /** 0, or a port of the range held by none of our nodes and free right now. */
  private async pickPort(): Promise<number | null> {
    const spec = this.local.ports;
    if (spec === 0) return 0;
    for (let p = spec.from; p <= spec.to; p++) {
      if (this.reservedPorts.has(p) || this.list().some((n) => n.port === p)) continue;
      this.reservedPorts.add(p);
      if (await isFree(this.local.host, p)) return p;
      this.reservedPorts.delete(p);
    }
    return null;
  }
}

function rank(n: ManagedNode): number {
  return n.state === 'starting' ? 0 : 1;
}

function signal(node: ManagedNode, sig: NodeJS.Signals): void {
  if (node.proc.exitCode === null && node.proc.signalCode === null) node.proc.kill(sig);
}

export function nodeUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

function isFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}
