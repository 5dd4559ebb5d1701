/**
 * place's block of error codes (100-199). Registered when this module loads, which every place
 * module that raises one of them does (and the web client, so it decodes them by name).
 */
import { registerErrorCodes, type ErrorBlock } from '../../protocol/index.ts';

export const PLACE_ERRORS: ErrorBlock = {
  owner: 'place',
  first: 100,
  codes: {
    PLACE_OUT_OF_BOUNDS: { wire: 100 },
    PLACE_BAD_COLOUR: { wire: 101 },
    PLACE_BAD_EDIT: { wire: 102 },
    PLACE_UNKNOWN_CANVAS: { wire: 103, http: 404 },
    PLACE_ROLLBACK_TOO_OLD: { wire: 104, http: 409 },
  },
};

registerErrorCodes(PLACE_ERRORS);

export type PlaceErrorCode = keyof typeof PLACE_ERRORS.codes;
