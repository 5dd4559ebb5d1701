/**
 * The inbox's world-view as two logged core channels, folded on every node (so every node keeps
 * the whole world in RAM, rebuilt from snapshot + log at start, and each tick's events are one
 * engine transaction: the seed's batched write-through):
 *
 * - `inbox:registry`: the devices (DeviceStore). Events: register, update, seen (a batch of ids),
 *   sweep (forget every device last seen before a time).
 * - `inbox:messages`: the messages that are scheduled or live, and tombstones of recalled and
 *   expired ones. Events: publish, edit, recall, deliver (a scheduled message's time came), expire,
 *   counts (delivered/read deltas). A message's `seq` is the version of the event that last changed
 *   it, plus one: a device that has seen the log up to seq S (its cursor) has every change ≤ S.
 *
 * Events are JSON. Clients may neither read nor write these channels (their state is everyone's
 * data); the app writes them with publishInternal after checking every field, so `apply` never
 * meets an event it must refuse.
 */
import type { ChannelType } from '../../core/index.ts';
import { BrigadeError } from '../../protocol/index.ts';
import { DeviceStore } from './devices.ts';
import { parseExpression, type Expr, type Value } from './expression.ts';

export const REGISTRY_CHANNEL = 'inbox:registry';
export const MESSAGES_CHANNEL = 'inbox:messages';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeEvent(e: RegistryEvent | MessageEvent): Uint8Array {
  return enc.encode(JSON.stringify(e));
}

function decodeEvent<T>(payload: Uint8Array): T | null {
  try {
    return JSON.parse(dec.decode(payload)) as T;
  } catch {
    return null;
  }
}

function forbidden(channel: string): BrigadeError {
  return new BrigadeError('FORBIDDEN', `${channel} is the inbox's own; devices get theirs through inbox.sync, publishers use /api/inbox`);
}

// ---- the registry ---------------------------------------------------------------------------

export type RegistryEvent =
  | { t: 'reg'; id: string; g: string[]; a: Record<string, Value>; at: number }
  | { t: 'upd'; id: string; g?: string[]; a?: Record<string, Value>; at: number }
  | { t: 'seen'; ids: string[]; at: number }
  | { t: 'sweep'; before: number }
  /** A device's Web Push subscription set (sub) or dropped (sub null; with `endpoint`, only while it is still that one). */
  | { t: 'push'; id: string; sub: PushSubscriptionData | null; endpoint?: string };

/** A browser's PushSubscription, as its toJSON() gives it. */
export interface PushSubscriptionData {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface RegistryState {
  devices: DeviceStore;
  /** Web Push subscriptions by device id (only devices that have one: the rest cost nothing here). */
  push: Map<string, PushSubscriptionData>;
  /** Events folded (the channel's version). */
  head: number;
}

/** Snapshots that carry push subscriptions start with this u32 (a DeviceStore's header length never is). */
const WITH_PUSH = 0xffffffff;

export class RegistryChannelType implements ChannelType<RegistryState> {
  readonly prefix = REGISTRY_CHANNEL;
  readonly eventSize = 0;
  readonly maxEventBytes = 256 * 1024;

  /** `applied`: called for each event folded (the app wakes its tick on it: app.ts). */
  constructor(private readonly applied: () => void = () => {}) {}

  exists(channel: string): boolean {
    return channel === REGISTRY_CHANNEL;
  }

  init(): RegistryState {
    return { devices: new DeviceStore(), push: new Map(), head: 0 };
  }

  apply(state: RegistryState, payload: Uint8Array, version: number): void {
    this.applied();
    state.head = version + 1;
    const e = decodeEvent<RegistryEvent>(payload);
    if (!e) return;
    const d = state.devices;
    switch (e.t) {
      case 'reg':
        d.register(e.id, { groups: e.g, attributes: e.a }, e.at, version + 1);
        break;
      case 'upd': {
        const i = d.findHex(e.id);
        if (i >= 0) d.update(i, e.g, e.a, e.at, version + 1);
        break;
      }
      case 'seen':
        for (const id of e.ids) {
          const i = d.findHex(id);
          if (i >= 0) d.seen(i, e.at);
        }
        break;
      case 'sweep':
        d.sweep(e.before);
        for (const id of state.push.keys()) if (d.findHex(id) < 0) state.push.delete(id);
        break;
      case 'push':
        if (d.findHex(e.id) < 0) break;
        if (e.sub) state.push.set(e.id, e.sub);
        else if (e.endpoint === undefined || state.push.get(e.id)?.endpoint === e.endpoint) state.push.delete(e.id);
        break;
    }
  }

  /** The DeviceStore's bytes; with push subscriptions: [WITH_PUSH][u32 store length][store][JSON of them]. */
  encodeSnapshot(state: RegistryState): Uint8Array {
    const store = state.devices.encode();
    if (state.push.size === 0) return store;
    const json = enc.encode(JSON.stringify([...state.push]));
    const out = new Uint8Array(8 + store.length + json.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, WITH_PUSH, true);
    dv.setUint32(4, store.length, true);
    out.set(store, 8);
    out.set(json, 8 + store.length);
    return out;
  }

  decodeSnapshot(_channel: string, bytes: Uint8Array): RegistryState {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || dv.getUint32(0, true) !== WITH_PUSH) return { devices: DeviceStore.decode(bytes), push: new Map(), head: 0 };
    const storeLength = dv.getUint32(4, true);
    const push = new Map(JSON.parse(dec.decode(bytes.subarray(8 + storeLength))) as [string, PushSubscriptionData][]);
    return { devices: DeviceStore.decode(bytes.subarray(8, 8 + storeLength)), push, head: 0 };
  }

  validate(channel: string): BrigadeError | null {
    return forbidden(channel);
  }

  authorizeSubscribe(channel: string): BrigadeError | null {
    return forbidden(channel);
  }
}

// ---- the messages ---------------------------------------------------------------------------

export type MessageStatus = 'scheduled' | 'live' | 'recalled' | 'expired';

/** The fields a publisher sets. */
export interface MessageContent {
  to: string;
  title: string;
  body: string;
  data?: unknown;
  /** When it reaches devices, ms since the Unix epoch (0: at once). */
  deliverAt: number;
  /** When it leaves them, ms (0: never). */
  expiresAt: number;
}

export interface StoredMessage extends MessageContent {
  id: string;
  /** The parsed `to` (null if it did not parse: it then selects nobody). */
  expr: Expr | null;
  status: MessageStatus;
  createdAt: number;
  editedAt: number;
  /** seq of the publish event. */
  createdSeq: number;
  /** seq of the event that last changed what devices see (publish, edit, deliver, recall, expire). */
  seq: number;
  delivered: number;
  read: number;
}

export type MessageEvent =
  | ({ t: 'pub'; id: string; at: number } & MessageContent)
  | { t: 'edit'; id: string; at: number; to?: string; title?: string; body?: string; data?: unknown; expiresAt?: number }
  | { t: 'recall'; id: string; at: number }
  | { t: 'deliver'; id: string }
  | { t: 'expire'; id: string }
  | { t: 'counts'; c: Record<string, [number, number]> }
  /** A new inbox epoch (`brigade inbox new-epoch`, after restoring an older copy of the data): n is a random u32. */
  | { t: 'epoch'; n: number; at: number };

/**
 * The inbox epoch devices keep in their cursor: the messages log's epoch (a store that lost the
 * log starts a new one) combined with the generation of the last `epoch` event (an operator who
 * restored an older copy starts a new one). 0 is never an epoch (a device's "none yet").
 */
export function inboxEpoch(logEpoch: number, generation: number): number {
  return ((logEpoch ^ generation) >>> 0) || 1;
}

/** Changes kept for incremental pushes (a node further behind recomputes its devices whole). */
export const CHANGES_KEPT = 4096;

export interface MessagesState {
  /** Scheduled and live messages. */
  live: Map<string, StoredMessage>;
  /** Recalled and expired messages, newest last, at most `tombstones` of them (for GET and counts). */
  gone: Map<string, StoredMessage>;
  /** Events folded (the channel's version) = the newest seq. */
  head: number;
  /** The `n` of the last `epoch` event (0: none), part of the inbox epoch (inboxEpoch). */
  generation: number;
  /** Recent changes that devices see: seq → message id, oldest first (not in snapshots). */
  changeSeqs: number[];
  changeIds: string[];
  /** Every change after this seq is in changeSeqs (after a snapshot load: none until the first event). */
  changesSince: number;
}

function parseOrNull(to: string): Expr | null {
  try {
    return parseExpression(to);
  } catch {
    return null;
  }
}

export class MessagesChannelType implements ChannelType<MessagesState> {
  readonly prefix = MESSAGES_CHANNEL;
  readonly eventSize = 0;
  readonly maxEventBytes = 1024 * 1024;

  /** `applied`: called for each event folded (the app wakes its tick on it: app.ts). */
  constructor(private readonly tombstones = 10_000, private readonly applied: () => void = () => {}) {}

  exists(channel: string): boolean {
    return channel === MESSAGES_CHANNEL;
  }

  init(): MessagesState {
    return { live: new Map(), gone: new Map(), head: 0, generation: 0, changeSeqs: [], changeIds: [], changesSince: 0 };
  }

  private changed(state: MessagesState, m: StoredMessage, seq: number): void {
    m.seq = seq;
    state.changeSeqs.push(seq);
    state.changeIds.push(m.id);
    if (state.changeSeqs.length > CHANGES_KEPT * 2) {
      state.changesSince = state.changeSeqs[CHANGES_KEPT - 1];
      state.changeSeqs.splice(0, CHANGES_KEPT);
      state.changeIds.splice(0, CHANGES_KEPT);
    }
  }

  private bury(state: MessagesState, m: StoredMessage, status: MessageStatus, seq: number): void {
    m.status = status;
    state.live.delete(m.id);
    state.gone.set(m.id, m);
    if (state.gone.size > this.tombstones) state.gone.delete(state.gone.keys().next().value!);
    this.changed(state, m, seq);
  }

  apply(state: MessagesState, payload: Uint8Array, version: number): void {
    this.applied();
    const seq = version + 1;
    if (state.changesSince === Number.MAX_SAFE_INTEGER) state.changesSince = version;
    state.head = seq;
    const e = decodeEvent<MessageEvent>(payload);
    if (!e) return;
    switch (e.t) {
      case 'pub': {
        if (state.live.has(e.id) || state.gone.has(e.id)) return;
        const m: StoredMessage = {
          id: e.id, to: e.to, expr: parseOrNull(e.to), title: e.title, body: e.body, data: e.data,
          deliverAt: e.deliverAt, expiresAt: e.expiresAt, status: e.deliverAt > e.at ? 'scheduled' : 'live',
          createdAt: e.at, editedAt: 0, createdSeq: seq, seq, delivered: 0, read: 0,
        };
        state.live.set(m.id, m);
        this.changed(state, m, seq);
        break;
      }
      case 'edit': {
        const m = state.live.get(e.id);
        if (!m) return;
        if (e.to !== undefined) {
          m.to = e.to;
          m.expr = parseOrNull(e.to);
        }
        if (e.title !== undefined) m.title = e.title;
        if (e.body !== undefined) m.body = e.body;
        if (e.data !== undefined) m.data = e.data;
        if (e.expiresAt !== undefined) m.expiresAt = e.expiresAt;
        m.editedAt = e.at;
        this.changed(state, m, seq);
        break;
      }
      case 'deliver': {
        const m = state.live.get(e.id);
        // Idempotent: a second deliver (two nodes' ticks) changes nothing, so delivery is once.
        if (!m || m.status !== 'scheduled') return;
        m.status = 'live';
        this.changed(state, m, seq);
        break;
      }
      case 'recall': {
        const m = state.live.get(e.id);
        if (m) this.bury(state, m, 'recalled', seq);
        break;
      }
      case 'expire': {
        const m = state.live.get(e.id);
        if (m) this.bury(state, m, 'expired', seq);
        break;
      }
      case 'counts':
        for (const [id, [delivered, read]] of Object.entries(e.c)) {
          const m = state.live.get(id) ?? state.gone.get(id);
          if (!m) continue;
          m.delivered += delivered;
          m.read += read;
        }
        break;
      case 'epoch':
        if (Number.isInteger(e.n)) state.generation = e.n >>> 0;
        break;
    }
  }

  encodeSnapshot(state: MessagesState): Uint8Array {
    const strip = (m: StoredMessage) => ({ ...m, expr: undefined });
    return enc.encode(JSON.stringify({ live: [...state.live.values()].map(strip), gone: [...state.gone.values()].map(strip), generation: state.generation }));
  }

  decodeSnapshot(_channel: string, bytes: Uint8Array): MessagesState {
    const s = JSON.parse(dec.decode(bytes)) as { live: StoredMessage[]; gone: StoredMessage[]; generation?: number };
    const state = this.init();
    state.generation = s.generation ?? 0;
    state.changesSince = Number.MAX_SAFE_INTEGER;
    for (const m of s.live) state.live.set(m.id, { ...m, expr: parseOrNull(m.to) });
    for (const m of s.gone) state.gone.set(m.id, { ...m, expr: parseOrNull(m.to) });
    return state;
  }

  validate(channel: string): BrigadeError | null {
    return forbidden(channel);
  }

  authorizeSubscribe(channel: string): BrigadeError | null {
    return forbidden(channel);
  }
}

/** A message as HTTP answers and devices receive it (no parsed tree). */
export function publicMessage(m: StoredMessage): Record<string, unknown> {
  return {
    id: m.id, to: m.to, title: m.title, body: m.body, data: m.data ?? null, deliverAt: m.deliverAt || null,
    expiresAt: m.expiresAt || null, status: m.status, createdAt: m.createdAt, editedAt: m.editedAt || null,
    seq: m.seq, createdSeq: m.createdSeq,
  };
}
