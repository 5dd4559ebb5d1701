/**
 * jobs' block of error codes (300-399). Registered when this module loads, which every jobs module
 * that raises one of them does (and the SDK's jobs client imports nothing of the server).
 */
import { BrigadeError, registerErrorCodes, type ErrorBlock } from '../../protocol/index.ts';

export const JOBS_ERRORS: ErrorBlock = {
  owner: 'jobs',
  first: 300,
  codes: {
    /** A queue name that is not 1-64 of [A-Za-z0-9_.-]. */
    JOBS_INVALID_QUEUE: { wire: 300 },
    /** An unknown job option or a bad value; the refusal names the field. */
    JOBS_BAD_OPTION: { wire: 301 },
    /** A payload (or result) over the limit, or a body over the limit. */
    JOBS_PAYLOAD_TOO_LARGE: { wire: 302, http: 413 },
    /** A missing or wrong producer or worker key. */
    JOBS_BAD_KEY: { wire: 303, http: 401 },
    /** heartbeat, complete or fail with a lease that is not the job's current one: nothing was recorded. */
    JOBS_LEASE_LOST: { wire: 304, http: 409 },
    /** No such job in the queue. */
    JOBS_NOT_FOUND: { wire: 305, http: 404 },
  },
};

registerErrorCodes(JOBS_ERRORS);

export type JobsErrorCode = keyof typeof JOBS_ERRORS.codes;

/** A refusal that names the field it is about (HTTP bodies carry `field`; wire messages name it). */
export class JobsError extends BrigadeError {
  constructor(code: JobsErrorCode, message: string, readonly field: string | null = null) {
    super(code, field ? `${field}: ${message}` : message);
  }
}
