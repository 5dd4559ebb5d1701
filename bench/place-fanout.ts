/**
 * The place fan-out benchmark is now `brigade bench` (src/sim, shipped with the CLI; see
 * docs/benchmarks-sim.md). This wrapper keeps the old command working: it maps the old option
 * names and runs `node bin/brigade.js bench` with the rest as they are.
 *
 *   npm run build
 *   node --import tsx bench/place-fanout.ts --viewers 5000 --edits-per-second 333 --seconds 30
 *
 * Renamed: --workers K (viewer processes) → --sim-processes K; --editor-connections W → --editors W;
 * --results-dir DIR → --out DIR. (`brigade bench --workers N` is server processes, with --redis.)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const renamed: Record<string, string> = { '--workers': '--sim-processes', '--editor-connections': '--editors', '--results-dir': '--out' };
const args = process.argv.slice(2).map((a) => {
  const eq = a.indexOf('=');
  const flag = eq < 0 ? a : a.slice(0, eq);
  return renamed[flag] ? renamed[flag] + (eq < 0 ? '' : a.slice(eq)) : a;
});
const cli = fileURLToPath(new URL('../bin/brigade.js', import.meta.url));
const child = spawn(process.execPath, [cli, 'bench', ...args], { stdio: 'inherit' });
// Ctrl-C reaches the child through the terminal's process group; a SIGTERM sent to this PID is passed on.
process.on('SIGTERM', () => { if (child.pid) child.kill('SIGTERM'); });
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
