/** The automatic connection limit (src/cli/limits.ts): the open-file soft limit less the reserve. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FD_RESERVE, effectiveMaxConnections, openFileSoftLimit } from '../../src/cli/limits.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                40000                files
Max locked memory         8388608              8388608              bytes
`;

test('reads the soft open-file limit, and nothing from text that has none', () => {
  assert.equal(openFileSoftLimit(() => LIMITS), 20000);
  assert.equal(openFileSoftLimit(() => LIMITS.replace('20000                40000', 'unlimited            unlimited')), null);
  assert.equal(openFileSoftLimit(() => 'Limit Soft Hard\n'), null);
  assert.equal(openFileSoftLimit(() => { throw new Error('ENOENT'); }), null);
  const here = openFileSoftLimit();
  assert.ok(here === null || here > 0, 'this process has a readable limit or none');
});

test('an explicit limit wins; otherwise the soft limit less the reserve, or none', () => {
  assert.equal(effectiveMaxConnections(100, 20000), 100);
  assert.equal(effectiveMaxConnections(0, 20000), 20000 - FD_RESERVE);
  assert.equal(effectiveMaxConnections(0, 300), 1, 'never below one connection');
  assert.equal(effectiveMaxConnections(0, null), 0, 'unknown: no limit');
});
