/**
 * Delivery to connected devices over the core WebSocket (/ws), docs/inbox.md "Delivery".
 *
 * A device connects with an identity (`?token=`), then:
 * 1. REQUEST `inbox.hello {token}`: the device token is verified and bound to the connection's
 *    identity on this node;
 * 2. REQUEST `inbox.sync {token, epoch, seq}`: its cursor. The node keeps the connection the sync
 *    came on (AppRequest.connection) and pushes to it PUSH frames of topic `inbox` (one JSON item
 *    each): the device's messages changed after `seq` (or all of them after a `reset` when the
 *    epoch is not the inbox's), then `sync {epoch, seq, held}` (held: every message id the device
 *    should hold now) — or, past `--inbox-unacked-bytes`, `more {after}`: the device acks and syncs
 *    from `after`;
 * 3. live: at each inbox tick, the changes of the messages log since what the node sent (publish,
 *    edit, deliver at the scheduled time, recall, expire) are evaluated for each connected device
 *    and pushed (`message`, `edit`, `recall`, `expire`), as is a change of the device's own groups.
 *    A PUSH frame names no device (the item's seq is the cursor), so each item is one frame built
 *    once per change of its message, and the same bytes go to every device it reaches;
 * 4. REQUEST `inbox.ack {token, seq, read?}`: resets the unacked bytes, counts reads, and keeps the
 *    device's lease on this node (a device silent for `--inbox-device-lease-ms`, announced in the
 *    sync reply as `leaseMs`, is dropped here); `stalled: true` in
 *    the reply tells a device the node stopped pushing to it (it syncs from its cursor).
 */
import type { AppCore, Publisher, PushTarget } from '../../core/index.ts';
import { BrigadeError, encodePush } from '../../protocol/index.ts';
import { evaluate } from './expression.ts';
import type { DeviceRecipient, Inbox } from './inbox.ts';
import type { DeviceTokens } from './tokens.ts';
import type { DeviceStore } from './devices.ts';
import { MESSAGES_CHANNEL, encodeEvent, publicMessage, type MessagesState, type StoredMessage } from './world.ts';
import './errors.ts';

/** The topic of the inbox's PUSH frames (docs/PROTOCOL.md). */
export const PUSH_TOPIC = 'inbox';
/** A device that neither syncs nor acks for this long stops being pushed to on this node, ms (`--inbox-device-lease-ms`). */
export const DEFAULT_LEASE_MS = 60_000;
/** The shortest lease accepted, ms: the node checks leases once a second. */
export const MIN_LEASE_MS = 1000;

/** One item of a device's stream (the JSON body of one PUSH frame). */
export type DeviceItem =
  | { kind: 'message' | 'edit'; seq: number; message: Record<string, unknown> }
  | { kind: 'recall' | 'expire'; seq: number; message: { id: string } }
  | { kind: 'reset'; epoch: number }
  | { kind: 'sync'; epoch: number; seq: number; held: string[] }
  | { kind: 'more'; epoch: number; after: number };

/**
 * A device connected to this node. A class, not a literal: the live pass reads the same fields of
 * every connected device in a row, and one class keeps those reads monomorphic (and its numbers
 * start as doubles, so a large epoch does not change the object's layout under optimized code).
 */
class Conn {
  /** The messages log is pushed up to here (seq). */
  sentSeq = 0;
  epoch = 0.5;
  /** What the device holds, as far as this node knows: id → seq. */
  readonly held = new Map<string, number>();
  unacked = 0;
  stalled = false;
  /** The registry revision of the device's profile when last evaluated (-1: re-evaluate). */
  rev = 0.5;
  lastMs = Date.now() + 0.5;
  /** The device's index in the registry's store, found at registry version `indexVersion`. */
  index = -1;
  indexVersion = -1.5;
  /** Stops listening for the connection's close. */
  offClose: () => void = () => {};

  constructor(
    readonly id: string,
    readonly userId: string,
    /** The device token the sync verified: an ack with the same token on this connection is not verified again. */
    readonly token: string,
    /** The connection the sync came on: the device's items go there. */
    readonly target: PushTarget,
  ) {
    this.epoch = 0;
    this.rev = 0;
    this.lastMs = Date.now();
    this.indexVersion = -1;
  }
}

/**
 * One changed message of a tick's live pass, as every device's test reads it: one class, its
 * matcher compiled once, its items (whole PUSH frames) looked up once per tick.
 */
class Change {
  message: Uint8Array | null = null;
  edit: Uint8Array | null = null;
  recall: Uint8Array | null = null;
  expire: Uint8Array | null = null;
  /** Devices it went to as a `message` this tick (its delivered count). */
  delivered = 0;

  constructor(
    readonly m: StoredMessage,
    readonly id: string,
    readonly seq: number,
    /** The seq of the message's publish: a device pushed up to an earlier seq cannot hold it. */
    readonly createdSeq: number,
    /** The matcher over the registry's indexes, or null when the message is no longer live. */
    readonly test: ((index: number) => boolean) | null,
    readonly expired: boolean,
  ) {}
}

const enc = new TextEncoder();

/** What inbox.hello verified for an identity on this node. */
interface Binding {
  readonly id: string;
  readonly token: string;
}

type MessageItemKind = 'message' | 'edit' | 'recall' | 'expire';
/** A message's items (whole PUSH frames) as encoded at one seq of it. */
type Encoded = { seq: number } & { [K in MessageItemKind]?: Uint8Array };

/** One item as a whole PUSH frame: the same bytes for every device it goes to. */
function encodeItem(item: DeviceItem): Uint8Array {
  return encodePush(PUSH_TOPIC, enc.encode(JSON.stringify(item)));
}

export class Delivery {
  /** identity userId → the device id and token inbox.hello verified on this node. */
  private readonly bindings = new Map<string, Binding>();
  private readonly conns = new Map<string, Conn>();
  private readonly counts = new Map<string, [number, number]>();
  private lastCountsMs = 0;
  /** The registry's version at the last tick: while it stays, no device's profile changed. */
  private registryVersion = -1;
  /** The messages log's position and epoch at the last walk over the connected devices. */
  private pushedVersion = -1;
  private pushedEpoch = -1;
  /** A device's profile changed through this node since the last walk (deviceChanged). */
  private profileChanged = false;
  private nextLeaseCheckMs = 0;
  /** Each message's items, encoded once per change (a message object is replaced or its seq moves). */
  private readonly encoded = new WeakMap<StoredMessage, Encoded>();

  /** The live pass's frames for the device at hand (pushChanges), reused from device to device. */
  private readonly scratch: Uint8Array[] = [];
  /** Items not written because the device's connection was over the core's byte limit. */
  overLimit = 0;
  /** Asks for a tick (the app's on-demand tick: app.ts): a device connected, a profile changed, a count came. */
  wake: () => void = () => {};

  constructor(private readonly core: AppCore<any>, private readonly inbox: Inbox, private readonly tokens: DeviceTokens, private readonly options: { unackedBytes: number; leaseMs: number }) {}

  registerRequests(): void {
    this.core.request('inbox.hello', async (req) => {
      const body = req.json() as { token?: unknown };
      const id = await this.verify(body, req.publisher);
      this.bindings.set(req.publisher.userId, { id, token: body.token as string });
      return { id };
    });
    this.core.request('inbox.sync', async (req) => {
      const body = req.json() as { epoch?: unknown; seq?: unknown; token?: unknown };
      // The token the hello just verified for this identity is not verified again (a reconnect
      // costs one HMAC, not two); the device must still be registered.
      const bound = this.bindings.get(req.publisher.userId);
      let id: string;
      if (bound !== undefined && bound.token === body.token) {
        id = bound.id;
        await this.inbox.mustExist(id);
      } else {
        id = await this.verify(body, req.publisher);
        if (bound?.id !== id) throw new BrigadeError('FORBIDDEN', 'send inbox.hello first');
      }
      const epoch = typeof body.epoch === 'number' ? body.epoch : 0;
      const seq = typeof body.seq === 'number' && body.seq >= 0 ? Math.floor(body.seq) : 0;
      const userId = req.publisher.userId;
      const conn = new Conn(id, userId, body.token as string, req.connection);
      // The device is no longer connected here once this connection goes (not only when its lease
      // lapses): Web Push counts on it. One hook per device: a newer sync's replaces the older's.
      // The identity's binding stays (dropped with the lease): the same identity may already have
      // said hello on a new connection when the old one's close is noticed.
      conn.offClose = req.onClose(() => {
        if (this.conns.get(id) === conn) {
          this.conns.delete(id);
          this.wake(); // its Web Push presence goes at the next tick (push.ts)
        }
      });
      this.conns.get(id)?.offClose();
      this.conns.set(id, conn);
      this.wake();
      return this.catchUp(conn, epoch, seq, false);
    });
    this.core.request('inbox.ack', (req) => {
      const body = req.json() as { token?: unknown; read?: unknown };
      const conn = this.conns.get(this.bindings.get(req.publisher.userId)?.id ?? '');
      // The connection's own device, with the token its sync verified: no signature to check again
      // (the common case, answered at once); anything else is verified like a sync.
      if (conn !== undefined && conn.userId === req.publisher.userId && conn.token === body.token && conn.target === req.connection) {
        return this.acked(conn, body.read);
      }
      return this.verify(body, req.publisher).then((id) => {
        const c = this.conns.get(id);
        return this.acked(c && c.userId === req.publisher.userId ? c : undefined, body.read);
      });
    });
  }

  private acked(conn: Conn | undefined, read: unknown): { ok: true; stalled: boolean } {
    if (conn) {
      conn.unacked = 0;
      conn.lastMs = Date.now();
    }
    if (Array.isArray(read)) for (const m of read.slice(0, 1000)) if (typeof m === 'string') this.count(m, 0, 1);
    // No device connected here for this ack (its lease lapsed, or it never synced on this node):
    // nothing is pushed to it, so it is told to sync, as a stalled one is.
    return { ok: true, stalled: conn?.stalled ?? true };
  }

  private async verify(body: unknown, publisher: Publisher): Promise<string> {
    if (!publisher.userId) throw new BrigadeError('AUTH_REQUIRED', 'connect with an identity (?token= from POST /api/identity) to receive an inbox');
    const id = this.tokens.verify((body as { token?: unknown } | null)?.token);
    await this.inbox.mustExist(id);
    return id;
  }

  /** Whether the device is connected to this node. */
  isConnected(id: string): boolean {
    return this.conns.has(id);
  }

  /** The devices connected to this node (for last-seen). */
  connectedIds(): Iterable<string> {
    return this.conns.keys();
  }

  /** The devices connected to this node, by id (read it, never change it). */
  connected(): ReadonlyMap<string, unknown> {
    return this.conns;
  }

  /** A device's profile changed through this node: re-evaluated at the next tick (other nodes see the registry's revision). */
  deviceChanged(id: string): void {
    const c = this.conns.get(id);
    if (c) {
      c.rev = -1;
      this.profileChanged = true;
      this.wake();
    }
  }

  stop(): void {
    this.conns.clear();
    this.bindings.clear();
  }

  private count(id: string, delivered: number, read: number): void {
    const c = this.counts.get(id) ?? [0, 0];
    c[0] += delivered;
    c[1] += read;
    this.counts.set(id, c);
    this.wake();
  }

  /**
   * Writes a device its items (whole PUSH frames, shared with every other device they go to) on
   * its connection. Past the core's byte limit (a socket that does not drain) the rest is dropped
   * and the device marked stalled: the node pushes it nothing more, and its next ack's reply says
   * so, so it syncs from its cursor (what it did not get is sent again, nothing is lost).
   */
  private push(conn: Conn, frames: Uint8Array[]): void {
    const n = frames.length;
    if (n === 0) return;
    const target = conn.target;
    if (target.closed) return;
    const limit = this.core.limits.maxBufferedBytes;
    for (let i = 0; i < n; i++) {
      const frame = frames[i];
      const buffered = target.bufferedAmount;
      if (buffered > 0 && buffered + frame.length > limit) {
        conn.stalled = true;
        this.overLimit += n - i;
        return;
      }
      target.send(frame);
    }
  }

  /**
   * A message's item (`message`, `edit`, `recall` or `expire` at its current seq) as a whole PUSH
   * frame, encoded once per change of the message and shared by every device it goes to.
   */
  private itemBytes(m: StoredMessage, kind: MessageItemKind): Uint8Array {
    let e = this.encoded.get(m);
    if (e === undefined || e.seq !== m.seq) this.encoded.set(m, (e = { seq: m.seq }));
    let b = e[kind];
    if (b === undefined) {
      const message = kind === 'message' || kind === 'edit' ? publicMessage(m) : { id: m.id };
      b = e[kind] = encodeItem({ kind, seq: m.seq, message } as DeviceItem);
    }
    return b;
  }

  /** Adds an item's bytes within the unacked budget; false (and a `more`) when the budget is spent. */
  private add(conn: Conn, out: Uint8Array[], bytes: Uint8Array, lastSeq: number): boolean {
    const size = bytes.length;
    if (conn.unacked + size > this.options.unackedBytes && (conn.unacked > 0 || out.length > 0)) {
      out.push(encodeItem({ kind: 'more', epoch: conn.epoch, after: lastSeq }));
      conn.stalled = true;
      return false;
    }
    conn.unacked += size;
    out.push(bytes);
    return true;
  }

  private matches(m: StoredMessage, rec: DeviceRecipient | null): boolean {
    return m.status === 'live' && m.expr !== null && rec !== null && evaluate(m.expr, rec);
  }

  /**
   * Sends the device what changed after `seq` (all of it, after a `reset`, when `epoch` is not the
   * inbox's or `seq` is past its head), then `sync` with what it should hold; or stops at the byte
   * budget with `more`. `known`: conn.held is what the device holds (a live re-evaluation), so
   * unchanged messages it holds are not sent again and ones it no longer matches are recalled.
   */
  private async catchUp(conn: Conn, epoch: number, seq: number, known: boolean): Promise<Record<string, unknown>> {
    const view = await this.inbox.messages();
    const rec = await this.inbox.recipientFor(conn.id);
    conn.rev = rec?.rev ?? 0;
    const items: Uint8Array[] = [];
    let from = seq;
    if (epoch !== view.epoch || seq > view.version) {
      items.push(encodeItem({ kind: 'reset', epoch: view.epoch }));
      from = 0;
      known = false;
    }
    conn.epoch = view.epoch;
    conn.stalled = false;
    const wanted = [...view.state.live.values()].filter((m) => this.matches(m, rec)).sort((a, b) => a.seq - b.seq);
    // What it held before; what it holds is rebuilt from what it matches now, so a message it no
    // longer matches (its profile changed) is recalled below.
    const heldBefore = known ? new Map(conn.held) : new Map<string, number>();
    conn.held.clear();
    let last = from;
    let complete = true;
    for (const m of wanted) {
      const had = heldBefore.get(m.id);
      const send = known ? had !== m.seq : m.seq > from;
      if (send) {
        const kind = (known ? had !== undefined : m.createdSeq <= from) ? 'edit' : 'message';
        if (!this.add(conn, items, this.itemBytes(m, kind), last)) {
          complete = false;
          break;
        }
        if (had === undefined) this.count(m.id, 1, 0);
        last = m.seq;
      }
      conn.held.set(m.id, m.seq);
    }
    if (complete) {
      if (known) {
        for (const [id] of heldBefore) {
          if (conn.held.has(id)) continue;
          const gone = view.state.gone.get(id);
          items.push(gone ? this.itemBytes(gone, gone.status === 'expired' ? 'expire' : 'recall') : encodeItem({ kind: 'recall', seq: view.version, message: { id } }));
        }
      }
      items.push(encodeItem({ kind: 'sync', epoch: view.epoch, seq: view.version, held: [...conn.held.keys()] }));
      conn.sentSeq = view.version;
    }
    this.push(conn, items);
    return { epoch: view.epoch, head: view.version, complete, after: complete ? view.version : last, leaseMs: this.options.leaseMs };
  }

  /** The messages changed after `seq`, oldest first, each with its matcher (compiled once per tick). */
  private changesAfter(st: MessagesState, seq: number, devices: DeviceStore, matchers: Map<StoredMessage, (index: number) => boolean>): Change[] {
    const ids = new Set<string>();
    for (let k = st.changeSeqs.length - 1; k >= 0 && st.changeSeqs[k] > seq; k--) ids.add(st.changeIds[k]);
    const out: Change[] = [];
    for (const id of ids) {
      const m = st.live.get(id) ?? st.gone.get(id);
      if (m === undefined) continue;
      let test: ((index: number) => boolean) | null = null;
      if (m.status === 'live' && m.expr !== null) {
        test = matchers.get(m) ?? null;
        if (test === null) matchers.set(m, (test = devices.matcher(m.expr)));
      }
      out.push(new Change(m, m.id, m.seq, m.createdSeq, test, m.status === 'expired'));
    }
    return out.sort((x, y) => x.seq - y.seq);
  }

  /**
   * One device's share of the live pass: each change it matches (or held) as its item, within the
   * unacked budget. Small and synchronous, apart from the tick, so the loop it runs for every
   * connected device is optimized on its own. True when every change was sent.
   */
  private pushChanges(conn: Conn, changes: Change[], index: number): boolean {
    // One array for every device of the pass (nothing awaits in it): not one per device.
    const out = this.scratch;
    out.length = 0;
    const sentSeq = conn.sentSeq;
    let last = sentSeq;
    for (let k = 0; k < changes.length; k++) {
      const c = changes[k];
      const matches = c.test !== null && c.test(index);
      // A message published after what the device was pushed up to is not held by it, so most of
      // a fan-out's devices are not looked up in their held Map: a device gets a message only in a
      // pass or a catch-up that leaves its sentSeq at or past it, or else marks it stalled (a
      // stalled device is not in the pass).
      const had = c.createdSeq > sentSeq ? undefined : conn.held.get(c.id);
      let frame: Uint8Array | null = null;
      if (matches) {
        if (had === undefined) frame = c.message ??= this.itemBytes(c.m, 'message');
        else frame = c.edit ??= this.itemBytes(c.m, 'edit');
      } else if (had !== undefined) {
        frame = c.expired ? (c.expire ??= this.itemBytes(c.m, 'expire')) : (c.recall ??= this.itemBytes(c.m, 'recall'));
      }
      if (frame !== null) {
        if (!this.add(conn, out, frame, last)) {
          this.push(conn, out);
          return false;
        }
        if (matches) {
          if (had === undefined) c.delivered++;
          conn.held.set(c.id, c.seq);
        } else {
          conn.held.delete(c.id);
        }
      }
      last = c.seq;
    }
    this.push(conn, out);
    return true;
  }

  /**
   * Pushes each connected device what changed since the last tick. Resolves with when it next has
   * something to do without a change coming (ms; Infinity: nothing): the counts of deliveries and
   * reads, published at most once a second, and the lease check, once a second while devices
   * are connected.
   */
  async tick(nowMs: number): Promise<number> {
    await this.pass(nowMs);
    let nextMs = this.conns.size > 0 ? this.nextLeaseCheckMs : Infinity;
    if (this.counts.size > 0) nextMs = Math.min(nextMs, this.lastCountsMs + 1000);
    return nextMs;
  }

  private async pass(nowMs: number): Promise<void> {
    if (this.counts.size > 0 && nowMs - this.lastCountsMs >= 1000) {
      this.lastCountsMs = nowMs;
      const c = Object.fromEntries(this.counts);
      this.counts.clear();
      this.core.channels.publishInternal(MESSAGES_CHANNEL, [encodeEvent({ t: 'counts', c })], 'inbox').catch(() => {});
    }
    if (this.conns.size === 0) return;
    const view = await this.inbox.messages();
    const st: MessagesState = view.state;
    // A device's profile can have changed only when the registry has: while it has not, an idle
    // tick looks up nothing per device; when it has, each device's revision is read from the
    // store's column, and its recipient (a copy of its profile) is built only when there is a
    // change to evaluate.
    const registry = await this.inbox.registry();
    const devices = registry.state.devices;
    const registryChanged = registry.version !== this.registryVersion;
    this.registryVersion = registry.version;
    // Nothing new to push to anyone (no message changed, no profile changed): skip the walk over
    // every connected device, but for the leases, once a second.
    const quiet = view.version === this.pushedVersion && view.epoch === this.pushedEpoch && !registryChanged && !this.profileChanged;
    if (quiet && nowMs < this.nextLeaseCheckMs) return;
    this.pushedVersion = view.version;
    this.pushedEpoch = view.epoch;
    this.profileChanged = false;
    this.nextLeaseCheckMs = nowMs + 1000;
    // One pass over the connected devices, with no await in it: each changed message's matcher is
    // compiled once (over the registry's interned ids) and tested on a device's index, each item is
    // encoded once per change (itemBytes) and the same bytes go to every device it reaches. A
    // device that needs a full re-evaluation (new epoch, its profile changed, its cursor older
    // than the changes kept) is caught up after the pass.
    const catchUps: Conn[] = [];
    const changedSince = new Map<number, Change[]>();
    const matchers = new Map<StoredMessage, (index: number) => boolean>();
    const leaseMs = this.options.leaseMs;
    // Nearly every device was pushed up to the same seq: the last lookup is kept, not repeated.
    let lastSince = -1;
    let lastChanged: Change[] = [];
    const oldestKept = Math.min(st.changesSince, view.version);
    const version = view.version;
    for (const conn of this.conns.values()) {
      if (nowMs - conn.lastMs > leaseMs) {
        conn.offClose();
        this.conns.delete(conn.id);
        if (this.bindings.get(conn.userId)?.id === conn.id) this.bindings.delete(conn.userId);
        continue;
      }
      if (conn.stalled) continue;
      // The device's index, looked up again only when the registry changed since it was found.
      if (conn.indexVersion !== registry.version) {
        conn.index = devices.findHex(conn.id);
        conn.indexVersion = registry.version;
      }
      const index = conn.index;
      let revChanged = conn.rev < 0;
      if (registryChanged && !revChanged) {
        if (index < 0) continue;
        revChanged = devices.rev[index] !== conn.rev;
      }
      if (conn.epoch !== view.epoch || revChanged || conn.sentSeq < oldestKept) {
        catchUps.push(conn);
        continue;
      }
      if (conn.sentSeq >= version) continue;
      if (index < 0) continue;
      let changed = lastChanged;
      if (conn.sentSeq !== lastSince) {
        let found = changedSince.get(conn.sentSeq);
        if (found === undefined) {
          found = this.changesAfter(st, conn.sentSeq, devices, matchers);
          changedSince.set(conn.sentSeq, found);
        }
        lastSince = conn.sentSeq;
        lastChanged = changed = found;
      }
      // Nothing to test (the log moved by events that change no message, e.g. counts): no call.
      if (changed.length === 0 || this.pushChanges(conn, changed, index)) conn.sentSeq = version;
    }
    for (const changes of changedSince.values()) for (const c of changes) if (c.delivered > 0) this.count(c.id, c.delivered, 0);
    for (const conn of catchUps) {
      if (this.conns.get(conn.id) !== conn || conn.stalled) continue;
      await this.catchUp(conn, conn.epoch, conn.sentSeq, conn.epoch === view.epoch);
    }
  }
}
