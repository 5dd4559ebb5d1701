/**
 * The hand-written Prometheus text parser: label sets (with escaped quotes and braces), sums over
 * label sets, timestamps, special values, and clear errors on malformed lines or missing gauges.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { figuresOf, parseSamples, ScrapeError } from '../../src/autoscale/scrape.ts';

describe('parseSamples / figuresOf', () => {
  it('reads what prom-client writes, summing label sets', async () => {
    const registry = new client.Registry();
    registry.setDefaultLabels({ engine: 'redis' });
    const g = (name: string, v: number) => new client.Gauge({ name, help: 'h', registers: [registry], collect() { this.set(v); } });
    g('brigade_connections', 7);
    g('brigade_connects_per_second', 1.5);
    g('brigade_messages_in_per_second', 20);
    const out = new client.Gauge({ name: 'brigade_messages_out_per_second', help: 'h', labelNames: ['app'], registers: [registry] });
    out.set({ app: 'place' }, 100.25);
    out.set({ app: 'tracker "x" {y}' }, 0.75); // a label value with quotes and braces
    new client.Counter({ name: 'brigade_connects_total', help: 'h', registers: [registry] }).inc(3);
    const text = await registry.metrics();
    assert.deepEqual(figuresOf(text), { connections: 7, connectsPerSecond: 1.5, messagesInPerSecond: 20, messagesOutPerSecond: 101 });
  });

  it('skips comments, accepts timestamps and special values', () => {
    const text = '# HELP a x\n# TYPE a gauge\na 1 1700000000000\na{b="c"} 2\n\nb +Inf\nc NaN\nd -1e3\n';
    const s = parseSamples(text);
    assert.equal(s.get('a'), 3);
    assert.equal(s.get('b'), Infinity);
    assert.ok(Number.isNaN(s.get('c')));
    assert.equal(s.get('d'), -1000);
  });

  it('refuses malformed lines with the line number', () => {
    for (const [text, pattern] of [
      ['a 1\n{x="y"} 2', /line 2: no metric name/],
      ['a{x="y 2', /line 1: unterminated label set/],
      ['a one', /line 1: "one" is not a number/],
      ['a', /line 1: expected a value after a/],
      ['a 1 2 3', /line 1: expected a value/],
    ] as const) {
      assert.throws(() => parseSamples(text), (err: unknown) => err instanceof ScrapeError && err.code === 'BAD_METRICS' && pattern.test(err.message), text);
    }
  });

  it('names a missing or negative gauge', () => {
    const base = 'brigade_connections 1\nbrigade_connects_per_second 0\nbrigade_messages_in_per_second 0\n';
    assert.throws(() => figuresOf(base), /brigade_messages_out_per_second is not exported/);
    assert.throws(() => figuresOf(base + 'brigade_messages_out_per_second -2\n'), /brigade_messages_out_per_second is -2/);
    assert.throws(() => figuresOf(base + 'brigade_messages_out_per_second NaN\n'), /is NaN/);
  });
});
