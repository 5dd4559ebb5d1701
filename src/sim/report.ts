/**
 * The self-contained HTML report of a `brigade bench` run: one file, inline SVG charts, no
 * scripts or external resources. For each target: latency percentiles per second, frames/s and
 * bytes/s delivered, server CPU and RSS (and Brigade's adaptive tick); for several targets a
 * table side by side. The JSON result it is drawn from is embedded too.
 */
import type { BenchOptions } from './options.ts';
import type { machineInfo } from './proc.ts';
import type { TargetResult } from './run-target.ts';
import { esc, panelSvg } from './svg.ts';

/** A `brigade bench` run, as its JSON file holds it and the report draws it. */
export interface BenchResult {
  bench: 'brigade-bench';
  workload: 'place';
  ok: boolean;
  startedAt: string;
  command: string;
  machine: ReturnType<typeof machineInfo>;
  loadAverageBefore: number[];
  options: BenchOptions;
  targets: TargetResult[];
  files: { json: string; html: string };
}

const n = (v: number | null | undefined, digits = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits }));

function table(targets: TargetResult[]): string {
  const rows: [string, (t: TargetResult) => string][] = [
    ['converged (every viewer has the server\'s canvas)', (t) => (t.error ? `error: ${esc(t.error)}` : t.headline.converged ? 'yes' : '<b>NO</b>')],
    ['frames per server CPU-second', (t) => n(t.headline.framesPerServerCpuSecond)],
    ['viewers per server core (at this edit rate)', (t) => n(t.headline.viewersPerServerCore)],
    ['server cores used (mean over the window)', (t) => n(t.headline.serverCoresUsed, 3)],
    ['latency ack → viewer p50 / p90 / p99 / max (ms)', (t) => { const l = t.headline.latencyMs; return l ? `${n(l.p50, 1)} / ${n(l.p90, 1)} / ${n(l.p99, 1)} / ${n(l.max, 1)}` : '–'; }],
    ['frames/s delivered', (t) => n(t.headline.framesPerSecond)],
    ['bytes/s delivered', (t) => n(t.headline.bytesPerSecond)],
    ['server RSS per viewer above idle (KB)', (t) => n(t.headline.rssPerViewerKB, 1)],
    ['server RSS idle → connected → peak (MB)', (t) => (t.error ? '–' : `${n(t.server.rss.idleMB, 1)} → ${n(t.server.rss.connectedMB, 1)} → ${n(t.server.rss.peakMB, 1)}`)],
    ['edits sent / acknowledged', (t) => (t.error ? '–' : `${n(t.editors.sent)} / ${n(t.editors.acked)}`)],
    ['BEHIND / resumes (brigade)', (t) => (t.server?.metrics ? `${n(t.server.metrics.behindTotal)} / ${n(t.server.metrics.resumesTotal)}` : '–')],
    ['simulator RSS per viewer (KB) / viewer-process CPU per frame (µs)', (t) => (t.error ? '–' : `${n(t.simulator.rssPerViewerKB, 1)} / ${n(t.simulator.viewerCpuMicrosecondsPerFrame, 2)}`)],
    ['other processes, % of one core', (t) => (t.error ? '–' : n(t.otherProcessesCpuPercentOfOneCore, 1))],
  ];
  return `<table><thead><tr><th></th>${targets.map((t) => `<th>${esc(t.target)}</th>`).join('')}</tr></thead><tbody>
${rows.map(([label, f]) => `<tr><td>${esc(label)}</td>${targets.map((t) => `<td>${f(t)}</td>`).join('')}</tr>`).join('\n')}
</tbody></table>`;
}

function charts(t: TargetResult): string {
  if (t.error || t.timeline.length === 0) return `<p>No charts: ${esc(t.error ?? 'no samples')}</p>`;
  const tl = t.timeline;
  const s = tl.map((x) => x.s);
  const out = [
    panelSvg({
      title: 'Latency, ack → viewer receipt, per (viewer, edit), by the second the edit was acknowledged', leftLabel: 'ms',
      series: [
        { name: 'max', colour: '#7f7f7f', dash: '4 3', values: tl.map((x) => x.latency.max) },
        { name: 'p99', colour: '#d62728', values: tl.map((x) => x.latency.p99) },
        { name: 'p90', colour: '#ff7f0e', values: tl.map((x) => x.latency.p90) },
        { name: 'p50', colour: '#1f77b4', values: tl.map((x) => x.latency.p50) },
      ],
    }, s),
    panelSvg({
      title: 'Delivered to viewers, per second', leftLabel: 'frames/s', rightLabel: 'MB/s',
      series: [
        { name: 'frames/s', colour: '#2ca02c', values: tl.map((x) => x.framesPerSecond) },
        { name: 'MB/s', colour: '#17becf', axis: 'right', values: tl.map((x) => x.bytesPerSecond / 1e6) },
      ],
    }, s),
    panelSvg({
      title: 'Server CPU (all its processes) and RSS', leftLabel: '% of one core', rightLabel: 'MB',
      series: [
        { name: 'server CPU %', colour: '#9467bd', values: tl.map((x) => x.serverCpuPct) },
        { name: 'simulator CPU %', colour: '#8c564b', dash: '5 4', values: tl.map((x) => x.simCpuPct) },
        { name: 'server RSS MB', colour: '#e377c2', axis: 'right', values: tl.map((x) => x.serverRssMB) },
      ],
    }, s),
  ];
  if (tl.some((x) => x.tickIntervalMs !== null)) {
    out.push(panelSvg({
      title: 'Brigade tick interval (brigade_tick_interval_ms, largest over its processes)', leftLabel: 'ms',
      series: [{ name: 'tick interval', colour: '#bcbd22', values: tl.map((x) => x.tickIntervalMs) }],
    }, s, 960, 240));
  }
  return out.join('\n');
}

export function renderHtml(r: BenchResult): string {
  const o = r.options;
  const title = `brigade bench: ${o.workload}, ${n(o.viewers)} viewers × ${n(o.editsPerSecond, 1)} edits/s, ${o.seconds} s, tick ${o.tickMs} ms — ${r.targets.map((t) => t.target).join(' vs ')}`;
  const m = r.machine;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
 body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
 table { border-collapse: collapse; margin: 12px 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
 td:first-child { text-align: left; } th { background: #f0f0f0; } code, pre { font-size: 12px; background: #f6f6f6; }
 pre { padding: 8px; overflow-x: auto; } .bad { color: #b00; font-weight: 700; } .good { color: #070; font-weight: 700; }
</style></head><body>
<h1>${esc(title)}</h1>
<p class="${r.ok ? 'good' : 'bad'}">${r.ok ? 'Every target converged.' : 'A check failed: see the table.'}</p>
<p>${esc(`${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}; load average before ${r.loadAverageBefore.join(' / ')}; started ${r.startedAt}`)}<br>
The simulator and the servers share this machine.</p>
<pre>${esc(r.command)}</pre>
<h2>Side by side</h2>
${table(r.targets)}
${r.targets.map((t) => `<h2>${esc(t.target)}</h2>
<p>${esc(t.servers?.commands.join('\n') ?? '')}</p>
${charts(t)}`).join('\n')}
<h2>Options</h2>
<pre>${esc(JSON.stringify(o, null, 2))}</pre>
<h2>Result (JSON)</h2>
<details><summary>the whole result</summary><pre>${esc(JSON.stringify(r, null, 2))}</pre></details>
</body></html>
`;
}
