/**
 * The place page in a real browser against a real server: two viewers, a pixel placed with real
 * mouse clicks in one showing up in the other, catch-up after a viewer's connection is cut, and
 * the cooldown shown to a user. Needs `npm run build` first (the server serves dist/web).
 * Screenshots land in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core';
import { encode as encodePng } from 'fast-png';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { codec, identity, serverPixels } from '../helpers/place-client.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { launchChromium, nonBlankOf, placeHooks } from './browser.ts';
import { eventually } from '../helpers/eventually.ts';

const ARTIFACTS = 'test-artifacts';

let browser: Browser;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** The version the server's snapshot PNG says it includes. */
async function snapshotVersion(server: ServerProcess): Promise<number> {
  const res = await fetch(`${server.url}/api/place/main/snapshot.png`);
  await res.arrayBuffer();
  return Number(res.headers.get('X-Brigade-Version'));
}

/** Opens /place in a fresh browser context (its own identity) and waits until it is connected. */
async function openPlace(server: ServerProcess, errors: string[], setup?: (page: Page) => Promise<unknown>, context?: BrowserContext): Promise<Page> {
  const ctx = context ?? await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await ctx.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()} (${msg.location().url})`); });
  await setup?.(page);
  const res = await page.goto(`${server.url}/place`);
  assert.equal(res?.status(), 200);
  await eventually(async () => await placeHooks(page).connected(), { what: 'the page to connect', intervalMs: 50 });
  return page;
}

/** Selects a palette colour and clicks canvas pixel (x, y) with the mouse, zoomed in so one pixel is several screen pixels. */
async function clickPixel(page: Page, x: number, y: number, colour: number): Promise<void> {
  await page.click(`.swatch[data-colour="${colour}"]`);
  const p = await placeHooks(page).screenPoint(x, y);
  await page.mouse.click(p.x, p.y);
}

async function zoomIn(page: Page, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await page.click('#zoom-in');
}

describe('place page (Chromium)', () => {
  let server: ServerProcess;
  const errors: string[] = [];

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('/place is served and / lists it', async () => {
    const place = await fetch(`${server.url}/place`);
    assert.equal(place.status, 200);
    assert.match(await place.text(), /<canvas id="screen"/);
    const apps = await (await fetch(`${server.url}/api/apps`)).json() as { path: string }[];
    assert.ok(apps.some((a) => a.path === '/place'), `/api/apps lists /place: ${JSON.stringify(apps)}`);

    const page = await browser.newPage();
    try {
      const res = await page.goto(`${server.url}/`);
      assert.equal(res?.status(), 200);
      await page.waitForSelector('#apps a[href="/place"]', { timeout: 10_000 });
    } finally {
      await page.close();
    }
  });

  test('a pixel clicked in one page appears in another; a cut viewer catches up', async () => {
    // Page B's WebSocket goes through a route the test can cut, as a network drop would.
    const link = { cut: false, routes: new Set<WebSocketRoute>() };
    const a = await openPlace(server, errors);
    const b = await openPlace(server, errors, (page) => page.routeWebSocket((url) => url.pathname === '/ws', (ws) => {
      if (link.cut) {
        void ws.close({ code: 4000, reason: 'cut by the test' });
        return;
      }
      ws.connectToServer();
      link.routes.add(ws);
    }));
    const A = placeHooks(a);
    const B = placeHooks(b);
    const start = await A.version();
    assert.equal(await A.pixel(517, 483), 0, 'the canvas starts blank');

    // A drag pans and places nothing.
    const before = await A.screenPoint(517, 483);
    await a.mouse.move(640, 400);
    await a.mouse.down();
    await a.mouse.move(700, 430, { steps: 5 });
    await a.mouse.up();
    const panned = await A.screenPoint(517, 483);
    assert.deepEqual([panned.x - before.x, panned.y - before.y], [60, 30]);

    await zoomIn(a, 2);
    await clickPixel(a, 517, 483, 5);
    await eventually(async () => { const c = await B.pixel(517, 483); return c === 5 ? c : false; }, { what: 'page B to show colour 5 at (517, 483)', intervalMs: 50 });
    assert.equal(await A.pixel(517, 483), 5);
    assert.equal(await A.pixel(516, 483), 0, 'only the clicked pixel changed');
    const v1 = await eventually(async () => { const v = await A.version(); return v === start + 1 ? v : false; }, { what: 'page A to reach version start + 1', intervalMs: 50 });
    await eventually(async () => { const v = await B.version(); return v === v1 ? v : false; }, { what: 'page B to reach the same version', intervalMs: 50 });
    await eventually(async () => { const v = await snapshotVersion(server); return v === v1 ? v : false; }, { what: 'the server snapshot to include it', intervalMs: 50 });
    assert.match(await a.textContent('#status') ?? '', /placed colour 5 at \(517, 483\)/);

    // Cut B off; A places another pixel that B cannot see yet.
    link.cut = true;
    for (const ws of link.routes) await ws.close({ code: 4000, reason: 'cut by the test' });
    link.routes.clear();
    await eventually(async () => { const s = await b.getAttribute('#connection', 'data-state'); return s === 'reconnecting' ? s : false; }, { what: 'page B to notice the drop', intervalMs: 50 });
    await clickPixel(a, 520, 483, 13);
    const v2 = await eventually(async () => { const v = await A.version(); return v === v1 + 1 ? v : false; }, { what: 'page A to apply its second pixel', intervalMs: 50 });
    assert.equal(await A.pixel(520, 483), 13);
    assert.equal(await B.pixel(520, 483), 0, 'B is cut off and has not seen the pixel');
    assert.equal(await B.version(), v1);

    // Restore the link: the SDK resubscribes from B's version and B catches up without a reload.
    link.cut = false;
    await eventually(async () => await B.connected(), { what: 'page B to reconnect', intervalMs: 50 });
    await eventually(async () => { const c = await B.pixel(520, 483); return c === 13 ? c : false; }, { what: 'page B to catch up on (520, 483)', intervalMs: 50 });
    await eventually(async () => { const v = await B.version(); return v === v2 ? v : false; }, { what: 'page B to reach version v2', intervalMs: 50 });
    assert.equal(await b.getAttribute('#connection', 'data-state'), 'connected');
    await eventually(async () => { const v = await snapshotVersion(server); return v === v2 ? v : false; }, { what: 'the server snapshot to match page B', intervalMs: 50 });

    // Wheel-zoom both pages about the placed pixels (the point under the cursor stays put), then save screenshots.
    for (const [page, hooks, turns] of [[a, A, 1], [b, B, 2]] as const) {
      const p = await hooks.screenPoint(518, 483);
      const at = { x: Math.round(p.x), y: Math.round(p.y) }; // mouse events carry whole CSS pixels
      await page.mouse.move(at.x, at.y);
      const under = await hooks.pixelAt(at.x, at.y); // (518, 483) or a neighbour, when zoomed out
      assert.ok(under && Math.abs(under.x - 518) <= 1 && Math.abs(under.y - 483) <= 1, JSON.stringify(under));
      for (let i = 0; i < turns; i++) await page.mouse.wheel(0, -1000);
      assert.deepEqual(await hooks.pixelAt(at.x, at.y), under, 'wheel zoom keeps the pixel under the cursor');
      const zoomed = await hooks.screenPoint(519, 483);
      assert.ok(zoomed.x - (await hooks.screenPoint(518, 483)).x > 10, 'zoomed past 10 screen pixels per canvas pixel');
      await page.mouse.move(5, 700); // no hover outline in the screenshot
    }
    await a.screenshot({ path: `${ARTIFACTS}/place-a.png` });
    await b.screenshot({ path: `${ARTIFACTS}/place-b.png` });
    // Every pixel agrees with the server's state, in both pages.
    const server1 = await serverPixels(server.url);
    assert.equal(server1.version, v2);
    assert.deepEqual(await A.nonBlank(1000, 1000), nonBlankOf(server1.pixels, 1000));
    assert.deepEqual(await B.nonBlank(1000, 1000), [[517, 483, 5], [520, 483, 13]]);
    assert.deepEqual(errors, []);
    await a.context().close();
    await b.context().close();
  });

  test('a PNG from a stale epoch is replaced by the server\'s snapshot', async () => {
    // Another user places a pixel through the SDK from Node.
    const client = new BrigadeClient(server.wsUrl, { token: await identity(server.url), WebSocket: WebSocket as never });
    try {
      await client.ready();
      await client.publish('place:main', codec.encode(600, 601, 7));
    } finally {
      client.close();
    }
    const expected = await eventually(async () => { const s = await serverPixels(server.url); return s.pixels[601 * 1000 + 600] === 7 ? s : false; }, { what: 'the server to render the pixel', intervalMs: 50 });

    // The page gets a blank image claiming the current version but an older log (another epoch):
    // the server must answer its subscription with a full snapshot, which the page draws instead.
    const blank = encodePng({ width: 1000, height: 1000, channels: 3, data: new Uint8Array(1000 * 1000 * 3).fill(255) });
    const page = await openPlace(server, errors, (p) => p.route('**/api/place/main/snapshot.png', async (route) => {
      const real = await route.fetch();
      const headers = real.headers();
      headers['x-brigade-epoch'] = String(Number(headers['x-brigade-epoch']) + 1);
      await route.fulfill({ status: 200, headers, body: Buffer.from(blank) });
    }));
    const hooks = placeHooks(page);
    await eventually(async () => { const c = await hooks.pixel(600, 601); return c === 7 ? c : false; }, { what: 'the snapshot to be drawn', intervalMs: 50 });
    assert.equal(await hooks.version(), expected.version);
    assert.deepEqual(await hooks.nonBlank(1000, 1000), nonBlankOf(expected.pixels, 1000));
    assert.deepEqual(errors, []);
    await page.context().close();
  });
});

describe('place page cooldown (Chromium)', () => {
  let server: ServerProcess;
  const errors: string[] = [];

  before(async () => {
    server = await startServer(['--place-cooldown-ms', '60000']);
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  test('a placed pixel starts the countdown; another tab of the same user gets COOLDOWN', async () => {
    const first = await openPlace(server, errors);
    await zoomIn(first, 2);
    await clickPixel(first, 500, 500, 9);
    await eventually(async () => { const c = await placeHooks(first).pixel(500, 500); return c === 9 ? c : false; }, { what: 'the pixel to be placed', intervalMs: 50 });
    const countdown = await eventually(async () => { const t = await first.textContent('#cooldown') ?? ''; return /next pixel in [01]:\d\d/.test(t) ? t : false; }, { what: 'the countdown', intervalMs: 50 });
    assert.match(countdown, /next pixel in (1:00|0:5\d)/);

    // Clicking again in the same tab is refused locally, with the time left.
    await clickPixel(first, 501, 500, 9);
    assert.match(await first.textContent('#status') ?? '', /cooldown: the next pixel is allowed in 0:5\d|1:00/);

    // A second tab shares the browser's identity (localStorage) but not the countdown: the server refuses.
    const second = await openPlace(server, errors, undefined, first.context());
    await zoomIn(second, 2);
    await clickPixel(second, 502, 500, 9);
    const status = await eventually(async () => { const t = await second.textContent('#status') ?? ''; return t.startsWith('COOLDOWN') ? t : false; }, { what: 'the COOLDOWN error', intervalMs: 50 });
    assert.match(status, /next is allowed in/);
    assert.match(await second.textContent('#cooldown') ?? '', /next pixel in (1:00|0:5\d)/);
    assert.equal(await placeHooks(second).pixel(502, 500), 0);
    assert.deepEqual(errors, []);
    await first.context().close();
  });
});
