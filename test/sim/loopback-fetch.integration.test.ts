/**
 * simFetch (src/sim/loopback-fetch.ts): the simulator's HTTP calls come from a loopback source
 * address of their own (so they still find a port when 100,000 viewers' bound sockets hold the
 * ephemeral range), and answer like fetch's Response. Against a real HTTP server on loopback.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIM_HTTP_SOURCE, simFetch } from '../../src/sim/loopback-fetch.ts';

describe('simFetch', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      if (req.url === '/missing') { res.statusCode = 404; res.end('no such thing'); return; }
      if (req.url === '/empty') { res.statusCode = 204; res.end(); return; }
      res.setHeader('x-version', '42');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, from: req.socket.remoteAddress }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('comes from its own loopback address and answers like fetch', async () => {
    const res = await simFetch(`http://127.0.0.1:${port}/info`);
    assert.equal(res.status, 200);
    assert.equal(res.ok, true);
    assert.equal(res.headers.get('x-version'), '42');
    assert.deepEqual(await res.json(), { method: 'GET', from: SIM_HTTP_SOURCE });
  });

  it('takes a method and a source address', async () => {
    const res = await simFetch(`http://127.0.0.1:${port}/identity`, { method: 'POST', localAddress: '127.0.0.9' });
    assert.deepEqual(await res.json(), { method: 'POST', from: '127.0.0.9' });
  });

  it('passes other statuses through, and an empty 204', async () => {
    const missing = await simFetch(`http://127.0.0.1:${port}/missing`);
    assert.equal(missing.status, 404);
    assert.equal(missing.ok, false);
    assert.equal(await missing.text(), 'no such thing');
    const empty = await simFetch(`http://127.0.0.1:${port}/empty`);
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), '');
  });

  it('gives up after its timeout, and names the request when it fails', async () => {
    await assert.rejects(simFetch(`http://127.0.0.1:${port}/slow`, { timeoutMs: 150 }), /GET http:\/\/127\.0\.0\.1:\d+\/slow from 127\.0\.0\.8: .*no answer in 150 ms/);
    await assert.rejects(simFetch(`http://127.0.0.1:${port}/info`, { localAddress: '192.0.2.1' }), /from 192\.0\.2\.1/);
  });

  it('binds no source address for a host that is not a 127.x address', async () => {
    const res = await simFetch(`http://localhost:${port}/info`);
    const body = (await res.json()) as { from: string };
    assert.equal(body.from, '127.0.0.1');
  });
});
