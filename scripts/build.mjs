// Bundles the server CLI (dist/cli.js), the simulator's worker processes and target adapters
// (dist/sim, forked and loaded by `brigade bench`) and the web clients (dist/web) with esbuild.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';

/** How every Node bundle is built: ESM for Node 20, npm packages left as imports, with source maps. */
const nodeBundle = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};

// The CLI, and the choir app's codec shards: worker threads it starts by path, dist/choir-shard.js,
// beside dist/cli.js (src/apps/choir/shards.ts looks for it next to the bundle).
await build({
  ...nodeBundle,
  entryPoints: { cli: 'src/cli/main.ts', 'choir-shard': 'src/apps/choir/shard-worker.ts' },
  outdir: 'dist',
});

// `brigade bench` forks dist/sim/viewer-worker.js, editor-worker.js and jobs-worker.js, which load the adapter of
// the target under test, dist/sim/protocols/<name>.js, by name: each is its own entry point.
const simProtocols = existsSync('src/sim/protocols')
  ? readdirSync('src/sim/protocols').filter((f) => f.endsWith('.ts')).map((f) => `src/sim/protocols/${f}`)
  : [];
await build({
  ...nodeBundle,
  entryPoints: ['src/sim/viewer-worker.ts', 'src/sim/editor-worker.ts', 'src/sim/choir-worker.ts', 'src/sim/jobs-worker.ts', ...simProtocols],
  outdir: 'dist/sim',
  outbase: 'src/sim',
});

mkdirSync('dist/web', { recursive: true });
const entries = existsSync('web') ? readdirSync('web').filter((f) => f.endsWith('.ts')).map((f) => `web/${f}`) : [];
if (entries.length > 0) {
  await build({
    entryPoints: entries,
    outdir: 'dist/web',
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
}
for (const f of existsSync('web') ? readdirSync('web') : []) {
  if (/\.(html|css|svg|ico)$/.test(f)) cpSync(`web/${f}`, `dist/web/${f}`);
}
