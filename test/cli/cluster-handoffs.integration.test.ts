/**
 * `brigade serve --workers 2` (real processes, a real redis-server): connections that reach the
 * shared port just as a worker is SIGKILLed are answered, none left hanging (src/cli/
 * cluster-handoffs.ts). The window is made certain rather than waited for: the primary is stopped
 * (SIGSTOP), clients connect (the kernel queues them on the listening socket), one worker is
 * killed and reaped by nobody yet, and the primary continues (SIGCONT). It then accepts the queued
 * connections before it reads the dead worker's channel end, so node:cluster hands one of them to
 * the dead worker, which never answers; without the fix that connection stays open, unanswered,
 * until the client gives up. Each client here behaves as the choir link does: a connection that
 * ends before it opened is tried again at once, and the whole must be answered (connected, and a
 * request replied to) within the client's timeout.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';

/** What a client gives a connect and its first request, all tries together (the choir link's attempt is 5 s). */
const CLIENT_TIMEOUT_MS = 4000;
const CLIENTS = 6;

let redis: RedisServer;
let cluster: ServerProcess;

before(async () => { redis = await startRedis(); });
after(async () => {
  if (cluster) {
    try { process.kill(cluster.proc.pid!, 'SIGCONT'); } catch { /* gone */ }
    await cluster.stop();
    cluster.cleanup();
  }
  await redis?.destroy();
});

type Outcome = 'answered' | 'hung' | string;

/** Connects to `wsUrl` and asks one request; a connection that ends before it opened is tried once more at once. */
async function ask(wsUrl: string): Promise<{ outcome: Outcome; tries: number }> {
  const deadline = Date.now() + CLIENT_TIMEOUT_MS;
  for (let tries = 1; ; tries++) {
    const client = new BrigadeClient(wsUrl, { WebSocket: WebSocket as never, reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
    client.on('error', () => {});
    const closed = new Promise<'closed'>((resolve) => { const off = client.on('close', () => { off(); resolve('closed'); }); });
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), Math.max(0, deadline - Date.now())));
    // Any reply is an answer (a typed refusal too); a dropped or timed-out request is not.
    const answered = client.ready().then(() => client.request('choir.state', { room: 'lobby' }, { timeoutMs: CLIENT_TIMEOUT_MS }))
      .then(() => 'answered' as const, (e: { code?: string }) => (e.code === 'DISCONNECTED' || e.code === 'TIMEOUT' ? `failed ${e.code}` : 'answered'));
    const outcome = await Promise.race([answered, closed, hung]);
    client.close();
    if (outcome === 'closed' && tries < 2) continue;
    return { outcome, tries };
  }
}

const isZombie = (pid: number) => { try { return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ')')); } catch { return true; } };

describe('brigade serve --workers 2: a worker killed while connections are handed to it', () => {
  it('every connection queued at the kill is answered within the client\'s timeout, none left open and unanswered', async () => {
    cluster = await startServer(['--apps', 'choir', '--redis', redis.url, '--redis-prefix', `cluster-handoffs-${process.pid}:`, '--workers', '2', '--choir-shards', '1']);
    const listening = () => cluster.logs.map((l) => JSON.parse(l) as { msg?: string; pid: number }).filter((r) => r.msg === 'brigade listening');
    await eventually(() => listening().length >= 2, { what: 'both workers listen' });
    // Both workers serve (and are free again in the primary's rotation).
    for (let i = 0; i < 4; i++) assert.equal((await ask(cluster.wsUrl)).outcome, 'answered', 'before the kill');

    const primary = cluster.proc.pid!;
    const victim = listening()[0].pid;
    process.kill(primary, 'SIGSTOP');
    let results: { outcome: Outcome; tries: number }[];
    try {
      const asked = Array.from({ length: CLIENTS }, () => ask(cluster.wsUrl));
      await new Promise((r) => setTimeout(r, 200)); // the connects reach the listening socket's queue
      process.kill(victim, 'SIGKILL');
      await eventually(() => isZombie(victim), { what: 'the worker to be dead (a zombie: its stopped parent has not reaped it)', intervalMs: 10 });
      process.kill(primary, 'SIGCONT');
      results = await Promise.all(asked);
    } finally {
      try { process.kill(primary, 'SIGCONT'); } catch { /* gone */ }
    }
    const summary = results.map((r) => `${r.outcome}${r.tries > 1 ? ' (2nd try)' : ''}`).join(', ');
    console.log(`# ${CLIENTS} connections queued at the kill: ${summary}`);
    assert.deepEqual(results.map((r) => r.outcome), Array(CLIENTS).fill('answered'), `each answered within ${CLIENT_TIMEOUT_MS} ms: ${summary}`);
  });
});
