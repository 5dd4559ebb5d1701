/**
 * Canvas → indexed PNG. Palettes of at most 16 colours give a 4-bit PNG (rows padded to whole
 * bytes as PNG requires), larger ones an 8-bit PNG. The PNG's palette indexes are the canvas's
 * colour indexes, so a client may read pixels straight from the decoded image.
 */
import './errors.ts';
import { encode } from 'fast-png';
import type { ChannelView } from '../../core/core-api.ts';
import { BrigadeError } from '../../protocol/index.ts';
import type { CanvasState, PlaceChannelType } from './canvas.ts';
import { RenderCache, type RenderCacheOptions } from './render-cache.ts';

export function parsePalette(palette: readonly string[]): number[][] {
  return palette.map((c) => [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)]);
}

/** Packs pixels into PNG scanlines: 4 bits per pixel, high nibble first, each row byte-aligned. */
function packRows4(pixels: Uint8Array, width: number, height: number): Uint8Array {
  const rowBytes = Math.ceil(width / 2);
  const out = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const src = y * width;
    const dst = y * rowBytes;
    for (let x = 0; x < width; x++) {
      const v = pixels[src + x];
      out[dst + (x >>> 1)] |= x & 1 ? v : v << 4;
    }
  }
  return out;
}

/** Renders a canvas as an indexed PNG with the given palette ('#rrggbb' or parsed RGB triples). */
export function renderPng(state: CanvasState, palette: readonly string[] | number[][]): Uint8Array {
  const rgb = typeof palette[0] === 'string' ? parsePalette(palette as readonly string[]) : (palette as number[][]);
  const nibbles = rgb.length <= 16;
  return encode({
    width: state.width,
    height: state.height,
    data: nibbles ? packRows4(state.pixels, state.width, state.height) : state.pixels,
    depth: nibbles ? 4 : 8,
    channels: 1,
    palette: rgb,
  });
}

export interface CachedPng {
  epoch: number;
  /** The image includes every event below this version. */
  version: number;
  png: Uint8Array;
  etag: string;
}

/**
 * PNGs of live canvases, rendered at most once per version and once per interval per canvas
 * (see RenderCache): a render of 1000x1000 costs milliseconds, and thousands of viewers may
 * load the page in the same second.
 */
export class PngCache {
  private readonly cache: RenderCache<Uint8Array>;
  private readonly palettes = new Map<string, number[][]>();

  constructor(private readonly type: PlaceChannelType, options: RenderCacheOptions = {}) {
    this.cache = new RenderCache((channel, state) => renderPng(state, this.palette(channel)), options);
  }

  get(channel: string, view: ChannelView<CanvasState>): CachedPng {
    const r = this.cache.get(channel, view);
    return { epoch: r.epoch, version: r.version, png: r.value, etag: r.etag };
  }

  /** PNG renders done so far (for tests and metrics). */
  get renders(): number {
    return this.cache.renders;
  }

  private palette(channel: string): number[][] {
    let rgb = this.palettes.get(channel);
    if (rgb === undefined) {
      const spec = this.type.canvas(channel);
      if (spec === undefined) {
        throw new BrigadeError('PLACE_UNKNOWN_CANVAS', `no canvas is configured for ${channel}; see /api/place/canvases`);
      }
      rgb = parsePalette(spec.palette);
      this.palettes.set(channel, rgb);
    }
    return rgb;
  }
}
