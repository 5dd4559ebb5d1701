/**
 * The connect floor's harness works (bench/net-floor.ts rate): at a tiny size, each kind of bare
 * server (accept and close, `ws`'s upgrade, the gateway's lean upgrade over node:http and off the
 * raw socket) takes connections from its client process and reports the server's CPU per
 * connection and the rate. A harness check: no figure is compared with a threshold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/net-floor.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    p.once('exit', (code) => resolve({ code, output }));
  });
}

test('bench/net-floor rate: every kind of bare server reports its CPU per connection', { timeout: 120_000 }, async () => {
  for (const kind of ['accept', 'ws', 'lean', 'raw']) {
    const { code, output } = await run(['rate', '200', kind]);
    assert.equal(code, 0, output);
    const m = new RegExp(`^${kind}: 200 connections in [\\d.]+ s \\(\\d+/s, (\\d+) failed\\); server ([\\d.]+) µs CPU each \\(user [\\d.]+, system [\\d.]+\\), client ([\\d.]+) µs$`, 'm').exec(output);
    assert.ok(m, output);
    assert.ok(Number(m[1]) < 200, `${kind}: most connections completed`);
    assert.ok(Number(m[2]) > 0 && Number(m[3]) > 0, output);
  }
});

test('bench/net-floor rate: an unknown kind is refused before anything starts', async () => {
  const { code, output } = await run(['rate', '10', 'udp']);
  assert.notEqual(code, 0);
  assert.match(output, /the rate kind is accept, ws, lean or raw, got udp/);
});
