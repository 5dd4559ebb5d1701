import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'fast-png';
import { DEFAULT_PALETTE, PlaceChannelType, PngCache, parsePalette, renderPng, type CanvasState } from '../../../src/apps/place/index.ts';
import type { ChannelView } from '../../../src/core/core-api.ts';

const palette300 = Array.from({ length: 200 }, (_, i) => `#${i.toString(16).padStart(2, '0')}8040`);

const type = new PlaceChannelType({
  canvases: {
    odd: { width: 7, height: 5, palette: [...DEFAULT_PALETTE] },
    wide: { width: 9, height: 4, palette: palette300 },
  },
  cooldownMs: 0,
});

function paint(channel: string): CanvasState {
  const state = type.init(channel);
  const n = type.canvas(channel)!.palette.length;
  let v = 0;
  for (let y = 0; y < state.height; y++) {
    for (let x = 0; x < state.width; x++) type.apply(state, state.codec.encode(x, y, (x * 31 + y * 7) % n), v++);
  }
  return state;
}

/** Palette indexes of a decoded indexed PNG, one per pixel. */
function indexes(png: ReturnType<typeof decode>): number[] {
  const out: number[] = [];
  const rowBytes = Math.ceil((png.width * png.depth) / 8);
  for (let y = 0; y < png.height; y++) {
    for (let x = 0; x < png.width; x++) {
      if (png.depth === 8) out.push(png.data[y * rowBytes + x]);
      else out.push(x & 1 ? png.data[y * rowBytes + (x >> 1)] & 0x0f : png.data[y * rowBytes + (x >> 1)] >> 4);
    }
  }
  return out;
}

test('16-colour canvas renders as a 4-bit indexed PNG with its palette and pixels (odd width)', () => {
  const state = paint('place:odd');
  const png = decode(renderPng(state, DEFAULT_PALETTE));
  assert.equal(png.width, 7);
  assert.equal(png.height, 5);
  assert.equal(png.depth, 4);
  assert.equal(png.channels, 1);
  assert.deepEqual(png.palette, parsePalette(DEFAULT_PALETTE));
  assert.deepEqual(indexes(png), [...state.pixels]);
});

test('larger palettes render as 8-bit indexed PNGs', () => {
  const state = paint('place:wide');
  const png = decode(renderPng(state, palette300));
  assert.equal(png.depth, 8);
  assert.equal(png.palette!.length, 200);
  assert.deepEqual(indexes(png), [...state.pixels]);
});

test('PngCache renders once per version and at most once per interval', () => {
  let clock = 0;
  const cache = new PngCache(type, { minIntervalMs: 1000, now: () => clock });
  const state = type.init('place:odd');
  const view: ChannelView<CanvasState> = { epoch: 3, version: 0, state };

  const first = cache.get('place:odd', view);
  assert.equal(first.etag, '"3-0"');
  assert.equal(cache.get('place:odd', view).png, first.png);
  assert.equal(cache.renders, 1);

  // A newer version within the interval: the older image is served; clients catch up from it.
  type.apply(state, state.codec.encode(1, 1, 5), 0);
  view.version = 1;
  clock = 500;
  assert.equal(cache.get('place:odd', view).version, 0);
  assert.equal(cache.renders, 1);

  clock = 1000;
  const second = cache.get('place:odd', view);
  assert.equal(second.version, 1);
  assert.equal(second.etag, '"3-1"');
  assert.equal(indexes(decode(second.png))[1 * 7 + 1], 5);
  assert.equal(cache.renders, 2);

  // Same version later: no render. New epoch: render at once, the old image is of a dead log.
  clock = 5000;
  cache.get('place:odd', view);
  assert.equal(cache.renders, 2);
  clock = 5001;
  assert.equal(cache.get('place:odd', { ...view, epoch: 4 }).etag, '"4-1"');
  assert.equal(cache.renders, 3);
});
