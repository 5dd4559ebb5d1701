/**
 * The /inbox page's service worker (dist/web/inbox-sw.js, registered by web/inbox.ts with scope
 * /inbox; docs/inbox.md "Offline devices: Web Push"). It has no fetch handler: it caches nothing
 * and the page works the same without it. It does two things:
 *
 * - `push`: the node pushes `{kind: 'message' | 'edit', id, seq, title}` (src/apps/inbox/push.ts:
 *   the title only, never the body or data) to a device that is not connected. The worker shows a
 *   notification with that title, tagged `inbox:<id>`, so an edit's push replaces the message's
 *   notification instead of adding one. The node pushes no recalls (a push must show something:
 *   `userVisibleOnly`); the page closes a recalled message's notification when it next syncs.
 *   A payload that is not that shape still shows a notification (a push that shows none is
 *   answered by the browser with a generic one of its own).
 * - `notificationclick`: focuses an open /inbox page, or opens one.
 *
 * It exports nothing, so its bundle is a classic script (web/inbox/push-payload.ts is bundled in).
 */

import { UNKNOWN_TAG, notificationTag, parsePushPayload, type InboxNotificationData } from './inbox/push-payload.ts';

// The ServiceWorkerGlobalScope, which TypeScript's DOM library does not describe (its WebWorker
// library would clash with DOM in this project's one compilation).
interface ExtendableEvent extends Event { waitUntil(p: Promise<unknown>): void }
interface PushEvent extends ExtendableEvent { readonly data: { text(): string } | null }
interface NotificationEvent extends ExtendableEvent { readonly notification: Notification }
interface WindowClient { readonly url: string; focus(): Promise<WindowClient> }
interface ServiceWorkerScope {
  readonly registration: ServiceWorkerRegistration;
  readonly location: Location;
  readonly clients: {
    matchAll(o: { type: 'window'; includeUncontrolled: boolean }): Promise<WindowClient[]>;
    openWindow(url: string): Promise<WindowClient | null>;
    claim(): Promise<void>;
  };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', fn: (e: ExtendableEvent) => void): void;
  addEventListener(type: 'push', fn: (e: PushEvent) => void): void;
  addEventListener(type: 'notificationclick', fn: (e: NotificationEvent) => void): void;
}
declare const self: ServiceWorkerScope;

const INBOX_PATH = '/inbox';

async function show(text: string | null): Promise<void> {
  const p = text === null ? null : parsePushPayload(text);
  if (!p) {
    await self.registration.showNotification('Brigade inbox', { body: 'a new message', tag: UNKNOWN_TAG });
    return;
  }
  const data: InboxNotificationData = { id: p.id, seq: p.seq, kind: p.kind };
  await self.registration.showNotification(p.title || '(no title)', {
    body: p.kind === 'edit' ? 'edited · open the inbox to read it' : 'open the inbox to read it',
    tag: notificationTag(p.id),
    data,
  });
}

/** Focuses an open /inbox page (the first), or opens one. */
async function openInbox(): Promise<void> {
  const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const inbox = pages.find((c) => new URL(c.url).pathname === INBOX_PATH);
  if (inbox) await inbox.focus();
  else await self.clients.openWindow(new URL(INBOX_PATH, self.location.origin).href);
}

// A new worker takes over at once, and the page that registered it is controlled without a reload.
self.addEventListener('install', (e) => e.waitUntil(self.skipWaiting()));
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('push', (e) => {
  let text: string | null = null;
  try {
    text = e.data ? e.data.text() : null;
  } catch {
    text = null;
  }
  e.waitUntil(show(text));
});
self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  e.waitUntil(openInbox());
});
