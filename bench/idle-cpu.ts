/**
 * What an idle node costs: one `brigade serve` (embedded engine, or on a redis-server this script
 * starts), optionally with N idle WebSocket connections to /ws (anonymous, nothing subscribed),
 * and the node's (and redis-server's) CPU over a window, from /proc. Nothing is published.
 *
 *   npm run build && node --import tsx bench/idle-cpu.ts [--engine embedded|redis] [--apps inbox]
 *     [--connections N] [--seconds S] [--cpu-prof DIR] [--cli OTHER/bin/brigade.js]
 *
 * Prints one JSON line: the node's and redis-server's CPU as a percentage of one core, and the
 * window. Under --cpu-prof the node writes a V8 CPU profile into DIR when it stops.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import WebSocket from 'ws';
import { cpuSeconds, nowMs } from '../src/sim/proc.ts';
import { shippedNodeFlags, startBrigade } from '../src/sim/listening.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const engine = arg('engine', 'embedded');
  const apps = arg('apps', 'inbox');
  const connections = Number(arg('connections', '0'));
  const seconds = Number(arg('seconds', '30'));
  const prof = arg('cpu-prof', '');
  if (engine !== 'embedded' && engine !== 'redis') throw new Error(`--engine is embedded or redis, got ${engine}`);
  if (connections > 15_000) throw new Error('at most 15,000 connections from this one process');
  const dataDir = mkdtempSync(join(tmpdir(), 'brigade-idle-'));
  let redis: ReturnType<typeof spawn> | null = null;
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--apps', apps, '--data', dataDir,
    '--max-connections-per-ip', '0', '--max-connections', '0'];
  try {
    if (engine === 'redis') {
      const port = await freePort();
      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await sleep(300);
      args.push('--redis', `redis://127.0.0.1:${port}`);
    }
    // --cli: another build's bin/brigade.js (a before/after comparison).
    const cli = arg('cli', join(ROOT, 'bin', 'brigade.js'));
    const flags = [...shippedNodeFlags(cli), ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])];
    const node = await startBrigade(cli, args, dirname(dirname(cli)), 50, flags);
    node.proc.stdout!.resume();
    const sockets: WebSocket[] = [];
    for (let k = 0; k < connections; k++) {
      const ws = new WebSocket(`ws://127.0.0.1:${node.port}/ws`);
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
      sockets.push(ws);
    }
    await sleep(2000); // the start's and the connects' work out of the window
    const pids = [node.pid, ...(redis ? [redis.pid!] : [])];
    const c0 = pids.map(cpuSeconds), t0 = nowMs();
    await sleep(seconds * 1000);
    const window = (nowMs() - t0) / 1000;
    const pct = (i: number) => Math.round((1000 * (cpuSeconds(pids[i]) - c0[i])) / window) / 10;
    console.log(JSON.stringify({
      engine, apps, connections, windowSeconds: Math.round(window * 10) / 10,
      nodeCpuPercentOfOneCore: pct(0), redisCpuPercentOfOneCore: redis ? pct(1) : null,
    }));
    for (const ws of sockets) ws.terminate();
    node.proc.kill('SIGTERM');
    await new Promise((r) => node.proc.once('exit', r));
  } finally {
    redis?.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
