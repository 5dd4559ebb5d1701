/**
 * `brigade serve` as users start it: bin/brigade.js run as an executable (the `brigade` bin, `npm
 * start`), so its #! line's node flags apply, and the bench's Brigade servers get the same ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { startServer } from '../helpers/server-process.ts';
import { shippedNodeFlags } from '../../src/sim/listening.ts';

const cli = fileURLToPath(new URL('../../bin/brigade.js', import.meta.url));

test('the brigade executable runs with the node flags it ships with', async () => {
  const flags = shippedNodeFlags(cli);
  assert.ok(flags.includes('--max-semi-space-size=4'), `bin/brigade.js's #! line names the young-generation size: ${flags.join(' ')}`);
  const server = await startServer([], { executable: true });
  try {
    const listening = server.logs.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((r) => r?.msg === 'brigade listening');
    assert.ok(listening, 'a listening record');
    assert.deepEqual(listening.nodeFlags, flags, 'the server process runs with exactly the #! line flags');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  } finally {
    assert.equal(await server.stop(), 0, 'it stops cleanly on SIGTERM');
    server.cleanup();
  }
});

test('node bin/brigade.js runs without them (they are the #! line\'s, not the script\'s)', async () => {
  const server = await startServer([]);
  try {
    const listening = server.logs.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((r) => r?.msg === 'brigade listening');
    assert.deepEqual(listening?.nodeFlags, []);
  } finally {
    await server.stop();
    server.cleanup();
  }
});

test('--apps runs a subset: /api/apps lists it, the others\' paths and requests are not served', async () => {
  const server = await startServer(['--apps', 'place']);
  try {
    const apps = await (await fetch(`${server.url}/api/apps`)).json() as { name: string }[];
    assert.deepEqual(apps.map((a) => a.name), ['place']);
    assert.equal((await fetch(`${server.url}/api/place/canvases`)).status, 200);
    assert.equal((await fetch(`${server.url}/api/tracker`)).status, 404, 'the tracker\'s route is not there');
    // The tracker's WebSocket path is not upgraded.
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${server.wsUrl.replace(/\/ws$/, '')}/announce`);
      ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.once('open', () => { ws.close(); reject(new Error('/announce was upgraded')); });
      ws.once('error', () => {});
    });
    assert.equal(status, 404);
  } finally {
    await server.stop();
    server.cleanup();
  }
});
