/**
 * place on the App contract: its options (`--place-canvases`, `--place-cooldown-ms`, …), its
 * error block (errors.ts), its channel type, HTTP routes and requests.
 */
import type { App } from '../../core/app.ts';
import { BrigadeError } from '../../protocol/index.ts';
import { PlaceChannelType, type CanvasConfig, type CanvasState } from './canvas.ts';
import { DEFAULT_COOLDOWN_MS, DEFAULT_PALETTE, PNG_MIN_INTERVAL_MS } from './constants.ts';
import { PLACE_ERRORS } from './errors.ts';
import { describeCanvas, placeRoutes } from './routes.ts';

export interface PlaceOptions {
  [key: string]: string | number | boolean;
  canvases: string;
  palette: string;
  cooldownMs: number;
  pngMinIntervalMs: number;
  adminToken: string;
}

/** Canvases as name:WIDTHxHEIGHT, comma-separated (the `canvases` option). */
export function parseCanvases(spec: string, palette: string[]): Record<string, CanvasConfig> {
  const out: Record<string, CanvasConfig> = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]+):(\d+)x(\d+)$/.exec(part);
    if (!m) throw new Error(`placeCanvases: ${JSON.stringify(part)} is not name:WIDTHxHEIGHT`);
    out[m[1]] = { width: Number(m[2]), height: Number(m[3]), palette };
  }
  return out;
}

function paletteOf(option: string): string[] {
  return option ? option.split(',').map((s) => s.trim()) : [...DEFAULT_PALETTE];
}

export const placeApp: App<PlaceOptions> = {
  name: 'place',
  description: 'A shared pixel canvas (r/place)',
  page: '/place',
  errors: PLACE_ERRORS,
  options: {
    canvases: {
      default: 'main:1000x1000', help: 'canvases as name:WIDTHxHEIGHT, comma-separated',
      validate(v) {
        try {
          new PlaceChannelType({ canvases: parseCanvases(v, [...DEFAULT_PALETTE]), cooldownMs: 0 });
          return null;
        } catch (err) {
          return (err as Error).message;
        }
      },
    },
    palette: {
      default: '', help: 'palette as comma-separated #rrggbb; empty = the 16 r/place colours',
      validate(v) {
        try {
          new PlaceChannelType({ canvases: { x: { width: 1, height: 1, palette: paletteOf(v) } }, cooldownMs: 0 });
          return null;
        } catch (err) {
          return (err as Error).message;
        }
      },
    },
    cooldownMs: { default: DEFAULT_COOLDOWN_MS, help: 'per-user cooldown between edits, ms; 0 disables it' },
    pngMinIntervalMs: { default: PNG_MIN_INTERVAL_MS, help: 'a PNG snapshot is rendered at most this often per canvas, ms' },
    adminToken: {
      default: '', alias: 'adminToken',
      help: 'Bearer token for /api/place/<canvas>/admin/*; generated into DATA/admin-token when empty',
    },
  },
  start(core) {
    const { options } = core;
    const type = new PlaceChannelType({ canvases: parseCanvases(options.canvases, paletteOf(options.palette)), cooldownMs: options.cooldownMs });
    core.channelType(type);
    const adminToken = core.secret('admin-token', options.adminToken);
    for (const route of placeRoutes(core.channels, type, { adminToken, pngMinIntervalMs: options.pngMinIntervalMs })) core.http(route);
    core.request('place.canvases', () => type.canvases().map((spec) => describeCanvas(type, spec)));
    core.request('place.info', async (req) => {
      const body = req.json() as { canvas?: unknown } | null;
      const name = body && typeof body === 'object' ? body.canvas : undefined;
      if (typeof name !== 'string') throw new BrigadeError('INVALID_REQUEST', 'place.info wants {"canvas": NAME}');
      const spec = type.canvas(type.prefix + name);
      if (!spec) throw new BrigadeError('PLACE_UNKNOWN_CANVAS', `no canvas named ${JSON.stringify(name)}; canvases: ${type.canvases().map((c) => c.name).join(', ')}`);
      const view = await core.channels.view<CanvasState>(spec.channel);
      return { ...describeCanvas(type, spec), version: view.version, epoch: view.epoch };
    });
  },
};
