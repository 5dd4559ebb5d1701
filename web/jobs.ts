/**
 * The /jobs dashboard: polls GET /api/jobs every second and draws the queues table, throughput and
 * poll arrivals as inline SVG, the dead jobs with retry/drop, and a form that enqueues a job
 * (the admin token enqueues too). Hooks for tests on window.__jobs.
 */
interface QueueView {
  queue: string;
  counts: Record<'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'dead', number>;
  push: { workers: number; credit: number };
  series: { enqueued: number[]; completed: number[]; failed: number[]; claimRequests: number[] };
  arrivals: number[];
  dead: { id: string; attempt: number; maxAttempts: number; error: string | null }[];
}
interface Overview { now: number; seconds: number; queues: QueueView[] }

const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2'];
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
let last: Overview | null = null;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function token(): string {
  return ($<HTMLInputElement>('token')).value || sessionStorage.getItem('jobs-admin-token') || '';
}

function lineChart(series: { name: string; values: number[] }[], height = 140): string {
  const width = 900;
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (i: number): number => 40 + (i * (width - 50)) / Math.max(1, n - 1);
  const y = (v: number): number => height - 20 - (v * (height - 30)) / max;
  const lines = series.map((s, k) => `<polyline fill="none" stroke="${COLOURS[k % COLOURS.length]}" stroke-width="1.5" points="${
    s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`).join('');
  const axis = `<line x1="40" y1="${height - 20}" x2="${width - 10}" y2="${height - 20}" stroke="#999"/><text x="2" y="${y(max) + 4}" font-size="10">${max}</text><text x="2" y="${height - 16}" font-size="10">0</text>`
    + `<text x="40" y="${height - 4}" font-size="10">-${n}s</text><text x="${width - 30}" y="${height - 4}" font-size="10">now</text>`;
  const legend = series.map((s, k) => `<span style="color:${COLOURS[k % COLOURS.length]}">■ ${esc(s.name)}</span>`).join('');
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="100%" role="img">${axis}${lines}</svg><div class="legend">${legend}</div>`;
}

function arrivalTicks(queues: QueueView[], now: number): string {
  const width = 900;
  const rows = queues.filter((q) => q.arrivals.length > 0);
  const height = 20 + rows.length * 18;
  const marks = rows.map((q, k) => q.arrivals.map((t) => {
    const xx = 40 + ((t - (now - 10_000)) / 10_000) * (width - 50);
    return `<line x1="${xx.toFixed(1)}" x2="${xx.toFixed(1)}" y1="${6 + k * 18}" y2="${18 + k * 18}" stroke="${COLOURS[k % COLOURS.length]}"/>`;
  }).join('') + `<text x="2" y="${16 + k * 18}" font-size="10">${esc(q.queue.slice(0, 6))}</text>`).join('');
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="100%">${marks}</svg>`;
}

/** The dead-letter table's HTML as last written (render). */
let deadHtml = '';

function render(o: Overview): void {
  last = o;
  $('updated').textContent = `updated ${new Date(o.now).toLocaleTimeString()}`;
  $('queues').querySelector('tbody')!.innerHTML = o.queues.map((q) => {
    const rate = q.series.completed.slice(-60).reduce((a, b) => a + b, 0) / 60;
    return `<tr data-queue="${esc(q.queue)}"><td>${esc(q.queue)}</td>${(['waiting', 'delayed', 'active', 'completed', 'failed', 'dead'] as const)
      .map((s) => `<td data-field="${s}">${q.counts[s]}</td>`).join('')}<td>${q.push.workers}</td><td>${rate.toFixed(2)}</td></tr>`;
  }).join('') || '<tr><td colspan="9" class="muted">no queues yet</td></tr>';
  $('throughput').innerHTML = lineChart(o.queues.map((q) => ({ name: q.queue, values: q.series.completed })));
  $('arrivals').innerHTML = lineChart(o.queues.map((q) => ({ name: q.queue, values: q.series.claimRequests.slice(-60) })), 100)
    + arrivalTicks(o.queues, o.now);
  const dead = o.queues.flatMap((q) => q.dead.map((d) =>
    `<tr data-dead="${esc(q.queue)}/${esc(d.id)}"><td>${esc(q.queue)}</td><td>${esc(d.id)}</td><td>${d.attempt}/${d.maxAttempts}</td><td>${esc(d.error ?? '')}</td>`
    + `<td><button data-action="retry" data-queue="${esc(q.queue)}" data-id="${esc(d.id)}">retry</button> <button data-action="drop" data-queue="${esc(q.queue)}" data-id="${esc(d.id)}">drop</button></td></tr>`)).join('')
    || '<tr><td colspan="5" class="muted">none</td></tr>';
  // Rewritten only when it changed: rebuilt every second, a button could be replaced between a
  // press and its release, and the click was lost (the browser fires none across two elements).
  if (dead !== deadHtml) {
    $('dead').querySelector('tbody')!.innerHTML = dead;
    deadHtml = dead;
  }
}

async function refresh(): Promise<void> {
  try {
    const res = await fetch('/api/jobs');
    render(await res.json() as Overview);
  } catch (err) {
    $('error').textContent = `could not load /api/jobs: ${String(err)}`;
  }
}

async function post(path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(path, {
    method: 'POST', headers: { Authorization: `Bearer ${token()}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = await res.json() as { message?: string };
  if (!res.ok) throw new Error(out.message ?? `HTTP ${res.status}`);
  return out;
}

$('token').addEventListener('change', () => sessionStorage.setItem('jobs-admin-token', $<HTMLInputElement>('token').value));
$('token-form').addEventListener('submit', (e) => e.preventDefault());
$('enqueue-form').addEventListener('submit', (e) => {
  e.preventDefault();
  $('error').textContent = '';
  let payload: unknown;
  try {
    payload = JSON.parse($<HTMLInputElement>('enqueue-payload').value);
  } catch {
    $('error').textContent = 'the payload is not JSON';
    return;
  }
  const queue = $<HTMLInputElement>('enqueue-queue').value;
  post(`/api/jobs/${encodeURIComponent(queue)}`, { payload }).then((r) => {
    $('enqueued').textContent = `enqueued job ${(r as { id: string }).id}`;
    $('enqueued').dataset.id = (r as { id: string }).id;
    void refresh();
  }, (err: Error) => { $('error').textContent = err.message; });
});
$('dead').addEventListener('click', (e) => {
  const b = (e.target as HTMLElement).closest('button');
  if (!b) return;
  post(`/api/jobs/${encodeURIComponent(b.dataset.queue!)}/${encodeURIComponent(b.dataset.id!)}/${b.dataset.action}`)
    .then(() => refresh(), (err: Error) => { $('error').textContent = err.message; });
});

(window as unknown as { __jobs: unknown }).__jobs = { overview: () => last };
void refresh();
setInterval(() => void refresh(), 1000);
