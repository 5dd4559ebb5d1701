/**
 * A tiny inline-SVG sparkline: the last N samples of one series, scaled to its own maximum (a
 * flat line at the bottom when everything is 0). No chart library: one polyline and one area.
 */
const SVG = 'http://www.w3.org/2000/svg';

/** A fixed-length history of samples, oldest first. */
export class Series {
  private readonly values: number[] = [];
  constructor(readonly capacity: number) {}

  push(v: number): void {
    this.values.push(v);
    if (this.values.length > this.capacity) this.values.shift();
  }

  samples(): readonly number[] {
    return this.values;
  }
}

/** The polyline points for `values` in a width × height box (y grows downwards). */
export function sparkPoints(values: readonly number[], capacity: number, width: number, height: number): string {
  if (values.length === 0) return '';
  const max = Math.max(...values);
  const step = capacity > 1 ? width / (capacity - 1) : width;
  // Right-aligned: the newest sample is always at the right edge, history grows to the left.
  const x0 = width - (values.length - 1) * step;
  const pad = 1; // keep the stroke inside the box
  return values.map((v, i) => {
    const x = x0 + i * step;
    const y = max > 0 ? pad + (height - 2 * pad) * (1 - v / max) : height - pad;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(' ');
}

/** A new <svg> drawing `series`; `label` becomes its accessible title. */
export function sparkline(series: Series, width: number, height: number, label: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const title = document.createElementNS(SVG, 'title');
  title.textContent = label;
  // A faint baseline across the whole box, so a young history (a few samples at the right) still reads as a chart.
  const base = document.createElementNS(SVG, 'line');
  base.setAttribute('class', 'base');
  base.setAttribute('x1', '0');
  base.setAttribute('x2', String(width));
  base.setAttribute('y1', String(height - 0.5));
  base.setAttribute('y2', String(height - 0.5));
  svg.append(title, base);
  const values = series.samples();
  const points = sparkPoints(values, series.capacity, width, height);
  if (points !== '') {
    const first = points.slice(0, points.indexOf(','));
    const area = document.createElementNS(SVG, 'polygon');
    area.setAttribute('class', 'area');
    area.setAttribute('points', `${first},${height} ${points} ${width},${height}`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points);
    svg.append(area, line);
  }
  svg.dataset.samples = String(values.length);
  return svg;
}
