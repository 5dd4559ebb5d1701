import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOBS_ERRORS, JobsError } from '../../../src/apps/jobs/errors.ts';
import { groupOffset } from '../../../src/apps/jobs/slots-registry.ts';
import { checkQueue, parseJob, parseJobs, type JobLimits } from '../../../src/apps/jobs/spec.ts';
import { JOBS_ERROR_BLOCK } from '../../../src/sdk/jobs.ts';

const NOW = 1_700_000_000_000;
const limits: JobLimits = {
  maxPayloadBytes: 100, maxBulk: 3, keyWindowMs: 5000, defaultTimeoutMs: 30_000, defaultMaxAttempts: 3,
  defaultBackoffMs: 1000, defaultMaxBackoffMs: 60_000,
};

function refusal(fn: () => unknown, code: string, field: string | null): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof JobsError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.field, field);
    return true;
  });
}

describe('jobs: job options', () => {
  it('fills defaults and reads every option', () => {
    assert.deepEqual(parseJob({ payload: { a: 1 } }, NOW, limits), {
      payload: '{"a":1}', runAtMs: NOW, priority: 0, maxAttempts: 3, backoffMs: 1000, backoffMaxMs: 60_000, timeoutMs: 30_000,
    });
    assert.deepEqual(parseJob({ payload: 'x', delayMs: 500, priority: -7, maxAttempts: 9, backoff: { type: 'fixed', delayMs: 200 }, timeoutMs: 1000, key: 'k' }, NOW, limits), {
      payload: '"x"', runAtMs: NOW + 500, priority: -7, maxAttempts: 9, backoffMs: 200, backoffMaxMs: 200, timeoutMs: 1000, key: 'k', keyTtlMs: 5000,
    });
    assert.equal(parseJob({ runAt: new Date(NOW + 60_000).toISOString() }, NOW, limits).runAtMs, NOW + 60_000);
    assert.equal(parseJob({}, NOW, limits).payload, 'null');
    assert.deepEqual(parseJob({ backoff: 50 }, NOW, limits).backoffMs, 50);
    const exp = parseJob({ backoff: { delayMs: 10, maxDelayMs: 80 } }, NOW, limits);
    assert.deepEqual([exp.backoffMs, exp.backoffMaxMs], [10, 80]);
  });

  it('refuses bad options with a code and the field', () => {
    refusal(() => parseJob({ payload: 1, colour: 'red' }, NOW, limits), 'JOBS_BAD_OPTION', 'colour');
    refusal(() => parseJob({ priority: 1.5 }, NOW, limits), 'JOBS_BAD_OPTION', 'priority');
    refusal(() => parseJob({ priority: 1001 }, NOW, limits), 'JOBS_BAD_OPTION', 'priority');
    refusal(() => parseJob({ maxAttempts: 0 }, NOW, limits), 'JOBS_BAD_OPTION', 'maxAttempts');
    refusal(() => parseJob({ timeoutMs: 10 }, NOW, limits), 'JOBS_BAD_OPTION', 'timeoutMs');
    refusal(() => parseJob({ runAt: NOW, delayMs: 5 }, NOW, limits), 'JOBS_BAD_OPTION', 'delayMs');
    refusal(() => parseJob({ runAt: 'tomorrow' }, NOW, limits), 'JOBS_BAD_OPTION', 'runAt');
    refusal(() => parseJob({ backoff: { type: 'linear' } }, NOW, limits), 'JOBS_BAD_OPTION', 'backoff.type');
    refusal(() => parseJob({ backoff: { delayMs: 100, maxDelayMs: 50 } }, NOW, limits), 'JOBS_BAD_OPTION', 'backoff.maxDelayMs');
    refusal(() => parseJob({ key: '' }, NOW, limits), 'JOBS_BAD_OPTION', 'key');
    refusal(() => parseJob('just text', NOW, limits), 'JOBS_BAD_OPTION', 'job');
    refusal(() => parseJob({ payload: 'x'.repeat(200) }, NOW, limits), 'JOBS_PAYLOAD_TOO_LARGE', 'payload');
    refusal(() => parseJobs([{}, { priority: 'high' }], NOW, limits), 'JOBS_BAD_OPTION', 'jobs[1].priority');
    refusal(() => parseJobs([{}, {}, {}, {}], NOW, limits), 'JOBS_BAD_OPTION', 'jobs');
    refusal(() => parseJobs([], NOW, limits), 'JOBS_BAD_OPTION', 'jobs');
  });

  it('takes one job or a bulk array', () => {
    assert.equal(parseJobs({ payload: 1 }, NOW, limits).bulk, false);
    const bulk = parseJobs([{ payload: 1 }, { payload: 2 }], NOW, limits);
    assert.equal(bulk.bulk, true);
    assert.deepEqual(bulk.jobs.map((j) => j.payload), ['1', '2']);
  });

  it('checks queue names', () => {
    assert.equal(checkQueue('emails.v2_high-1'), 'emails.v2_high-1');
    for (const bad of ['', 'a/b', 'x'.repeat(65), 'with space', 7, null]) refusal(() => checkQueue(bad), 'JOBS_INVALID_QUEUE', 'queue');
  });

  it('the SDK decodes the same codes the app registers', () => {
    assert.deepEqual(JOBS_ERROR_BLOCK, JOBS_ERRORS);
  });

  it('a group offset lies within the separation and differs between groups', () => {
    const offsets = ['mail', 'video', 'thumbs'].map((g) => groupOffset(g, 250));
    for (const o of offsets) assert.ok(o >= 0 && o < 250);
    assert.ok(new Set(offsets).size > 1, 'groups interleave');
    assert.equal(groupOffset('mail', 250), groupOffset('mail', 250));
  });
});
