/**
 * Policy validation: defaults, every kind of bad field refused with a PolicyError naming it, and
 * the real CLI exiting non-zero with that message on bad policy files (starting nothing).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePolicy, PolicyError } from '../../src/autoscale/policy.ts';

const cli = fileURLToPath(new URL('../../bin/brigade.js', import.meta.url));
const ok = { connectsPerSecond: 50, messagesPerSecond: 2000, local: { redis: 'redis://127.0.0.1:6379' } };

function refused(raw: unknown, field: string, pattern: RegExp, mode: 'local' | 'print' = 'local'): void {
  assert.throws(() => parsePolicy(raw, mode, 'p.json'), (err: unknown) => {
    assert.ok(err instanceof PolicyError, String(err));
    assert.equal(err.code, 'POLICY_INVALID');
    assert.equal(err.field, field);
    assert.match(err.message, pattern);
    assert.ok(err.message.startsWith('p.json: '), err.message);
    return true;
  });
}

describe('policy', () => {
  it('fills the defaults', () => {
    const p = parsePolicy(ok, 'local');
    assert.equal(p.minNodes, 1);
    assert.equal(p.maxNodes, 1);
    assert.equal(p.scaleDownCooldownMs, p.cooldownMs);
    assert.deepEqual(p.health, { path: '/healthz', timeoutMs: 2000, failuresBeforeReplace: 3 });
    assert.equal(p.local.ports, 0);
    assert.equal(p.local.command, null);
    assert.equal(p.status.port, -1);
    const print = parsePolicy({ ...ok, local: undefined, nodes: ['http://10.0.0.1:8080/', 'https://n2.example'] }, 'print');
    assert.deepEqual(print.nodes, ['http://10.0.0.1:8080', 'https://n2.example']);
  });

  it('refuses each bad field by name', () => {
    refused([], '(top level)', /must be a JSON object/);
    refused({ messagesPerSecond: 1 }, 'connectsPerSecond', /is required/);
    refused({ ...ok, connectsPerSecond: 0 }, 'connectsPerSecond', /must be > 0, got 0/);
    refused({ ...ok, messagesPerSecond: '100' }, 'messagesPerSecond', /must be a number, got "100"/);
    refused({ ...ok, minNodes: 0 }, 'minNodes', /integer from 1/);
    refused({ ...ok, minNodes: 1.5 }, 'minNodes', /integer/);
    refused({ ...ok, minNodes: 3, maxNodes: 2 }, 'maxNodes', /must be >= minNodes \(3\)/);
    refused({ ...ok, maxNodes: 5000 }, 'maxNodes', /integer from 1 to 1000/);
    refused({ ...ok, scaleDownBelow: 1.2 }, 'scaleDownBelow', /fraction/);
    refused({ ...ok, cooldownMs: -1 }, 'cooldownMs', /integer from 0/);
    refused({ ...ok, cooldownMs: 5000, scaleDownCooldownMs: 1000 }, 'scaleDownCooldownMs', /must be >= cooldownMs/);
    refused({ ...ok, intervalMs: 10 }, 'intervalMs', /integer from 50/);
    refused({ ...ok, intervalMs: 1000, health: { timeoutMs: 2000 } }, 'health.timeoutMs', /must be <= intervalMs/);
    refused({ ...ok, health: { path: 'healthz' } }, 'health.path', /must start with \//);
    refused({ ...ok, health: { failuresBeforeReplace: 0 } }, 'health.failuresBeforeReplace', /integer from 1/);
    refused({ ...ok, health: { retries: 2 } }, 'health.retries', /not a known field/);
    refused({ ...ok, colldownMs: 5 }, 'colldownMs', /not a known field \(known: connectsPerSecond/);
    refused({ ...ok, local: { redis: 'localhost:6379' } }, 'local.redis', /redis:\/\//);
    refused({ ...ok, maxNodes: 2, local: {} }, 'local.redis', /required when maxNodes > 1/);
    refused({ ...ok, local: { ...ok.local, ports: 8080 } }, 'local.ports', /0 or \{"from"/);
    refused({ ...ok, local: { ...ok.local, ports: { from: 9000, to: 8000 } } }, 'local.ports.to', /must be >= local.ports.from/);
    refused({ ...ok, maxNodes: 4, local: { ...ok.local, ports: { from: 9000, to: 9002 } } }, 'local.ports', /holds 3 ports, fewer than maxNodes \(4\)/);
    refused({ ...ok, local: { ...ok.local, command: [] } }, 'local.command', /must not be empty/);
    refused({ ...ok, local: { ...ok.local, args: ['--x', 1] } }, 'local.args', /list of strings/);
    refused({ ...ok, local: { ...ok.local, env: { A: 1 } } }, 'local.env.A', /must be a string/);
    refused({ ...ok, local: { ...ok.local, forwardLogs: 'yes' } }, 'local.forwardLogs', /true or false/);
    refused({ ...ok, status: { port: 70000 } }, 'status.port', /integer from -1 to 65535/);
    refused({ ...ok, nodes: ['http://a:1'] }, 'nodes', /only read with --print/);
    refused({ ...ok }, 'nodes', /required with --print/, 'print');
    refused({ ...ok, nodes: ['ftp://a'] }, 'nodes[0]', /http:\/\/ or https:\/\//, 'print');
    refused({ ...ok, nodes: ['not a url'] }, 'nodes[0]', /http:\/\//, 'print');
  });

  it('the CLI exits 2 with the message on bad files, starting nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brigade-policy-'));
    try {
      const write = (name: string, text: string) => { writeFileSync(join(dir, name), text); return join(dir, name); };
      const data = join(dir, 'data');
      const cases: [string[], RegExp][] = [
        [['--policy', join(dir, 'missing.json')], /POLICY_UNREADABLE: policy file .*missing\.json: ENOENT/],
        [['--policy', write('notjson.json', '{ connectsPerSecond: 1 ')], /POLICY_INVALID: policy file .*notjson\.json: not JSON/],
        [['--policy', write('bad.json', JSON.stringify({ ...ok, minNodes: 2, maxNodes: 1, local: { ...ok.local, data } }))], /POLICY_INVALID: .*bad\.json: maxNodes must be >= minNodes \(2\), got 1/],
        [['--policy', write('print.json', JSON.stringify(ok)), '--print'], /nodes \(a non-empty list of node URLs\) is required with --print/],
        [[], /--policy FILE is required/],
        [['--policy', write('good.json', JSON.stringify(ok)), '--status-port', 'x'], /--status-port must be a port number/],
        [['--policy', join(dir, 'good.json'), '--bogus'], /unknown option "--bogus"/],
      ];
      for (const [args, pattern] of cases) {
        const { code, stdout, stderr } = await run(['autoscale', ...args]);
        assert.equal(code, 2, `${args.join(' ')}: exit code; stderr ${stderr}`);
        assert.match(stderr, pattern);
        assert.equal(stdout, '', 'nothing started, nothing logged');
      }
      assert.equal(existsSync(data), false, 'no data directory created for a refused policy');
      const help = await run(['autoscale', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /brigade autoscale --policy FILE --print/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.once('error', reject);
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
