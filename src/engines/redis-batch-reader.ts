/**
 * Delivery of committed batches for the Redis engine. One dedicated connection per engine loops on
 *   XREAD COUNT <n> BLOCK <ms> STREAMS <log of each watched channel…> <cursor of each…>
 * where a channel's cursor is the id of the last batch delivered (or the position just before the
 * version it is watched from). Each batch comes back exactly once and in id order, that is in
 * version order, whichever node appended it, this one included.
 *
 * Which channels: those the engine was asked about (info, read, append); see RedisEngine. A channel
 * watched while an XREAD is blocked would wait for its timeout, so watching one interrupts the
 * blocked call with CLIENT UNBLOCK (sent on the command connection) and the loop re-issues XREAD
 * with the longer key list. Cursors live in memory, so after a reconnect the loop resumes from them
 * and nothing is skipped or repeated.
 *
 * A channel is unwatched when the hub unloads it (RedisEngine.releaseChannel): it leaves the key
 * list at the next XREAD, and entries of it in a reply already on its way are dropped, even when
 * the channel is watched again meanwhile (each watch is its own object, compared by identity), so a
 * re-watched channel gets batches from its new cursor only.
 *
 * Epochs: each watch knows the epoch its cursor counts in. A log that Redis loses (no persistence,
 * a flush) starts again at a new epoch with ids below the cursor, which XREAD would never return.
 * So after every reconnect, and at least every `epochCheckMs`, the loop reads each watched
 * channel's epoch (one pipelined HGET each); a channel whose log moved to another epoch (or is
 * gone) is asked where it is now (`currentPositions`), its watch restarts from that head, and
 * `announce` tells the engine's handlers. follow() does the same when an append, info or read
 * meets a new epoch first, and an entry carrying an epoch the watch did not know moves it along.
 *
 * Roll-backs: each watch also knows the end of what it delivered. A log found at the same epoch
 * but with its head below that end went back: the Redis now serving lost batches this node
 * delivered (a failover to a replica that lacked them). `rollBack` moves the channel to a new
 * epoch (redis-lua-roll-back.ts), and the watch follows it like any other epoch change. The same
 * check runs after every reconnect, which is when a failover shows.
 *
 * Known limit: one XREAD names every watched log, which Redis Cluster refuses when they span slots.
 */
import type { Redis } from 'ioredis';
import type { Position } from '../core/engine.ts';
import { parseBatchEntry, positionBefore } from './redis-keys.ts';
import type { BatchEntry, RawStreamEntry } from './redis-keys.ts';
import { seenIn, type ChannelReader } from './redis-reader.ts';

export interface BatchReaderOptions {
  /** Longest time one XREAD blocks, ms; also bounds how late a missed interrupt can be. */
  blockMs: number;
  /** Most batches taken per channel per XREAD, bounding one reply's size. */
  batchesPerRead: number;
  /** The log stream key of a channel. */
  logKey: (channel: string) => string;
  /** The meta hash key of a channel (its field `epoch`). */
  metaKey: (channel: string) => string;
  /** Called once per batch, in version order per channel and epoch; `batch.epoch` is always set. */
  deliver: (channel: string, batch: BatchEntry) => void;
  /** Called when a watched channel's log is found at a new epoch; delivery goes on from `position`. */
  announce: (channel: string, position: Position) => void;
  /** Where the channels' logs are now (creating a lost one's new epoch); null where it failed. */
  currentPositions: (channels: string[]) => Promise<Array<Position | null>>;
  /**
   * The channel's log is at `seen.epoch` with its head below `seen.version` (the end this watch
   * delivered): move it to a new epoch unless that was done already; resolves where it is now.
   */
  rollBack: (channel: string, seen: Position) => Promise<Position>;
  /** Longest time between two epoch checks while connected, ms. */
  epochCheckMs: number;
  /** Sends CLIENT UNBLOCK <clientId> on another connection; resolves to 1 when a call was unblocked. */
  unblock: (clientId: number) => Promise<number>;
  logger: { warn(obj: object, msg: string): void };
}

interface Watch {
  cursor: string;
  epoch: number;
  /** The version after the last one known to exist in this epoch (delivered, or the head watched from). */
  end: number;
}

/** Pause after a reply error (not a dropped connection), so a persistent one does not spin. */
const ERROR_PAUSE_MS = 1000;
/** Retry delay for CLIENT UNBLOCK when the XREAD has not reached Redis yet. */
const UNBLOCK_RETRY_MS = 2;

export class RedisBatchReader implements ChannelReader {
  private readonly conn: Redis;
  private readonly options: BatchReaderOptions;
  /**
   * channel → its watch: the stream id of the last batch delivered (or the position it is watched
   * from) and the epoch of the log that cursor counts in.
   */
  private readonly watches = new Map<string, Watch>();
  /** When the epochs were last checked (ms, Date.now); 0 = at the next turn of the loop. */
  private lastEpochCheck = 0;
  private waiters: Array<() => void> = [];
  private clientId: number | null = null;
  private calls = 0;
  /** The number of the XREAD now blocked in Redis, or 0. */
  private blockingCall = 0;
  private interrupting = false;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(conn: Redis, options: BatchReaderOptions) {
    this.conn = conn;
    this.options = options;
    conn.on('ready', () => this.signal());
    conn.on('close', () => {
      this.clientId = null;
      this.lastEpochCheck = 0; // Redis may have restarted without its data: check on reconnect
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Delivers every batch of `channel` from `fromVersion` of log `epoch` on. No effect when already
   * watched at that epoch; watched at another, the log was replaced: the watch restarts there and
   * `announce` says so.
   */
  follow(channel: string, fromVersion: number, epoch: number): void {
    if (this.stopped) return;
    const current = this.watches.get(channel);
    if (current !== undefined && current.epoch === epoch) return;
    this.watches.set(channel, { cursor: positionBefore(fromVersion), epoch, end: fromVersion });
    if (current !== undefined) this.options.announce(channel, { version: fromVersion, epoch });
    this.signal();
    this.interrupt();
  }

  /** Stops delivering `channel`; it leaves the key list at the next XREAD. No effect when not watched. */
  unwatch(channel: string): void {
    this.watches.delete(channel);
  }

  /** The epoch and end of what this reader has delivered of `channel`; undefined when not watched. */
  seen(channel: string): Position | undefined {
    return seenIn(this.watches, channel);
  }

  isWatching(channel: string): boolean {
    return this.watches.has(channel);
  }

  /** How many channels the next XREAD names. */
  get watching(): number {
    return this.watches.size;
  }

  /** Ends the loop and the connection; batches not yet delivered are not. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.signal();
    this.conn.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.conn.status !== 'ready' || this.watches.size === 0) {
        await this.nextSignal();
        continue;
      }
      try {
        if (this.clientId === null) this.clientId = Number(await this.conn.client('ID'));
        if (Date.now() - this.lastEpochCheck >= this.options.epochCheckMs) await this.checkEpochs();
        await this.readOnce();
      } catch (err) {
        if (this.stopped) break;
        // A dropped connection rejects the XREAD; the 'ready' signal resumes from the same cursors.
        if (this.conn.status === 'ready') {
          this.options.logger.warn({ err }, 'reading committed batches from redis failed; retrying');
          await this.nextSignal(ERROR_PAUSE_MS);
        }
      }
    }
  }

  /**
   * Finds the watched channels whose log is no longer at the watch's epoch, or went back below
   * what the watch delivered, and follows where each is now.
   */
  private async checkEpochs(): Promise<void> {
    const watched = [...this.watches];
    if (watched.length === 0) return;
    const pipeline = this.conn.pipeline();
    for (const [channel] of watched) pipeline.hmget(this.options.metaKey(channel), 'epoch', 'head');
    const results = await pipeline.exec();
    const moved: string[] = [];
    const wentBack: Array<[string, Watch]> = [];
    watched.forEach(([channel, watch], i) => {
      const [err, row] = results?.[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      if (this.watches.get(channel) !== watch) return;
      const [epoch, head] = (row as Array<string | null>).map((v) => Number(v ?? 0));
      if (epoch !== watch.epoch) moved.push(channel);
      else if (head < watch.end) wentBack.push([channel, watch]);
    });
    if (moved.length > 0) {
      const positions = await this.options.currentPositions(moved);
      moved.forEach((channel, i) => {
        const position = positions[i];
        if (position === null) throw new Error(`could not read ${channel}'s position`);
        // Only if still watched: unwatched meanwhile, it starts again from its head when next used.
        if (this.watches.has(channel)) this.follow(channel, position.version, position.epoch);
      });
    }
    let again = false;
    for (const [channel, watch] of wentBack) {
      const position = await this.options.rollBack(channel, { epoch: watch.epoch, version: watch.end });
      if (this.watches.get(channel) !== watch) continue;
      if (position.epoch !== 0) this.follow(channel, position.version, position.epoch);
      else again = true; // lost meanwhile: the next turn's check takes it as a moved epoch
    }
    this.lastEpochCheck = again ? 0 : Date.now();
  }

  private async readOnce(): Promise<void> {
    const byKey = new Map<string, { channel: string; watch: Watch }>();
    const blockMs = Math.max(1, Math.min(this.options.blockMs, this.lastEpochCheck + this.options.epochCheckMs - Date.now()));
    const args: string[] = ['COUNT', String(this.options.batchesPerRead), 'BLOCK', String(blockMs), 'STREAMS'];
    for (const [channel, watch] of this.watches) {
      const key = this.options.logKey(channel);
      byKey.set(key, { channel, watch });
      args.push(key);
    }
    for (const { watch } of byKey.values()) args.push(watch.cursor);
    const call = ++this.calls;
    this.blockingCall = call;
    let reply: unknown;
    try {
      reply = await this.conn.callBuffer('XREAD', ...args);
    } finally {
      if (this.blockingCall === call) this.blockingCall = 0;
    }
    if (!Array.isArray(reply)) return; // timed out or unblocked
    for (const [key, entries] of reply as Array<[Buffer, RawStreamEntry[]]>) {
      const read = byKey.get(key.toString());
      if (read === undefined) continue;
      const { channel, watch } = read;
      for (const entry of entries) {
        // Unwatched (or unwatched and watched again) while this reply was on its way: not wanted.
        if (this.watches.get(channel) !== watch) break;
        // Moved before delivering: a throwing handler must not make the batch come again.
        watch.cursor = entry[0].toString();
        const batch = parseBatchEntry(entry);
        if (batch) {
          // An entry of an epoch the watch did not know: the log was replaced past the cursor.
          if (batch.epoch === 0) batch.epoch = watch.epoch;
          else watch.epoch = batch.epoch;
          watch.end = batch.firstVersion + batch.count;
          this.options.deliver(channel, batch);
        } else this.options.logger.warn({ channel, id: entry[0].toString() }, 'malformed batch in the redis log; skipped');
      }
    }
  }

  /** Makes a blocked XREAD return now, so a newly watched channel joins the next one. */
  private interrupt(): void {
    if (this.interrupting || this.blockingCall === 0) return;
    const call = this.blockingCall;
    this.interrupting = true;
    const attempt = (): void => {
      const clientId = this.clientId;
      if (this.stopped || this.blockingCall !== call || clientId === null) {
        this.interrupting = false;
        return;
      }
      this.options.unblock(clientId).then((unblocked) => {
        if (unblocked === 1) this.interrupting = false;
        else setTimeout(attempt, UNBLOCK_RETRY_MS); // not blocked yet: the XREAD is still on its way
      }, () => {
        this.interrupting = false; // command connection down: the XREAD ends by its own timeout
      });
    };
    attempt();
  }

  private signal(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private nextSignal(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
      if (timeoutMs !== undefined) timer = setTimeout(wake, timeoutMs);
    });
  }
}
