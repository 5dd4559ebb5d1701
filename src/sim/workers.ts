/**
 * The coordinator's handle on a worker process (viewer-worker or editor-worker): fork with the
 * advanced serialization (typed arrays travel as such), wait for a message of a given kind, keep
 * the latest of each kind, and stop by PID. A worker that exits or reports an error while the run
 * expects it to live fails the run through `onFatal`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { SIM_DIR, WORKER_EXEC_ARGV, WORKER_EXT } from './servers.ts';

export interface Worker<In, Out extends { t: string }> {
  proc: ChildProcess;
  pid: number;
  send(m: In): void;
  /** The next message of kind t (rejects after timeoutMs). */
  next<K extends Out['t']>(t: K, timeoutMs: number): Promise<Extract<Out, { t: K }>>;
  /** Sends `m` and waits for the reply of kind t. */
  ask<K extends Out['t']>(m: In, t: K, timeoutMs: number): Promise<Extract<Out, { t: K }>>;
  latest: Map<string, Out>;
  /** Tells it to exit, then SIGKILL by PID if it has not within 3 s. */
  stop(): Promise<void>;
}

/**
 * `name`: one of the simulator's own workers, or the path of a scenario's worker script in bench/
 * (run through tsx), e.g. bench/inbox/device-worker.ts.
 */
export function startWorker<In, Out extends { t: string }>(name: 'viewer-worker' | 'editor-worker' | 'choir-worker' | 'jobs-worker' | `${string}.ts`, onFatal: (message: string) => void): Worker<In, Out> {
  const script = name.endsWith('.ts');
  const file = script ? name : join(SIM_DIR, `${name}${WORKER_EXT}`);
  // BRIGADE_BENCH_WORKER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the simulator itself.
  const extra = (process.env.BRIGADE_BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = fork(file, [], { execArgv: [...(script ? ['--import', 'tsx'] : WORKER_EXEC_ARGV), ...extra], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const latest = new Map<string, Out>();
  const waiters: { t: string; resolve(m: Out): void }[] = [];
  let stopping = false;
  proc.on('message', (m: Out) => {
    latest.set(m.t, m);
    if (m.t === 'error') onFatal(`${name} (pid ${proc.pid}): ${(m as unknown as { message: string }).message}`);
    const i = waiters.findIndex((w) => w.t === m.t);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  proc.once('exit', (code, signal) => { if (!stopping) onFatal(`${name} (pid ${proc.pid}) exited unexpectedly (${signal ?? code})`); });
  const next = <K extends Out['t']>(t: K, timeoutMs: number) => new Promise<Extract<Out, { t: K }>>((resolve, reject) => {
    const w = { t, resolve: (m: Out) => { clearTimeout(timer); resolve(m as Extract<Out, { t: K }>); } };
    const timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(w), 1);
      reject(new Error(`${name} (pid ${proc.pid}) sent no '${t}' within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    waiters.push(w);
  });
  return {
    proc, pid: proc.pid!, latest, next,
    send: (m: In) => { proc.send(m as object); },
    ask(m, t, timeoutMs) {
      const p = next(t, timeoutMs);
      proc.send(m as object);
      return p;
    },
    async stop() {
      stopping = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      try { proc.send({ t: 'exit' }); } catch { /* channel closed */ }
      const timer = setTimeout(() => { if (proc.pid) try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}
