/**
 * The machine's wake-up floor, measured beside a latency run (as cyclictest does): a worker thread
 * sleeps 1 ms at a time (`Atomics.wait` with a timeout) and records how late each wake-up came.
 * Every hop of a latency path (a frame read by another process, a reply picked up by a waiting
 * thread) is such a wake-up, so a path that crosses k of them cannot have a tail below what the
 * machine gives one of them while the run loads it. The probe costs ~1,000 wake-ups a second (about
 * 1 % of a core) and holds no lock the run uses.
 */
import { Worker } from 'node:worker_threads';
import { Histogram, type LatencySummary } from './histogram.ts';

/** How late the probe's wake-ups came, ms (the quantiles as every latency of a report: Histogram). */
export interface WakeFloor extends LatencySummary {
  /** The sleep each sample asked for, ms. */
  sleepMs: number;
  /** Wake-ups later than 2 and 5 ms. */
  over2Ms: number;
  over5Ms: number;
  /**
   * The p99 of the lateness a path crossing k wake-ups collects, k = 2, 3, 4: the sum of k samples
   * drawn at random from this window's (20,000 draws; as if the wake-ups were independent). A
   * latency path's p99 cannot be below its k's floor plus its own work.
   */
  pathP99: { 2: number | null; 3: number | null; 4: number | null };
}

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const flag = new Int32Array(workerData.control);
const late = [];
const cell = new Int32Array(new SharedArrayBuffer(4));
while (Atomics.load(flag, 0) === 0) {
  const t = performance.now();
  Atomics.wait(cell, 0, 0, workerData.sleepMs);
  late.push(performance.now() - t - workerData.sleepMs);
}
parentPort.postMessage(late);
`;

/** A running probe; stop() ends it and summarises the lateness of its wake-ups, ms. */
export class WakeProbe {
  private readonly control = new SharedArrayBuffer(4);
  private readonly worker: Worker;
  private readonly result: Promise<number[]>;

  constructor(private readonly sleepMs = 1) {
    this.worker = new Worker(THREAD, { eval: true, workerData: { control: this.control, sleepMs } });
    this.result = new Promise((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
    });
  }

  async stop(): Promise<WakeFloor> {
    Atomics.store(new Int32Array(this.control), 0, 1);
    const late = await this.result;
    await this.worker.terminate();
    return summarise(late, this.sleepMs);
  }
}

/** The summary of lateness samples, ms. */
export function summarise(late: number[], sleepMs: number): WakeFloor {
  const h = new Histogram();
  for (const x of late) h.record(Math.max(0, x));
  return {
    ...h.summary(), sleepMs,
    over2Ms: late.filter((x) => x > 2).length, over5Ms: late.filter((x) => x > 5).length,
    pathP99: { 2: pathP99(late, 2), 3: pathP99(late, 3), 4: pathP99(late, 4) },
  };
}

function pathP99(late: number[], k: number, draws = 20_000): number | null {
  if (late.length === 0) return null;
  const sums = new Histogram();
  for (let d = 0; d < draws; d++) {
    let sum = 0;
    for (let i = 0; i < k; i++) sum += Math.max(0, late[Math.floor(Math.random() * late.length)]!);
    sums.record(sum);
  }
  return sums.summary().p99;
}

export function describeWakeFloor(w: WakeFloor): string {
  return `wake-up floor (a thread sleeping ${w.sleepMs} ms, ${w.samples} wake-ups): late p50 ${w.p50}, p99 ${w.p99}, p99.9 ${w.p999}, max ${w.max} ms; ${w.over2Ms} over 2 ms, ${w.over5Ms} over 5 ms; p99 of 2 / 3 / 4 wake-ups' lateness ${w.pathP99[2]} / ${w.pathP99[3]} / ${w.pathP99[4]} ms`;
}
