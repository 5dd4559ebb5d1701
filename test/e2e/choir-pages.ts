/**
 * What the choir e2e tests share: the fake microphone's WAV (bursts of 440 Hz), Goertzel levels
 * and onsets, and typed access to the page's hooks (window.__choir).
 */
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { eventually } from '../helpers/eventually.ts';
import { launchChromium } from './browser.ts';
import { goertzel } from '../../src/apps/choir/dsp.ts';
import type { ChoirDebugState, ChoirHooks } from '../../web/choir.ts';
import type { LoopbackResult } from '../../web/choir/latency.ts';

export const RATE = 48_000;
export const ms = (v: number) => Math.round((v * RATE) / 1000);
/** The fake microphone of A: 440 Hz at half scale for BURST_MS, then silence, every PERIOD_MS (Chromium loops the file). */
export const BURST_MS = 300;
export const PERIOD_MS = 1000;

/** A 48 kHz mono 16-bit WAV. */
export function wav(pcm: Int16Array): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + pcm.byteLength, 4); h.write('WAVE', 8);
  h.write('fmt ', 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22);
  h.writeUInt32LE(RATE, 24); h.writeUInt32LE(RATE * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
  h.write('data', 36); h.writeUInt32LE(pcm.byteLength, 40);
  return Buffer.concat([h, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength)]);
}

export function toneBursts(): Int16Array {
  const pcm = new Int16Array(ms(PERIOD_MS));
  for (let i = 0; i < ms(BURST_MS); i++) pcm[i] = Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * 440 * i) / RATE));
  return pcm;
}

/** The 440 Hz amplitude of `pcm` in 5 ms windows every 1 ms: [window start, amplitude]. */
export function levels(pcm: Int16Array, hz = 440): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at + ms(5) <= pcm.length; at += ms(1)) out.push([at, goertzel(pcm.subarray(at, at + ms(5)), hz)]);
  return out;
}

/** Where the tone starts: windows whose level rises through `level` after at least 50 ms below it. */
export function onsets(pcm: Int16Array, level: number): number[] {
  const out: number[] = [];
  let quietSince = 0;
  let loud = true; // a burst already under way when the stream starts is not an onset
  for (const [at, v] of levels(pcm)) {
    if (v < level) {
      if (loud) { loud = false; quietSince = at; }
    } else if (!loud) {
      loud = true;
      if (at - quietSince >= ms(50)) out.push(at);
    }
  }
  return out;
}

/**
 * How much louder than sung a tone may be heard (the 440 Hz level in 5 ms windows after two Opus
 * passes reads up to ~5 % over; a voice added twice or a decoder that missed a packet, 45-95 %).
 */
export const MAX_GAIN = 1.3;

export const peak = (pcm: Int16Array) => Math.max(0, ...levels(pcm).map(([, v]) => v));

type W = { __choir?: ChoirHooks };

export function choirHooks(page: Page) {
  return {
    ready: () => page.evaluate(() => (window as unknown as W).__choir !== undefined),
    state: () => page.evaluate(() => (window as unknown as W).__choir!.state()) as Promise<ChoirDebugState>,
    // As one JSON string: Playwright serialises an array element by element, slowly for 300k samples.
    sung: async (from: number, to: number) => Int16Array.from(JSON.parse(await page.evaluate(([a, b]) => JSON.stringify((window as unknown as W).__choir!.sung(a, b)), [from, to] as const)) as number[]),
    heard: async (from: number, to: number) => Int16Array.from(JSON.parse(await page.evaluate(([a, b]) => JSON.stringify((window as unknown as W).__choir!.heard(a, b)), [from, to] as const)) as number[]),
    addedFrames: (from: number, to: number) => page.evaluate(([x, y]) => (window as unknown as W).__choir!.addedFrames(x, y), [from, to] as const),
    roomClockAt: (epochMs: number) => page.evaluate((t) => (window as unknown as W).__choir!.roomClockAt(t), epochMs),
    latencyTest: () => page.evaluate(() => (window as unknown as W).__choir!.latencyTest()) as Promise<LoopbackResult>,
    pauseAudio: (pauseMs: number) => page.evaluate((t) => (window as unknown as W).__choir!.pauseAudio(t), pauseMs),
  };
}


/**
 * A singer's page in its own Chromium, its microphone the file `wavPath`: opens `/choir?room=`,
 * joins at `slot` and resolves once its clock is synced and it hears mixes. The browser goes into
 * `browsers` (closed by the caller); page errors, and console errors when `consoleErrors`, into `errors`.
 */
export async function openSinger(o: {
  url: string; room: string; wavPath: string; name: string; slot: number;
  browsers: Browser[]; errors: string[]; consoleErrors?: boolean;
}): Promise<Page> {
  const browser = await launchChromium([
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${o.wavPath}`, '--autoplay-policy=no-user-gesture-required',
  ]);
  o.browsers.push(browser);
  const page = await browser.newPage();
  page.on('pageerror', (err) => o.errors.push(`${o.name} pageerror: ${err.message}`));
  if (o.consoleErrors) page.on('console', (m) => { if (m.type() === 'error') o.errors.push(`${o.name} console: ${m.text()}`); });
  assert.equal((await page.goto(`${o.url}/choir?room=${o.room}`))?.status(), 200);
  await page.fill('#name', o.name);
  await page.selectOption('#slot', String(o.slot));
  await page.click('#join');
  const h = choirHooks(page);
  await eventually(async () => { const s = await h.state(); return s.joined && s.offsetSamples !== null && s.mixesReceived > 10; }, { what: `${o.name} to join, sync its clock and hear mixes`, intervalMs: 100 });
  await markPage(page, o.name);
  return page;
}

/** Marks `page` with its singer's name (openSinger does); a reload wipes the mark, so `notReloaded` tells a rejoin in place from a reload. */
async function markPage(page: Page, name: string): Promise<void> {
  await page.evaluate((n) => { (window as unknown as { __mark?: string }).__mark = n; }, name);
}

/** Whether `page` still carries the mark `markPage` left (it was not reloaded since). */
export async function notReloaded(page: Page): Promise<boolean> {
  return Boolean(await page.evaluate(() => (window as unknown as { __mark?: string }).__mark));
}

/**
 * The leader among `pages` (whoever it is now) sings a song of `songMs`: starts it, waits until A
 * sees it and B (1 s behind) has heard all of it, stops it. Returns the song's start and the peak
 * 440 Hz levels of what B heard, what A heard and what A sang over it.
 */
export async function singSong(pages: Page[], b: Page, a: Page, songMs: number) {
  const leader = await eventually(async () => {
    for (const p of pages) if ((await choirHooks(p).state()).leader) return p;
    return null;
  }, { what: 'a leader' });
  await leader!.click('#start');
  const startedAt = (await eventually(async () => (await choirHooks(leader!).state()).song?.startedAt ?? null, { what: 'the song to start' }))!;
  await eventually(async () => (await choirHooks(a).state()).song?.startedAt === startedAt, { what: 'A to see the song', intervalMs: 100 });
  const to = startedAt + ms(songMs);
  // B hears 1 s behind.
  await eventually(async () => ((await choirHooks(b).state()).heardRange?.[1] ?? 0) >= to + ms(1000), { what: 'B to hear the song', timeoutMs: 15_000, intervalMs: 100 });
  await leader!.click('#stop');
  await eventually(async () => (await choirHooks(leader!).state()).song?.stoppedAt != null, { what: 'the song to stop' });
  const [heardB, heardA, sungA] = [await choirHooks(b).heard(startedAt, to), await choirHooks(a).heard(startedAt, to), await choirHooks(a).sung(startedAt, to)];
  return { startedAt, heardB: peak(heardB), heardA: peak(heardA), sungA: peak(sungA) };
}
