/**
 * What the alternating-rounds scripts share (bench/tracker/rounds.ts, bench/compare-rounds.ts): run
 * one benchmark as a child and get its result file, the spread of per-round ratios, and the
 * generated section of a doc.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { onLines } from './listening.ts';

/**
 * Runs `node ...args` in `cwd`, echoing its output lines with `tag` in front; resolves with the
 * path on its `result: <file>.json` line once it exits 0.
 */
export function runForResult(args: string[], cwd: string, tag: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
    let file = '';
    onLines(child.stdout!, (line) => {
      const m = /^result: (.+\.json)$/.exec(line.trim());
      if (m) file = m[1];
      if (line.trim()) process.stdout.write(`${tag} ${line}\n`);
    });
    child.on('exit', (code) => (code === 0 && file ? resolve(file) : reject(new Error(`${tag} ${args.join(' ')} exited with ${code}${file ? '' : ' (no result file)'}`))));
  });
}

export const r3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Smallest, median and largest of per-round ratios. */
export function spread(ratios: number[]): { min: number; median: number; max: number } {
  const s = ratios.slice().sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : r3((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
  return { min: s[0], median, max: s[s.length - 1] };
}

/** Replaces what is between the `begin` and `end` marker lines of `docFile` with `body`. */
export function replaceSection(docFile: string, begin: string, end: string, body: string): void {
  const doc = readFileSync(docFile, 'utf8');
  const a = doc.indexOf(begin);
  const z = doc.indexOf(end);
  if (a < 0 || z < a) throw new Error(`${docFile} has no ${begin} … ${end} section to replace`);
  writeFileSync(docFile, `${doc.slice(0, a + begin.length)}\n\n${body}\n\n${doc.slice(z)}`);
}

/** The opening lines of a generated section: when and where it ran, and the commands that made it. */
export function runHeader(startedAt: string, machine: { cores: number; cpuModel: string; node: string }, command: string, extra = ''): string[] {
  return [
    `Run ${startedAt.replace('T', ' ').slice(0, 19)} UTC on ${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}${extra}:`,
    '',
    '```sh',
    'npm run build',
    command,
    '```',
  ];
}
