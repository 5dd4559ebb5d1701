/**
 * Web Push to devices that are not connected (docs/inbox.md "Offline devices: Web Push").
 *
 * - A device registers its browser's PushSubscription (PUT /api/inbox/devices/me/push); it is a
 *   `push` event of the registry log, so every node knows every subscription (only devices that
 *   have one pay for it).
 * - Presence: each node keeps the devices connected to it that have a subscription in the
 *   engine's expiring membership set `inbox:push-online` (joined again every PRESENCE_REFRESH_MS,
 *   left when the connection goes), so every node can tell whether a device is connected anywhere.
 * - Once: every node sees each change of the messages log (publish, scheduled delivery, edit); for
 *   one that leaves the message live, the node that takes the claim `inbox:push:<id>:<seq>` (and
 *   only it) evaluates the message against the subscribed devices and queues one push for each
 *   that matches and is not online. So a device gets one push per message change, never one per
 *   node; a change that another change of the same message overtook within a tick is pushed once,
 *   as the newer.
 * - Sending: web-push builds the encrypted request (RFC 8291, aes128gcm) with the VAPID header;
 *   the node sends it itself (fetch: https, or http when --inbox-push-allow-http), at most
 *   `perSecond` a second and `concurrency` at once from a queue of at most `queueMax` (beyond it a
 *   push is dropped and counted). 404/410 from the push service forgets the subscription (a
 *   registry event, only while it is still that endpoint); other failures are counted by reason.
 */
import { createECDH, createHash } from 'node:crypto';
import client from 'prom-client';
import webpush from 'web-push';
import type { AppCore } from '../../core/index.ts';
import { BrigadeError } from '../../protocol/index.ts';
import type { Inbox } from './inbox.ts';
import type { PushSubscriptionData } from './world.ts';
import './errors.ts';

/** The membership set of devices connected to some node that have a push subscription. */
export const PUSH_ONLINE_SET = 'inbox:push-online';
/** How long a presence lasts unless renewed, ms; renewed every PRESENCE_REFRESH_MS. */
const PRESENCE_TTL_MS = 45_000;
const PRESENCE_REFRESH_MS = 15_000;
/** A message change's push claim is held this long (longer than any node takes to see the change). */
const CLAIM_TTL_MS = 10 * 60_000;
const MAX_ENDPOINT_CHARS = 2048;
const MAX_TITLE_CHARS = 100;

/** The devices connected to this node (Delivery.connected()): read, never changed. */
export interface Connected {
  readonly size: number;
  has(id: string): boolean;
  keys(): IterableIterator<string>;
}

export interface PushOptions {
  vapidSubject: string;
  /** Pushes sent per second by this node, at most (0: no limit). */
  perSecond: number;
  /** Pushes in flight at once from this node. */
  concurrency: number;
  /** Pushes waiting to be sent on this node, at most; more are dropped and counted. */
  queueMax: number;
  /** The TTL header: how long the push service keeps a push for a device that is offline, s. */
  ttlS: number;
  /** A push request that takes longer fails (counted as timeout), ms. */
  timeoutMs: number;
  /** Accept http: endpoints (a local push service stand-in); otherwise https: only. */
  allowHttp: boolean;
}

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

/**
 * The VAPID key pair: `privateKey` (base64url, 32 bytes, as `web-push generate-vapid-keys` prints
 * it) when given, else derived from `seed` (a secret kept in the data directory); the public key
 * is computed from the private one, so one secret is all a deployment's nodes must share.
 */
export function vapidKeys(privateKey: string, seed: string): VapidKeys {
  const d = privateKey ? Buffer.from(privateKey, 'base64url') : createHash('sha256').update('inbox-vapid:' + seed).digest();
  if (d.length !== 32) throw new Error('--inbox-vapid-private-key must be 32 bytes in base64url (web-push generate-vapid-keys prints one)');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  return { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: d.toString('base64url') };
}

function bad(message: string): BrigadeError {
  return new BrigadeError('INBOX_BAD_REQUEST', message);
}

function b64urlBytes(v: unknown): number {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]+={0,2}$/.test(v)) return -1;
  return Buffer.from(v, 'base64url').length;
}

/** Checks a browser's PushSubscription JSON; throws INBOX_BAD_REQUEST naming what is wrong. */
export function checkSubscription(body: unknown, allowHttp: boolean): PushSubscriptionData {
  const b = body as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } } | null;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw bad('send the browser\'s PushSubscription as JSON: {"endpoint", "keys": {"p256dh", "auth"}}');
  if (typeof b.endpoint !== 'string' || b.endpoint.length > MAX_ENDPOINT_CHARS) throw bad(`endpoint must be a URL of at most ${MAX_ENDPOINT_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(b.endpoint);
  } catch {
    throw bad('endpoint is not a URL');
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw bad(`endpoint must be an https: URL${allowHttp ? ' or an http: one' : ''} (the push service's), got ${url.protocol}`);
  }
  const keys = b.keys;
  if (keys === null || typeof keys !== 'object') throw bad('keys must be {"p256dh", "auth"}');
  const p256dh = keys.p256dh as string;
  if (b64urlBytes(p256dh) !== 65 || Buffer.from(p256dh, 'base64url')[0] !== 4) throw bad('keys.p256dh must be an uncompressed P-256 public key: 65 bytes in base64url');
  if (b64urlBytes(keys.auth) !== 16) throw bad('keys.auth must be 16 bytes in base64url');
  return { endpoint: b.endpoint, keys: { p256dh, auth: keys.auth as string } };
}

interface Job {
  device: string;
  sub: PushSubscriptionData;
  payload: string;
}

export interface PushStats {
  sent: number;
  /** Subscriptions forgotten after a 404 or 410. */
  gone: number;
  /** Pushes dropped because the queue was full. */
  dropped: number;
  /** Failures by reason: http_<status>, timeout, network, request. */
  failed: Map<string, number>;
}

export class Pusher {
  readonly stats: PushStats = { sent: 0, gone: 0, dropped: 0, failed: new Map() };
  /** Changes of the messages log up to this seq were looked at (-1: not yet started). */
  private seenSeq = -1;
  private seenEpoch = 0;
  private readonly queue: Job[] = [];
  private inFlight = 0;
  private tokens = 0;
  private refilledMs = 0;
  /** Devices this node announced in PUSH_ONLINE_SET, and when. */
  private readonly announced = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly core: AppCore<any>,
    private readonly inbox: Inbox,
    private readonly keys: VapidKeys,
    private readonly options: PushOptions,
  ) {
    this.tokens = options.perSecond;
  }

  get publicKey(): string {
    return this.keys.publicKey;
  }

  registerMetrics(registry: client.Registry): void {
    const stats = this.stats;
    const counter = (name: string, help: string, read: () => number) => {
      let last = 0;
      new client.Counter({
        name, help, registers: [registry], collect() {
          const v = read();
          if (v > last) this.inc(v - last);
          last = v;
        },
      });
    };
    counter('inbox_push_sent_total', 'Web Pushes the push service accepted', () => stats.sent);
    counter('inbox_push_gone_total', 'Web Push subscriptions forgotten after a 404 or 410 from the push service', () => stats.gone);
    counter('inbox_push_dropped_total', 'Web Pushes dropped because the send queue was full (--inbox-push-queue)', () => stats.dropped);
    const lastFailed = new Map<string, number>();
    new client.Counter({
      name: 'inbox_push_failed_total', help: 'Web Pushes that failed, by reason (http_<status>, timeout, network, request)',
      labelNames: ['reason'], registers: [registry],
      collect() {
        for (const [reason, v] of stats.failed) {
          const d = v - (lastFailed.get(reason) ?? 0);
          if (d > 0) this.inc({ reason }, d);
          lastFailed.set(reason, v);
        }
      },
    });
    const queue = this.queue;
    new client.Gauge({ name: 'inbox_push_queued', help: 'Web Pushes waiting to be sent on this node', registers: [registry], collect() { this.set(queue.length); } });
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  /** Whether another node announced `id` connected (devices with a subscription only). */
  async onlineElsewhere(id: string): Promise<boolean> {
    return this.core.membership !== null && (await this.core.membership.members(PUSH_ONLINE_SET)).includes(id);
  }

  /** The devices connected to some node (this one's own always count, whatever the engine). */
  private async online(local: Connected): Promise<Set<string>> {
    const set = new Set(local.keys());
    if (this.core.membership) for (const id of await this.core.membership.members(PUSH_ONLINE_SET)) set.add(id);
    return set;
  }

  /** Keeps PUSH_ONLINE_SET in step with this node's connected devices that have a subscription. */
  private async presence(connected: Connected, push: Map<string, PushSubscriptionData>, nowMs: number): Promise<void> {
    const m = this.core.membership;
    if (!m) return;
    for (const [id] of this.announced) {
      if (connected.has(id) && push.has(id)) continue;
      this.announced.delete(id);
      await m.leave(PUSH_ONLINE_SET, id);
    }
    // Over the smaller of the two (most connected devices have no subscription: a tick with none
    // looks at nothing).
    const ids = push.size <= connected.size ? push.keys() : connected.keys();
    for (const id of ids) {
      if (!push.has(id) || !connected.has(id)) continue;
      const at = this.announced.get(id);
      if (at !== undefined && nowMs - at < PRESENCE_REFRESH_MS) continue;
      this.announced.set(id, nowMs);
      await m.join(PUSH_ONLINE_SET, id, PRESENCE_TTL_MS);
    }
  }

  private async claim(key: string): Promise<boolean> {
    if (!this.core.claims) return true;
    try {
      return (await this.core.claims.claim(key, CLAIM_TTL_MS)) === 0;
    } catch {
      return false;
    }
  }

  /**
   * Every tick of every node: presence, then the messages log's new changes, then sending.
   * Resolves with when it next has something to do without a change coming (ms; Infinity:
   * nothing): a presence to renew, or pushes waiting (for a token of the rate, or a free slot).
   */
  async tick(nowMs: number, connected: Connected): Promise<number> {
    await this.pass(nowMs, connected);
    let nextMs = this.queue.length > 0 ? nowMs : Infinity;
    for (const at of this.announced.values()) nextMs = Math.min(nextMs, at + PRESENCE_REFRESH_MS);
    return nextMs;
  }

  private async pass(nowMs: number, connected: Connected): Promise<void> {
    if (this.stopped) return;
    const reg = await this.inbox.registry();
    await this.presence(connected, reg.state.push, nowMs);
    const view = await this.inbox.messages();
    const st = view.state;
    if (this.seenSeq < 0 || view.epoch !== this.seenEpoch || this.seenSeq < Math.min(st.changesSince, view.version)) {
      // At start, at a new epoch, or after falling behind the kept changes: what came before is not pushed.
      this.seenSeq = view.version;
      this.seenEpoch = view.epoch;
    }
    if (view.version > this.seenSeq) {
      const from = this.seenSeq;
      this.seenSeq = view.version;
      const ids = new Set<string>();
      for (let k = st.changeSeqs.length - 1; k >= 0 && st.changeSeqs[k] > from; k--) ids.add(st.changeIds[k]);
      if (reg.state.push.size > 0) {
        for (const id of ids) {
          const msg = st.live.get(id);
          if (!msg || msg.status !== 'live' || msg.expr === null || msg.seq <= from) continue;
          if (!(await this.claim(`inbox:push:${msg.id}:${msg.seq}`))) continue;
          const online = await this.online(connected);
          const payload = JSON.stringify({
            kind: msg.editedAt ? 'edit' : 'message', id: msg.id, seq: msg.seq, title: msg.title.slice(0, MAX_TITLE_CHARS),
          });
          const d = reg.state.devices;
          const matches = d.matcher(msg.expr);
          for (const [device, sub] of reg.state.push) {
            if (online.has(device)) continue;
            const i = d.findHex(device);
            if (i < 0 || !matches(i)) continue;
            if (this.queue.length >= this.options.queueMax) this.stats.dropped++;
            else this.queue.push({ device, sub, payload });
          }
        }
      }
    }
    this.pump(nowMs);
  }

  private pump(nowMs = Date.now()): void {
    const rate = this.options.perSecond;
    if (rate > 0) {
      this.tokens = Math.min(rate, this.tokens + ((nowMs - this.refilledMs) * rate) / 1000);
      this.refilledMs = nowMs;
    }
    while (!this.stopped && this.queue.length > 0 && this.inFlight < this.options.concurrency && (rate === 0 || this.tokens >= 1)) {
      if (rate > 0) this.tokens--;
      const job = this.queue.shift()!;
      this.inFlight++;
      void this.send(job).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private fail(reason: string): void {
    this.stats.failed.set(reason, (this.stats.failed.get(reason) ?? 0) + 1);
  }

  private async send(job: Job): Promise<void> {
    let request: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      request = webpush.generateRequestDetails(job.sub, job.payload, {
        vapidDetails: { subject: this.options.vapidSubject, publicKey: this.keys.publicKey, privateKey: this.keys.privateKey },
        TTL: this.options.ttlS,
        contentEncoding: 'aes128gcm',
      });
    } catch (err) {
      this.fail('request');
      this.core.logger.warn({ device: job.device, err: String(err) }, 'inbox: could not build a Web Push');
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) if (k.toLowerCase() !== 'content-length') headers[k] = String(v);
    let status: number;
    try {
      const res = await fetch(request.endpoint, {
        method: 'POST', headers, body: request.body ? new Uint8Array(request.body) : undefined, signal: AbortSignal.timeout(this.options.timeoutMs), redirect: 'manual',
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      this.fail((err as Error).name === 'TimeoutError' ? 'timeout' : 'network');
      return;
    }
    if (status >= 200 && status < 300) {
      this.stats.sent++;
    } else if (status === 404 || status === 410) {
      this.stats.gone++;
      await this.inbox.dropPush(job.device, job.sub.endpoint).catch((err) => {
        this.core.logger.warn({ device: job.device, err: String(err) }, 'inbox: forgetting a gone push subscription failed');
      });
    } else {
      this.fail(`http_${status}`);
    }
  }
}
