/**
 * Draws a tracker benchmark result as an SVG (hand-written, no libraries): per target, announce
 * responses per server CPU-second, and every message delivered per server CPU-second next to
 * aquatic_ws's published single-core figure (marked as published elsewhere, not measured here).
 */
import { AQUATIC, type TrackerBenchResult } from './result.ts';

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface Bar { label: string; value: number; colour: string; note?: string; dashed?: boolean }

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= v) ?? 10 * mag);
}

/** A horizontal bar chart; `mark` draws a dashed vertical line at a value (the 2.5x target). */
export function panel(title: string, bars: Bar[], x: number, y: number, width: number, mark?: { value: number; label: string }): { svg: string; height: number } {
  const labelW = 190;
  const barH = 26;
  const gap = 12;
  const plotW = width - labelW - 90;
  const max = niceMax(Math.max(...bars.map((b) => b.value), mark?.value ?? 0, 1));
  const out: string[] = [`<text x="${x}" y="${y + 14}" font-size="14" font-weight="bold">${esc(title)}</text>`];
  const top = y + 28;
  for (let t = 0; t <= 4; t++) {
    const gx = x + labelW + (plotW * t) / 4;
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + bars.length * (barH + gap)}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${top + bars.length * (barH + gap) + 14}" font-size="11" text-anchor="middle" fill="#555">${fmt((max * t) / 4)}</text>`);
  }
  bars.forEach((b, i) => {
    const by = top + i * (barH + gap);
    const w = Math.max(1, (b.value / max) * plotW);
    out.push(`<text x="${x + labelW - 8}" y="${by + barH / 2 + 4}" font-size="12" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${x + labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${b.dashed ? 'none' : b.colour}" stroke="${b.colour}" stroke-width="${b.dashed ? 2 : 0}"${b.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${x + labelW + w + 6}" y="${by + barH / 2 + 4}" font-size="12">${fmt(b.value)}${b.note ? ` ${esc(b.note)}` : ''}</text>`);
  });
  if (mark && mark.value > 0) {
    const mx = x + labelW + (mark.value / max) * plotW;
    out.push(`<line x1="${mx.toFixed(1)}" y1="${top - 6}" x2="${mx.toFixed(1)}" y2="${top + bars.length * (barH + gap) - gap + 4}" stroke="#c00" stroke-width="1.5" stroke-dasharray="4 3"/>`);
    const right = mx > x + labelW + plotW * 0.6; // near the right edge: label on the line's left
    out.push(`<text x="${(mx + (right ? -4 : 4)).toFixed(1)}" y="${top + bars.length * (barH + gap) - gap + 2}" font-size="11" fill="#c00" text-anchor="${right ? 'end' : 'start'}">${esc(mark.label)}</text>`);
  }
  return { svg: out.join('\n'), height: 28 + bars.length * (barH + gap) + 22 };
}

export const COLOURS: Record<string, string> = { brigade: '#1f77b4', reference: '#e8a33d' };

function nameOf(t: TrackerBenchResult['targets'][number]): string {
  return t.target === 'reference' ? 'bittorrent-tracker' : `Brigade${t.nodes > 1 ? ` (${t.nodes} nodes + redis)` : ''}`;
}

export function trackerChart(r: TrackerBenchResult): string {
  const width = 760;
  const p = r.params;
  const ref = r.targets.find((t) => t.target === 'reference');
  const target = r.comparison?.target ?? 2.5;
  const a = panel('announce responses per server CPU-second (offers relayed)',
    r.targets.map((t) => ({ label: nameOf(t), value: t.perServerCpuSecond.announceResponses, colour: COLOURS[t.target], note: t.saturated ? '' : '(not saturated)' })), 20, 56, width - 40,
    ref ? { value: ref.perServerCpuSecond.announceResponses * target, label: `target: ${target}× bittorrent-tracker` } : undefined);
  const b = panel('all messages delivered per server CPU-second (aquatic\'s "responses")',
    [
      ...r.targets.map((t) => ({ label: nameOf(t), value: t.perServerCpuSecond.messages, colour: COLOURS[t.target] })),
      { label: 'aquatic_ws, published', value: AQUATIC.responsesPerSecondOneCore, colour: '#2ca02c', dashed: true, note: '(1 core, other machine, TLS)' },
    ], 20, 56 + a.height + 10, width - 40);
  // The command, wrapped at spaces to the chart's width.
  const cmdLines: string[] = [];
  for (const word of r.command.split(' ')) {
    const last = cmdLines.length - 1;
    if (last >= 0 && (cmdLines[last] + ' ' + word).length <= 118) cmdLines[last] += ' ' + word;
    else cmdLines.push(word);
  }
  const height = 56 + a.height + 10 + b.height + 14 + cmdLines.length * 14;
  const ratio = r.comparison?.announceResponsesPerCpuSecondRatio;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="20" y="22" font-size="16" font-weight="bold">WebTorrent tracker: Brigade vs bittorrent-tracker${ratio ? ` (${ratio}x, target 2.5x)` : ''}</text>`,
    `<text x="20" y="40" font-size="12" fill="#444">${esc(`${fmt(p.peers)} peers, ${fmt(p.swarms)} swarms, ${p.offers} offers/announce, closed loop, ${p.seconds} s window; ${r.machine.cores} cores ${r.machine.cpuModel}, Node ${r.machine.node}; ${r.startedAt.slice(0, 16)}`)}</text>`,
    a.svg,
    b.svg,
    ...cmdLines.map((l, i) => `<text x="20" y="${height - 10 - (cmdLines.length - 1 - i) * 14}" font-size="11" fill="#666">${esc(l)}</text>`),
    '</svg>',
    '',
  ].join('\n');
}
