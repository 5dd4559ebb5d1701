/**
 * The inbox of one device (docs/inbox.md "Delivery"): `client.inbox(deviceToken)` is an async
 * iterable of `{kind: 'message' | 'edit' | 'recall' | 'expire', message}`. It keeps the cursor
 * (inbox epoch, last seq, and the ids it holds) through `load`/`save` (default: localStorage in a
 * browser, memory otherwise), resumes from it after every (re)connect, acks what it consumed and
 * marks messages read.
 */
import { BrigadeError } from '../protocol/index.ts';

/** What the inbox needs of a client (BrigadeClient). */
export interface InboxClient {
  readonly connected: boolean;
  request<T = unknown>(kind: string, body?: unknown): Promise<T>;
  /** The inbox's items arrive as PUSH frames of topic `inbox` (docs/PROTOCOL.md). */
  onPush(topic: string, receiver: (body: Uint8Array) => void): () => void;
  on(event: 'open', listener: () => void): () => void;
}

export interface InboxMessage {
  id: string;
  title?: string;
  body?: string;
  data?: unknown;
  expiresAt?: number | null;
  seq?: number;
  [key: string]: unknown;
}

export interface InboxItem {
  kind: 'message' | 'edit' | 'recall' | 'expire';
  message: InboxMessage;
}

/** Where a device is: the inbox epoch, the last seq it has, and the messages it holds (id → [seq, expiresAt]). */
export interface InboxCursor {
  epoch: number;
  seq: number;
  held: Record<string, [number, number]>;
}

export interface InboxOptions {
  /** The saved cursor (default: localStorage `brigade-inbox:<device id>` in a browser). */
  load?(): InboxCursor | null;
  save?(cursor: InboxCursor): void;
  /**
   * How often the inbox acks while idle (to renew its lease on the node), ms. Default: two thirds
   * of the lease the node announces in its sync reply (`leaseMs`, `--inbox-device-lease-ms`), 40 s
   * until the first reply: MQTT's keep-alive ratio (a broker drops a client silent for 1.5 ×
   * keep-alive). A lease that lapses anyway (a late timer) costs one sync: the next ack's reply
   * says `stalled` and the inbox syncs from its cursor.
   */
  heartbeatMs?: number;
}

type Wire =
  | { kind: 'message' | 'edit'; seq: number; message: InboxMessage }
  | { kind: 'recall' | 'expire'; seq: number; message: { id: string } }
  | { kind: 'reset'; epoch: number }
  | { kind: 'sync'; epoch: number; seq: number; held: string[] }
  | { kind: 'more'; epoch: number; after: number };

/** The heartbeat until the node announces its lease, ms (two thirds of the default 60 s lease). */
const DEFAULT_HEARTBEAT_MS = 40_000;
/** The shortest heartbeat a lease makes the SDK keep, ms. */
const MIN_HEARTBEAT_MS = 100;

function storage(): { getItem(k: string): string | null; setItem(k: string, v: string): void } | null {
  const ls = (globalThis as { localStorage?: { getItem(k: string): string | null; setItem(k: string, v: string): void } }).localStorage;
  return ls ?? null;
}

export class Inbox implements AsyncIterable<InboxItem> {
  readonly deviceId: string;
  cursor: InboxCursor;
  private readonly queue: InboxItem[] = [];
  private waiters: ((r: IteratorResult<InboxItem>) => void)[] = [];
  private readonly unread = new Set<string>();
  private closed = false;
  private readonly offOpen: () => void;
  private readonly offPush: () => void;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  /** The interval the heartbeat runs at now, ms. */
  heartbeatMs = 0;
  /** The lease the node announced in its last sync reply, ms (null before the first). */
  leaseMs: number | null = null;
  private readonly decoder = new TextDecoder();

  constructor(private readonly client: InboxClient, private readonly token: string, private readonly options: InboxOptions = {}) {
    this.deviceId = token.split('.')[0];
    const key = `brigade-inbox:${this.deviceId}`;
    const ls = storage();
    const loaded = options.load ? options.load() : ls ? (JSON.parse(ls.getItem(key) ?? 'null') as InboxCursor | null) : null;
    this.cursor = loaded ?? { epoch: 0, seq: 0, held: {} };
    if (!options.save && ls) this.options = { ...options, save: (c) => ls.setItem(key, JSON.stringify(c)) };
    // Each PUSH of topic `inbox` is one item. The cursor is saved after every item, not only at a
    // sync: a page closed between syncs comes back holding what it was given (so a recall while it
    // was away reaches it), not resent it.
    this.offPush = client.onPush('inbox', (body) => {
      if (this.closed) return;
      this.handle(JSON.parse(this.decoder.decode(body)) as Wire);
      if (this.unsaved) this.save();
    });
    this.offOpen = client.on('open', () => void this.attach());
    if (client.connected) void this.attach();
    this.startHeartbeat(options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  }

  private startHeartbeat(ms: number): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeatMs = ms;
    this.heartbeat = setInterval(() => void this.ack(), ms);
    (this.heartbeat as { unref?(): void }).unref?.();
  }

  /**
   * Follows the lease a sync reply announces (unless heartbeatMs was given): an ack every two thirds
   * of it, as an MQTT client pings every keep-alive and its broker waits 1.5 × that. Each ack is a
   * read, a reply and a write on the node, ~40 µs of its CPU (docs/benchmarks-inbox.md): at a third
   * of the lease, 10,000 idle devices cost a node and Redis 2–3 % of a core for nothing but acks.
   */
  private follow(reply: unknown): void {
    const leaseMs = (reply as { leaseMs?: unknown } | null)?.leaseMs;
    if (typeof leaseMs !== 'number' || !(leaseMs >= 1)) return;
    this.leaseMs = leaseMs;
    if (this.options.heartbeatMs !== undefined || this.closed) return;
    const ms = Math.max(MIN_HEARTBEAT_MS, Math.floor((leaseMs * 2) / 3));
    if (ms !== this.heartbeatMs) this.startHeartbeat(ms);
  }

  /** Marks a message read (sent with the next ack). */
  markRead(id: string): void {
    this.unread.add(id);
    void this.ack();
  }

  close(): void {
    this.closed = true;
    this.offOpen();
    this.offPush();
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    for (const w of this.waiters) w({ value: undefined, done: true });
    this.waiters = [];
  }

  [Symbol.asyncIterator](): AsyncIterator<InboxItem> {
    return {
      next: () => {
        const item = this.queue.shift();
        if (item) return Promise.resolve({ value: item, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private emit(item: InboxItem): void {
    const w = this.waiters.shift();
    if (w) w({ value: item, done: false });
    else this.queue.push(item);
  }

  /** The last error of a hello, sync or ack (each is tried again at the next reconnect or ack). */
  lastError: BrigadeError | null = null;

  private report(err: unknown): void {
    if (err instanceof BrigadeError) this.lastError = err;
  }

  /** hello, then sync from the cursor: after every (re)connect. */
  private async attach(): Promise<void> {
    if (this.closed) return;
    try {
      await this.client.request('inbox.hello', { token: this.token });
      await this.sync(this.cursor.seq);
    } catch (err) {
      this.report(err);
    }
  }

  /** True while a sync is unanswered (a stalled ack does not start a second). */
  private syncing = false;
  /** The cursor changed since it was last saved. */
  private unsaved = false;

  private async sync(seq: number): Promise<unknown> {
    this.syncing = true;
    try {
      const reply = await this.client.request('inbox.sync', { token: this.token, epoch: this.cursor.epoch, seq });
      this.follow(reply);
      return reply;
    } finally {
      this.syncing = false;
    }
  }

  /**
   * hello, then sync from the cursor, on the same connection: after a lapsed lease the node has
   * forgotten this connection's hello too (a late ack's reply says `stalled`). The hello's token
   * is one the node verified before, so it costs no signature check there.
   */
  private async resync(): Promise<void> {
    this.syncing = true;
    try {
      await this.client.request('inbox.hello', { token: this.token });
    } finally {
      this.syncing = false;
    }
    await this.sync(this.cursor.seq);
  }

  /** `resync`: sync from the cursor when the node says it stopped pushing (not after a `more`, which syncs itself). */
  private async ack(resync = true): Promise<void> {
    if (this.closed || !this.client.connected) return;
    const read = [...this.unread];
    this.unread.clear();
    try {
      const r = await this.client.request<{ stalled?: boolean }>('inbox.ack', { token: this.token, seq: this.cursor.seq, read });
      // The node stopped pushing to this device (its connection was over the node's byte limit, a
      // `more` was lost with it, or its lease lapsed there): ask again from the cursor; what it
      // lacks is sent again.
      if (resync && r?.stalled && !this.closed && !this.syncing) await this.resync();
    } catch (err) {
      for (const id of read) this.unread.add(id);
      this.report(err);
    }
  }

  private save(): void {
    this.unsaved = false;
    this.options.save?.(this.cursor);
  }

  private handle(w: Wire): void {
    const c = this.cursor;
    this.unsaved = true;
    switch (w.kind) {
      case 'reset':
        // What follows is the whole inbox of a new epoch; the sync at its end says what to keep.
        c.epoch = w.epoch;
        c.seq = 0;
        break;
      case 'message':
      case 'edit': {
        const had = c.held[w.message.id];
        if (had && had[0] === w.seq) break;
        c.held[w.message.id] = [w.seq, Number(w.message.expiresAt ?? 0)];
        c.seq = Math.max(c.seq, w.seq);
        this.emit({ kind: had ? 'edit' : 'message', message: w.message });
        break;
      }
      case 'recall':
      case 'expire':
        c.seq = Math.max(c.seq, w.seq);
        if (c.held[w.message.id]) {
          delete c.held[w.message.id];
          this.emit({ kind: w.kind, message: w.message });
        }
        break;
      case 'sync': {
        c.epoch = w.epoch;
        c.seq = w.seq;
        const keep = new Set(w.held);
        for (const [id, [, expiresAt]] of Object.entries(c.held)) {
          if (keep.has(id)) continue;
          delete c.held[id];
          this.emit({ kind: expiresAt && expiresAt <= Date.now() ? 'expire' : 'recall', message: { id } });
        }
        this.save();
        void this.ack();
        break;
      }
      case 'more':
        c.epoch = w.epoch;
        c.seq = w.after;
        this.save();
        void this.ack(false).then(() => this.sync(w.after)).catch((err) => this.report(err));
        break;
    }
  }
}
