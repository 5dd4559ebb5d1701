/**
 * choir's block of error codes (400-499). Registered when this module loads, which every choir
 * module that raises one of them does. docs/choir.md and docs/PROTOCOL.md list them.
 */
import { BrigadeError, registerErrorCodes, type ErrorBlock } from '../../protocol/index.ts';

export const CHOIR_ERRORS: ErrorBlock = {
  owner: 'choir',
  first: 400,
  codes: {
    /** A room name that is not 1-64 of [A-Za-z0-9_.-], or no such room. */
    CHOIR_BAD_ROOM: { wire: 400, http: 404 },
    /** The room already has --choir-max-singers singers. */
    CHOIR_ROOM_FULL: { wire: 401, http: 409 },
    /** The singer id and key name no singer of a room (never joined, left, or expired). */
    CHOIR_NOT_A_SINGER: { wire: 402, http: 403 },
    /** A frame stamped before the buffer's start (its audio is already overwritten). */
    CHOIR_FRAME_TOO_OLD: { wire: 403 },
    /** A frame stamped past the buffer's end (further ahead of the room's clock than --choir-ahead-ms). */
    CHOIR_FRAME_AHEAD: { wire: 404 },
    /** An Opus packet over --choir-max-frame-bytes. */
    CHOIR_FRAME_TOO_LARGE: { wire: 405, http: 413 },
    /** A frame whose header is malformed (too short, wrong version, a position that is not a whole frame). */
    CHOIR_BAD_FRAME: { wire: 406 },
    /** The singer's Opus packet did not decode to one 20 ms frame (only that frame is lost). */
    CHOIR_BAD_OPUS: { wire: 407 },
    /** Only the room's leader may start or stop the song. */
    CHOIR_NOT_LEADER: { wire: 408, http: 403 },
    /** A shard RPC whose JSON is over 10 KB or whose data is over 200 KB. */
    CHOIR_RPC_TOO_LARGE: { wire: 409 },
    /** A shard RPC the other side could not read (bad JSON, an unknown op, lengths that do not add up). */
    CHOIR_RPC_MALFORMED: { wire: 410 },
    /** The singer's codec shard is gone or did not answer in time; the frame was not handled. */
    CHOIR_SHARD_UNAVAILABLE: { wire: 411, http: 503, temporary: true },
  },
};

registerErrorCodes(CHOIR_ERRORS);

export type ChoirErrorCode = keyof typeof CHOIR_ERRORS.codes;

export function choirError(code: ChoirErrorCode, message: string): BrigadeError {
  return new BrigadeError(code, message);
}
