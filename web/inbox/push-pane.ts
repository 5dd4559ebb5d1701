/**
 * The device pane's Web Push control (docs/inbox.md "Offline devices: Web Push", "The page").
 *
 * At load it registers the service worker (web/inbox-sw.ts, scope /inbox). *Notify me when
 * offline* asks for the notifications permission, subscribes with
 * `pushManager.subscribe({userVisibleOnly: true, applicationServerKey})` (the node's VAPID key,
 * `GET /api/inbox/push/key`) and sends the subscription's JSON with the device token (`PUT
 * /api/inbox/devices/me/push`); *stop* drops it on the node (`DELETE`) and in the browser. When
 * the browser cannot subscribe, the pane says why with a PushFailureCode and the rest of the page
 * goes on as before.
 *
 * It also keeps the notifications in step with the inbox: a message the page sees recalled or
 * expired has its notification closed, and once the page has synced, a notification of a message
 * it does not hold (recalled or expired while it was away) is closed too.
 */
import { ApiError, api } from './api.ts';
import { notificationData, notificationTag } from './push-payload.ts';

/** Why the browser has no Web Push subscription for this device; callers branch on the code. */
export type PushFailureCode =
  /** No service worker, PushManager or Notification here (or not a secure context). */
  | 'PUSH_UNSUPPORTED'
  /** Notifications were refused (by the user, or by the browser without asking). */
  | 'PUSH_PERMISSION_DENIED'
  /** `pushManager.subscribe` did not answer in PUSH_SUBSCRIBE_TIMEOUT_MS: no push service reachable. */
  | 'PUSH_SERVICE_UNREACHABLE'
  /** `pushManager.subscribe` refused (AbortError: a private window, an error of the push service). */
  | 'PUSH_SUBSCRIBE_FAILED'
  /** The node did not take the subscription (its error code is in the message) or could not be reached. */
  | 'PUSH_SERVER_REFUSED';

export type PushState =
  | { state: 'off' }
  | { state: 'working' }
  | { state: 'on' }
  | { state: 'failed'; code: PushFailureCode; message: string };

/** What end-to-end tests read (window.__inbox.device.push). */
export interface PushHooks {
  state(): PushState;
  /** The service worker: its scope once registered, whether it controls this page, why it did not register. */
  worker(): { scope: string | null; controlled: boolean; error: string | null };
  /**
   * Sends a subscription's JSON as the control does after `pushManager.subscribe` (the same code
   * from there on). The tests' seam: headless Chromium reaches no push service, so they give it
   * one issued by a push-service stand-in.
   */
  postSubscription(json: PushSubscriptionJSON): Promise<PushState>;
}

/** A push service answers a subscribe within seconds; past this the pane gives up (a later answer is still sent). */
export const PUSH_SUBSCRIBE_TIMEOUT_MS = 10_000;
const WORKER_URL = '/inbox-sw.js';
const WORKER_SCOPE = '/inbox';

export interface PushPaneDeps {
  /** The device's token, or null when this browser has no device. */
  token(): string | null;
  /** Whether the page holds a message. */
  holds(id: string): boolean;
  /** The inbox cursor's seq once the page has synced on its current connection, else null. */
  syncedSeq(): number | null;
}

export interface PushPane {
  hooks: PushHooks;
  /** The device changed (registered, loaded or forgotten): show its subscription. */
  deviceChanged(): void;
  /** Drops the device's subscription, on the node (with the token it had) and in the browser. */
  forget(token: string): Promise<void>;
  /** A message left the inbox (recall, expire): its notification goes too. */
  messageGone(id: string): void;
  /** Closes notifications of messages no longer held (call it now and then while synced). */
  reconcile(): void;
}

function base64urlBytes(s: string): Uint8Array<ArrayBuffer> {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

class Timeout extends Error {}

export function pushPane(ui: { box: HTMLElement; toggle: HTMLButtonElement; status: HTMLElement }, deps: PushPaneDeps): PushPane {
  const supported = window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  let state: PushState = supported ? { state: 'off' } : {
    state: 'failed', code: 'PUSH_UNSUPPORTED',
    message: window.isSecureContext ? 'this browser has no Web Push (service workers, PushManager, notifications)' : 'Web Push needs https (or localhost)',
  };
  let scope: string | null = null;
  let workerError: string | null = null;
  /** Each subscribe or unsubscribe; a late answer of an older one is for a device or a click that is gone. */
  let attempt = 0;

  const registration: Promise<ServiceWorkerRegistration | null> = supported
    ? navigator.serviceWorker.register(WORKER_URL, { scope: WORKER_SCOPE }).then((r) => {
      scope = r.scope;
      return r;
    }, (err: unknown) => {
      workerError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      state = { state: 'failed', code: 'PUSH_UNSUPPORTED', message: `the service worker did not register: ${workerError}` };
      render();
      return null;
    })
    : Promise.resolve(null);

  function render(): void {
    ui.box.hidden = deps.token() === null;
    ui.status.dataset.state = state.state;
    ui.status.classList.toggle('error', state.state === 'failed');
    ui.toggle.disabled = state.state === 'working' || (state.state === 'failed' && state.code === 'PUSH_UNSUPPORTED');
    ui.toggle.textContent = state.state === 'on' ? 'stop offline notifications' : 'notify me when offline';
    ui.status.textContent = state.state === 'on' ? 'on: a message while this device is offline shows as a notification'
      : state.state === 'working' ? 'working…'
        : state.state === 'failed' ? `${state.code}: ${state.message}` : '';
  }

  function set(s: PushState, forAttempt: number): PushState {
    if (forAttempt === attempt) {
      state = s;
      render();
    }
    return state;
  }

  const fail = (code: PushFailureCode, message: string, forAttempt: number) => set({ state: 'failed', code, message }, forAttempt);

  async function post(json: PushSubscriptionJSON, forAttempt: number): Promise<PushState> {
    const token = deps.token();
    if (!token) return fail('PUSH_SERVER_REFUSED', 'register this device first', forAttempt);
    try {
      const r = await api<{ push: boolean }>('PUT', '/api/inbox/devices/me/push', token, json);
      return r.push ? set({ state: 'on' }, forAttempt) : fail('PUSH_SERVER_REFUSED', 'the node did not keep the subscription', forAttempt);
    } catch (err) {
      return fail('PUSH_SERVER_REFUSED', err instanceof ApiError ? err.message : `cannot reach the node: ${String(err)}`, forAttempt);
    }
  }

  async function subscribe(): Promise<void> {
    const mine = ++attempt;
    set({ state: 'working' }, mine);
    let permission = Notification.permission;
    if (permission === 'default') permission = await Notification.requestPermission();
    if (permission !== 'granted') {
      fail('PUSH_PERMISSION_DENIED', `notifications are ${permission} for this site: allow them in the browser's site settings`, mine);
      return;
    }
    const reg = await registration;
    if (!reg) {
      fail('PUSH_UNSUPPORTED', `the service worker did not register: ${workerError}`, mine);
      return;
    }
    let key: string;
    try {
      key = (await api<{ publicKey: string }>('GET', '/api/inbox/push/key', null)).publicKey;
    } catch (err) {
      fail('PUSH_SERVER_REFUSED', `no VAPID key from the node: ${String(err)}`, mine);
      return;
    }
    const subscribing = reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64urlBytes(key) });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const sub = await Promise.race([subscribing, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Timeout()), PUSH_SUBSCRIBE_TIMEOUT_MS); })]);
      await post(sub.toJSON(), mine);
    } catch (err) {
      if (err instanceof Timeout) {
        fail('PUSH_SERVICE_UNREACHABLE', `the browser's push service did not answer in ${PUSH_SUBSCRIBE_TIMEOUT_MS / 1000} s (no network, or none reachable from here); the inbox still works while this page is open`, mine);
        // A push service that answers late: the subscription is still worth sending.
        subscribing.then((sub) => { if (mine === attempt) void post(sub.toJSON(), mine); }, () => {});
      } else {
        const e = err as { name?: string; message?: string };
        const what = `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
        if (e.name === 'NotAllowedError') fail('PUSH_PERMISSION_DENIED', what, mine);
        else fail('PUSH_SUBSCRIBE_FAILED', `the browser refused to subscribe (${what}); a private window has no Web Push`, mine);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async function drop(token: string, forAttempt: number): Promise<void> {
    try {
      await api('DELETE', '/api/inbox/devices/me/push', token);
    } catch (err) {
      // A device the node forgot has no subscription there either.
      if (!(err instanceof ApiError && (err.code === 'INBOX_UNKNOWN_DEVICE' || err.code === 'INBOX_BAD_DEVICE_TOKEN'))) {
        fail('PUSH_SERVER_REFUSED', err instanceof ApiError ? err.message : `cannot reach the node: ${String(err)}`, forAttempt);
        return;
      }
    }
    const sub = await (await registration)?.pushManager.getSubscription().catch(() => null);
    await sub?.unsubscribe().catch(() => false);
    set({ state: 'off' }, forAttempt);
  }

  /** What the node says about the device's subscription. */
  async function refresh(): Promise<void> {
    const token = deps.token();
    const mine = ++attempt;
    if (!token || !supported || workerError) {
      render();
      return;
    }
    try {
      const me = await api<{ push: boolean }>('GET', '/api/inbox/devices/me', token);
      set(me.push ? { state: 'on' } : { state: 'off' }, mine);
    } catch {
      set({ state: 'off' }, mine); // the device pane shows what is wrong with the device
    }
  }

  ui.toggle.addEventListener('click', () => {
    const token = deps.token();
    if (!token) return;
    if (state.state === 'on') void drop(token, ++attempt);
    else void subscribe();
  });

  async function closeWhere(test: (id: string, seq: number) => boolean): Promise<void> {
    const reg = await registration;
    if (!reg) return;
    for (const n of await reg.getNotifications()) {
      const d = notificationData(n.data);
      if (d && test(d.id, d.seq)) n.close();
    }
  }

  render();
  return {
    hooks: {
      state: () => state,
      worker: () => ({ scope, controlled: supported && navigator.serviceWorker.controller !== null, error: workerError }),
      postSubscription: (json) => post(json, ++attempt),
    },
    deviceChanged: () => void refresh(),
    forget: async (token) => {
      const mine = ++attempt;
      await drop(token, mine);
      render();
    },
    messageGone: (id) => {
      void registration.then(async (reg) => {
        for (const n of (await reg?.getNotifications({ tag: notificationTag(id) })) ?? []) n.close();
      });
    },
    reconcile: () => {
      const seq = deps.syncedSeq();
      if (seq !== null) void closeWhere((id, s) => s <= seq && !deps.holds(id)).catch(() => {});
    },
  };
}
