/**
 * inbox's block of error codes (200-299). Registered when this module loads, which every inbox
 * module that raises one of them does (and a client that imports it, so it decodes them by name).
 */
import { registerErrorCodes, type ErrorBlock } from '../../protocol/index.ts';

export const INBOX_ERRORS: ErrorBlock = {
  owner: 'inbox',
  first: 200,
  codes: {
    /** A recipient expression that does not parse, or is over a limit; the message names the position and what was expected. */
    INBOX_BAD_EXPRESSION: { wire: 200, http: 400 },
    /** A device token that verifies but names no registered device (never registered, or forgotten after the TTL). */
    INBOX_UNKNOWN_DEVICE: { wire: 201, http: 401 },
    /** A device token that is malformed or whose signature does not match (forged). */
    INBOX_BAD_DEVICE_TOKEN: { wire: 202, http: 401 },
    /** No message with this id (never published, or its tombstone is gone). */
    INBOX_UNKNOWN_MESSAGE: { wire: 203, http: 404 },
    /** The publisher key is missing or wrong. */
    INBOX_BAD_KEY: { wire: 204, http: 401 },
    /** A title, body, data, group list or attribute set over its limit. */
    INBOX_TOO_LARGE: { wire: 205, http: 413 },
    /** deliverAt / expiresAt in the past, too far ahead, or expiresAt before deliverAt. */
    INBOX_BAD_SCHEDULE: { wire: 206, http: 400 },
    /** A request body that is not what the route wants (a missing field, a wrong type). */
    INBOX_BAD_REQUEST: { wire: 207, http: 400 },
    /** An edit or recall of a message that is already recalled or expired. */
    INBOX_NOT_EDITABLE: { wire: 208, http: 409 },
  },
};

registerErrorCodes(INBOX_ERRORS);

export type InboxErrorCode = keyof typeof INBOX_ERRORS.codes;
