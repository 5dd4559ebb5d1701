// The layer check (`npm run lint:layers`): runs dependency-cruiser with .dependency-cruiser.cjs over
// src/, ignoring the violations listed in .dependency-cruiser-known-violations.json, and exits 1 on
// any other. `--update-baseline` rewrites that file from today's violations (what
// `depcruise-baseline` writes); `--no-ignore-known` shows the known ones too.
//
// Why a script and not the `depcruise` binary: dependency-cruiser 18's binaries refuse to start on
// Node 20 (its engines say ^22), which is what Brigade runs on; its programmatic API, used here,
// runs on Node 20 and is the same analysis. The options mirror `depcruise src --config
// .dependency-cruiser.cjs --ignore-known --output-type err`.
import { cruise, format } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CONFIG = join(root, '.dependency-cruiser.cjs');
export const KNOWN_VIOLATIONS = join(root, '.dependency-cruiser-known-violations.json');

/**
 * Cruises `baseDir`/src with the layer rules, ignoring `knownViolations` (a baseline; [] for none).
 * Returns the violations that are not known (each `{ rule: { name }, from, to, cycle? }`), the
 * known ones that no longer occur (`stale`: a debt paid, to drop from the baseline), the report as
 * dependency-cruiser's `err` reporter writes it, and the baseline of every violation found now.
 */
export async function checkLayers({ baseDir = root, knownViolations = [] } = {}) {
  const options = await extractDepcruiseOptions(CONFIG);
  const cruiseWith = async (known) => {
    const { output } = await cruise(['src'], { ...options, baseDir, knownViolations: known, outputType: 'json' });
    return JSON.parse(output);
  };
  const result = await cruiseWith(knownViolations);
  // format() summarises the graph again (one violation per edge of each cycle), so take the
  // violations from its json rather than from the cruise's own summary.
  const summary = JSON.parse((await format(result, { outputType: 'json' })).output).summary;
  const violations = summary.violations.filter((v) => v.rule.severity !== 'ignore');
  const report = (await format(result, { outputType: 'err' })).output;
  const all = await cruiseWith([]);
  const baseline = JSON.parse((await format(all, { outputType: 'baseline' })).output);
  const key = (v) => JSON.stringify([v.rule.name, v.from, v.to, v.cycle?.map((c) => c.name ?? c)]);
  const now = new Set(baseline.map(key));
  const stale = knownViolations.filter((v) => !now.has(key(v)));
  return { violations, stale, report, baseline };
}

async function main(args) {
  const ignoreKnown = !args.includes('--no-ignore-known');
  const known = ignoreKnown && existsSync(KNOWN_VIOLATIONS) ? JSON.parse(readFileSync(KNOWN_VIOLATIONS, 'utf8')) : [];
  const { violations, stale, report, baseline } = await checkLayers({ knownViolations: known });
  if (args.includes('--update-baseline')) {
    writeFileSync(KNOWN_VIOLATIONS, JSON.stringify(baseline, null, 2) + '\n');
    console.log(`lint:layers: wrote ${baseline.length} known violations to ${KNOWN_VIOLATIONS}`);
    return 0;
  }
  process.stdout.write(report);
  for (const v of stale) {
    console.log(`lint:layers: known violation gone (a debt paid; run \`npm run lint:layers -- --update-baseline\`): ${v.rule.name} ${v.from} -> ${v.to}`);
  }
  if (violations.length > 0) {
    console.error(`lint:layers: ${violations.length} import(s) break the layer rules (.dependency-cruiser.cjs, docs/LAYERS.md)`);
    return 1;
  }
  console.log(`lint:layers: the layers hold (${known.length} known violations tolerated; docs/LAYERS.md lists them as debts)`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
