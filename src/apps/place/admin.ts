/**
 * Admin tools for a canvas: erase a rectangle, roll back one user. Both write ordinary edits
 * through the log (publisher 'admin'), so viewers, other nodes and later replays see them like
 * any edit, and a later rollback of a user never undoes an admin's repair.
 */
import './errors.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreApi } from '../../core/core-api.ts';
import type { CanvasSpec, CanvasState, PlaceChannelType } from './canvas.ts';
import { ADMIN_BODY_LIMIT_BYTES, MAX_EDITS_PER_PUBLISH } from './constants.ts';
import { HttpError, readJsonBody, sendJson } from '../../core/http.ts';
import { planRollback } from './rollback.ts';

export const ADMIN_PUBLISHER = 'admin';

export interface EraseRect {
  x: number;
  y: number;
  width: number;
  height: number;
  colour: number;
}

/**
 * Checks `Authorization: Bearer <token>`. Both sides are hashed first so the comparison takes
 * the same time whatever the length or content of the guess.
 */
export function makeAdminCheck(adminToken: string): (req: IncomingMessage) => void {
  const expected = createHash('sha256').update(adminToken).digest();
  return (req) => {
    if (adminToken === '') {
      throw new HttpError(401, 'FORBIDDEN', 'the place admin API is disabled: no admin token is configured on this server');
    }
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    if (match === null || !timingSafeEqual(given, expected)) {
      throw new HttpError(401, 'FORBIDDEN', "the place admin API needs 'Authorization: Bearer <admin token>'; the token was missing or wrong");
    }
  };
}

function bodyObject(body: unknown, shape: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'PLACE_BAD_EDIT', `request body must be a JSON object ${shape}`);
  }
  return body as Record<string, unknown>;
}

function intField(o: Record<string, unknown>, name: string, min: number, shape: string, fallback?: number): number {
  const v = o[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new HttpError(400, 'PLACE_BAD_EDIT', `${name} must be an integer >= ${min}, got ${JSON.stringify(o[name])}; send ${shape}`);
  }
  return v;
}

const ERASE_SHAPE = '{x, y, width, height, colour?}';

/** Validates an erase request against the canvas; the message names the allowed ranges. */
export function parseEraseRect(body: unknown, spec: CanvasSpec): EraseRect {
  const o = bodyObject(body, ERASE_SHAPE);
  const rect: EraseRect = {
    x: intField(o, 'x', 0, ERASE_SHAPE),
    y: intField(o, 'y', 0, ERASE_SHAPE),
    width: intField(o, 'width', 1, ERASE_SHAPE),
    height: intField(o, 'height', 1, ERASE_SHAPE),
    colour: intField(o, 'colour', 0, ERASE_SHAPE, 0),
  };
  if (rect.x + rect.width > spec.width || rect.y + rect.height > spec.height) {
    throw new HttpError(400, 'PLACE_OUT_OF_BOUNDS',
      `rectangle x ${rect.x}-${rect.x + rect.width - 1}, y ${rect.y}-${rect.y + rect.height - 1} leaves the ${spec.width}x${spec.height} canvas ${spec.name}; x must stay within 0-${spec.width - 1} and y within 0-${spec.height - 1}`);
  }
  if (rect.colour >= spec.palette.length) {
    throw new HttpError(400, 'PLACE_BAD_COLOUR', `colour ${rect.colour} is not in the palette of ${spec.name}; colours are 0-${spec.palette.length - 1}`);
  }
  return rect;
}

/** One edit per pixel of the rectangle whose live colour differs from the erase colour. */
export function planErase(state: CanvasState, rect: EraseRect): Uint8Array[] {
  const edits: Uint8Array[] = [];
  for (let y = rect.y; y < rect.y + rect.height; y++) {
    for (let x = rect.x; x < rect.x + rect.width; x++) {
      if (state.pixels[y * state.width + x] !== rect.colour) edits.push(state.codec.encode(x, y, rect.colour));
    }
  }
  return edits;
}

/** Publishes edits in bounded chunks; resolves with the first version, or null when none. */
export async function publishAdminEdits(core: CoreApi, channel: string, edits: Uint8Array[]): Promise<number | null> {
  let firstVersion: number | null = null;
  for (let i = 0; i < edits.length; i += MAX_EDITS_PER_PUBLISH) {
    const v = await core.publishInternal(channel, edits.slice(i, i + MAX_EDITS_PER_PUBLISH), ADMIN_PUBLISHER);
    firstVersion ??= v;
  }
  return firstVersion;
}

export async function handleErase(
  core: CoreApi, spec: CanvasSpec, req: IncomingMessage, res: ServerResponse,
): Promise<void> {
  const rect = parseEraseRect(await readJsonBody(req, ADMIN_BODY_LIMIT_BYTES, 'PLACE_BAD_EDIT'), spec);
  const view = await core.view<CanvasState>(spec.channel);
  const edits = planErase(view.state, rect);
  const firstVersion = await publishAdminEdits(core, spec.channel, edits);
  sendJson(res, 200, { edits: edits.length, firstVersion });
}

const ROLLBACK_SHAPE = '{userId, sinceMs}';

export async function handleRollback(
  core: CoreApi, type: PlaceChannelType, spec: CanvasSpec, req: IncomingMessage, res: ServerResponse,
): Promise<void> {
  const o = bodyObject(await readJsonBody(req, ADMIN_BODY_LIMIT_BYTES, 'PLACE_BAD_EDIT'), ROLLBACK_SHAPE);
  const { userId, sinceMs } = o;
  if (typeof userId !== 'string' || userId === '') {
    throw new HttpError(400, 'PLACE_BAD_EDIT', `userId must be a non-empty string; send ${ROLLBACK_SHAPE}`);
  }
  if (typeof sinceMs !== 'number' || !Number.isFinite(sinceMs) || sinceMs < 0) {
    throw new HttpError(400, 'PLACE_BAD_EDIT', `sinceMs must be a time in ms since the epoch (>= 0); send ${ROLLBACK_SHAPE}`);
  }
  const edits = await planRollback(core, type, spec.channel, userId, sinceMs);
  const firstVersion = await publishAdminEdits(core, spec.channel, edits);
  sendJson(res, 200, { edits: edits.length, firstVersion });
}
