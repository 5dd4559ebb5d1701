/**
 * `brigade serve` as users start it: bin/brigade.js run as an executable (the `brigade` bin, `npm
 * start`), so its #! line's node flags apply, and the bench's Brigade servers get the same ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
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
