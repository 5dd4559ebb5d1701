/**
 * place — a collaborative pixel canvas in the manner of r/place (seed 003).
 *
 * Each canvas is one channel, `place:<name>`; its state is W×H palette indexes folded from a log
 * of edits. An edit is (x, y, colour) packed big-endian into the fewest bytes (3 for the default
 * 1000x1000 canvas with 16 colours), so a tick's batch is a flat byte array sent unchanged to
 * every viewer. Before an edit is queued, `PlaceChannelType.validate` checks bounds, palette,
 * that the user is signed in, and the per-user cooldown; after that `apply` never refuses, so
 * every node folds the same log to the same pixels.
 *
 * Snapshots are W×H nibbles (palettes ≤ 16) or bytes. Over HTTP a canvas is served as an indexed
 * PNG and as raw snapshot bytes, each with the version it includes in X-Brigade-Version and an
 * ETag, cacheable for a second: a client loads the (possibly stale) image, then subscribes from
 * that version and catches up from the log. Renders happen at most once per second per canvas.
 *
 * Admin erase and rollback write ordinary edits through the log (publisher 'admin'). Rollback
 * re-folds from a stored snapshot older than the cut-off, skipping one user's edits, and
 * restores only the pixels that user touched, keeping later edits by others.
 *
 * Routes (see routes.ts): GET /api/place/canvases, GET /api/place/:name/info,
 * GET /api/place/:name/snapshot.png, GET /api/place/:name/snapshot.bin,
 * POST /api/place/:name/admin/erase, POST /api/place/:name/admin/rollback.
 */
export {
  DEFAULT_PALETTE, DEFAULT_CANVAS_WIDTH, DEFAULT_CANVAS_HEIGHT, DEFAULT_COOLDOWN_MS, PLACE_PREFIX,
  PNG_MIN_INTERVAL_MS, MAX_CANVAS_SIDE, MAX_PALETTE_SIZE,
} from './constants.ts';
export { makeEditCodec, bitsFor } from './edit-codec.ts';
export type { Edit, EditCodec } from './edit-codec.ts';
export { PlaceChannelType, canvasChannel, decodeEditFor } from './canvas.ts';
export type { CanvasState, CanvasConfig, CanvasSpec, PlaceConfig } from './canvas.ts';
export { encodePixels, decodePixels, snapshotByteLength, isNibblePalette } from './snapshot-codec.ts';
export { CooldownTracker } from './cooldown.ts';
export { renderPng, parsePalette, PngCache } from './png.ts';
export type { CachedPng } from './png.ts';
export { RenderCache, canvasEtag } from './render-cache.ts';
export type { Rendered, RenderCacheOptions } from './render-cache.ts';
export { RollbackFold, computeRollback, findRollbackBase, planRollback } from './rollback.ts';
export { planErase, parseEraseRect, publishAdminEdits, ADMIN_PUBLISHER } from './admin.ts';
export type { EraseRect } from './admin.ts';
export { placeRoutes, describeCanvas } from './routes.ts';
export type { PlaceRoute, PlaceRoutesOptions, CanvasDescription } from './routes.ts';
export { placeApp, parseCanvases } from './app.ts';
export type { PlaceOptions } from './app.ts';
export { PLACE_ERRORS } from './errors.ts';
