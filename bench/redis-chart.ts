/**
 * Draws a bench/redis-log.ts result as two SVG charts (hand-written SVG, no libraries):
 *   bench-redis-throughput.svg         acknowledged events/s per run, and where the CPU went
 *   bench-redis-commands-per-tick.svg  Redis commands per node per tick against events per tick
 *
 *   node --import tsx bench/redis-chart.ts [bench/results/redis-log-<time>.json] [--out-dir docs]
 *
 * Without a file it draws the newest redis-log result in bench/results. bench/redis-log.ts calls
 * drawRedisCharts itself at the end of a run.
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

interface Breakdown {
  perNodeTick: Record<string, number>;
  sentPerNodeTick: number;
  inScriptsPerNodeTick: number;
  appendPathSentPerNodeTick: number;
  snapshotPathSentPerNodeTick: number;
}
interface Run {
  label: string;
  nodes: number;
  appendfsync: string;
  ackedEventsPerSecond: number;
  cpuPercentOfOneCore: { redis: number; nodesTotal: number; editor: number; viewers: number };
  ticks: { eventsPerTick: number };
  commands: Breakdown;
  convergence: { converged: boolean };
}
interface Point { editsPerSecond: number; eventsPerTick: number; commands: Breakdown }
export interface RedisLogResult {
  startedAt: string;
  machine: { cores: number; cpuModel: string };
  params: { seconds: number; rateTickMs: number };
  throughput: Run[];
  commandsPerTick: { points: Point[] } | null;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

function text(x: number, y: number, s: string, opts = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${opts}>${esc(s)}</text>`;
}

/** A "nice" axis maximum at or above v. */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function runName(r: Run): string {
  return `${r.nodes} node${r.nodes > 1 ? 's' : ''}${r.appendfsync === 'always' ? ', fsync always' : ''}`;
}

export function throughputSvg(res: RedisLogResult): string {
  const runs = res.throughput;
  const W = 760;
  const H = 520;
  const left = 80;
  const right = 20;
  const plotW = W - left - right;
  const top1 = 60;
  const h1 = 200;
  const top2 = top1 + h1 + 80;
  const h2 = 110;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(text(left, 24, `Place edits through the Redis log: acknowledged events/s (${res.params.seconds} s per run)`, 'font-size="15" font-weight="600"'));
  out.push(text(left, 42, `${res.machine.cores} cores (${res.machine.cpuModel}) shared by redis-server, the node processes, the editor and the viewers`, 'fill="#555"'));
  const maxY = niceMax(Math.max(1, ...runs.map((r) => r.ackedEventsPerSecond)));
  const slot = plotW / Math.max(1, runs.length);
  const barW = Math.min(110, slot * 0.55);
  const y1 = (v: number) => top1 + h1 - (v / maxY) * h1;
  for (let i = 0; i <= 5; i++) {
    const v = (maxY * i) / 5;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y1(v)}" y2="${y1(v)}" stroke="#e5e5e5"/>`);
    out.push(text(left - 6, y1(v) + 4, fmt(v), 'text-anchor="end" fill="#555"'));
  }
  out.push(text(16, top1 + h1 / 2, 'events/s', `transform="rotate(-90 16 ${top1 + h1 / 2})" text-anchor="middle" fill="#333"`));
  runs.forEach((r, i) => {
    const cx = left + slot * (i + 0.5);
    const colour = r.appendfsync === 'always' ? '#d08c2c' : '#2f6fb0';
    out.push(`<rect x="${cx - barW / 2}" y="${y1(r.ackedEventsPerSecond)}" width="${barW}" height="${top1 + h1 - y1(r.ackedEventsPerSecond)}" fill="${colour}"/>`);
    out.push(text(cx, y1(r.ackedEventsPerSecond) - 6, fmt(r.ackedEventsPerSecond), 'text-anchor="middle" font-weight="600"'));
    out.push(text(cx, top1 + h1 + 16, runName(r), 'text-anchor="middle"'));
    out.push(text(cx, top1 + h1 + 31, `${fmt(r.ticks.eventsPerTick)} ev/node-tick${r.convergence.converged ? '' : ' NOT CONVERGED'}`, 'text-anchor="middle" fill="#666" font-size="11"'));
  });
  // CPU: stacked share of the machine per run.
  out.push(text(left, top2 - 14, `Where the CPU went (% of one core; the machine has ${res.machine.cores * 100} %)`, 'font-size="13" font-weight="600"'));
  const maxCpu = res.machine.cores * 100;
  const y2 = (v: number) => top2 + h2 - (v / maxCpu) * h2;
  for (let v = 0; v <= maxCpu; v += 50) {
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y2(v)}" y2="${y2(v)}" stroke="#e5e5e5"/>`);
    out.push(text(left - 6, y2(v) + 4, `${v}`, 'text-anchor="end" fill="#555"'));
  }
  const parts: [keyof Run['cpuPercentOfOneCore'], string, string][] = [
    ['redis', 'redis-server', '#c0392b'], ['nodesTotal', 'node processes', '#2f6fb0'], ['editor', 'editor (load)', '#7f8c8d'], ['viewers', 'viewers', '#27ae60'],
  ];
  runs.forEach((r, i) => {
    const cx = left + slot * (i + 0.5);
    let acc = 0;
    for (const [key, , colour] of parts) {
      const v = r.cpuPercentOfOneCore[key];
      out.push(`<rect x="${cx - barW / 2}" y="${y2(acc + v)}" width="${barW}" height="${Math.max(0, y2(acc) - y2(acc + v))}" fill="${colour}"/>`);
      acc += v;
    }
    out.push(text(cx, y2(acc) - 4, `${Math.round(acc)} %`, 'text-anchor="middle" fill="#333" font-size="11"'));
  });
  let lx = left;
  for (const [, name, colour] of parts) {
    out.push(`<rect x="${lx}" y="${top2 + h2 + 14}" width="12" height="12" fill="${colour}"/>`);
    out.push(text(lx + 16, top2 + h2 + 24, name));
    lx += 30 + name.length * 7;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function commandsSvg(res: RedisLogResult): string {
  const points = res.commandsPerTick?.points ?? [];
  const loads = res.throughput.filter((r) => r.appendfsync === 'everysec');
  const W = 760;
  const H = 440;
  const left = 70;
  const right = 250;
  const top = 60;
  const plotW = W - left - right;
  const plotH = H - top - 70;
  const xs = [...points.map((p) => p.eventsPerTick), ...loads.map((r) => r.ticks.eventsPerTick)].filter((v) => v > 0);
  const xMin = 10 ** Math.floor(Math.log10(Math.min(1, ...xs)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(10, ...xs)));
  const ys = [...points.map((p) => p.commands.sentPerNodeTick + p.commands.inScriptsPerNodeTick), ...loads.map((r) => r.commands.sentPerNodeTick + r.commands.inScriptsPerNodeTick)];
  const yMax = niceMax(Math.max(4, ...ys));
  const x = (v: number) => left + ((Math.log10(Math.max(v, xMin)) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * plotW;
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(text(left, 24, 'Redis commands per node per tick against events per tick', 'font-size="15" font-weight="600"'));
  out.push(text(left, 42, `lines: 1 node, tick ${res.params.rateTickMs} ms, fixed rates ${points.map((p) => fmt(p.editsPerSecond)).join(' / ')} edits/s; markers: max-load runs`, 'fill="#555"'));
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(text(left - 6, y(v) + 4, String(Math.round(v * 100) / 100), 'text-anchor="end" fill="#555"'));
  }
  for (let e = Math.log10(xMin); e <= Math.log10(xMax) + 1e-9; e++) {
    const v = 10 ** e;
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${top}" y2="${top + plotH}" stroke="#e5e5e5"/>`);
    out.push(text(x(v), top + plotH + 16, fmt(v), 'text-anchor="middle" fill="#555"'));
  }
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#999"/>`);
  out.push(text(left + plotW / 2, top + plotH + 36, 'events per tick (log scale)', 'text-anchor="middle" fill="#333"'));
  out.push(text(18, top + plotH / 2, 'commands per node per tick', `transform="rotate(-90 18 ${top + plotH / 2})" text-anchor="middle" fill="#333"`));
  const series: [string, string, (b: Breakdown) => number, string][] = [
    ['all (sent + in scripts)', '#555', (b) => b.sentPerNodeTick + b.inScriptsPerNodeTick, '5 3'],
    ['sent by the node', '#c0392b', (b) => b.sentPerNodeTick, ''],
    ['append path (append + XREAD)', '#2f6fb0', (b) => b.appendPathSentPerNodeTick, ''],
    ['snapshot stores (+ info)', '#d08c2c', (b) => b.snapshotPathSentPerNodeTick, ''],
  ];
  const sorted = [...points].sort((a, b) => a.eventsPerTick - b.eventsPerTick);
  let ly = top + 6;
  for (const [name, colour, get, dash] of series) {
    if (sorted.length > 0) {
      const d = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.eventsPerTick).toFixed(1)},${y(get(p.commands)).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
      for (const p of sorted) out.push(`<circle cx="${x(p.eventsPerTick).toFixed(1)}" cy="${y(get(p.commands)).toFixed(1)}" r="3.5" fill="${colour}"/>`);
    }
    for (const r of loads) {
      const cx = x(r.ticks.eventsPerTick);
      const cy = y(get(r.commands));
      out.push(`<rect x="${(cx - 4).toFixed(1)}" y="${(cy - 4).toFixed(1)}" width="8" height="8" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    }
    out.push(`<line x1="${left + plotW + 16}" x2="${left + plotW + 40}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(text(left + plotW + 46, ly + 4, name));
    ly += 20;
  }
  ly += 6;
  out.push(`<rect x="${left + plotW + 24}" y="${ly - 4}" width="8" height="8" fill="none" stroke="#333" stroke-width="1.5"/>`);
  out.push(text(left + plotW + 46, ly + 4, 'max load, N nodes:'));
  ly += 16;
  for (const r of loads) {
    out.push(text(left + plotW + 46, ly + 4, `${r.nodes} node${r.nodes > 1 ? 's' : ''} at ${fmt(r.ticks.eventsPerTick)} ev/tick`, 'fill="#555" font-size="11"'));
    const cx = x(r.ticks.eventsPerTick);
    out.push(text(cx + 6, y(r.commands.sentPerNodeTick) + 14, `${r.nodes}N`, 'fill="#c0392b" font-size="10"'));
    ly += 15;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Writes both charts into `dir`; returns their paths. */
export function drawRedisCharts(res: RedisLogResult, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  if (res.throughput.length > 0) {
    const f = join(dir, 'bench-redis-throughput.svg');
    writeFileSync(f, throughputSvg(res));
    files.push(f);
  }
  if ((res.commandsPerTick?.points.length ?? 0) > 0 || res.throughput.length > 0) {
    const f = join(dir, 'bench-redis-commands-per-tick.svg');
    writeFileSync(f, commandsSvg(res));
    files.push(f);
  }
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  let file = '';
  let outDir = join(here, '..', 'docs');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out-dir') outDir = argv[++i];
    else if (argv[i].startsWith('--out-dir=')) outDir = argv[i].slice(10);
    else file = argv[i];
  }
  if (!file) {
    const dir = join(here, 'results');
    const newest = readdirSync(dir).filter((f) => f.startsWith('redis-log-') && f.endsWith('.json')).sort().pop();
    if (!newest) throw new Error(`no redis-log result in ${dir}`);
    file = join(dir, newest);
  }
  const res = JSON.parse(readFileSync(file, 'utf8')) as RedisLogResult;
  for (const f of drawRedisCharts(res, outDir)) console.log(`chart written to ${f}`);
}
