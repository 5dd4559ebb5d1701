/**
 * The inbox benchmark's harness works end to end (bench/inbox/run.ts) at a tiny size: two Brigade
 * nodes on a real redis-server, devices registered through the bulk route, connected from a
 * device process, two messages that reach exactly their matching devices, the RAM figures read
 * through the inspector, two reconnect storms with cursors (one per rate asked), and both peers (the SQLite WHERE server
 * and a real mosquitto) delivering to the same devices, each after one warm-up message per
 * expression that is not counted. A harness check: no figure is compared with a threshold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs bench/inbox/run.ts with `args`, asserts it exits 0, and returns the result file it wrote into `dir`. */
async function runBench(args: string[], dir: string): Promise<any> {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/inbox/run.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d; });
    p.stderr!.on('data', (d: Buffer) => { out += d; });
    p.once('exit', (c) => resolve({ code: c, output: out }));
  });
  assert.equal(code, 0, output);
  const file = readdirSync(dir).find((f) => /^inbox-.*\.json$/.test(f));
  assert.ok(file, `a result file in ${dir}`);
  return JSON.parse(readFileSync(join(dir, file), 'utf8'));
}

test('inbox bench: a tiny run completes with every part of its report', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inbox-bench-smoke-'));
  try {
    // 1,000 live messages (~0.9 MB): the RAM-per-message figure is a difference of two heap
    // readings, and 20 (~17 KB) were within the noise of the storms' freed connections (one CI
    // run read -3,432 bytes per message, 2026-12-07).
    const args = ['--devices', '400', '--connected', '80', '--messages', '1', '--live-messages', '1000', '--storm-rate', '400,200',
      '--peer-connected', '80', '--peer-messages', '1', '--warmup', '1', '--lease-ms', '3000', '--poll-ms', '50', '--out', dir, '--svg', join(dir, 'chart.svg'), '--sql-db', join(dir, 'peer.db')];
    const r = await runBench(args, dir);
    assert.equal(r.error, undefined);
    assert.equal(r.registration.devices, 400);
    assert.equal(r.options.leaseMs, 3000, 'the liveness window both peers ran with');
    assert.equal(r.options.pollMs, 50, 'the coordinator polled at --poll-ms');
    assert.equal(r.connect.ok, 80);
    assert.ok(r.ram.perDeviceBytes > 0 && r.ram.perLiveMessageBytes > 0, JSON.stringify(r.ram));
    // Where the array-buffer bytes are: the device store's columns and pool are among the large buffers.
    assert.ok(Array.isArray(r.ram.largeArraysAfterDevices), JSON.stringify(r.ram));
    const check = (d: any, expressions: string[]) => {
      assert.deepEqual(d.messages.map((m: any) => m.expression), expressions);
      for (const m of d.messages) {
        assert.ok(m.expected > 0, `${d.target} ${m.expression}: some connected device matches`);
        assert.equal(m.received, m.expected, `${d.target} ${m.expression}: every matching device got it`);
        assert.equal(m.unexpected, 0, `${d.target} ${m.expression}: no other device got it`);
        assert.equal(m.duplicates, 0);
        assert.ok(m.p50Ms !== null && m.p99Ms !== null && m.p100Ms !== null);
      }
      assert.equal(d.deliveries, d.messages.reduce((s: number, m: any) => s + m.received, 0));
      assert.ok(d.serverCpuSeconds >= 0);
    };
    check(r.fanout, ['groups', 'mixed']);
    // One storm per rate asked, in that order.
    assert.deepEqual(r.storms.map((s: any) => s.askedPerSecond), [400, 200]);
    for (const s of r.storms) {
      assert.equal(s.connected, 80);
      assert.equal(s.withFirstMessage, 80, 'every reconnecting device got the message after its cursor');
      assert.equal(s.devicesWithOlderMessages, 0, 'no device got a message at or before its cursor');
      assert.equal(s.duplicates, 0);
      assert.equal(s.connectToFirstMessageMs.samples, 80);
      assert.ok(s.serverCpuMicrosecondsPerReconnect > 0);
      // The machine-bound arithmetic: the device processes' CPU and the rest of the machine's in the same window.
      assert.ok(s.deviceCpuSeconds > 0 && s.deviceCpuMicrosecondsPerReconnect > 0, JSON.stringify(s));
      assert.equal(typeof s.otherCpuSeconds, 'number');
    }
    assert.deepEqual(r.peers.map((p: any) => p.target), ['sql', 'mqtt']);
    check(r.peers[0], ['groups', 'mixed']);
    check(r.peers[1], ['groups']);
    // Both peers reached the same devices Brigade did for the same expression.
    assert.equal(r.peers[0].messages[0].expected, r.fanout.messages[0].expected);
    assert.equal(r.peers[1].messages[0].expected, r.fanout.messages[0].expected);
    assert.match(readFileSync(join(dir, 'chart.svg'), 'utf8'), /^<svg[\s\S]*SQLite WHERE[\s\S]*mosquitto[\s\S]*<\/svg>$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inbox bench: --engine embedded runs one node on its SQLite engine with no redis-server, its CPU the only server CPU', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inbox-bench-embedded-'));
  try {
    const args = ['--devices', '300', '--connected', '60', '--nodes', '1', '--engine', 'embedded', '--messages', '1', '--live-messages', '0',
      '--storm-rate', '0', '--peers', 'none', '--no-ram', '--warmup', '1', '--poll-ms', '25', '--out', dir];
    const r = await runBench(args, dir);
    assert.equal(r.error, undefined);
    assert.equal(r.options.engine, 'embedded');
    assert.equal(r.servers.engine, 'embedded');
    assert.doesNotMatch(r.servers.command, /--redis/, 'no Redis behind the node');
    assert.equal(r.registration.redisRssMB, null, 'no redis-server was started');
    assert.equal(r.connect.ok, 60);
    // One server process: its CPU is all of the server CPU.
    assert.equal(r.fanout.serverCpuSecondsEach.length, 1);
    for (const m of r.fanout.messages) {
      assert.ok(m.expected > 0);
      assert.equal(m.received, m.expected, `${m.expression}: every matching device got it`);
      assert.equal(m.unexpected, 0);
      assert.equal(m.duplicates, 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inbox bench: sizes the open-file cap cannot hold and bad storm rates are refused before anything starts', { timeout: 60_000 }, async () => {
  const run = (args: string[]) => new Promise<{ code: number | null; output: string }>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/inbox/run.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d; });
    p.stderr!.on('data', (d: Buffer) => { out += d; });
    p.once('exit', (c) => resolve({ code: c, output: out }));
  });
  // 100,000 connected: five nodes cannot hold them at 18,000 sockets a process; six is the fewest.
  const five = await run(['--devices', '100000', '--connected', '100000', '--nodes', '5']);
  assert.notEqual(five.code, 0);
  assert.match(five.output, /100000 connected devices need 6 server processes/);
  // The embedded engine serves one process: two nodes cannot share it.
  const embedded = await run(['--engine', 'embedded', '--nodes', '2']);
  assert.notEqual(embedded.code, 0);
  assert.match(embedded.output, /--engine embedded serves one process: --nodes must be 1/);
  const engine = await run(['--engine', 'memory']);
  assert.notEqual(engine.code, 0);
  assert.match(engine.output, /--engine: redis or embedded/);
  const storm = await run(['--storm-rate', '1000,fast']);
  assert.notEqual(storm.code, 0);
  assert.match(storm.output, /--storm-rate: whole numbers/);
});
