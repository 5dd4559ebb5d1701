/**
 * Connection limits at the upgrade (--max-connections, --max-connections-per-ip): past a limit the
 * upgrade gets an HTTP error with a typed JSON body and Retry-After, the connections already open
 * keep working, and a freed slot is taken again. Real server process, real `ws` clients.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { startServer } from '../helpers/server-process.ts';
import { metric } from '../helpers/metrics.ts';
import { FD_RESERVE, openFileSoftLimit } from '../../src/cli/limits.ts';
import { eventually } from '../helpers/eventually.ts';

type Outcome = { ok: true; ws: WebSocket } | { ok: false; status: number; retryAfter: string | undefined; body: { code: string; message: string } };

function open(url: string, localAddress = '127.0.0.1'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress });
    ws.once('open', () => resolve({ ok: true, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(text) }));
    });
    ws.once('error', (err) => reject(err));
  });
}

async function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  await new Promise((resolve) => { ws.once('close', resolve); ws.close(); });
}

async function openWs(url: string, localAddress?: string): Promise<WebSocket> {
  const o = await open(url, localAddress);
  assert.ok(o.ok, `connected from ${localAddress ?? '127.0.0.1'}: ${o.ok ? '' : JSON.stringify(o)}`);
  return o.ws;
}

/** Opens once the server has seen a closed connection's slot freed (its 'close' comes a moment after ours). */
async function openOnceFreed(url: string): Promise<WebSocket> {
  return eventually(async () => {
    const again = await open(url);
    if (!again.ok) throw new Error(`refused: ${JSON.stringify(again)}`);
    return again.ws;
  }, { what: 'a closed connection to free its slot' });
}

describe('connection limits', () => {
  it('--max-connections: the next upgrade gets 503 TOO_MANY_CONNECTIONS on every path; a freed slot is taken again', async () => {
    const s = await startServer(['--max-connections', '3']);
    const open3: WebSocket[] = [];
    try {
      open3.push(await openWs(s.wsUrl), await openWs(s.wsUrl), await openWs(`ws://127.0.0.1:${s.port}/announce`));
      for (const url of [s.wsUrl, `ws://127.0.0.1:${s.port}/announce`]) {
        const refused = await open(url);
        assert.equal(refused.ok, false);
        if (refused.ok) return;
        assert.equal(refused.status, 503);
        assert.equal(refused.body.code, 'TOO_MANY_CONNECTIONS');
        assert.match(refused.body.message, /limit of 3 WebSocket connections/);
        assert.equal(refused.retryAfter, '5');
      }
      assert.equal(await metric(s.url, 'brigade_connections_refused_total'), 2);
      // The open ones still work: a ping round trip on the first.
      await new Promise<void>((resolve) => { open3[0].once('pong', () => resolve()); open3[0].ping(); });
      await closed(open3.pop()!);
      open3.push(await openOnceFreed(s.wsUrl));
    } finally {
      for (const ws of open3) await closed(ws);
      await s.stop();
      s.cleanup();
    }
  });

  it('--max-connections-per-ip: 429 TOO_MANY_CONNECTIONS_PER_IP for that address only', async () => {
    const s = await startServer(['--max-connections-per-ip', '2']);
    const sockets: WebSocket[] = [];
    try {
      sockets.push(await openWs(s.wsUrl), await openWs(s.wsUrl));
      const refused = await open(s.wsUrl);
      assert.equal(refused.ok, false);
      if (refused.ok) return;
      assert.equal(refused.status, 429);
      assert.equal(refused.body.code, 'TOO_MANY_CONNECTIONS_PER_IP');
      assert.match(refused.body.message, /127\.0\.0\.1 already has 2 WebSocket connections/);
      sockets.push(await openWs(s.wsUrl, '127.0.0.2'), await openWs(s.wsUrl, '127.0.0.2'));
      await closed(sockets.shift()!);
      sockets.push(await openOnceFreed(s.wsUrl));
      assert.equal(await metric(s.url, 'brigade_connections_refused_total'), 1);
    } finally {
      for (const ws of sockets) await closed(ws);
      await s.stop();
      s.cleanup();
    }
  });

  it('with no --max-connections, runs with the open-file limit less the reserve', async () => {
    const s = await startServer();
    try {
      const line = s.logs.find((l) => l.includes('brigade listening'));
      assert.ok(line, 'the listening line is logged');
      const soft = openFileSoftLimit(() => readFileSync('/proc/self/limits', 'utf8'));
      assert.equal(JSON.parse(line).maxConnections, soft === null ? null : soft - FD_RESERVE);
    } finally {
      await s.stop();
      s.cleanup();
    }
  });
});
