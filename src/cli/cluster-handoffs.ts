/**
 * Closes the connections `node:cluster`'s primary handed to a worker that died before it took
 * them. Why: with round-robin scheduling the primary accepts each connection and sends its handle
 * over IPC to the next free worker, and closes its own copy only when that worker answers
 * `accepted`. A worker killed (SIGKILL, a crash) is still on the free list until the primary reads
 * the end of its IPC channel; a connection accepted in that window (the primary busy or descheduled
 * for a few milliseconds is enough, and clients reconnecting at once after the kill make it likely)
 * goes to the dead worker, no answer ever comes, and node:cluster neither closes nor redistributes
 * it: the client waits on an open TCP connection until its own timeout.
 *
 * The primary's worker object does the hand-off through `worker.process.send(message, handle)` with
 * `{cmd: 'NODE_CLUSTER', act: 'newconn', seq}`, and the worker answers `{ack: seq, accepted}` as an
 * internal message (Node 20's lib/internal/cluster). This watches both without changing them and,
 * when the worker's channel closes or it exits, closes every handle still waiting for its answer:
 * the client sees the connection end within moments and connects again (to a live worker). Should a
 * later Node send its hand-offs another way, nothing here matches and node:cluster's own behaviour
 * is left as it is.
 */
import type { Worker } from 'node:cluster';

interface ClusterMessage { cmd?: unknown; act?: unknown; seq?: unknown; ack?: unknown }
interface ClosableHandle { close(): void }

/** Starts watching `worker`'s hand-offs; call once, right after `cluster.fork()`. */
export function closeHandoffsOnDeath(worker: Worker): void {
  const proc = worker.process as unknown as { send: (...args: unknown[]) => unknown; on(event: string, f: (m: unknown) => void): void };
  const waiting = new Map<number, ClosableHandle>();
  const send = proc.send;
  proc.send = function (this: unknown, ...args: unknown[]) {
    const [message, handle] = args as [ClusterMessage | null | undefined, ClosableHandle | undefined];
    if (message && message.cmd === 'NODE_CLUSTER' && message.act === 'newconn' && typeof message.seq === 'number' && handle && typeof handle.close === 'function') {
      waiting.set(message.seq, handle);
    }
    return send.apply(this, args);
  };
  proc.on('internalMessage', (m) => {
    const message = m as ClusterMessage | null;
    if (message && message.cmd === 'NODE_CLUSTER' && typeof message.ack === 'number') waiting.delete(message.ack);
  });
  const closeWaiting = () => {
    for (const handle of waiting.values()) {
      try { handle.close(); } catch { /* already closed */ }
    }
    waiting.clear();
  };
  worker.once('disconnect', closeWaiting);
  worker.once('exit', closeWaiting);
}
