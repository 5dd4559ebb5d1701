/**
 * Helpers for end-to-end tests in a real browser: Debian's Chromium driven by playwright-core,
 * and typed access to the hooks the place page exposes on window.__place.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { PlaceHooks } from '../../web/place.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** `extraArgs`: more switches, e.g. choir's fake microphone (--use-file-for-fake-audio-capture=…). */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...ARGS, ...extraArgs] });
}

/**
 * Chromium with a profile in `userDataDir`: a browser context that is not incognito, as a user's
 * browser is (browser.newContext() is incognito-like, and Chromium has no Push API there).
 */
export function launchChromiumProfile(userDataDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
}

type PlaceWindow = { __place?: PlaceHooks };

/** The page's hooks, each one evaluate() away. */
export function placeHooks(page: Page) {
  return {
    ready: () => page.evaluate(() => (window as unknown as PlaceWindow).__place !== undefined),
    version: () => page.evaluate(() => (window as unknown as PlaceWindow).__place!.version()),
    connected: () => page.evaluate(() => (window as unknown as PlaceWindow).__place?.connected() ?? false),
    pixel: (x: number, y: number) => page.evaluate(([px, py]) => (window as unknown as PlaceWindow).__place!.pixel(px, py), [x, y] as const),
    screenPoint: (x: number, y: number) => page.evaluate(([px, py]) => (window as unknown as PlaceWindow).__place!.screenPoint(px, py), [x, y] as const),
    /** Every pixel that is not colour 0, as [x, y, colour], row by row. */
    nonBlank: (width: number, height: number) => page.evaluate(([w, h]) => {
      const place = (window as unknown as PlaceWindow).__place!;
      const out: [number, number, number][] = [];
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        const c = place.pixel(x, y);
        if (c !== 0) out.push([x, y, c]);
      }
      return out;
    }, [width, height] as const),
    pixelAt: (x: number, y: number) => page.evaluate(([px, py]) => (window as unknown as PlaceWindow).__place!.pixelAt(px, py), [x, y] as const),
  };
}

/** The non-blank pixels of one-byte-per-pixel state, in the form nonBlank() returns. */
export function nonBlankOf(pixels: Uint8Array, width: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  pixels.forEach((c, i) => { if (c !== 0) out.push([i % width, Math.floor(i / width), c]); });
  return out;
}
