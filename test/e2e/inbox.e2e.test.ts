/**
 * The /inbox page in real Chromium against a real server, with three pages: a publisher console
 * and two devices in different groups. Only the matching device shows a message; an edit and a
 * recall reach it; a scheduled message arrives at its time; delivered and read counts reach the
 * console; a device page that was closed comes back (same browser context: its localStorage
 * cursor) and gets what it missed, and so does one whose browser went offline and back; a bad expression shows its error position under the input.
 * Needs `npm run build` first (the server serves dist/web). Screenshots land in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { launchChromium } from './browser.ts';
import type { CheckState, HeldMessage, InboxHooks, SentMessage } from '../../web/inbox.ts';

const ARTIFACTS = 'test-artifacts';

type W = { __inbox?: InboxHooks };

/** The page's hooks, each one evaluate() away. */
function hooks(page: Page) {
  return {
    ready: () => page.evaluate(() => (window as unknown as W).__inbox?.publisher.ready() ?? false),
    check: () => page.evaluate(() => (window as unknown as W).__inbox!.publisher.check()) as Promise<CheckState>,
    sent: () => page.evaluate(() => (window as unknown as W).__inbox!.publisher.messages()) as Promise<SentMessage[]>,
    deviceId: () => page.evaluate(() => (window as unknown as W).__inbox!.device.id()),
    connected: () => page.evaluate(() => (window as unknown as W).__inbox?.device.connected() ?? false),
    held: () => page.evaluate(() => (window as unknown as W).__inbox!.device.messages()) as Promise<HeldMessage[]>,
    events: () => page.evaluate(() => (window as unknown as W).__inbox!.device.events()),
    editing: () => page.evaluate(() => (window as unknown as W).__inbox!.publisher.editing()),
  };
}

describe('inbox page: a publisher console and two devices in Chromium', () => {
  let server: ServerProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer(['--inbox-tick-ms', '50']);
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });

  async function open(viewport = { width: 1280, height: 900 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    return watch(await context.newPage());
  }

  function watch(page: Page): Page {
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    // Refused requests (a wrong key, a bad expression) are the test's own doing; other console errors are not.
    page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) errors.push(`console: ${m.text()}`); });
    return page;
  }

  async function registerDevice(page: Page, groups: string, attributes: string): Promise<string> {
    assert.equal((await page.goto(`${server.url}/inbox`))?.status(), 200);
    await page.fill('#groups', groups);
    await page.fill('#attributes', attributes);
    await page.click('#register');
    const h = hooks(page);
    await eventually(() => h.connected(), { what: 'the device to register, connect and sync', intervalMs: 50 });
    return (await h.deviceId())!;
  }

  async function publish(page: Page, fields: { to: string; title: string; body?: string; data?: string; deliverAt?: string }): Promise<SentMessage> {
    const h = hooks(page);
    const before = new Set((await h.sent()).map((m) => m.id));
    await page.fill('#to', fields.to);
    await page.fill('#title', fields.title);
    await page.fill('#body', fields.body ?? '');
    await page.fill('#data', fields.data ?? '');
    await page.fill('#deliver-at', fields.deliverAt ?? '');
    await page.click('#send');
    return eventually(async () => (await h.sent()).find((m) => !before.has(m.id) && m.title === fields.title), { what: `"${fields.title}" in the console`, intervalMs: 50 });
  }

  const titles = (held: HeldMessage[]) => held.map((m) => m.title).sort();

  test('/ links the page; /inbox is served', async () => {
    const apps = await (await fetch(`${server.url}/api/apps`)).json() as { name: string; path: string }[];
    assert.equal(apps.find((a) => a.name === 'inbox')?.path, '/inbox');
    const res = await fetch(`${server.url}/inbox`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Publisher console/);
  });

  test('publish to an expression, edit, recall, schedule, counts, and a device that was away', async () => {
    // ---- three pages: the publisher, device A (sports, FR), device B (weather, DE) ----
    const pub = await open({ width: 1400, height: 1000 });
    const p = hooks(pub);
    assert.equal((await pub.goto(`${server.url}/inbox`))?.status(), 200);
    await pub.fill('#key', 'not the key');
    await pub.click('#use-key');
    await eventually(async () => /not the publisher key/.test(await pub.textContent('#key-status') ?? ''), { what: 'a wrong key refused', intervalMs: 50 });
    assert.equal(await pub.isVisible('#console'), false);
    const key = readFileSync(join(server.dataDir, 'inbox-publisher-key'), 'utf8').trim();
    await pub.fill('#key', key);
    await pub.click('#use-key');
    await eventually(() => p.ready(), { what: 'the key accepted', intervalMs: 50 });

    const a = await open({ width: 700, height: 900 });
    const b = await open({ width: 700, height: 900 });
    const aId = await registerDevice(a, 'sports, news', 'country = FR\nage = 30');
    const bId = await registerDevice(b, 'weather', 'country = DE\nage = 40');
    const ha = hooks(a);
    const hb = hooks(b);
    assert.notEqual(aId, bId);

    // ---- the expression, checked as it is typed: the count of matching active devices ----
    const to = 'group:sports and country = "FR"';
    await pub.fill('#to', to);
    const ok = await eventually(async () => { const c = await p.check(); return c.state === 'ok' && c.to === to ? c : false; }, { what: 'the check of a good expression', intervalMs: 50 });
    assert.equal((ok as { matching: number }).matching, 1);
    assert.match(await pub.textContent('#to-status') ?? '', /matches 1 active device/);
    await pub.fill('#to', 'all');
    await eventually(async () => { const c = await p.check(); return c.state === 'ok' && c.to === 'all' && c.matching === 2; }, { what: 'all matching both devices', intervalMs: 50 });

    // ---- only the matching device shows the message ----
    const m1 = await publish(pub, { to, title: 'Match tonight', body: 'Kick-off at 21:00', data: '{"url": "/sports/1"}' });
    assert.equal(m1.status, 'live');
    await eventually(async () => (await ha.held()).find((m) => m.id === m1.id && m.title === 'Match tonight'), { what: 'A to show message 1', intervalMs: 50 });
    assert.deepEqual((await ha.held()).find((m) => m.id === m1.id)?.data, { url: '/sports/1' });
    // A message to everybody is the marker that B has had its chance to get message 1, and did not.
    const m2 = await publish(pub, { to: 'all', title: 'For everyone' });
    await eventually(async () => (await hb.held()).some((m) => m.id === m2.id), { what: 'B to show message 2', intervalMs: 50 });
    await eventually(async () => (await ha.held()).some((m) => m.id === m2.id), { what: 'A to show message 2', intervalMs: 50 });
    assert.deepEqual(titles(await hb.held()), ['For everyone']);
    assert.ok(!(await hb.events()).some((e) => e.endsWith(m1.id)), 'B never saw message 1');
    assert.match(await a.textContent(`#inbox li[data-id="${m1.id}"]`) ?? '', /Match tonight[\s\S]*Kick-off at 21:00/);

    // ---- delivered and read counts reach the console ----
    await a.click(`#inbox li[data-id="${m1.id}"] button.mark-read`);
    await eventually(async () => { const m = (await p.sent()).find((x) => x.id === m1.id); return m?.delivered === 1 && m.read === 1 ? m : false; }, { what: 'message 1 delivered 1, read 1 in the console', intervalMs: 100 });
    await eventually(async () => (await p.sent()).find((x) => x.id === m2.id)?.delivered === 2, { what: 'message 2 delivered 2', intervalMs: 100 });
    await eventually(async () => (await pub.textContent(`#sent tr[data-id="${m1.id}"] td[data-field="read"]`)) === '1', { what: 'the read cell', intervalMs: 50 });

    // ---- an edit reaches A ----
    await pub.click(`#sent tr[data-id="${m1.id}"] button.edit`);
    assert.equal(await pub.inputValue('#to'), to);
    assert.equal(await pub.inputValue('#title'), 'Match tonight');
    await pub.fill('#title', 'Match tonight (moved)');
    await pub.fill('#body', 'Kick-off at 21:30');
    await pub.click('#send');
    await eventually(async () => { const m = (await ha.held()).find((x) => x.id === m1.id); return m?.title === 'Match tonight (moved)' && m.body === 'Kick-off at 21:30' && m.edits === 1 ? m : false; }, { what: 'A to show the edit', intervalMs: 50 });
    assert.ok((await ha.events()).includes(`edit:${m1.id}`));

    // ---- a recall reaches both ----
    await pub.click(`#sent tr[data-id="${m2.id}"] button.recall`);
    await eventually(async () => !(await ha.held()).some((m) => m.id === m2.id) && !(await hb.held()).some((m) => m.id === m2.id), { what: 'message 2 to leave A and B', intervalMs: 50 });
    assert.ok((await hb.events()).includes(`recall:${m2.id}`));
    await eventually(async () => (await p.sent()).find((m) => m.id === m2.id)?.status === 'recalled', { what: 'the console to show message 2 recalled', intervalMs: 100 });

    // ---- a scheduled message arrives at its time ----
    const at = await pub.evaluate(() => {
      const t = Math.ceil((Date.now() + 3000) / 1000) * 1000;
      return new Date(t - new Date(t).getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    });
    const m3 = await publish(pub, { to: 'group:weather', title: 'Storm warning', deliverAt: at });
    assert.equal(m3.status, 'scheduled');
    assert.ok(!(await hb.held()).some((m) => m.id === m3.id), 'not before its time');
    await pub.screenshot({ path: `${ARTIFACTS}/inbox-publisher.png`, fullPage: true });
    await eventually(async () => (await hb.held()).some((m) => m.id === m3.id), { what: 'B to get the scheduled message', timeoutMs: 15_000, intervalMs: 100 });
    assert.ok(Date.now() >= m3.deliverAt! - 1000, 'not before deliverAt');
    await eventually(async () => (await p.sent()).find((m) => m.id === m3.id)?.status === 'live', { what: 'the console to show it live', intervalMs: 100 });
    await a.screenshot({ path: `${ARTIFACTS}/inbox-device-a.png`, fullPage: true });
    await b.screenshot({ path: `${ARTIFACTS}/inbox-device-b.png`, fullPage: true });

    // ---- A goes away; meanwhile a new message, and message 1 recalled; A comes back ----
    const aContext = a.context();
    await a.close();
    const m4 = await publish(pub, { to: 'group:sports', title: 'While you were away' });
    await pub.click(`#sent tr[data-id="${m1.id}"] button.recall`);
    await eventually(async () => (await p.sent()).find((m) => m.id === m1.id)?.status === 'recalled', { what: 'message 1 recalled', intervalMs: 100 });
    const a2 = watch(await aContext.newPage());
    const ha2 = hooks(a2);
    await a2.goto(`${server.url}/inbox`);
    assert.equal(await eventually(() => a2.evaluate(() => (window as unknown as W).__inbox?.device.id() ?? null), { what: 'the device remembered', intervalMs: 50 }), aId);
    await eventually(async () => { const h = await ha2.held(); return h.some((m) => m.id === m4.id) && !h.some((m) => m.id === m1.id) ? h : false; }, { what: 'A back: the missed message in, the recalled one out', intervalMs: 50 });
    const ev = await ha2.events();
    assert.ok(ev.includes(`message:${m4.id}`) && ev.includes(`recall:${m1.id}`), ev.join(' '));
    assert.ok(!ev.includes(`message:${m1.id}`), 'nothing it already had is sent again');
    assert.deepEqual(titles(await ha2.held()), ['While you were away']);
    await a2.screenshot({ path: `${ARTIFACTS}/inbox-device-a-back.png`, fullPage: true });

    // ---- B's browser goes offline (its context's network cut); meanwhile an edit and a new message ----
    await b.context().setOffline(true);
    await eventually(async () => !(await hb.connected()), { what: 'B to see its connection drop', intervalMs: 100 });
    assert.equal(await b.getAttribute('#device-state', 'data-state'), 'reconnecting');
    const m5 = await publish(pub, { to: 'group:weather', title: 'Sent while offline' });
    await pub.click(`#sent tr[data-id="${m3.id}"] button.edit`);
    assert.equal(await p.editing(), m3.id, 'the console is editing message 3');
    await pub.fill('#title', 'Storm warning (upgraded)');
    await pub.click('#send');
    await eventually(async () => (await p.sent()).find((m) => m.id === m3.id)?.title === 'Storm warning (upgraded)', { what: 'the edit in the console', intervalMs: 50 })
      .catch(async (err: Error) => { throw new Error(`${err.message}; the console says: ${JSON.stringify(await pub.textContent('#compose-status'))}, editing ${await p.editing()}`); });
    assert.ok(!(await hb.held()).some((m) => m.id === m5.id), 'nothing reaches an offline page');
    await b.context().setOffline(false);
    await eventually(async () => { const h = await hb.held(); return h.some((m) => m.id === m5.id) && h.find((m) => m.id === m3.id)?.title === 'Storm warning (upgraded)' ? h : false; }, { what: 'B back online: the missed message and the missed edit', timeoutMs: 30_000, intervalMs: 100 });
    assert.deepEqual(titles(await hb.held()), ['Sent while offline', 'Storm warning (upgraded)']);
    await b.screenshot({ path: `${ARTIFACTS}/inbox-device-b-back-online.png`, fullPage: true });
    assert.deepEqual(errors, []);
  });

  test('a press on a row\'s button outlasts the table\'s refresh: the row is kept, not rebuilt under it', async () => {
    const pub = await open();
    const p = hooks(pub);
    assert.equal((await pub.goto(`${server.url}/inbox`))?.status(), 200);
    await pub.fill('#key', readFileSync(join(server.dataDir, 'inbox-publisher-key'), 'utf8').trim());
    await pub.click('#use-key');
    await eventually(() => p.ready(), { what: 'the key accepted', intervalMs: 50 });
    const m = await publish(pub, { to: 'group:pressed', title: 'Held down' });
    const button = pub.locator(`#sent tr[data-id="${m.id}"] button.edit`);
    const box = (await button.boundingBox())!;
    const row = await pub.$(`#sent tr[data-id="${m.id}"]`);
    // Press, hold past two of the console's polls (every second, each renders the table), release.
    await pub.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await pub.mouse.down();
    await pub.waitForTimeout(2500);
    await pub.mouse.up();
    assert.equal(await p.editing(), m.id, 'the click reached the edit button');
    assert.equal(await row!.evaluate((tr) => tr.isConnected), true, 'the same row element is still in the table');
    assert.deepEqual(errors, []);
  });

  test('a bad expression shows its error position under the input, and the console will not publish it', async () => {
    const pub = await open({ width: 1400, height: 800 });
    await pub.goto(`${server.url}/inbox`);
    const key = readFileSync(join(server.dataDir, 'inbox-publisher-key'), 'utf8').trim();
    await pub.fill('#key', key);
    await pub.click('#use-key');
    const p = hooks(pub);
    await eventually(() => p.ready(), { what: 'the key accepted', intervalMs: 50 });
    const bad = 'group:sports and (country = "FR" or age >= ) and not group:muted';
    // Typed key by key, as a user would: each keystroke is checked (debounced).
    await pub.fill('#to', '');
    await pub.locator('#to').pressSequentially(bad, { delay: 5 });
    const c = await eventually(async () => { const s = await p.check(); return s.state === 'error' && s.to === bad ? s : false; }, { what: 'the error', intervalMs: 50 }) as Extract<CheckState, { state: 'error' }>;
    // The same position and expectation as the API's.
    const api = await (await fetch(`${server.url}/api/inbox/expressions/check`, { method: 'POST', headers: { Authorization: `Bearer ${key}` }, body: JSON.stringify({ to: bad }) })).json() as { position: number; expected: string };
    assert.equal(c.position, bad.indexOf(')'));
    assert.equal(c.position, api.position);
    assert.equal(c.expected, api.expected);
    assert.equal(await pub.getAttribute('#to', 'aria-invalid'), 'true');
    const caret = await pub.textContent('#to-caret');
    const [line, under] = caret!.split('\n');
    assert.equal(line, bad);
    assert.equal(under.indexOf('^'), c.position, 'the caret sits under the error');
    assert.match(await pub.textContent('#to-status') ?? '', new RegExp(`position ${c.position}: `));
    await pub.fill('#title', 'never sent');
    await pub.click('#send');
    await eventually(async () => /INBOX_BAD_EXPRESSION/.test(await pub.textContent('#compose-status') ?? ''), { what: 'the publish refused', intervalMs: 50 });
    await pub.screenshot({ path: `${ARTIFACTS}/inbox-bad-expression.png` });
    assert.ok(!(await p.sent()).some((m) => m.title === 'never sent'));
    // Fixing it clears the error.
    await pub.fill('#to', 'group:sports and (country = "FR" or age >= 18)');
    await eventually(async () => (await p.check()).state === 'ok', { what: 'the fixed expression checks', intervalMs: 50 });
    assert.equal(await pub.isVisible('#to-caret'), false);
    assert.deepEqual(errors, []);
  });
});
