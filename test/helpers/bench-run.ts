/** Runs `brigade bench` as users do (bin/brigade.js) and reads the JSON and HTML it writes. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../src/sim/bench.ts';

const cli = fileURLToPath(new URL('../../bin/brigade.js', import.meta.url));

export function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The result file and report a run wrote into `dir`. */
export function resultIn(dir: string): { result: BenchResult; html: string } {
  const files = readdirSync(dir);
  const json = files.find((f) => f.endsWith('.json'));
  const html = files.find((f) => f.endsWith('.html'));
  assert.ok(json && html, `a JSON and an HTML file in ${dir}, got ${files.join(', ')}`);
  return { result: JSON.parse(readFileSync(join(dir, json), 'utf8')) as BenchResult, html: readFileSync(join(dir, html), 'utf8') };
}
