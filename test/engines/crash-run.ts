/**
 * The embedded engine's kill -9 run, shared by the engine's and the checkpointer's tests: the
 * fixture (fixtures/append-until-killed.ts) appends `crash-<n>` events to one channel and prints
 * each version once its append is acknowledged; the run SIGKILLs it when `due` says so, then
 * `assertAcknowledgedKept` reopens the file and checks every acknowledged event is there, in place.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EmbeddedEngine } from '../../src/engines/index.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/append-until-killed.ts', import.meta.url));
const decoder = new TextDecoder();

export interface CrashRun {
  /** Versions the child printed as acknowledged, in order. */
  acknowledged: number[];
  stderr: string;
  /** When the first and the last acknowledged line came, ms after the spawn (-1: none). */
  firstLineMs: number;
  lastLineMs: number;
}

/**
 * Runs the fixture on `path` and SIGKILLs it once `due(acknowledged, stderr)` holds (checked at
 * each line of its output), or after two minutes (a loaded machine: tsx's start alone can take
 * many seconds). Asserts it died by that SIGKILL.
 */
export async function appendUntilKilled(path: string, fixtureArgs: string[], due: (acknowledged: number[], stderr: string) => boolean): Promise<CrashRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, ...fixtureArgs], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: CrashRun = { acknowledged: [], stderr: '', firstLineMs: -1, lastLineMs: -1 };
  const spawnedAt = Date.now();
  let partial = '';
  const killWhenDue = () => { if (!child.killed && due(run.acknowledged, run.stderr)) child.kill('SIGKILL'); };
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  child.stderr.on('data', (chunk: Buffer) => {
    run.stderr += chunk.toString();
    killWhenDue();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) run.acknowledged.push(Number(line));
    if (run.firstLineMs < 0) run.firstLineMs = Date.now() - spawnedAt;
    run.lastLineMs = Date.now() - spawnedAt;
    killWhenDue();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const how = await exited;
  clearTimeout(timer);
  assert.equal(how, 'SIGKILL', `child ended otherwise: ${run.stderr.slice(-2000)}`);
  assert.deepEqual(run.acknowledged, run.acknowledged.map((_, i) => i), 'printed versions are dense');
  return run;
}

/** Reopens `path`: every acknowledged version is in the log, with its payload and time, and no gap. */
export async function assertAcknowledgedKept(path: string, acknowledged: number[]): Promise<void> {
  const engine = new EmbeddedEngine({ path, retention: { retainEvents: 1_000_000, keepSnapshots: 1 } });
  await engine.open();
  try {
    const info = await engine.info('crash');
    assert.ok(info.head >= acknowledged.length, `head ${info.head} < ${acknowledged.length} acknowledged`);
    const stored = await engine.read('crash', 0, info.head);
    assert.equal(stored.length, info.head, 'no gaps in the log');
    for (const version of acknowledged) {
      assert.equal(decoder.decode(stored[version]!.payload), `crash-${version}`);
      assert.equal(stored[version]!.timeMs, version);
    }
  } finally {
    await engine.close();
  }
}
