/**
 * `brigade bench`: runs the place workload against each target in turn (src/sim/run-target.ts),
 * prints a summary, and writes the result as JSON and as a self-contained HTML report. Returns the
 * exit status: 0 every target converged, 1 a check failed or a run broke, 2 bad options.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { benchUsage, parseBenchOptions, SimOptionError, type BenchOptions } from './options.ts';
import { machineInfo } from './proc.ts';
import { Progress } from './progress.ts';
import { renderHtml, type BenchResult } from './report.ts';
import { runTarget, type TargetResult } from './run-target.ts';
import { jobsBenchUsage, runJobsBench } from './jobs-bench.ts';
import { runChoirBench } from './choir-bench.ts';
export type { BenchResult } from './report.ts';
import type { Target } from './load-protocol.ts';

function failedResult(target: Target, error: string): TargetResult {
  return {
    target, ok: false, error,
    servers: { processes: [], commands: [] },
    window: { seconds: 0, publishSeconds: 0 },
    headline: { framesPerServerCpuSecond: null, viewersPerServerCore: null, serverCoresUsed: null, latencyMs: null, framesPerSecond: 0, bytesPerSecond: 0, rssPerViewerKB: null, converged: false },
    editors: { sent: 0, acked: 0, achievedPerSecond: 0, sendToAckMs: null },
    delivered: { frames: 0, events: 0, bytes: 0, expectedFramesFromRuns: 0, expectedFramesFromTicks: null, expectedEvents: 0, framesPerSecond: 0, eventsPerSecond: 0, bytesPerSecond: 0 },
    server: { cpuSeconds: 0, cpuPercentOfOneCore: 0, rss: { idleMB: 0, connectedMB: 0, peakMB: 0, perViewerKB: null }, metrics: null },
    latency: { note: '', samples: 0, expectedSamples: 0, ackToReceiptMs: null, fractionBelowZero: null },
    convergence: {
      converged: false, from: 0, head: 0, viewers: 0, viewersConverged: 0, viewersBroken: 0, viewersShortOfHead: 0, viewersFailedToConnect: 0, viewersClosed: 0,
      gaps: 0, duplicates: 0, mismatches: 0, logComplete: false, streamHashesEqual: false, logSha256: '', processHashes: [], serverCanvasEqual: null, serverHead: null, firstErrors: [error],
    },
    simulator: { viewerProcesses: 0, connectSeconds: 0, cpuSeconds: 0, cpuPercentOfOneCore: 0, rssPerViewerKB: null, viewerCpuMicrosecondsPerFrame: null, cpuMicrosecondsPerFrame: null },
    otherProcessesCpuPercentOfOneCore: 0,
    timeline: [],
  };
}

const fmt = (v: number | null | undefined, d = 0) => (v === null || v === undefined ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: d }));

function summaryLine(t: TargetResult): string {
  if (t.error) return `${t.target}: FAILED: ${t.error}`;
  const l = t.headline.latencyMs;
  const c = t.convergence;
  return `${t.target}: ${t.headline.converged ? 'converged' : 'NOT CONVERGED'} (${fmt(c.viewersConverged)}/${fmt(c.viewers)} viewers at ${fmt(c.head)}; broken ${c.viewersBroken}, short ${c.viewersShortOfHead}, hashes ${c.streamHashesEqual ? 'equal' : 'DIFFER'}, server canvas ${c.serverCanvasEqual === null ? 'n/a' : c.serverCanvasEqual ? 'equal' : 'DIFFERS'}); `
    + `${fmt(t.headline.framesPerServerCpuSecond)} frames per server CPU-second; ${fmt(t.headline.viewersPerServerCore)} viewers per server core; `
    + `latency p50 ${fmt(l?.p50, 1)} p90 ${fmt(l?.p90, 1)} p99 ${fmt(l?.p99, 1)} max ${fmt(l?.max, 1)} ms; ${fmt(t.headline.framesPerSecond)} frames/s; `
    + `server CPU ${fmt(t.server.cpuPercentOfOneCore, 1)}% of a core; RSS/viewer ${fmt(t.headline.rssPerViewerKB, 1)} KB; `
    + `simulator ${fmt(t.simulator.rssPerViewerKB, 1)} KB/viewer, viewers ${fmt(t.simulator.viewerCpuMicrosecondsPerFrame, 2)} µs/frame (all ${fmt(t.simulator.cpuMicrosecondsPerFrame, 2)})`
    + (t.server.metrics ? `; BEHIND ${t.server.metrics.behindTotal}, resumes ${t.server.metrics.resumesTotal}` : '');
}

export async function runBench(argv: string[]): Promise<number> {
  const scenario = argv.indexOf('--scenario');
  if (scenario >= 0 && argv[scenario + 1] === 'choir') return runChoirBench(argv);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(benchUsage + jobsBenchUsage);
    return 0;
  }
  if (argv.some((a) => a === '--scenario' || a.startsWith('--scenario='))) return runJobsBench(argv);
  let o: BenchOptions;
  try {
    o = parseBenchOptions(argv);
  } catch (err) {
    if (err instanceof SimOptionError) {
      process.stderr.write(`brigade bench: ${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const progress = new Progress(o.progress);
  const startedAt = new Date();
  const loadAverageBefore = loadavg().map((v) => Math.round(v * 100) / 100);
  const command = `brigade bench ${argv.map((a) => (/^[\w./:=,@-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`.trim();
  // Ctrl-C or SIGTERM: every run stops what it started in its finally; stop waiting and exit.
  let interrupted = false;
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${sig}: stopping what this bench started\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const targets: TargetResult[] = [];
  for (const target of o.targets) {
    if (interrupted) break;
    progress.done(`[${target}] ${o.viewers.toLocaleString('en-US')} viewers, ${o.editsPerSecond} edits/s from ${o.editors} editors, ${o.seconds} s`);
    try {
      targets.push(await runTarget(target, o, progress, abort.signal));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      progress.done(`[${target}] failed: ${message}`);
      targets.push(failedResult(target, message));
    }
  }

  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  const files = { json: join(dir, `bench-${stamp}.json`), html: join(dir, `bench-${stamp}.html`) };
  const ok = !interrupted && targets.length === o.targets.length && targets.every((t) => t.ok);
  const result: BenchResult = {
    bench: 'brigade-bench', workload: o.workload, ok, startedAt: startedAt.toISOString(), command, machine: machineInfo(), loadAverageBefore,
    options: o, targets, files,
  };
  writeFileSync(files.json, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(files.html, renderHtml(result));
  process.stdout.write(`${targets.map(summaryLine).join('\n')}\nresult: ${files.json}\nreport: ${files.html}\n`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return ok ? 0 : 1;
}
