/**
 * Hand-written SVG line charts (no library, no CDN): panels of series over "second of the run",
 * a left and an optional right axis, a legend. Used by the `brigade bench` HTML report and by
 * bench/chart.ts.
 */
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => (Math.abs(n) >= 1000 ? `${Math.round(n / 100) / 10}k` : String(Math.round(n * 10) / 10)); // 1,250 is 1.3k, not a second 1k

/** Round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, want = 5): number[] {
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / want;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  if (out[out.length - 1] < hi) out.push(out[out.length - 1] + step);
  return out;
}

export interface Series { name: string; colour: string; dash?: string; values: (number | null)[]; axis?: 'left' | 'right' }

export interface Panel {
  x: number; y: number; w: number; h: number;
  title: string;
  leftLabel: string;
  rightLabel?: string;
  /** The x axis's label (default "second of the run"). */
  xLabel?: string;
  series: Series[];
}

export function drawPanel(p: Panel, seconds: number[]): string {
  const out: string[] = [];
  const left = p.series.filter((s) => (s.axis ?? 'left') === 'left');
  const right = p.series.filter((s) => s.axis === 'right');
  const range = (ss: Series[]) => {
    const vals = ss.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
    return vals.length ? [Math.min(0, ...vals), Math.max(...vals)] : [0, 1];
  };
  const [l0, l1] = range(left);
  const lt = ticks(l0, l1);
  const [r0, r1] = range(right);
  const rt = right.length ? ticks(r0, r1) : [];
  const xMin = seconds[0] ?? 1;
  const xMax = seconds[seconds.length - 1] ?? 1;
  const X = (s: number) => p.x + ((s - xMin) / Math.max(1, xMax - xMin)) * p.w;
  const YL = (v: number) => p.y + p.h - ((v - lt[0]) / (lt[lt.length - 1] - lt[0])) * p.h;
  const YR = (v: number) => p.y + p.h - ((v - rt[0]) / (rt[rt.length - 1] - rt[0])) * p.h;

  out.push(`<text x="${p.x}" y="${p.y - 48}" class="title">${esc(p.title)}</text>`);
  out.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" class="frame"/>`);
  for (const v of lt) {
    const y = YL(v).toFixed(1);
    out.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${y}" y2="${y}" class="${v === 0 ? 'zero' : 'grid'}"/>`);
    out.push(`<text x="${p.x - 6}" y="${y}" class="ytick" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  for (const v of rt) {
    const y = YR(v).toFixed(1);
    out.push(`<text x="${p.x + p.w + 6}" y="${y}" class="ytick" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  for (const s of ticks(xMin, xMax, 10)) {
    if (s < xMin || s > xMax) continue;
    const x = X(s).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${p.y + p.h}" y2="${p.y + p.h + 4}" class="axis"/>`);
    out.push(`<text x="${x}" y="${p.y + p.h + 16}" class="xtick" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 32}" class="label" text-anchor="middle">${esc(p.xLabel ?? 'second of the run')}</text>`);
  out.push(`<text transform="translate(${p.x - 44},${p.y + p.h / 2}) rotate(-90)" class="label" text-anchor="middle">${esc(p.leftLabel)}</text>`);
  if (p.rightLabel) out.push(`<text transform="translate(${p.x + p.w + 46},${p.y + p.h / 2}) rotate(90)" class="label" text-anchor="middle">${esc(p.rightLabel)}</text>`);

  for (const s of p.series) {
    const Y = s.axis === 'right' ? YR : YL;
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${X(seconds[i]).toFixed(1)},${Y(v).toFixed(1)}`;
      pen = true;
    });
    out.push(`<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
  }
  // Legend: rows of up to three entries between the panel's title and the panel.
  const perRow = 3;
  const colW = p.w / perRow;
  p.series.forEach((s, i) => {
    const lx = p.x + (i % perRow) * colW;
    const ly = p.y - 42 + Math.floor(i / perRow) * 15 + 16;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${s.colour}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" class="legendtext" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** The stylesheet every chart uses (inline in each <svg>, so a chart stands alone). */
export const SVG_STYLE = `<style>
  .title { font-size: 13px; font-weight: 600; fill: #222; }
  .head { font-size: 16px; font-weight: 700; fill: #111; }
  .sub { font-size: 11px; fill: #555; }
  .frame { fill: #fff; stroke: #999; }
  .grid { stroke: #e4e4e4; }
  .zero { stroke: #888; stroke-dasharray: 2 2; }
  .axis { stroke: #999; }
  .ytick, .xtick { font-size: 10px; fill: #444; }
  .label { font-size: 11px; fill: #333; }
  .legend { fill: #fff; fill-opacity: 0.85; stroke: #ccc; }
  .legendtext { font-size: 10.5px; fill: #222; }
</style>`;

/** One panel as a standalone <svg> of width w. */
export function panelSvg(p: Omit<Panel, 'x' | 'y' | 'w' | 'h'>, seconds: number[], w = 960, h = 300): string {
  const panel = drawPanel({ ...p, x: 80, y: 70, w: w - 160, h: h - 120 }, seconds);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
${SVG_STYLE}
<rect width="${w}" height="${h}" fill="#fafafa"/>
${panel}
</svg>`;
}
