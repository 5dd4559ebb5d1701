/**
 * The scaling decision: a pure function of the nodes' figures, the current count, the time of the
 * last change and the policy. No I/O and no clock of its own, so every branch (clamp, both
 * targets, hysteresis, cool-down) is unit-tested with plain numbers.
 */
import type { Policy } from './policy.ts';

/** One node's load, as read from its /metrics (10 s sliding-window means). */
export interface NodeFigures {
  connections: number;
  connectsPerSecond: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
}

export type DecidePolicy = Pick<Policy, 'connectsPerSecond' | 'messagesPerSecond' | 'minNodes' | 'maxNodes' | 'scaleDownBelow' | 'cooldownMs' | 'scaleDownCooldownMs'>;

export interface DecisionInput {
  now: number;
  /** Nodes the scaler runs (or asked for) now. */
  current: number;
  /** Figures of the nodes that answered this round; nodes that did not add nothing. */
  figures: NodeFigures[];
  /** When the last scaling change was made; null before the first. */
  lastChangeAt: number | null;
  policy: DecidePolicy;
}

export type Action = 'up' | 'down' | 'hold';

export interface Decision {
  sums: { connections: number; connectsPerSecond: number; messagesPerSecond: number };
  /** max(sum connects/s ÷ target, sum messages/s ÷ target): nodes' worth of load. */
  load: number;
  /** clamp(ceil(load), min, max): the plain formula, before hysteresis and cool-down. */
  formula: number;
  /** The count to run after this decision (== current when held). */
  desired: number;
  action: Action;
  reason: string;
}

export function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

export function decide(input: DecisionInput): Decision {
  const { now, current, figures, lastChangeAt, policy: p } = input;
  const sums = { connections: 0, connectsPerSecond: 0, messagesPerSecond: 0 };
  for (const f of figures) {
    sums.connections += f.connections;
    sums.connectsPerSecond += f.connectsPerSecond;
    sums.messagesPerSecond += f.messagesInPerSecond + f.messagesOutPerSecond;
  }
  const load = Math.max(sums.connectsPerSecond / p.connectsPerSecond, sums.messagesPerSecond / p.messagesPerSecond);
  const formula = clamp(Math.ceil(load), p.minNodes, p.maxNodes);
  const result = (desired: number, action: Action, reason: string): Decision => ({ sums, load, formula, desired, action, reason });

  // The bounds are hard: outside them we move at once, whatever the cool-down says.
  if (current < p.minNodes) return result(Math.max(formula, p.minNodes), 'up', `below minNodes (${p.minNodes})`);
  if (current > p.maxNodes) return result(Math.min(formula, p.maxNodes), 'down', `above maxNodes (${p.maxNodes})`);

  const since = lastChangeAt === null ? Infinity : now - lastChangeAt;
  if (formula > current) {
    if (since < p.cooldownMs) return result(current, 'hold', `wants ${formula}, cooling down (${p.cooldownMs - since} ms left)`);
    return result(formula, 'up', `load ${round(load)} nodes' worth > ${current}`);
  }
  // Hysteresis: the count the load would need if every node ran below scaleDownBelow × target.
  // It is >= formula, so a load just under a boundary keeps the current count instead of flapping.
  const relaxed = clamp(Math.ceil(load / p.scaleDownBelow), p.minNodes, p.maxNodes);
  if (relaxed < current) {
    if (since < p.scaleDownCooldownMs) return result(current, 'hold', `wants ${relaxed}, cooling down (${p.scaleDownCooldownMs - since} ms left)`);
    return result(relaxed, 'down', `load ${round(load)} fits in ${relaxed} below ${p.scaleDownBelow} of target`);
  }
  return result(current, 'hold', formula < current ? `load ${round(load)} would need ${relaxed} below ${p.scaleDownBelow} of target` : 'at target');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** One queue's depth as the nodes report it (gauges read from the engine: the same on every node sharing it). */
export interface QueueDepth {
  waiting: number;
  active: number;
}

export interface WorkerDecisionInput {
  now: number;
  /** Workers the pool runs (or asked for) now. */
  current: number;
  /** The queue's depth, or null when no node reported it this round (then nothing changes). */
  depth: QueueDepth | null;
  lastChangeAt: number | null;
  pool: { minWorkers: number; maxWorkers: number; jobsPerWorker: number };
  policy: Pick<Policy, 'scaleDownBelow' | 'cooldownMs' | 'scaleDownCooldownMs'>;
}

export interface WorkerDecision {
  /** waiting + active: the jobs that want a worker now (delayed jobs and scheduled retries do not). */
  jobs: number | null;
  /** jobs ÷ jobsPerWorker: workers' worth of work. */
  load: number | null;
  formula: number;
  desired: number;
  action: Action;
  reason: string;
}

/**
 * Workers for one pool, as decide() does for nodes: clamp(ceil(jobs ÷ jobsPerWorker)), up after
 * cooldownMs, down only when the work would fit in fewer workers each below scaleDownBelow of the
 * target and after scaleDownCooldownMs. minWorkers may be 0 (no worker while the queue is empty).
 */
export function decideWorkers(input: WorkerDecisionInput): WorkerDecision {
  const { now, current, depth, lastChangeAt, pool, policy: p } = input;
  const { minWorkers: min, maxWorkers: max } = pool;
  if (depth === null) {
    const desired = clamp(current, min, max);
    return { jobs: null, load: null, formula: desired, desired, action: desired > current ? 'up' : desired < current ? 'down' : 'hold', reason: 'no node reported the queue' };
  }
  const jobs = depth.waiting + depth.active;
  const load = jobs / pool.jobsPerWorker;
  const formula = clamp(Math.ceil(load), min, max);
  const result = (desired: number, action: Action, reason: string): WorkerDecision => ({ jobs, load, formula, desired, action, reason });
  if (current < min) return result(Math.max(formula, min), 'up', `below minWorkers (${min})`);
  if (current > max) return result(Math.min(formula, max), 'down', `above maxWorkers (${max})`);
  const since = lastChangeAt === null ? Infinity : now - lastChangeAt;
  if (formula > current) {
    if (since < p.cooldownMs) return result(current, 'hold', `wants ${formula}, cooling down (${p.cooldownMs - since} ms left)`);
    return result(formula, 'up', `${jobs} jobs: ${round(load)} workers' worth > ${current}`);
  }
  const relaxed = clamp(Math.ceil(load / p.scaleDownBelow), min, max);
  if (relaxed < current) {
    if (since < p.scaleDownCooldownMs) return result(current, 'hold', `wants ${relaxed}, cooling down (${p.scaleDownCooldownMs - since} ms left)`);
    return result(relaxed, 'down', `${jobs} jobs fit in ${relaxed} below ${p.scaleDownBelow} of target`);
  }
  return result(current, 'hold', formula < current ? `${jobs} jobs would need ${relaxed} below ${p.scaleDownBelow} of target` : 'at target');
}
