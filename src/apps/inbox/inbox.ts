/**
 * The inbox's operations over its world-view: registering and updating devices, checking
 * expressions, publishing, editing and recalling messages (each a checked event written through
 * the core's log with publishInternal), and the periodic work (scheduled deliveries, expiries,
 * forgetting devices past their TTL, last-seen times), done once across nodes through claims.
 */
import type { AppCore } from '../../core/index.ts';
import { BrigadeError } from '../../protocol/index.ts';
import { formatExpression, parseExpression, type Expr, type Recipient, type Value } from './expression.ts';
import { newId } from './tokens.ts';
import {
  MESSAGES_CHANNEL, REGISTRY_CHANNEL, encodeEvent, inboxEpoch, publicMessage,
  type MessageEvent, type MessagesState, type PushSubscriptionData, type RegistryEvent, type RegistryState, type StoredMessage,
} from './world.ts';
import './errors.ts';

export interface DeviceRecipient extends Recipient {
  rev: number;
}

export interface InboxLimits {
  maxTitleBytes: number;
  maxBodyBytes: number;
  maxDataBytes: number;
  maxGroups: number;
  maxAttributes: number;
  /** How far ahead deliverAt / expiresAt may be, ms. */
  maxAheadMs: number;
  deviceTtlMs: number;
}

const GROUP = /^[A-Za-z0-9_.\-]{1,64}$/;
const ATTR = /^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$/;
const RESERVED = new Set(['and', 'or', 'not', 'in', 'all']);
/** deliverAt this far in the past is still "now" (clock skew between a publisher and the node). */
const PAST_SLACK_MS = 60_000;

function bad(message: string): BrigadeError {
  return new BrigadeError('INBOX_BAD_REQUEST', message);
}

function tooLarge(message: string): BrigadeError {
  return new BrigadeError('INBOX_TOO_LARGE', message);
}

function checkGroups(g: unknown, limits: InboxLimits): string[] {
  if (!Array.isArray(g)) throw bad('groups must be an array of strings');
  if (g.length > limits.maxGroups) throw tooLarge(`a device may be in at most ${limits.maxGroups} groups (--inbox-max-groups), got ${g.length}`);
  for (const x of g) if (typeof x !== 'string' || !GROUP.test(x)) throw bad(`group ${JSON.stringify(x)}: 1-64 letters, digits, "_", "." or "-"`);
  return [...new Set(g as string[])];
}

function checkAttributes(a: unknown, limits: InboxLimits): Record<string, Value> {
  if (a === null || typeof a !== 'object' || Array.isArray(a)) throw bad('attributes must be an object of name → string or number');
  const entries = Object.entries(a as Record<string, unknown>);
  if (entries.length > limits.maxAttributes) throw tooLarge(`a device may have at most ${limits.maxAttributes} attributes (--inbox-max-attributes), got ${entries.length}`);
  const out: Record<string, Value> = {};
  for (const [k, v] of entries) {
    if (!ATTR.test(k) || RESERVED.has(k)) throw bad(`attribute name ${JSON.stringify(k)}: a letter or "_", then up to 63 letters, digits, "_", "." or "-", not a keyword`);
    if (typeof v === 'string') {
      if (Buffer.byteLength(v) > 256) throw tooLarge(`attribute ${k}: string values are at most 256 bytes`);
    } else if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw bad(`attribute ${k}: a string or a finite number`);
    }
    out[k] = v as Value;
  }
  return out;
}

function unknownDevice(id: string): BrigadeError {
  return new BrigadeError('INBOX_UNKNOWN_DEVICE', `device ${id} is not registered here (or was forgotten after --inbox-device-ttl without being seen); register it again`);
}

export class Inbox {
  constructor(private readonly core: AppCore<any>, readonly limits: InboxLimits, private readonly now: () => number = Date.now) {}

  /** `atLeast`: a registry version this node wrote (a write's result): the view includes it (read-your-writes). */
  registry(atLeast?: number): Promise<{ version: number; state: RegistryState }> {
    return this.core.channels.view<RegistryState>(REGISTRY_CHANNEL, atLeast);
  }

  /** The messages' world-view; `epoch` is the inbox epoch (inboxEpoch: the log's and the operator's), not the log's alone. */
  async messages(): Promise<{ epoch: number; version: number; state: MessagesState }> {
    const view = await this.core.channels.view<MessagesState>(MESSAGES_CHANNEL);
    return { epoch: inboxEpoch(view.epoch, view.state.generation), version: view.version, state: view.state };
  }

  private async write(channel: string, e: RegistryEvent | MessageEvent, by: string): Promise<number> {
    return this.core.channels.publishInternal(channel, [encodeEvent(e)], by);
  }

  /** Writes one registry event; resolves with the registry version that includes it (for device(id, atLeast)). */
  private async writeRegistry(e: RegistryEvent): Promise<number> {
    return (await this.write(REGISTRY_CHANNEL, e, 'inbox')) + 1;
  }

  // ---- devices --------------------------------------------------------------------------------

  async register(body: unknown): Promise<{ id: string }> {
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b !== 'object' || Array.isArray(b)) throw bad('send {"groups": [...], "attributes": {...}}');
    const g = checkGroups(b.groups ?? [], this.limits);
    const a = checkAttributes(b.attributes ?? {}, this.limits);
    const id = newId();
    await this.write(REGISTRY_CHANNEL, { t: 'reg', id, g, a, at: this.now() }, 'inbox');
    return { id };
  }

  /**
   * Registers many devices in one write (the publisher's bulk path, for importing a population):
   * every profile is checked before anything is written, so a bad one changes nothing.
   */
  async registerMany(body: unknown, maxDevices: number): Promise<{ ids: string[] }> {
    const list = (body as { devices?: unknown } | null)?.devices;
    if (!Array.isArray(list) || list.length === 0) throw bad('send {"devices": [{"groups": [...], "attributes": {...}}, ...]}');
    if (list.length > maxDevices) throw tooLarge(`at most ${maxDevices} devices per bulk registration, got ${list.length}`);
    const at = this.now();
    const events: RegistryEvent[] = list.map((d, k) => {
      if (d === null || typeof d !== 'object' || Array.isArray(d)) throw bad(`devices[${k}] must be {"groups": [...], "attributes": {...}}`);
      const b = d as Record<string, unknown>;
      try {
        return { t: 'reg', id: newId(), g: checkGroups(b.groups ?? [], this.limits), a: checkAttributes(b.attributes ?? {}, this.limits), at };
      } catch (err) {
        if (err instanceof BrigadeError) throw new BrigadeError(err.code, `devices[${k}]: ${err.message}`);
        throw err;
      }
    });
    await this.core.channels.publishInternal(REGISTRY_CHANNEL, events.map(encodeEvent), 'inbox');
    return { ids: events.map((e) => (e as { id: string }).id) };
  }

  /** Throws INBOX_UNKNOWN_DEVICE when the registry does not hold `id`; copies nothing (a reconnect's check). */
  async mustExist(id: string): Promise<void> {
    const { state } = await this.registry();
    if (state.devices.findHex(id) < 0) throw unknownDevice(id);
  }

  /** Throws INBOX_UNKNOWN_DEVICE when the registry does not hold `id` (never registered, or forgotten). */
  async device(id: string, atLeast?: number): Promise<{ groups: string[]; attributes: Record<string, Value>; lastSeen: number; push: boolean }> {
    const { state } = await this.registry(atLeast);
    const i = state.devices.findHex(id);
    if (i < 0) throw unknownDevice(id);
    return { ...state.devices.profile(i), lastSeen: state.devices.seenSec[i] * 1000, push: state.push.has(id) };
  }

  /**
   * Sets the device's Web Push subscription (checked by the caller: push.ts checkSubscription).
   * Resolves with the registry version that includes it (for device(id, atLeast)).
   */
  async setPush(id: string, sub: PushSubscriptionData): Promise<number> {
    await this.mustExist(id);
    return this.writeRegistry({ t: 'push', id, sub });
  }

  /** Drops the device's Web Push subscription; with `endpoint`, only while it is still that one (a push service said it is gone). */
  async dropPush(id: string, endpoint?: string): Promise<number> {
    return this.writeRegistry({ t: 'push', id, sub: null, ...(endpoint === undefined ? {} : { endpoint }) });
  }

  /** Resolves with the registry version that includes the change (for device(id, atLeast)). */
  async updateDevice(id: string, body: unknown): Promise<number> {
    await this.mustExist(id);
    const b = body as Record<string, unknown>;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) throw bad('send {"groups"?: [...], "attributes"?: {...}}');
    const g = b.groups === undefined ? undefined : checkGroups(b.groups, this.limits);
    const a = b.attributes === undefined ? undefined : checkAttributes(b.attributes, this.limits);
    return this.writeRegistry({ t: 'upd', id, g, a, at: this.now() });
  }

  /** A device as expressions see it (a copy of its profile, with its registry revision), or null when unknown. */
  async recipientFor(id: string): Promise<DeviceRecipient | null> {
    const { state } = await this.registry();
    const d = state.devices;
    const i = d.findHex(id);
    if (i < 0) return null;
    const p = d.profile(i);
    const groups = new Set(p.groups);
    return { id, rev: d.rev[i], hasGroup: (g) => groups.has(g), attr: (n) => (Object.hasOwn(p.attributes, n) ? p.attributes[n] : undefined) };
  }

  /** How many devices seen within the TTL `expr` selects. */
  async countMatching(expr: Expr): Promise<number> {
    const { state } = await this.registry();
    const d = state.devices;
    const since = Math.floor((this.now() - this.limits.deviceTtlMs) / 1000);
    const matches = d.matcher(expr);
    let n = 0;
    for (const i of d.indexes()) if (d.seenSec[i] >= since && matches(i)) n++;
    return n;
  }

  async check(body: unknown): Promise<Record<string, unknown>> {
    const to = (body as { to?: unknown } | null)?.to;
    if (typeof to !== 'string') throw bad('send {"to": "<expression>"}');
    const expr = parseExpression(to);
    return { ok: true, expression: formatExpression(expr), tree: expr, matching: await this.countMatching(expr) };
  }

  // ---- messages -------------------------------------------------------------------------------

  private checkText(name: string, v: unknown, max: number, option: string): string {
    if (typeof v !== 'string') throw bad(`${name} must be a string`);
    const n = Buffer.byteLength(v);
    if (n > max) throw tooLarge(`${name} is ${n} bytes; at most ${max} (--inbox-${option})`);
    return v;
  }

  private checkData(v: unknown): unknown {
    if (v === undefined) return undefined;
    const n = Buffer.byteLength(JSON.stringify(v));
    if (n > this.limits.maxDataBytes) throw tooLarge(`data is ${n} bytes of JSON; at most ${this.limits.maxDataBytes} (--inbox-max-data-bytes)`);
    return v;
  }

  private checkTime(name: string, v: unknown, now: number): number {
    if (v === undefined || v === null) return 0;
    const t = typeof v === 'string' ? Date.parse(v) : v;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new BrigadeError('INBOX_BAD_SCHEDULE', `${name} must be ms since the Unix epoch or an ISO 8601 date`);
    if (t < now - PAST_SLACK_MS) throw new BrigadeError('INBOX_BAD_SCHEDULE', `${name} ${new Date(t).toISOString()} is in the past (now ${new Date(now).toISOString()})`);
    if (t > now + this.limits.maxAheadMs) {
      throw new BrigadeError('INBOX_BAD_SCHEDULE', `${name} ${new Date(t).toISOString()} is more than ${Math.round(this.limits.maxAheadMs / 86_400_000)} days ahead (--inbox-max-ahead-ms)`);
    }
    return Math.round(t);
  }

  async publish(body: unknown, by: string): Promise<{ id: string; seq: number; status: string }> {
    const b = body as Record<string, unknown>;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) throw bad('send {"to", "title", "body", "data"?, "deliverAt"?, "expiresAt"?}');
    if (typeof b.to !== 'string') throw bad('"to" must be a recipient expression (a string)');
    parseExpression(b.to);
    const title = this.checkText('title', b.title, this.limits.maxTitleBytes, 'max-title-bytes');
    const text = this.checkText('body', b.body ?? '', this.limits.maxBodyBytes, 'max-body-bytes');
    const data = this.checkData(b.data);
    const now = this.now();
    const deliverAt = this.checkTime('deliverAt', b.deliverAt, now);
    const expiresAt = this.checkTime('expiresAt', b.expiresAt, now);
    if (expiresAt && expiresAt <= Math.max(deliverAt, now)) throw new BrigadeError('INBOX_BAD_SCHEDULE', 'expiresAt must come after deliverAt (and after now)');
    const id = newId();
    const version = await this.write(MESSAGES_CHANNEL, {
      t: 'pub', id, at: now, to: b.to, title, body: text, data, deliverAt: deliverAt > now ? deliverAt : 0, expiresAt,
    }, by);
    return { id, seq: version + 1, status: deliverAt > now ? 'scheduled' : 'live' };
  }

  private async liveMessage(id: string): Promise<StoredMessage> {
    const { state } = await this.messages();
    const m = state.live.get(id);
    if (m) return m;
    const gone = state.gone.get(id);
    if (gone) throw new BrigadeError('INBOX_NOT_EDITABLE', `message ${id} is ${gone.status}; it can no longer change`);
    throw new BrigadeError('INBOX_UNKNOWN_MESSAGE', `no message ${JSON.stringify(id)}`);
  }

  async edit(id: string, body: unknown, by: string): Promise<{ id: string; seq: number }> {
    const m = await this.liveMessage(id);
    const b = body as Record<string, unknown>;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) throw bad('send any of {"to", "title", "body", "data", "expiresAt"}');
    const e: Extract<MessageEvent, { t: 'edit' }> = { t: 'edit', id, at: this.now() };
    if (b.to !== undefined) {
      if (typeof b.to !== 'string') throw bad('"to" must be a recipient expression (a string)');
      parseExpression(b.to);
      e.to = b.to;
    }
    if (b.title !== undefined) e.title = this.checkText('title', b.title, this.limits.maxTitleBytes, 'max-title-bytes');
    if (b.body !== undefined) e.body = this.checkText('body', b.body, this.limits.maxBodyBytes, 'max-body-bytes');
    if (b.data !== undefined) e.data = this.checkData(b.data);
    if (b.expiresAt !== undefined) {
      e.expiresAt = this.checkTime('expiresAt', b.expiresAt, e.at);
      if (e.expiresAt && e.expiresAt <= Math.max(m.deliverAt, e.at)) throw new BrigadeError('INBOX_BAD_SCHEDULE', 'expiresAt must come after deliverAt (and after now)');
    }
    for (const k of Object.keys(b)) if (!['to', 'title', 'body', 'data', 'expiresAt'].includes(k)) throw bad(`${k} cannot be edited; edit to, title, body, data or expiresAt`);
    const version = await this.write(MESSAGES_CHANNEL, e, by);
    return { id, seq: version + 1 };
  }

  async recall(id: string, by: string): Promise<{ id: string; seq: number }> {
    await this.liveMessage(id);
    const version = await this.write(MESSAGES_CHANNEL, { t: 'recall', id, at: this.now() }, by);
    return { id, seq: version + 1 };
  }

  async get(id: string): Promise<Record<string, unknown>> {
    const { state } = await this.messages();
    const m = state.live.get(id) ?? state.gone.get(id);
    if (!m) throw new BrigadeError('INBOX_UNKNOWN_MESSAGE', `no message ${JSON.stringify(id)}`);
    return { ...publicMessage(m), delivered: m.delivered, read: m.read, recalled: m.status === 'recalled' };
  }

  async list(): Promise<Record<string, unknown>[]> {
    const { state } = await this.messages();
    return [...state.live.values()].map((m) => ({ ...publicMessage(m), delivered: m.delivered, read: m.read }));
  }

  // ---- periodic work (every node's tick; claims make each change once) ---------------------

  private readonly inFlight = new Set<string>();
  private nextSweepMs = 0;
  private nextSeenScanMs = 0;

  /** Takes `key` for `ttlMs` across nodes (always, without a shared Claims). */
  private async claim(key: string, ttlMs: number): Promise<boolean> {
    if (!this.core.claims) return true;
    try {
      return (await this.core.claims.claim(key, ttlMs)) === 0;
    } catch {
      return false;
    }
  }

  /** One event, once: claimed, then written; a key already in flight on this node is skipped. */
  private once(key: string, channel: string, e: RegistryEvent | MessageEvent): void {
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    void (async () => {
      try {
        if (await this.claim(key, 30_000)) await this.write(channel, e, 'inbox');
      } catch (err) {
        this.core.logger.warn({ key, err: String(err) }, 'inbox: periodic event failed; retried next tick');
      } finally {
        // Kept a moment longer so the committed event is folded before the next look.
        setTimeout(() => this.inFlight.delete(key), 1000).unref();
      }
    })();
  }

  /**
   * Scheduled deliveries and expiries that are due, the sweep of forgotten devices, and last-seen
   * times. Resolves with when it next has something to do (ms; Infinity: only when a change comes),
   * so the app's on-demand tick sleeps until then (app.ts): the earliest deliverAt or expiresAt
   * to come (now while one is due and not yet folded), the next sweep (a tenth of the device TTL),
   * the next last-seen scan while `seenIds` has any.
   */
  async tick(nowMs: number, seenIds: ReadonlySet<string> | ReadonlyMap<string, unknown>): Promise<number> {
    const { state } = await this.messages();
    let nextMs = Infinity;
    for (const m of state.live.values()) {
      if (m.status === 'scheduled') {
        if (m.deliverAt <= nowMs) this.once(`inbox:deliver:${m.id}`, MESSAGES_CHANNEL, { t: 'deliver', id: m.id });
        nextMs = Math.min(nextMs, m.deliverAt);
      }
      if (m.expiresAt) {
        if (m.expiresAt <= nowMs) this.once(`inbox:expire:${m.id}`, MESSAGES_CHANNEL, { t: 'expire', id: m.id });
        nextMs = Math.min(nextMs, m.expiresAt);
      }
    }
    const reg = await this.registry();
    const ttl = this.limits.deviceTtlMs;
    const every = Math.max(1000, Math.min(ttl / 10, 3_600_000));
    if (nowMs >= this.nextSweepMs) {
      this.nextSweepMs = nowMs + every;
      const before = nowMs - ttl;
      let stale = false;
      for (const i of reg.state.devices.indexes()) if (reg.state.devices.seenSec[i] * 1000 < before - 1000) { stale = true; break; }
      if (stale) this.once(`inbox:sweep:${Math.floor(nowMs / every)}`, REGISTRY_CHANNEL, { t: 'sweep', before });
    }
    nextMs = Math.min(nextMs, this.nextSweepMs);
    // Last seen: written when the registry's time is older than a tenth of the TTL (at most an hour),
    // so the connected devices are looked at 60 times in that span (at most once a second, once a
    // minute at the default TTL), not every tick: a node's idle work does not grow with its devices.
    const scan = nowMs >= this.nextSeenScanMs;
    if (scan) this.nextSeenScanMs = nowMs + Math.max(1000, every / 60);
    if (seenIds.size > 0) nextMs = Math.min(nextMs, this.nextSeenScanMs);
    if (!scan) return nextMs;
    const ids: string[] = [];
    const staleSec = Math.floor((nowMs - every) / 1000);
    for (const id of seenIds.keys()) {
      const i = reg.state.devices.findHex(id);
      if (i >= 0 && reg.state.devices.seenSec[i] < staleSec) ids.push(id);
      if (ids.length >= 1000) break;
    }
    if (ids.length > 0) this.once(`inbox:seen:${ids[0]}:${nowMs}`, REGISTRY_CHANNEL, { t: 'seen', ids, at: nowMs });
    return nextMs;
  }
}
