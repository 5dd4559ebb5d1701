/**
 * Draws a result of the old bench/place-fanout.ts (bench: 'place-fanout') as an SVG chart: latency
 * per second of the run on top, delivered frames/s and CPU below. The drawing lives in src/sim/svg.ts;
 * `brigade bench` draws its own charts into its HTML report.
 *
 *   node --import tsx bench/chart.ts [bench/results/<file>.json] [--out docs/bench-place-fanout.svg]
 *
 * Without a file it draws the newest result in bench/results.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SVG_STYLE, drawPanel, esc } from '../src/sim/svg.ts';

const here = dirname(fileURLToPath(import.meta.url));

interface Pct { p50: number | null; p99: number | null; max: number | null }
interface Second {
  s: number;
  framesPerSecond: number;
  serverCpuPct: number | null;
  simCpuPct: number | null;
  ackToReceipt: Pct;
  publishToReceipt: Pct;
  fanOutSpread?: Pct;
}
interface Result {
  startedAt: string;
  command: string;
  machine: { cores: number; cpuModel: string; node: string };
  params: { viewers: number; editsPerSecond: number; seconds: number; tickMs: number | null };
  timeline: Second[];
}

function parseArgs(argv: string[]): { file: string; out: string } {
  let file = '';
  let out = join(here, '..', 'docs', 'bench-place-fanout.svg');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i];
    else if (argv[i].startsWith('--out=')) out = argv[i].slice(6);
    else file = argv[i];
  }
  if (!file) {
    const dir = join(here, 'results');
    // Newest place-fanout result (other benches may write to bench/results too).
    const files = readdirSync(dir).filter((f) => /^\d.*\.json$/.test(f)).sort()
      .filter((f) => { try { return JSON.parse(readFileSync(join(dir, f), 'utf8')).bench === 'place-fanout'; } catch { return false; } });
    if (files.length === 0) throw new Error(`no results in ${dir}; run bench/place-fanout.ts first`);
    file = join(dir, files[files.length - 1]);
  }
  return { file, out };
}

function main(): void {
  const { file, out } = parseArgs(process.argv.slice(2));
  const r = JSON.parse(readFileSync(file, 'utf8')) as Result;
  // Seconds in which edits were published or delivered (drop the idle settle seconds at the end).
  const tl = r.timeline.filter((t, i) => i < r.params.seconds + 1 || t.framesPerSecond > 0);
  const seconds = tl.map((t) => t.s);
  const W = 960;
  const H = 700;
  const pw = W - 150;
  const title = `Brigade place fan-out: ${r.params.viewers.toLocaleString('en-US')} viewers × ${r.params.editsPerSecond} edits/s, ${r.params.seconds} s, tick ${r.params.tickMs ?? 100} ms`;
  const sub = `${r.machine.cores} cores (${r.machine.cpuModel}), Node ${r.machine.node}; server and simulator share the machine; ${r.startedAt}`;
  const top = drawPanel({
    x: 80, y: 132, w: pw, h: 210, title: 'Latency per (viewer, edit), by the second the edit was acknowledged', leftLabel: 'ms',
    series: [
      { name: 'publish → viewer receipt, p99', colour: '#d62728', values: tl.map((t) => t.publishToReceipt.p99) },
      { name: 'publish → viewer receipt, p50', colour: '#ff9896', values: tl.map((t) => t.publishToReceipt.p50) },
      { name: 'ack → viewer receipt, p99', colour: '#1f77b4', values: tl.map((t) => t.ackToReceipt.p99) },
      { name: 'ack → viewer receipt, p50', colour: '#aec7e8', values: tl.map((t) => t.ackToReceipt.p50) },
      ...(tl.some((t) => t.fanOutSpread)
        ? [{ name: 'fan-out spread (first → each viewer), p99', colour: '#7f7f7f', dash: '5 4', values: tl.map((t) => t.fanOutSpread?.p99 ?? null) }]
        : []),
    ],
  }, seconds);
  const bottom = drawPanel({
    x: 80, y: 458, w: pw, h: 196, title: 'Frames delivered to viewers per second, and CPU', leftLabel: 'frames/s', rightLabel: '% of one core',
    series: [
      { name: 'frames/s received by viewers', colour: '#2ca02c', values: tl.map((t) => t.framesPerSecond) },
      { name: 'server CPU %', colour: '#9467bd', axis: 'right', values: tl.map((t) => t.serverCpuPct) },
      { name: 'simulator CPU % (all bench processes)', colour: '#8c564b', dash: '5 4', axis: 'right', values: tl.map((t) => t.simCpuPct) },
    ],
  }, seconds);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
${SVG_STYLE}
<rect width="${W}" height="${H}" fill="#fafafa"/>
<text x="20" y="26" class="head">${esc(title)}</text>
<text x="20" y="44" class="sub">${esc(sub)}</text>
<text x="20" y="58" class="sub">${esc(r.command)}</text>
${top}
${bottom}
</svg>
`;
  writeFileSync(out, svg);
  console.log(`chart of ${file} written to ${out}`);
}

main();
