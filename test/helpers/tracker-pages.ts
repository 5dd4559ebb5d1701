/**
 * Helpers for the tracker's end-to-end tests: a Chromium that can open WebRTC data channels
 * between its own pages on this host, the tracker demo page (the real bittorrent-tracker client)
 * opened and joined, and typed access to the hooks it exposes on window.__trackerDemo.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TrackerDemoHooks } from '../../web/tracker-demo.ts';
import { CHROMIUM_PATH } from '../e2e/browser.ts';
import { eventually } from './eventually.ts';

/**
 * The flags of test/e2e/browser.ts plus one for WebRTC. By default Chromium hides host ICE
 * candidates behind random `<uuid>.local` mDNS names; the other page must resolve them over
 * multicast DNS, which works only by luck of both pages sharing one browser (its own mDNS
 * responder answers) and fails across browsers or where multicast is filtered. With
 * WebRtcHideLocalIpsWithMdns off, candidates carry the host's real address and connect directly.
 * No STUN: the pages get `iceServers: []` (this network reaches nothing outside). Measured here:
 * on a host with only a loopback interface (`unshare -rn`) Chromium gathers no candidate at all,
 * even with --allow-loopback-in-peer-connection, so these tests need one non-loopback interface
 * (any container or CI runner has one).
 */
export function launchWebRtcChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
}

type DemoWindow = { __trackerDemo?: TrackerDemoHooks };

/** The demo page's hooks, each one evaluate() away. */
export function demoHooks(page: Page) {
  return {
    ready: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo !== undefined),
    peerId: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo!.peerId),
    announce: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo!.announce),
    state: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo?.state() ?? 'starting'),
    connectedPeers: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo!.connectedPeers()),
    received: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo!.received()),
    swarm: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo!.swarm()),
    warnings: () => page.evaluate(() => (window as unknown as DemoWindow).__trackerDemo!.warnings()),
  };
}

export interface DemoPage {
  page: Page;
  hooks: ReturnType<typeof demoHooks>;
  peerId: string;
  /** Every WebSocket URL the page opened (the tracker connection, and nothing else). */
  sockets: string[];
}

/**
 * Opens the demo from `baseUrl` (so it announces to that server's /announce) in a fresh browser
 * context, in swarm `infoHash`, and waits until the tracker has answered its first announce.
 * Page errors and console errors go to `errors`.
 */
export async function openDemo(browser: Browser, baseUrl: string, infoHash: string, errors: string[]): Promise<DemoPage> {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await ctx.newPage();
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()} (${msg.location().url})`); });
  const res = await page.goto(`${baseUrl}/tracker-demo.html?infoHash=${infoHash}`);
  if (res?.status() !== 200) throw new Error(`${baseUrl}/tracker-demo.html: HTTP ${res?.status()}`);
  const hooks = demoHooks(page);
  await eventually(async () => { const s = await hooks.state(); return s === 'joined' || s === 'error' ? s : false; }, { what: `the demo from ${baseUrl} to join the swarm`, intervalMs: 50 });
  if (await hooks.state() === 'error') throw new Error(`the demo failed to join: ${await page.textContent('#status')}`);
  return { page, hooks, peerId: await hooks.peerId(), sockets };
}
