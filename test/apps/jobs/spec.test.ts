import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOBS_ERRORS, JobsError } from '../../../src/apps/jobs/errors.ts';
import { groupOffset } from '../../../src/apps/jobs/slots-registry.ts';
import { checkQueue, jsonText, parseJob, parseJobColumns, parseJobs, type JobLimits } from '../../../src/apps/jobs/spec.ts';
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

  it('takes columns: payloads with shared options checked once, keys by index', () => {
    const jobs = parseJobColumns({ payloads: [{ a: 1 }, 'x'], options: { priority: 4, delayMs: 10 }, keys: [null, 'k'] }, NOW, limits);
    assert.deepEqual(jobs, [
      { payload: '{"a":1}', runAtMs: NOW + 10, priority: 4, maxAttempts: 3, backoffMs: 1000, backoffMaxMs: 60_000, timeoutMs: 30_000 },
      { payload: '"x"', runAtMs: NOW + 10, priority: 4, maxAttempts: 3, backoffMs: 1000, backoffMaxMs: 60_000, timeoutMs: 30_000, key: 'k', keyTtlMs: 5000 },
    ]);
    assert.deepEqual(parseJobColumns({ payloads: [null] }, NOW, limits), [parseJob({ payload: null }, NOW, limits)]);
    refusal(() => parseJobColumns({ payloads: [] }, NOW, limits), 'JOBS_BAD_OPTION', 'payloads');
    refusal(() => parseJobColumns({ payloads: [1, 2, 3, 4] }, NOW, limits), 'JOBS_BAD_OPTION', 'payloads');
    refusal(() => parseJobColumns({ payloads: [1], jobs: [] }, NOW, limits), 'JOBS_BAD_OPTION', 'jobs');
    refusal(() => parseJobColumns({ payloads: [1], options: [] }, NOW, limits), 'JOBS_BAD_OPTION', 'options');
    refusal(() => parseJobColumns({ payloads: [1], options: { payload: 1 } }, NOW, limits), 'JOBS_BAD_OPTION', 'options.payload');
    refusal(() => parseJobColumns({ payloads: [1], options: { key: 'k' } }, NOW, limits), 'JOBS_BAD_OPTION', 'options.key');
    refusal(() => parseJobColumns({ payloads: [1], options: { maxAttempts: 0 } }, NOW, limits), 'JOBS_BAD_OPTION', 'options.maxAttempts');
    refusal(() => parseJobColumns({ payloads: [1, 2], keys: [null] }, NOW, limits), 'JOBS_BAD_OPTION', 'keys');
    refusal(() => parseJobColumns({ payloads: [1, 2], keys: [null, 'k'.repeat(201)] }, NOW, limits), 'JOBS_BAD_OPTION', 'keys[1]');
    refusal(() => parseJobColumns({ payloads: [1, 'y'.repeat(100)] }, NOW, limits), 'JOBS_PAYLOAD_TOO_LARGE', 'payloads[1]');
  });

  it('counts a payload\'s UTF-8 bytes against the limit', () => {
    assert.equal(jsonText('é'.repeat(49), 100, 'payload'), JSON.stringify('é'.repeat(49)));
    refusal(() => jsonText('é'.repeat(50), 100, 'payload'), 'JOBS_PAYLOAD_TOO_LARGE', 'payload');
    assert.equal(jsonText('e'.repeat(98), 100, 'payload').length, 100);
    refusal(() => jsonText('e'.repeat(99), 100, 'payload'), 'JOBS_PAYLOAD_TOO_LARGE', 'payload');
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
