/**
 * Admin rollback: make a canvas look as if one user's edits since `sinceMs` never happened,
 * while keeping everything anyone else drew, including later edits over the same pixels.
 *
 * The canvas is re-folded from a stored snapshot old enough to precede `sinceMs`, skipping that
 * user's edits; wherever that user touched a pixel and the re-folded colour differs from the
 * live one, an ordinary edit restores it. Nothing is rewritten in place: the fix goes through
 * the log like any edit, so every viewer and every node sees it (principle 1).
 */
import './errors.ts';
import type { CoreApi } from '../../core/core-api.ts';
import type { LogEvent } from '../../core/engine.ts';
import { BrigadeError } from '../../protocol/index.ts';
import { decodeEditFor, type CanvasState, type PlaceChannelType } from './canvas.ts';
import { ROLLBACK_READ_PAGE } from './constants.ts';

/** An incremental fold, so a long log is read page by page instead of held in memory. */
export class RollbackFold {
  private readonly state: CanvasState;
  /** 1 where the rolled-back user set the pixel at or after sinceMs. */
  private readonly touched: Uint8Array;

  /** `base` is not modified; its `version` says where the events passed to `add` start. */
  constructor(base: CanvasState, readonly userId: string, readonly sinceMs: number) {
    this.state = { ...base, pixels: base.pixels.slice() };
    this.touched = new Uint8Array(base.pixels.length);
  }

  /** The version of the next event `add` expects. */
  get version(): number {
    return this.state.version;
  }

  add(events: readonly LogEvent[]): void {
    const { state, touched, userId, sinceMs } = this;
    for (const event of events) {
      state.version++;
      const edit = decodeEditFor(state, event.payload);
      if (edit === null) continue;
      if (event.publisher === userId && event.timeMs >= sinceMs) touched[edit.index] = 1;
      else state.pixels[edit.index] = edit.colour;
    }
  }

  /** Edits that turn `live` into the rolled-back canvas, pixel by pixel, in row-major order. */
  edits(live: CanvasState): Uint8Array[] {
    const { state, touched } = this;
    const { codec, width } = state;
    const out: Uint8Array[] = [];
    for (let i = 0; i < touched.length; i++) {
      if (touched[i] === 1 && state.pixels[i] !== live.pixels[i]) {
        out.push(codec.encode(i % width, Math.floor(i / width), state.pixels[i]));
      }
    }
    return out;
  }
}

/**
 * The pure form of a rollback: `base` is the canvas at `base.version`, `events` follow it in
 * version order, `live` is the canvas after them (or later). Returns the restoring edits.
 */
export function computeRollback(
  base: CanvasState, events: readonly LogEvent[], userId: string, sinceMs: number, live: CanvasState,
): Uint8Array[] {
  const fold = new RollbackFold(base, userId, sinceMs);
  fold.add(events);
  return fold.edits(live);
}

/**
 * The canvas at the newest stored snapshot taken before `sinceMs` whose following events are
 * still in the log (or the empty canvas when the log is complete from version 0). A snapshot
 * stored before sinceMs holds only events accepted before sinceMs, so replaying from it sees
 * every edit to skip. Throws PLACE_ROLLBACK_TOO_OLD when no such starting point exists.
 */
export async function findRollbackBase(
  core: CoreApi, type: PlaceChannelType, channel: string, sinceMs: number,
): Promise<CanvasState> {
  const oldest = await core.oldestVersion(channel);
  let earliestSinceMs: number | null = null;
  let snapshot = await core.getSnapshot(channel);
  while (snapshot !== null && snapshot.version >= oldest) {
    if (snapshot.timeMs < sinceMs) {
      const base = type.decodeSnapshot(channel, snapshot.bytes);
      base.version = snapshot.version;
      return base;
    }
    earliestSinceMs = snapshot.timeMs + 1;
    if (snapshot.version === 0) break;
    snapshot = await core.getSnapshot(channel, snapshot.version - 1);
  }
  if (oldest === 0) return type.init(channel);
  const from = earliestSinceMs === null
    ? 'no stored snapshot is reachable from the log; rollback becomes possible after the next snapshot'
    : `rollback is possible for sinceMs >= ${earliestSinceMs} (${new Date(earliestSinceMs).toISOString()})`;
  throw new BrigadeError(
    'PLACE_ROLLBACK_TOO_OLD',
    `the log of ${channel} no longer reaches back to ${sinceMs} (${new Date(sinceMs).toISOString()}); ${from}`,
  );
}

/** Computes the restoring edits for a rollback against the channel's current log and state. */
export async function planRollback(
  core: CoreApi, type: PlaceChannelType, channel: string, userId: string, sinceMs: number,
): Promise<Uint8Array[]> {
  const base = await findRollbackBase(core, type, channel, sinceMs);
  const fold = new RollbackFold(base, userId, sinceMs);
  let view = await core.view<CanvasState>(channel);
  // Read up to the live version, re-checking it after each await, so the comparison below
  // (synchronous) sees a live state that includes everything folded.
  while (fold.version < view.version) {
    const events = await core.readLog(channel, fold.version, ROLLBACK_READ_PAGE);
    if (events.length === 0) break;
    fold.add(events);
    view = await core.view<CanvasState>(channel);
  }
  return fold.edits(view.state);
}
