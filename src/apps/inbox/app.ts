/**
 * inbox on the App contract: options (`--inbox-device-ttl`, `--inbox-unacked-bytes`, `--inbox-device-lease-ms`, limits, the
 * publisher key), its error block (errors.ts), the two world-view channel types, the per-device
 * delivery channel type, HTTP routes, requests and the tick.
 */
import type { Registry } from 'prom-client';
import type { App } from '../../core/app.ts';
import { DEFAULT_LEASE_MS, Delivery, MIN_LEASE_MS } from './delivery.ts';
import { INBOX_ERRORS } from './errors.ts';
import { Inbox } from './inbox.ts';
import { Pusher, vapidKeys } from './push.ts';
import { inboxRoutes } from './routes.ts';
import { DeviceTokens } from './tokens.ts';
import { MessagesChannelType, RegistryChannelType } from './world.ts';

export interface InboxOptions {
  [key: string]: string | number | boolean;
  publisherKey: string;
  deviceSecret: string;
  deviceTtl: string;
  unackedBytes: number;
  deviceLeaseMs: number;
  maxTitleBytes: number;
  maxBodyBytes: number;
  maxDataBytes: number;
  maxGroups: number;
  maxAttributes: number;
  maxAheadMs: number;
  publishPerSecond: number;
  registerPerMinute: number;
  tickMs: number;
  vapidPrivateKey: string;
  vapidSubject: string;
  pushPerSecond: number;
  pushConcurrency: number;
  pushQueue: number;
  pushTtlS: number;
  pushTimeoutMs: number;
  pushAllowHttp: boolean;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as `90d`, `12h`, `30s`, `500ms` (a bare number is ms). */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new Error(`${JSON.stringify(v)} is not a duration such as 90d, 12h, 30s or 500ms`);
  return Number(m[1]) * UNITS[m[2] ?? 'ms'];
}

const positive = (what: string) => (v: number) => (v >= 1 ? null : `${what} must be at least 1`);

export const inboxApp: App<InboxOptions> = {
  name: 'inbox',
  description: 'Targeted messages to devices chosen by an expression; schedule, edit, recall',
  page: '/inbox',
  errors: INBOX_ERRORS,
  options: {
    publisherKey: { default: '', help: 'Bearer key for the publisher API (/api/inbox/messages, expressions/check); generated into DATA/inbox-publisher-key when empty' },
    deviceSecret: { default: '', help: 'HMAC secret for device tokens; generated into DATA/inbox-device-secret when empty (nodes of one deployment must share it)' },
    deviceTtl: {
      default: '90d', help: 'a device not seen for this long (90d, 12h, 30s, 500ms) is forgotten',
      validate(v) {
        try {
          return parseDuration(v) >= 1000 ? null : 'deviceTtl must be at least 1s';
        } catch (err) {
          return (err as Error).message;
        }
      },
    },
    unackedBytes: { default: 1024 * 1024, help: 'bytes sent to one device and not yet acknowledged, at most; then "more awaiting"', validate: positive('unackedBytes') },
    deviceLeaseMs: {
      default: DEFAULT_LEASE_MS,
      help: 'a device that neither syncs nor acks for this long stops being pushed to on its node, ms; announced in the sync reply, the SDK acks every two thirds of it (MQTT keep-alive ratio)',
      validate: (v) => (Number.isInteger(v) && v >= MIN_LEASE_MS ? null : `deviceLeaseMs must be a whole number of milliseconds, at least ${MIN_LEASE_MS}, got ${v}`),
    },
    maxTitleBytes: { default: 256, help: 'largest message title, bytes of UTF-8', validate: positive('maxTitleBytes') },
    maxBodyBytes: { default: 4096, help: 'largest message body, bytes of UTF-8', validate: positive('maxBodyBytes') },
    maxDataBytes: { default: 4096, help: 'largest message data, bytes of JSON', validate: positive('maxDataBytes') },
    maxGroups: { default: 256, help: 'groups per device, at most', validate: positive('maxGroups') },
    maxAttributes: { default: 64, help: 'attributes per device, at most', validate: positive('maxAttributes') },
    maxAheadMs: { default: 366 * 86_400_000, help: 'how far ahead deliverAt and expiresAt may be, ms', validate: positive('maxAheadMs') },
    publishPerSecond: { default: 20, help: 'publisher API requests per second per client address (burst: twice as many); 0 = no limit' },
    registerPerMinute: { default: 600, help: 'device registrations per minute per client address; 0 = no limit' },
    vapidPrivateKey: { default: '', help: 'VAPID private key for Web Push (base64url, 32 bytes); derived from DATA/inbox-vapid-secret when empty (nodes of one deployment must share it)' },
    vapidSubject: {
      default: 'mailto:inbox@example.invalid', help: 'VAPID subject: a mailto: or https: URL the push services can reach the operator at',
      validate: (v) => (/^(mailto:|https:\/\/)\S+$/.test(v) ? null : 'vapidSubject must be a mailto: or https: URL'),
    },
    pushPerSecond: { default: 200, help: 'Web Pushes sent per second by one node, at most; 0 = no limit' },
    pushConcurrency: { default: 16, help: 'Web Push requests in flight at once from one node', validate: positive('pushConcurrency') },
    pushQueue: { default: 100_000, help: 'Web Pushes waiting to be sent on one node, at most; more are dropped (counted in inbox_push_dropped_total)', validate: positive('pushQueue') },
    pushTtlS: { default: 86_400, help: 'how long a push service keeps a push for an offline browser (the TTL header), s' },
    pushTimeoutMs: { default: 10_000, help: 'a Web Push request that takes longer fails (counted as timeout), ms', validate: positive('pushTimeoutMs') },
    pushAllowHttp: { default: false, help: 'accept http: push endpoints (a local push-service stand-in in tests); otherwise https: only' },
    tickMs: { default: 100, help: 'how often a node pushes changes to its devices and looks for due deliveries and expiries, ms', validate: positive('tickMs') },
  },
  start(core) {
    const o = core.options;
    const limits = {
      maxTitleBytes: o.maxTitleBytes, maxBodyBytes: o.maxBodyBytes, maxDataBytes: o.maxDataBytes,
      maxGroups: o.maxGroups, maxAttributes: o.maxAttributes, maxAheadMs: o.maxAheadMs, deviceTtlMs: parseDuration(o.deviceTtl),
    };
    const tokens = new DeviceTokens(core.secret('inbox-device-secret', o.deviceSecret));
    const publisherKey = core.secret('inbox-publisher-key', o.publisherKey);
    // The tick runs on demand (below): every event folded into the world-view wakes it.
    let wake = () => {};
    core.channelType(new RegistryChannelType(() => wake()));
    core.channelType(new MessagesChannelType(undefined, () => wake()));
    const inbox = new Inbox(core, limits);
    const delivery = new Delivery(core, inbox, tokens, { unackedBytes: o.unackedBytes, leaseMs: o.deviceLeaseMs });
    const pusher = new Pusher(core, inbox, vapidKeys(o.vapidPrivateKey, core.secret('inbox-vapid-secret', '')), {
      vapidSubject: o.vapidSubject, perSecond: o.pushPerSecond, concurrency: o.pushConcurrency, queueMax: o.pushQueue,
      ttlS: o.pushTtlS, timeoutMs: o.pushTimeoutMs, allowHttp: o.pushAllowHttp,
    });
    pusher.registerMetrics(core.metricsRegistry as Registry);
    const maxRequestBytes = Math.max(64 * 1024, o.maxTitleBytes + o.maxBodyBytes * 6 + o.maxDataBytes * 2 + 16 * 1024);
    for (const r of inboxRoutes(inbox, tokens, {
      publisherKey, publishPerSecond: o.publishPerSecond, registerPerMinute: o.registerPerMinute, maxRequestBytes,
    }, (id) => delivery.deviceChanged(id), {
      publicKey: pusher.publicKey, allowHttp: o.pushAllowHttp,
      online: async (id) => delivery.isConnected(id) || (await pusher.onlineElsewhere(id)),
    })) core.http(r);
    delivery.registerRequests();
    // On demand: a run at the next grid point after a change (an event folded into the
    // world-view, a device connecting or going, a profile changed here, a delivery or read to
    // count), and at the time each part says it next has something to do (a scheduled delivery,
    // an expiry, the once-a-second lease check while devices are connected, a presence to renew).
    // An idle node with no device so sleeps instead of waking every tickMs.
    let running = false;
    let stopped = false;
    let later: NodeJS.Timeout | null = null;
    let laterAtMs = Infinity;
    const wakeAt = (atMs: number, dueMs: number) => {
      if (stopped || atMs === Infinity) return;
      if (atMs <= dueMs + o.tickMs) return timer.wake();
      if (later !== null && laterAtMs <= atMs) return;
      if (later !== null) clearTimeout(later);
      laterAtMs = atMs;
      // Woken at atMs (or an hour on, to look again): the run is then the first grid point past it.
      later = setTimeout(() => {
        later = null;
        laterAtMs = Infinity;
        timer.wake();
      }, Math.min(Math.max(0, atMs - Date.now()), 3_600_000));
      later.unref();
    };
    /** When the last run began (Date.now()), and a run was asked while one was going. */
    let lastRunMs = -Infinity;
    let missed = false;
    const run = async (now: number): Promise<void> => {
      if (running) {
        missed = true;
        return;
      }
      running = true;
      missed = false;
      lastRunMs = Date.now();
      // A run that fails (the engine unreachable) is tried again at the next grid point.
      let next = now;
      try {
        next = Math.min(
          await inbox.tick(now, delivery.connected()),
          await delivery.tick(now),
          await pusher.tick(now, delivery.connected()),
        );
      } finally {
        running = false;
        wakeAt(missed ? now : next, now);
      }
    };
    const timer = core.tick(o.tickMs, run, { onDemand: true });
    // A change folded into the world-view (a publish, edit or recall; a profile changed on another
    // node) is pushed at once when the last run began at least a tick ago, instead of at the next
    // grid point: the event already waited for the core's tick that appended it, and waiting for
    // the next grid point as well added up to a tick (~100 ms) to every delivery, during which the
    // node's idle cost is paid for nothing. Runs stay at most one a tick: a change sooner than
    // that after a run waits for the grid as before.
    let immediate: NodeJS.Immediate | null = null;
    const soon = () => {
      if (stopped || immediate !== null) return;
      if (running || Date.now() - lastRunMs < o.tickMs) return timer.wake();
      immediate = setImmediate(() => {
        immediate = null;
        if (stopped) return;
        run(Date.now()).catch((err) => {
          core.logger.error({ err: String(err) }, 'inbox tick failed');
          timer.wake();
        });
      });
    };
    wake = soon;
    delivery.wake = () => timer.wake();
    timer.wake();
    return {
      async stop() {
        stopped = true;
        if (later !== null) clearTimeout(later);
        if (immediate !== null) clearImmediate(immediate);
        pusher.stop();
        delivery.stop();
      },
    };
  },
};
