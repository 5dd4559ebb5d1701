/**
 * A per-canvas cache of something rendered from the live state (a PNG, snapshot bytes), keyed
 * by (epoch, version). Renders at most once per version, and at most once per `minIntervalMs`
 * per canvas: when the canvas has moved on but the last render is younger than that, the older
 * render is served. That is safe because every response names the version it includes, and a
 * client catches up from there over the live feed (seed 003: stale image + version header).
 */
import type { ChannelView } from '../../core/core-api.ts';
import type { CanvasState } from './canvas.ts';
import { PNG_MIN_INTERVAL_MS } from './constants.ts';

export interface Rendered<T> {
  epoch: number;
  /** The rendered state includes every event below this version. */
  version: number;
  /** Strong HTTP entity tag, quotes included: "<epoch>-<version>". */
  etag: string;
  value: T;
}

export interface RenderCacheOptions {
  /** Minimum time between two renders of one canvas, ms (default PNG_MIN_INTERVAL_MS). */
  minIntervalMs?: number;
  now?: () => number;
}

export function canvasEtag(epoch: number, version: number): string {
  return `"${epoch}-${version}"`;
}

export class RenderCache<T> {
  private readonly entries = new Map<string, Rendered<T> & { renderedAtMs: number }>();
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  /** Renders done so far (for tests and metrics). */
  renders = 0;

  constructor(
    private readonly render: (channel: string, state: CanvasState) => T,
    options: RenderCacheOptions = {},
  ) {
    this.minIntervalMs = options.minIntervalMs ?? PNG_MIN_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  get(channel: string, view: ChannelView<CanvasState>): Rendered<T> {
    const nowMs = this.now();
    const cached = this.entries.get(channel);
    if (cached !== undefined && cached.epoch === view.epoch) {
      // A version older than the cached one (a lagging view) never replaces a newer render.
      if (view.version <= cached.version) return cached;
      if (nowMs - cached.renderedAtMs < this.minIntervalMs && nowMs >= cached.renderedAtMs) return cached;
    }
    // Rendering is synchronous, so the version read here is exactly the state rendered.
    const version = view.version;
    const entry = {
      epoch: view.epoch,
      version,
      etag: canvasEtag(view.epoch, version),
      value: this.render(channel, view.state),
      renderedAtMs: nowMs,
    };
    this.renders++;
    this.entries.set(channel, entry);
    return entry;
  }
}
