/**
 * The tracker with the real client in a real browser: two Brigade nodes share one Redis; a page
 * served by node 1 runs the unmodified bittorrent-tracker client against node 1's /announce, a
 * page from node 2 against node 2's, both in one swarm. The tracker relays the WebRTC offer and
 * answer across the nodes, the pages open a data channel and talk both ways, and the /tracker page
 * shows the swarm and both nodes. Needs `npm run build` first (the nodes serve dist/web).
 * Screenshots land in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { launchWebRtcChromium, openDemo, type DemoPage } from '../helpers/tracker-pages.ts';
import { eventually } from '../helpers/eventually.ts';


const ARTIFACTS = 'test-artifacts';

/** What GET /api/tracker says about the node that answers (the part this test relies on). */
async function nodeIdOf(server: ServerProcess): Promise<string> {
  const res = await fetch(`${server.url}/api/tracker`);
  assert.equal(res.status, 200);
  return (await res.json() as { nodeId: string }).nodeId;
}

/** Text of the cell `field` in the row `rowSelector` of the /tracker page, or null while there is no such row. */
function cellText(page: Page, rowSelector: string, field: string): Promise<string | null> {
  return page.evaluate(([row, f]) => document.querySelector(`${row} td[data-field="${f}"]`)?.textContent ?? null, [rowSelector, field] as const);
}

/** The peers, complete and incomplete cells of one swarm row, read together (one render), or null. */
function swarmRow(page: Page, rowSelector: string): Promise<{ peers: string; complete: string; incomplete: string } | null> {
  return page.evaluate((row) => {
    const tr = document.querySelector(row);
    if (!tr) return null;
    // No named helper functions in here: tsx would wrap them in a __name() the page does not have.
    const [peers, complete, incomplete] = ['peers', 'complete', 'incomplete'].map((f) => tr.querySelector(`td[data-field="${f}"]`)!.textContent!);
    return { peers, complete, incomplete };
  }, rowSelector);
}

function nodeRows(page: Page): Promise<{ nodeId: string; self: boolean; connections: number }[]> {
  return page.$$eval('#nodes tbody tr[data-node-id]', (rows) => rows.map((r) => ({
    nodeId: (r as HTMLElement).dataset.nodeId!,
    self: r.classList.contains('self'),
    connections: Number(r.querySelector('td[data-field="connections"]')!.textContent!.replace(/,/g, '')),
  })));
}

describe('tracker: the real client in Chromium through two Brigade nodes sharing Redis', () => {
  let redis: RedisServer;
  let node1: ServerProcess;
  let node2: ServerProcess;
  let browser: Browser;
  const errors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    redis = await startRedis();
    const args = ['--redis', redis.url, '--redis-prefix', 'tracker-e2e:'];
    [node1, node2] = await Promise.all([startServer(args), startServer(args)]);
    browser = await launchWebRtcChromium();
  });

  after(async () => {
    await browser?.close();
    for (const node of [node1, node2]) {
      await node?.stop();
      node?.cleanup();
    }
    await redis?.destroy();
  });

  test('/tracker and the demo page are served; the page shows the announce URL and an empty swarm list', async () => {
    const html = await fetch(`${node1.url}/tracker`);
    assert.equal(html.status, 200);
    assert.match(await html.text(), /<table id="swarms"/);
    assert.equal((await fetch(`${node2.url}/tracker-demo.html`)).status, 200);

    const page = await browser.newPage();
    try {
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      assert.equal((await page.goto(`${node1.url}/tracker`))?.status(), 200);
      assert.equal(await page.textContent('#announce-url'), `ws://127.0.0.1:${node1.port}/announce`);
      await eventually(async () => { const s = await page.getAttribute('#connection', 'data-state'); return s === 'connected' ? s : false; }, { what: 'the page to read /api/tracker', intervalMs: 50 });
      assert.match(await page.textContent('#swarms tbody') ?? '', /no swarms yet/);
      assert.equal(await page.textContent('#total-swarms'), '0');
      assert.equal(await page.textContent('#total-peers'), '0');
    } finally {
      await page.close();
    }
  });

  test('the demo refuses a malformed info_hash with a clear error and announces nothing', async () => {
    const page = await browser.newPage();
    try {
      const sockets: string[] = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      await page.goto(`${node1.url}/tracker-demo.html?infoHash=not-a-hash`);
      await eventually(async () => { const s = await page.getAttribute('#state', 'data-state'); return s === 'error' ? s : false; }, { what: 'the demo to show the error', intervalMs: 50 });
      assert.match(await page.textContent('#status') ?? '', /infoHash must be 40 hex digits/);
      assert.deepEqual(sockets, []);
    } finally {
      await page.close();
    }
  });

  test('two pages on two nodes open a WebRTC data channel brokered across the nodes, and /tracker shows them', async () => {
    const infoHash = randomBytes(20).toString('hex');
    const a = await openDemo(browser, node1.url, infoHash, errors);
    const b = await openDemo(browser, node2.url, infoHash, errors);
    let tracker: Page | undefined;
    try {
      // Each page speaks only to its own node: whatever reached the other page went through Redis.
      assert.equal(await a.hooks.announce(), `ws://127.0.0.1:${node1.port}/announce`);
      assert.equal(await b.hooks.announce(), `ws://127.0.0.1:${node2.port}/announce`);

      await eventually(async () => { const p = await a.hooks.connectedPeers(); return p.includes(b.peerId) ? p : false; }, { what: 'page A to open a data channel to B', timeoutMs: 30_000, intervalMs: 50 });
      await eventually(async () => { const p = await b.hooks.connectedPeers(); return p.includes(a.peerId) ? p : false; }, { what: 'page B to open a data channel to A', timeoutMs: 30_000, intervalMs: 50 });
      await eventually(async () => { const s = await a.page.getAttribute(`#peers li[data-peer-id="${b.peerId}"]`, 'data-state'); return s === 'connected' ? s : false; }, { what: 'the peer lists to show it', intervalMs: 50 });

      // Typed and sent with the page's own form, received over the data channel (the tracker never sees it).
      await sendFromPage(a, 'hello from node 1 ✓');
      await sendFromPage(b, 'and back from node 2 ✓');
      await eventually(async () => { const m = await b.hooks.received(); return m.some((x) => x.from === a.peerId && x.text === 'hello from node 1 ✓') ? m : false; }, { what: 'B to receive A\'s message', intervalMs: 50 });
      await eventually(async () => { const m = await a.hooks.received(); return m.some((x) => x.from === b.peerId && x.text === 'and back from node 2 ✓') ? m : false; }, { what: 'A to receive B\'s message', intervalMs: 50 });
      assert.match(await b.page.textContent('#messages') ?? '', /hello from node 1 ✓/);
      assert.match(await a.page.textContent('#messages') ?? '', /and back from node 2 ✓/);
      assert.deepEqual(a.sockets, [`ws://127.0.0.1:${node1.port}/announce`]);
      assert.deepEqual(b.sockets, [`ws://127.0.0.1:${node2.port}/announce`]);
      assert.deepEqual(await a.hooks.warnings(), []);
      assert.deepEqual(await b.hooks.warnings(), []);

      // The /tracker page, from node 1, while both are connected: one swarm of 2 peers, both nodes.
      const [id1, id2] = await Promise.all([nodeIdOf(node1), nodeIdOf(node2)]);
      assert.notEqual(id1, id2);
      tracker = await (await browser.newContext({ viewport: { width: 1200, height: 640 } })).newPage();
      tracker.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      await tracker.goto(`${node1.url}/tracker`);
      const row = `#swarms tbody tr[data-info-hash="${infoHash}"]`;
      // Neither page has the whole torrent (the client announces no `left`): both are leechers.
      await eventually(async () => { const r = await swarmRow(tracker!, row); return r?.peers === '2' && r.complete === '0' && r.incomplete === '2' ? r : false; }, { what: '/tracker to show the swarm with 2 peers, both leeching', intervalMs: 50 });
      // Totals add up the nodes' own records, which each node re-publishes every few seconds.
      await eventually(async () => { const t = await tracker!.evaluate(() =>
        [document.getElementById('total-swarms')!.textContent, document.getElementById('total-peers')!.textContent]); return t[0] === '1' && t[1] === '2' ? t : false; }, { what: '/tracker totals of 1 swarm and 2 peers', intervalMs: 50 });
      const nodes = await eventually(async () => { const rows = await nodeRows(tracker!); return [id1, id2].every((id) => rows.some((r) => r.nodeId === id && r.connections >= 1)) ? rows : false; }, { what: '/tracker to list both nodes', intervalMs: 50 });
      assert.deepEqual(nodes.filter((r) => r.self).map((r) => r.nodeId), [id1], 'node 1 answered and is marked as this node');
      await eventually(async () => { const n = await tracker!.$$eval('#nodes svg.spark', (s) => s.map((e) => Number((e as SVGElement).dataset.samples))); return n.length === 2 && n.every((x) => x >= 3) ? n : false; }, { what: 'a few sparkline samples per node', intervalMs: 50 });
      await tracker.screenshot({ path: `${ARTIFACTS}/tracker-page.png`, fullPage: true });
      await a.page.screenshot({ path: `${ARTIFACTS}/tracker-demo-a.png` });
      await b.page.screenshot({ path: `${ARTIFACTS}/tracker-demo-b.png` });

      // B leaves (its page sends 'stopped' as it unloads, and its socket closes): the swarm shrinks to 1.
      await b.page.close();
      await eventually(async () => { const t = await cellText(tracker!, row, 'peers'); return t === '1' ? t : false; }, { what: '/tracker to show the swarm with 1 peer', intervalMs: 50 });
      // A's channel closes too. Usually at once (the closing page's SCTP abort arrives); when it does
      // not, Chromium finds out from failed ICE consent checks, which took 17 s in one run here.
      await eventually(async () => { const p = await a.hooks.connectedPeers(); return !p.includes(b.peerId) ? p : false; }, { what: 'A to see B go', timeoutMs: 60_000, intervalMs: 50 });
    } finally {
      await tracker?.context().close();
      await a.page.context().close();
      await b.page.context().close();
    }
    assert.deepEqual(errors, []);
  });

  test('/tracker shows an error while /api/tracker fails, keeps polling, and recovers', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${node2.url}/tracker`);
      await eventually(async () => { const s = await page.getAttribute('#connection', 'data-state'); return s === 'connected' ? s : false; }, { what: 'the first answer', intervalMs: 50 });
      // Cut the API as a failing proxy would; the page is told nothing else.
      await page.route('**/api/tracker', (route) => route.abort('connectionrefused'));
      await eventually(async () => { const s = await page.getAttribute('#connection', 'data-state'); return s === 'error' ? s : false; }, { what: 'the error to show', intervalMs: 50 });
      assert.equal(await page.isVisible('#error'), true);
      assert.match(await page.textContent('#error') ?? '', /Cannot read \/api\/tracker/);
      await page.unroute('**/api/tracker');
      // An answer of the wrong shape (a proxy's error page, an incompatible server) is an error too, not NaN in a table.
      await page.route('**/api/tracker', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ nodeId: 'x', nodes: 'none' }) }));
      await eventually(async () => { const t = await page.textContent('#error'); return /response\.nodes is not an array/.test(t ?? '') ? t : false; }, { what: 'the shape error to show', intervalMs: 50 });
      assert.equal(await page.getAttribute('#connection', 'data-state'), 'error');
      await page.unroute('**/api/tracker');
      await eventually(async () => { const s = await page.getAttribute('#connection', 'data-state'); return s === 'connected' ? s : false; }, { what: 'the page to recover', intervalMs: 50 });
      assert.equal(await page.isVisible('#error'), false);
    } finally {
      await page.close();
    }
  });
});

async function sendFromPage(p: DemoPage, text: string): Promise<void> {
  await p.page.fill('#message', text);
  await p.page.click('#send');
  await eventually(async () => { const v = await p.page.inputValue('#message'); return v === '' ? v : false; }, { what: 'the box to clear after sending', intervalMs: 50 });
}
