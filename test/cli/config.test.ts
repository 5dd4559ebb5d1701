/**
 * Settings the tick depends on are checked before anything starts: a clear ConfigError (the CLI
 * prints it and exits 2), never a node ticking on a broken grid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/cli/config.ts';

test('tick settings: whole positive milliseconds, and a maximum no lower than the tick', () => {
  assert.equal(loadConfig(['--tick-ms', '200', '--max-tick-ms', '3000']).maxTickMs, 3000);
  assert.equal(loadConfig(['--fan-out-grace-ms', '40']).fanOutGraceMs, 40);
  for (const [argv, message] of [
    [['--tick-ms', '0'], /tickMs must be a whole number of milliseconds, at least 1, got 0/],
    [['--tick-ms', '2.5'], /tickMs must be a whole number/],
    [['--tick-ms', '300', '--max-tick-ms', '100'], /maxTickMs \(100\) must be at least tickMs \(300\)/],
    [['--fan-out-grace-ms', '-1'], /fanOutGraceMs must be a non-negative number/],
  ] as const) {
    assert.throws(() => loadConfig([...argv], {}), (err: unknown) => err instanceof ConfigError && message.test(err.message), argv.join(' '));
  }
  assert.throws(() => loadConfig([], { BRIGADE_TICK_MS: '0' }), ConfigError, 'the environment is checked too');
});
