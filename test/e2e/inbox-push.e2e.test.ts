/**
 * Web Push on the /inbox page in real Chromium (docs/inbox.md "Offline devices: Web Push").
 *
 * What runs for real: the page registers its service worker (web/inbox-sw.ts) and is controlled
 * by it; the page's *notify me when offline* calls the real `pushManager.subscribe`, which in
 * headless Chromium here reaches no push service (no network): the page shows the typed reason,
 * posts nothing and goes on working. The one part no test exercises in the browser is the push
 * service itself (the browser's subscription and its delivery): the page is given a subscription
 * issued by web-push-testing (a stand-in for a push service, test/helpers/push-stand-in.ts) and
 * posts it as it posts the browser's; the node then pushes real encrypted, VAPID-signed messages
 * to the stand-in, and the payload the stand-in decrypted (what a browser's worker would read) is
 * delivered into the page's service worker through the DevTools protocol
 * (`ServiceWorker.deliverPushMessage`). The worker's notifications are read back with
 * `registration.getNotifications()`.
 *
 * A browser profile (launchPersistentContext), not an incognito context, so the Push API is the
 * one a user's browser has; a second, incognito, browser shows the other typed reasons.
 * Needs `npm run build` first (the server serves dist/web). Screenshots land in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import webpush from 'web-push';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { startPushStandIn, type PushStandIn } from '../helpers/push-stand-in.ts';
import { eventually } from '../helpers/eventually.ts';
import { inboxApi } from '../apps/inbox/inbox-api.ts';
import { launchChromium, launchChromiumProfile } from './browser.ts';
import type { HeldMessage, InboxHooks } from '../../web/inbox.ts';
import type { PushState } from '../../web/inbox/push-pane.ts';

const ARTIFACTS = 'test-artifacts';
const KEY = 'test-publisher-key-0123456789';

type W = { __inbox?: InboxHooks };

function hooks(page: Page) {
  return {
    connected: () => page.evaluate(() => (window as unknown as W).__inbox?.device.connected() ?? false),
    deviceId: () => page.evaluate(() => (window as unknown as W).__inbox!.device.id()),
    held: () => page.evaluate(() => (window as unknown as W).__inbox!.device.messages()) as Promise<HeldMessage[]>,
    push: () => page.evaluate(() => (window as unknown as W).__inbox!.device.push.state()) as Promise<PushState>,
    worker: () => page.evaluate(() => (window as unknown as W).__inbox?.device.push.worker() ?? null),
    postSubscription: (json: PushSubscriptionJSON) => page.evaluate((j) => (window as unknown as W).__inbox!.device.push.postSubscription(j), json) as Promise<PushState>,
    /** The worker's notifications, as the page reads them from its registration. */
    notifications: () => page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration('/inbox');
      return ((await reg?.getNotifications()) ?? []).map((n) => ({ title: n.title, tag: n.tag, data: n.data as unknown }));
    }),
  };
}

describe('inbox page: Web Push in Chromium', () => {
  const vapid = webpush.generateVAPIDKeys();
  let server: ServerProcess;
  let standIn: PushStandIn;
  let profileDir: string;
  let profile: BrowserContext;
  let incognito: Browser;
  const errors: string[] = [];
  /** PUT /api/inbox/devices/me/push requests the pages made, with their bodies. */
  const posted: unknown[] = [];
  const call = inboxApi(() => server.url, KEY);

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    standIn = await startPushStandIn();
    server = await startServer(['--apps', 'inbox', '--inbox-tick-ms', '50', '--inbox-publisher-key', KEY, '--inbox-publish-per-second', '0',
      '--inbox-vapid-private-key', vapid.privateKey, '--inbox-push-allow-http']);
    profileDir = mkdtempSync(join(tmpdir(), 'brigade-chromium-'));
    profile = await launchChromiumProfile(profileDir);
    await profile.grantPermissions(['notifications'], { origin: server.url });
    watch(profile);
    incognito = await launchChromium();
  });

  after(async () => {
    await profile?.close().catch(() => {});
    await incognito?.close().catch(() => {});
    await server?.stop();
    server?.cleanup();
    standIn?.stop();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  function watch(context: BrowserContext): void {
    context.on('request', (r) => {
      if (r.method() === 'PUT' && new URL(r.url()).pathname === '/api/inbox/devices/me/push') posted.push(JSON.parse(r.postData() ?? 'null'));
    });
    const onPage = (page: Page) => {
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      page.on('console', (m) => {
        // The incognito browser's own note that it has no Push API is the case under test.
        if (m.type() === 'error' && !/^Failed to load resource|does not support the Push API in incognito/.test(m.text())) errors.push(`console: ${m.text()}`);
      });
    };
    context.pages().forEach(onPage);
    context.on('page', onPage);
  }

  async function registerDevice(page: Page, groups: string): Promise<string> {
    assert.equal((await page.goto(`${server.url}/inbox`))?.status(), 200);
    await page.fill('#groups', groups);
    await page.click('#register');
    const h = hooks(page);
    await eventually(() => h.connected(), { what: 'the device to register, connect and sync', intervalMs: 50 });
    return (await h.deviceId())!;
  }

  const me = async (page: Page) => (await call('GET', '/api/inbox/devices/me', undefined, await page.evaluate(() => JSON.parse(localStorage.getItem('brigade.inbox.device')!).token as string))).json;

  let device: Page;
  let deviceId: string;

  test('the service worker registers with scope /inbox and controls the page; a real subscribe reaches no push service: a typed reason, nothing posted, the inbox goes on', async () => {
    device = profile.pages()[0] ?? await profile.newPage();
    deviceId = await registerDevice(device, 'p');
    const h = hooks(device);
    const worker = await eventually(async () => { const w = await h.worker(); return w?.scope && w.controlled ? w : false; }, { what: 'the worker to control /inbox', intervalMs: 50 });
    assert.deepEqual(worker, { scope: `${server.url}/inbox`, controlled: true, error: null });
    // A page loaded afterwards is controlled from its start.
    await device.reload();
    assert.equal(await device.evaluate(() => navigator.serviceWorker.controller?.scriptURL ?? null), `${server.url}/inbox-sw.js`);
    await eventually(() => h.connected(), { what: 'the device to reconnect after the reload', intervalMs: 50 });
    assert.equal(await device.isVisible('#push-toggle'), true);
    assert.equal(await device.textContent('#push-toggle'), 'notify me when offline');
    assert.equal(await device.evaluate(() => Notification.permission), 'granted');

    // The real pushManager.subscribe: Chromium's push service is not reachable from here.
    await device.click('#push-toggle');
    const failed = await eventually(async () => { const s = await h.push(); return s.state === 'failed' ? s : false; }, { what: 'the subscribe to give up', timeoutMs: 30_000, intervalMs: 100 });
    assert.equal(failed.state === 'failed' && failed.code, 'PUSH_SERVICE_UNREACHABLE');
    assert.match(await device.textContent('#push-status') ?? '', /^PUSH_SERVICE_UNREACHABLE: the browser's push service did not answer/);
    assert.equal(await device.isEnabled('#push-toggle'), true, 'it can be tried again');
    assert.deepEqual(posted, [], 'nothing was posted');
    assert.equal((await me(device)).push, false);
    await device.screenshot({ path: join(ARTIFACTS, 'inbox-push-unreachable.png') });

    // The inbox itself goes on.
    const m = (await call('POST', '/api/inbox/messages', { to: 'group:p', title: 'still live' })).json;
    await eventually(async () => (await h.held()).some((x) => x.id === m.id), { what: 'the message on the page', intervalMs: 50 });
    assert.deepEqual(errors, []);
  });

  test('the page posts a subscription; the node\'s real push payloads, delivered into the worker, show a notification per message: an edit replaces it, a recall closes it; stop drops it', async (t) => {
    const h = hooks(device);
    const key = (await call('GET', '/api/inbox/push/key', undefined, null)).json.publicKey;
    assert.equal(key, vapid.publicKey);
    // A subscription as the stand-in issues it, in the shape of PushSubscription.toJSON().
    const sub = await standIn.subscribe(key);
    const json = { endpoint: sub.endpoint, expirationTime: null, keys: sub.keys };
    // One the node refuses: the node's typed error in the pane, nothing kept.
    const bad = { ...json, keys: { p256dh: sub.keys.auth, auth: sub.keys.auth } };
    const refused = await h.postSubscription(bad);
    assert.equal(refused.state === 'failed' && refused.code, 'PUSH_SERVER_REFUSED');
    assert.match(await device.textContent('#push-status') ?? '', /^PUSH_SERVER_REFUSED: INBOX_BAD_REQUEST: keys\.p256dh must be an uncompressed P-256 public key/);
    assert.equal((await me(device)).push, false);
    assert.deepEqual(await h.postSubscription(json), { state: 'on' });
    assert.deepEqual(posted, [bad, json], 'the page sent the subscription\'s JSON as it is');
    assert.equal((await me(device)).push, true);
    assert.equal(await device.textContent('#push-toggle'), 'stop offline notifications');

    // The browser goes offline: the page drops its socket, so the node pushes.
    await profile.setOffline(true);
    await eventually(async () => (await me(device)).online === false, { what: 'the node to see the device offline', intervalMs: 100 });

    const cdp = await profile.newCDPSession(device);
    const registrationId = await workerRegistration(cdp, `${server.url}/inbox`);
    let pushed = 0;
    type Shown = Awaited<ReturnType<typeof h.notifications>>;
    /**
     * The stand-in's next payload (what the node pushed), delivered into the worker as the push
     * service would, and then what the worker shows once `shows` holds. DevTools' delivery is not
     * acknowledged by the worker: under load (CI, three files at once) one delivery in a few
     * hundred runs left no notification. A push service redelivers a push the browser did not take,
     * so the stand-in delivers the same payload once more after 5 s (the same tag, so a second
     * notification could not be counted twice); a worker that shows nothing after both fails the test.
     */
    async function deliverNext(shows: (n: Shown) => boolean, what: string): Promise<{ payload: any; shown: Shown }> {
      const texts = await eventually(async () => { const got = await standIn.receivedText(sub); return got.length > pushed ? got : false; }, { what: `push ${pushed + 1} at the stand-in`, intervalMs: 50 });
      assert.equal(texts.length, pushed + 1, 'one push per change');
      const text = texts[pushed++];
      let last: Shown = [];
      const wait = async (timeoutMs: number) => eventually(async () => { last = await h.notifications(); return shows(last) ? last : false; }, { what, timeoutMs, intervalMs: 50 });
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.url, registrationId, data: text });
      let shown: Shown;
      try {
        shown = await wait(5_000);
      } catch {
        t.diagnostic(`${what}: not shown 5 s after the delivery (the worker's notifications: ${JSON.stringify(last)}); delivered again`);
        await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.url, registrationId, data: text });
        shown = await wait(15_000).catch(async (err: Error) => {
          const held = (await h.held()).map((x) => x.id);
          throw new Error(`${err.message}; the worker's notifications then: ${JSON.stringify(last)}; the page holds ${JSON.stringify(held)}`);
        });
      }
      return { payload: JSON.parse(text), shown };
    }

    const m1 = (await call('POST', '/api/inbox/messages', { to: 'group:p', title: 'Match tonight', body: 'not in the push' })).json;
    const d1 = await deliverNext((n) => n.length === 1, 'the notification of m1');
    assert.deepEqual(d1.payload, { kind: 'message', id: m1.id, seq: m1.seq, title: 'Match tonight' });
    assert.deepEqual(d1.shown, [{ title: 'Match tonight', tag: `inbox:${m1.id}`, data: { id: m1.id, seq: m1.seq, kind: 'message' } }]);

    // An edit's push replaces the message's notification (same tag).
    const e1 = (await call('PATCH', `/api/inbox/messages/${m1.id}`, { title: 'Match tonight, 21:30' })).json;
    const d2 = await deliverNext((n) => n.length === 1 && n[0].title === 'Match tonight, 21:30', 'the edit to replace the notification');
    assert.deepEqual(d2.payload, { kind: 'edit', id: m1.id, seq: e1.seq, title: 'Match tonight, 21:30' });
    assert.deepEqual(d2.shown, [{ title: 'Match tonight, 21:30', tag: `inbox:${m1.id}`, data: { id: m1.id, seq: e1.seq, kind: 'edit' } }]);

    const m2 = (await call('POST', '/api/inbox/messages', { to: `device:${deviceId}`, title: 'Just for you' })).json;
    const d3 = await deliverNext((n) => n.length === 2, 'the notification of m2');
    assert.deepEqual(d3.payload, { kind: 'message', id: m2.id, seq: m2.seq, title: 'Just for you' });
    assert.deepEqual(d3.shown.map((n) => n.tag).sort(), [`inbox:${m1.id}`, `inbox:${m2.id}`].sort());
    await device.screenshot({ path: join(ARTIFACTS, 'inbox-push-on.png') });

    // m1 is recalled while the browser is away (the node pushes no recall); back online, the page
    // syncs, does not hold m1, and closes its notification; m2's stays (the page holds m2).
    assert.equal((await call('DELETE', `/api/inbox/messages/${m1.id}`)).status, 200);
    await profile.setOffline(false);
    await eventually(async () => (await h.held()).some((x) => x.id === m2.id), { what: 'm2 on the page after the sync', intervalMs: 50 });
    await eventually(async () => {
      assert.deepEqual((await h.notifications()).map((n) => n.tag), [`inbox:${m2.id}`]);
      return true;
    }, { what: 'the recalled message\'s notification closed', intervalMs: 50 });
    assert.equal((await h.held()).some((x) => x.id === m1.id), false);

    // A recall while the page is open closes the notification at once.
    assert.equal((await call('DELETE', `/api/inbox/messages/${m2.id}`)).status, 200);
    await eventually(async () => (await h.notifications()).length === 0 && !(await h.held()).some((x) => x.id === m2.id), { what: 'm2 and its notification gone', intervalMs: 50 });
    assert.equal((await standIn.receivedText(sub)).length, pushed, 'nothing pushed to a connected device, nor for a recall');

    // A push that is not the inbox's still shows a notification (userVisibleOnly), a generic one.
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.url, registrationId, data: 'not the inbox\'s' });
    assert.deepEqual(await eventually(async () => { const n = await h.notifications(); return n.length === 1 ? n : false; }, { what: 'the generic notification', intervalMs: 50 }),
      [{ title: 'Brigade inbox', tag: 'inbox:unknown', data: null }]);
    await cdp.detach();

    // Stop: the node forgets the subscription.
    await device.click('#push-toggle');
    await eventually(async () => (await h.push()).state === 'off', { what: 'stopped', intervalMs: 50 });
    assert.equal((await me(device)).push, false);
    assert.equal(await device.textContent('#push-toggle'), 'notify me when offline');

    // Forget device drops the subscription too (with the token the device had).
    const token = await device.evaluate(() => JSON.parse(localStorage.getItem('brigade.inbox.device')!).token as string);
    assert.deepEqual(await h.postSubscription(json), { state: 'on' });
    assert.equal((await call('GET', '/api/inbox/devices/me', undefined, token)).json.push, true);
    await device.click('#forget');
    await eventually(async () => (await call('GET', '/api/inbox/devices/me', undefined, token)).json.push === false, { what: 'forget to drop the subscription', intervalMs: 50 });
    assert.equal(await device.isVisible('#push'), false);
    assert.deepEqual(errors, []);
  });

  test('incognito: notifications refused, or granted where Chromium has no Push API: each a typed reason, nothing posted', async () => {
    const postedBefore = posted.length;
    const denied = await incognito.newContext();
    watch(denied);
    const granted = await incognito.newContext();
    await granted.grantPermissions(['notifications'], { origin: server.url });
    watch(granted);
    try {
      const a = await denied.newPage();
      await registerDevice(a, 'q');
      await eventually(async () => (await hooks(a).worker())?.controlled, { what: 'the worker on the incognito page', intervalMs: 50 });
      await a.click('#push-toggle');
      const sa = await eventually(async () => { const s = await hooks(a).push(); return s.state === 'failed' ? s : false; }, { what: 'a refusal', intervalMs: 50 });
      assert.equal(sa.state === 'failed' && sa.code, 'PUSH_PERMISSION_DENIED');
      assert.match(await a.textContent('#push-status') ?? '', /^PUSH_PERMISSION_DENIED: notifications are denied/);

      const b = await granted.newPage();
      await registerDevice(b, 'q');
      await b.click('#push-toggle');
      const sb = await eventually(async () => { const s = await hooks(b).push(); return s.state === 'failed' ? s : false; }, { what: 'a refusal', intervalMs: 50 });
      assert.equal(sb.state === 'failed' && sb.code, 'PUSH_SUBSCRIBE_FAILED');
      assert.match(await b.textContent('#push-status') ?? '', /^PUSH_SUBSCRIBE_FAILED: the browser refused to subscribe \(AbortError/);
      assert.equal(posted.length, postedBefore, 'nothing was posted');
      assert.equal((await me(a)).push, false);
      assert.equal((await me(b)).push, false);
      // The inbox goes on in both.
      const m = (await call('POST', '/api/inbox/messages', { to: 'group:q', title: 'for q' })).json;
      for (const page of [a, b]) await eventually(async () => (await hooks(page).held()).some((x) => x.id === m.id), { what: 'the message on the page', intervalMs: 50 });
      assert.deepEqual(errors, []);
    } finally {
      await denied.close();
      await granted.close();
    }
  });
});

/** The registration id of the service worker whose scope is `scope`, from the ServiceWorker domain's events. */
async function workerRegistration(cdp: CDPSession, scope: string): Promise<string> {
  const seen = new Map<string, { scopeURL: string; isDeleted: boolean }>();
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
    for (const r of e.registrations) seen.set(r.registrationId, r);
  });
  await cdp.send('ServiceWorker.enable');
  return eventually(() => [...seen].find(([, r]) => r.scopeURL === scope && !r.isDeleted)?.[0], { what: `the registration of ${scope}`, intervalMs: 50 });
}
