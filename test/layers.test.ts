/**
 * The layer check itself (scripts/lint-layers.mjs with .dependency-cruiser.cjs, run by `npm test`
 * as `lint:layers`): on fixture trees under test/fixtures/layers it reports each kind of forbidden
 * import and passes a tree that keeps to the layers, and known violations hide only themselves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { checkLayers, type LayerViolation } from '../scripts/lint-layers.mjs';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/layers/${name}`, import.meta.url));

type Violation = LayerViolation;
const edges = (vs: Violation[]): string[] => vs.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();

describe('layer check (dependency-cruiser)', () => {
  it('passes a tree where every layer imports only what it may', async () => {
    const { violations, report } = await checkLayers({ baseDir: fixture('clean') });
    assert.deepEqual(edges(violations), [], report);
  });

  it('reports an app importing the gateway or another app, a circle, a protocol import, src importing bench, a folder outside the layers', async () => {
    const { violations } = await checkLayers({ baseDir: fixture('bad') });
    assert.deepEqual(edges(violations), [
      'app-only-core-protocol-util-own-folder: src/apps/chat/index.ts -> src/apps/echo/index.ts',
      'app-only-core-protocol-util-own-folder: src/apps/chat/index.ts -> src/gateway/server.ts',
      'no-circular: src/core/hub.ts -> src/core/session.ts',
      'no-circular: src/core/session.ts -> src/core/hub.ts',
      'protocol-imports-nothing: src/protocol/frames.ts -> src/core/hub.ts',
      'sdk-only-protocol-util: src/sdk/client.ts -> src/core/hub.ts',
      'src-not-bench-or-test: src/sim/run.ts -> bench/stats.ts',
      'src-outside-a-layer: src/widgets/thing.ts -> src/protocol/frames.ts',
    ]);
  });

  it('ignores known violations and reports only new ones', async () => {
    const { baseline } = await checkLayers({ baseDir: fixture('bad') });
    const appToGateway = (v: Violation): boolean => v.from === 'src/apps/chat/index.ts' && v.to === 'src/gateway/server.ts';
    assert.equal(baseline.filter(appToGateway).length, 1, 'the baseline lists the app -> gateway import');
    const known = baseline.filter((v: Violation) => !appToGateway(v));
    const { violations, stale } = await checkLayers({ baseDir: fixture('bad'), knownViolations: known });
    assert.deepEqual(edges(violations), ['app-only-core-protocol-util-own-folder: src/apps/chat/index.ts -> src/gateway/server.ts']);
    assert.deepEqual(stale, []);
  });

  it('says which known violations are gone, so the baseline shrinks as debts are paid', async () => {
    const { baseline } = await checkLayers({ baseDir: fixture('bad') });
    const { violations, stale } = await checkLayers({ baseDir: fixture('clean'), knownViolations: baseline });
    assert.deepEqual(violations, []);
    assert.equal(stale.length, baseline.length);
  });
});
