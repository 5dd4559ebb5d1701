// Finds import circles among the .ts files under a folder (type-only imports and re-exports count),
// with the TypeScript compiler's own import scanner. dependency-cruiser 18 needs Node 22+; this runs on 20.
// Usage: node scripts/check-circles.mjs . src/core   (exit 1 and one line per circle when there is one)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';
import { createRequire } from 'node:module';
const root = resolve(process.argv[2]); const folder = process.argv[3];
const ts = createRequire(join(root, 'package.json'))('typescript');
const files = [];
(function walk(d) { for (const n of readdirSync(d)) { const p = join(d, n); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.ts')) files.push(p); } })(resolve(root, folder));
const set = new Set(files);
const graph = new Map();
for (const f of files) {
  const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
  const deps = [];
  for (const r of info.importedFiles) {
    if (!r.fileName.startsWith('.')) continue;
    let t = resolve(dirname(f), r.fileName);
    if (!t.endsWith('.ts')) t = set.has(t + '.ts') ? t + '.ts' : join(t, 'index.ts');
    if (set.has(t)) deps.push(t);
  }
  graph.set(f, deps);
}
// Tarjan's strongly connected components: any with more than one file (or a self-import) is a circle.
let index = 0; const idx = new Map(), low = new Map(), stack = [], on = new Set(), sccs = [];
function strong(v) {
  idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
  for (const w of graph.get(v)) {
    if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) { const c = []; let w; do { w = stack.pop(); on.delete(w); c.push(w); } while (w !== v); sccs.push(c); }
}
for (const f of files) if (!idx.has(f)) strong(f);
const circles = sccs.filter((c) => c.length > 1 || graph.get(c[0]).includes(c[0]));
const edges = [...graph.values()].reduce((s, d) => s + d.length, 0);
for (const c of circles) console.log('circle:', c.map((f) => relative(root, f)).sort().join(' <-> '));
console.log(`${files.length} files, ${edges} imports under ${folder}: ${circles.length} circle(s)`);
process.exit(circles.length ? 1 : 0);
