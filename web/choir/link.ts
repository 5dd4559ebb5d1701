/**
 * A singer's link to their room (docs/choir.md "Rejoining"): connects to the entry URL, joins the
 * room at the singer's delay, follows an `elsewhere` answer to the node that holds the room, and,
 * when the connection drops (the node died, the network went, the room moved), joins again by
 * itself: same room, same delay, from the entry URL, with backoff, as often as it takes, until
 * close(). Each rejoin asks the server to replace the singer this link was (`replaces`), so a
 * singer whose node lived on keeps the lead and does not linger as a second self until it idles
 * out; on a node that restarted, the room is new (its audio, song and clock were lost with the
 * process) and the rejoin is a fresh join.
 *
 * No audio here: the page (web/choir.ts) and any Node client (pass the `ws` WebSocket) wire their
 * codecs to onJoined. Requests in flight on a dropped connection fail with DISCONNECTED or
 * TIMEOUT; they are not re-sent (a frame is worth nothing a second late).
 */
import type { RoomState } from '../../src/apps/choir/room.ts';
import { backoffDelayMs, type BackoffOptions } from '../../src/sdk/backoff.ts';
import { BrigadeClient, BrigadeError, type WebSocketConstructor } from '../../src/sdk/index.ts';

export interface JoinAsk { room: string; name?: string; delayMs: number; gain?: number }
export interface Joined extends RoomState {
  singer: number; key: string; shard: number; delaySamples: number; node: string; url: string; replaced?: number | null;
  /** 20 ms frames the page sends in one message (--choir-frames-per-message); absent from an older server: 1. */
  framesPerMessage?: number;
}
interface Elsewhere { room: string; elsewhere: string; node: string; retryAfterMs: number; take?: boolean }

/** Where the link stands; `attempt` counts the tries since the link was last joined. */
export type LinkStatus =
  | { state: 'connecting'; attempt: number; url: string }
  | { state: 'joined'; url: string; singer: number; rejoins: number }
  | { state: 'waiting'; attempt: number; delayMs: number; reason: string }
  | { state: 'closed' };

export interface ChoirLinkOptions {
  /** Node: the `ws` package's WebSocket; browsers: their own. */
  WebSocket?: WebSocketConstructor;
  /** Delays between rejoin attempts (default 250 ms doubling to 4 s, with jitter). */
  backoff?: BackoffOptions;
  /** How long one connect or join may take before the attempt counts as failed, ms (default 5000). */
  attemptTimeoutMs?: number;
  /** Joined (the first time, `rejoin` false) or joined again on a new connection; `joinRttMs`: the join's round trip (its reply carries the room's clock). */
  onJoined(client: BrigadeClient, joined: Joined, rejoin: boolean, joinRttMs: number): void;
  /** The joined connection dropped; a rejoin follows. */
  onLost?(reason: string): void;
  onStatus?(status: LinkStatus): void;
}

/** ws://host/ws for a node's public http(s) URL. */
export const wsUrlOf = (httpUrl: string) => `${httpUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/ws`;

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> => new Promise<T>((resolve, reject) => {
  const timer = setTimeout(() => reject(new BrigadeError('TIMEOUT', `${what}: no answer within ${ms} ms`)), ms);
  p.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
});

/** A server's `retryAfterMs`, bounded: at least 50 ms (no busy loop), at most 10 s (a claim longer than that is a misconfiguration, not a reason to go silent). */
const boundedWaitMs = (retryAfterMs: number) => Math.max(50, Math.min(Number.isFinite(retryAfterMs) ? retryAfterMs : 0, 10_000));

export class ChoirLink {
  client: BrigadeClient | null = null;
  joined: Joined | null = null;
  status: LinkStatus = { state: 'connecting', attempt: 0, url: '' };
  /** Joins after the first. */
  rejoins = 0;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly backoff: BackoffOptions;

  constructor(readonly entryUrl: string, readonly ask: JoinAsk, private readonly options: ChoirLinkOptions) {
    this.backoff = options.backoff ?? { minDelayMs: 250, maxDelayMs: 4000 };
  }

  /**
   * The first join. Rejects with the server's typed refusal (a bad room name, a full room) or the
   * connection's failure, and the link is closed: what the user asked for is theirs to change.
   */
  async start(): Promise<Joined> {
    const r = await this.tryJoin(0);
    if ('joined' in r) return r.joined;
    this.close();
    throw r.error;
  }

  /** Leaves the room (best effort) and stops rejoining. */
  async leave(): Promise<void> {
    const { client, joined } = this;
    this.close();
    if (client && joined) {
      await client.request('choir.leave', { singer: joined.singer, key: joined.key }, { timeoutMs: 2000 }).catch(() => {});
    }
    client?.close();
  }

  /**
   * The server no longer knows this singer (it idled out, or its node gave the room up): join
   * again at once, as after a lost connection.
   */
  rejoin(reason: string): void {
    const client = this.client;
    if (this.closed || this.status.state !== 'joined' || !client) return;
    this.drop(client, reason);
  }

  /** Stops rejoining and closes the connection (without leaving: the singer idles out). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.setStatus({ state: 'closed' });
  }

  private setStatus(s: LinkStatus): void {
    this.status = s;
    this.options.onStatus?.(s);
  }

  /**
   * One try: the entry URL, then at most two hops to the nodes `elsewhere` names (a lighter node,
   * then, in a race, the one that took the room meanwhile). Resolves with
   * the join, or with why not and how long to wait (a claim's time left, or the backoff).
   */
  private async tryJoin(attempt: number): Promise<{ joined: Joined } | { error: Error; retryAfterMs: number }> {
    const timeoutMs = this.options.attemptTimeoutMs ?? 5000;
    let url = this.entryUrl;
    let take: boolean = false;
    // The last `elsewhere` this attempt followed, and when: a target that then refuses is most
    // likely the dead node whose claim still names it, and that claim runs out no sooner than
    // the server said; trying the entry again before then only gets the same dead URL.
    let told: { retryAfterMs: number; at: number } | null = null;
    for (let hop = 0; ; hop++) {
      this.setStatus({ state: 'connecting', attempt, url });
      // The SDK's own reconnect is not used: after a drop the room may live elsewhere, so the link
      // starts over from the entry URL (a long minimum delay keeps the SDK from racing it).
      const client = new BrigadeClient(url, { WebSocket: this.options.WebSocket, reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
      client.on('error', () => {}); // each failure surfaces through ready() or the request
      // A refused or dropped connection ends the attempt at once (the SDK would only schedule its own reconnect).
      const dropped = new Promise<never>((_, reject) => {
        const off = client.on('close', (info) => { off(); reject(new BrigadeError('DISCONNECTED', `no connection to ${url} (${info.code})`)); });
      });
      dropped.catch(() => {});
      try {
        await withTimeout(Promise.race([client.ready(), dropped]), timeoutMs, `connect to ${url}`);
        const previous = this.joined;
        const body: Record<string, unknown> = { ...this.ask, replaces: previous ? { singer: previous.singer, key: previous.key } : null, take };
        const sentAt = performance.now();
        const r: Joined | Elsewhere = await withTimeout(client.request<Joined | Elsewhere>('choir.join', body, { timeoutMs }), timeoutMs + 100, 'choir.join');
        if ('elsewhere' in r) {
          client.close();
          const there = wsUrlOf(r.elsewhere);
          // The room's node is another one: go there now. Told our own URL (a node restarted where
          // its predecessor's claim has not run out), or told again: wait for the claim.
          if (there !== url && hop < 2) { url = there; take = r.take === true; told = { retryAfterMs: r.retryAfterMs, at: performance.now() }; continue; }
          return { error: new BrigadeError('UNAVAILABLE', `room ${r.room} is held by ${r.elsewhere} (node ${r.node}) for ${r.retryAfterMs} ms more`), retryAfterMs: boundedWaitMs(r.retryAfterMs) };
        }
        if (this.closed) { client.close(); return { error: new BrigadeError('DISCONNECTED', 'the link was closed'), retryAfterMs: 0 }; }
        this.attach(client, r, url, performance.now() - sentAt);
        return { joined: r };
      } catch (err) {
        client.close();
        const backoffMs = backoffDelayMs(attempt, this.backoff);
        // Sent here by `elsewhere` and refused (or unanswered): wait out the claim's time left, as
        // the server said, rather than going round entry → dead URL with backoff until it ends.
        if (told) return { error: err as Error, retryAfterMs: Math.max(backoffMs, boundedWaitMs(told.retryAfterMs - (performance.now() - told.at))) };
        return { error: err as Error, retryAfterMs: backoffMs };
      }
    }
  }

  private attach(client: BrigadeClient, joined: Joined, url: string, joinRttMs: number): void {
    const rejoin = this.joined !== null;
    if (rejoin) this.rejoins++;
    this.client = client;
    this.joined = joined;
    this.setStatus({ state: 'joined', url, singer: joined.singer, rejoins: this.rejoins });
    const off = client.on('close', (info) => {
      off();
      if (!this.closed && this.client === client) this.drop(client, `connection closed (${info.code}${info.reason ? `: ${info.reason}` : ''})`);
    });
    this.options.onJoined(client, joined, rejoin, joinRttMs);
  }

  private drop(client: BrigadeClient, reason: string): void {
    this.client = null;
    client.close();
    this.options.onLost?.(reason);
    this.schedule(0, 0, reason);
  }

  private schedule(attempt: number, delayMs: number, reason: string): void {
    if (this.closed) return;
    this.setStatus({ state: 'waiting', attempt, delayMs, reason });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed) return;
      void this.tryJoin(attempt).then((r) => {
        if (!('joined' in r) && !this.closed) this.schedule(attempt + 1, r.retryAfterMs, r.error.message);
      });
    }, delayMs);
  }
}
