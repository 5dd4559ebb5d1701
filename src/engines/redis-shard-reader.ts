/**
 * Delivery of committed batches for the Redis engine on a Redis Cluster. The one-server reader
 * (redis-batch-reader.ts) names every watched log in ONE blocking XREAD; a cluster refuses that
 * (CROSSSLOT: every key of a command must be in one slot, even keys on the same node), and one
 * blocking XREAD per slot would take a connection per channel. So on a cluster the log stays the
 * truth and sharded pub/sub carries the news:
 *
 * - the append script SPUBLISHes each new entry (its first version, count, epoch and packed
 *   events) to the shard channel `<prefix>{channel}:live` (redis-lua-append.ts), which lives on
 *   the shard that holds the channel's slot, so a batch crosses no other shard and reaches only
 *   the nodes that watch that channel;
 * - one ioredis Cluster in sharded-subscriber mode per engine SSUBSCRIBEs to the live channel of
 *   each watched channel (ioredis keeps one subscriber connection per primary and moves the
 *   subscriptions when slots move);
 * - pub/sub is at most once (a message published while a subscriber reconnects, or while a
 *   failover moves the slot, is lost), so each watch keeps the end of what it delivered and reads
 *   the log (XRANGE from that end) whenever a message does not follow on: after a gap, when first
 *   subscribed, and when the periodic check (every `epochCheckMs`, and soon after the command
 *   connection comes back) finds a head past the end. Messages at or below the end are repeats
 *   and dropped; messages that arrive while the log is read wait and go through the same rule.
 *
 * So every batch still reaches onBatch exactly once, in version order per channel and epoch; a
 * lost message costs latency (up to epochCheckMs), never a batch. The periodic check also finds
 * epoch changes and roll-backs, as the one-server reader's does (see there), one HMGET per
 * watched channel, each sent to its own shard.
 */
import type { Cluster } from 'ioredis';
import type { Position } from '../core/engine.ts';
import type { BatchReaderOptions } from './redis-batch-reader.ts';
import { parseBatchEntry, positionBefore } from './redis-keys.ts';
import type { BatchEntry, RawStreamEntry } from './redis-keys.ts';
import { seenIn, type ChannelReader } from './redis-reader.ts';
import type { RedisConn } from './redis-target.ts';

export interface ShardReaderOptions extends Omit<BatchReaderOptions, 'blockMs' | 'unblock'> {
  /** The shard channel a channel's batches are published to (redis-keys.ts liveChannel). */
  liveChannel: (channel: string) => string;
  /** Where XRANGE and HMGET go (the engine's command connection). */
  cmd: RedisConn;
  /** A cluster client in sharded-subscriber mode, for SSUBSCRIBE. */
  subscriber: Cluster;
}

interface ShardWatch {
  epoch: number;
  /** The version after the last one delivered (or the head watched from). */
  end: number;
  /** A read of the log is under way: live messages wait in `waiting`. */
  filling: boolean;
  /** The log must be read again once the current read ends (a gap seen meanwhile). */
  again: boolean;
  waiting: BatchEntry[];
}

export class RedisShardReader implements ChannelReader {
  private readonly options: ShardReaderOptions;
  private readonly watches = new Map<string, ShardWatch>();
  /** live shard channel → watched channel. */
  private readonly byLive = new Map<string, string>();
  private lastCheck = 0;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private checkFailing = false;
  private stopped = false;

  constructor(options: ShardReaderOptions) {
    this.options = options;
    options.subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel.toString(), message));
    // The command connection came back: messages may have been lost meanwhile; check soon.
    const soon = (): void => {
      this.lastCheck = 0;
      this.schedule(50);
    };
    options.cmd.on('ready', soon);
    options.subscriber.on('ready', soon);
    options.subscriber.on('+node', soon);
  }

  start(): void {
    this.schedule(this.options.epochCheckMs);
  }

  follow(channel: string, fromVersion: number, epoch: number): void {
    if (this.stopped) return;
    const current = this.watches.get(channel);
    if (current !== undefined && current.epoch === epoch) return;
    const watch: ShardWatch = { epoch, end: fromVersion, filling: false, again: false, waiting: [] };
    this.watches.set(channel, watch);
    if (current !== undefined) {
      this.options.announce(channel, { version: fromVersion, epoch });
      this.fill(channel, watch);
      return;
    }
    const live = this.options.liveChannel(channel);
    this.byLive.set(live, channel);
    // Batches appended before the subscription took effect are read from the log once it has.
    this.options.subscriber.ssubscribe(live).then(() => {
      if (this.watches.get(channel) === watch) this.fill(channel, watch);
    }, (err: unknown) => {
      this.options.logger.warn({ err: String(err), channel }, 'subscribing to a channel\'s batches failed; its log is read at the next check');
    });
  }

  unwatch(channel: string): void {
    if (!this.watches.delete(channel)) return;
    const live = this.options.liveChannel(channel);
    this.byLive.delete(live);
    if (!this.stopped) this.options.subscriber.sunsubscribe(live).catch(() => undefined);
  }

  seen(channel: string): Position | undefined {
    return seenIn(this.watches, channel);
  }

  isWatching(channel: string): boolean {
    return this.watches.has(channel);
  }

  get watching(): number {
    return this.watches.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.options.subscriber.disconnect();
    await this.checking?.catch(() => undefined);
  }

  private onMessage(live: string, message: Buffer): void {
    const channel = this.byLive.get(live);
    if (channel === undefined) return;
    const watch = this.watches.get(channel);
    if (watch === undefined) return;
    const batch = parseLiveMessage(message);
    if (batch === null) {
      this.options.logger.warn({ channel }, 'malformed live batch message; the log is read instead');
      this.fill(channel, watch);
      return;
    }
    if (watch.filling) {
      watch.waiting.push(batch);
      return;
    }
    this.take(channel, watch, batch);
  }

  /** Delivers `batch` if it follows on; drops a repeat; reads the log after a gap or a new epoch. */
  private take(channel: string, watch: ShardWatch, batch: BatchEntry): void {
    if (batch.epoch !== watch.epoch) {
      this.lastCheck = 0; // another epoch: the check finds where the log is now and follows it
      this.schedule(0);
      return;
    }
    if (batch.firstVersion + batch.count <= watch.end) return;
    if (batch.firstVersion !== watch.end) {
      this.fill(channel, watch);
      return;
    }
    watch.end = batch.firstVersion + batch.count;
    this.options.deliver(channel, batch);
  }

  /** Reads the log from the watch's end to its head, delivering in order, then what waited. */
  private fill(channel: string, watch: ShardWatch): void {
    if (watch.filling) {
      watch.again = true;
      return;
    }
    watch.filling = true;
    const key = this.options.logKey(channel);
    const count = this.options.batchesPerRead;
    const step = async (): Promise<void> => {
      for (;;) {
        if (this.stopped || this.watches.get(channel) !== watch) return;
        const entries = await this.options.cmd.xrangeBuffer(key, positionBefore(watch.end), '+', 'COUNT', count) as unknown as RawStreamEntry[];
        if (this.watches.get(channel) !== watch) return;
        for (const entry of entries) {
          const batch = parseBatchEntry(entry);
          if (batch === null) {
            this.options.logger.warn({ channel, id: entry[0].toString() }, 'malformed batch in the redis log; skipped');
            continue;
          }
          if (batch.epoch !== 0 && batch.epoch !== watch.epoch) {
            this.lastCheck = 0;
            this.schedule(0);
            return;
          }
          if (batch.firstVersion + batch.count <= watch.end) continue;
          batch.epoch = watch.epoch;
          watch.end = batch.firstVersion + batch.count;
          this.options.deliver(channel, batch);
        }
        if (entries.length < count && !watch.again) return;
        watch.again = false;
      }
    };
    step().catch((err: unknown) => {
      this.options.logger.warn({ err: String(err), channel }, 'reading a channel\'s log failed; it is read again at the next check');
    }).finally(() => {
      watch.filling = false;
      const waiting = watch.waiting.splice(0);
      if (this.watches.get(channel) !== watch) return;
      for (const batch of waiting) {
        if (watch.filling) watch.waiting.push(batch);
        else this.take(channel, watch, batch);
      }
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.checking) {
        this.schedule(50);
        return;
      }
      this.checking = this.check().then(() => {
        this.checkFailing = false;
      }, (err: unknown) => {
        // Once per outage: the check is retried every second until it succeeds.
        if (!this.stopped && !this.checkFailing) this.options.logger.warn({ err: String(err) }, 'checking the watched channels on the redis cluster failed; retrying');
        this.checkFailing = true;
        this.lastCheck = 0;
      }).finally(() => {
        this.checking = null;
        this.schedule(this.lastCheck === 0 ? 1000 : this.options.epochCheckMs);
      });
    }, delayMs);
  }

  /**
   * Each watched channel's epoch and head: a moved epoch is followed, a head below what was
   * delivered is a roll-back, a head past it means messages were lost: the log is read.
   */
  private async check(): Promise<void> {
    const watched = [...this.watches];
    if (watched.length === 0 || this.stopped) {
      this.lastCheck = Date.now();
      return;
    }
    // Each channel on its own: a shard without a primary must not hold up the others' checks.
    const rows = await Promise.allSettled(watched.map(([channel]) => this.options.cmd.hmget(this.options.metaKey(channel), 'epoch', 'head')));
    const moved: string[] = [];
    const wentBack: Array<[string, ShardWatch]> = [];
    let failed = 0;
    watched.forEach(([channel, watch], i) => {
      const row = rows[i];
      if (row.status === 'rejected') {
        failed++;
        return;
      }
      if (this.watches.get(channel) !== watch) return;
      const [epoch, head] = row.value.map((v) => Number(v ?? 0));
      if (epoch !== watch.epoch) moved.push(channel);
      else if (head < watch.end && !watch.filling) wentBack.push([channel, watch]);
      else if (head > watch.end) this.fill(channel, watch);
    });
    if (moved.length > 0) {
      const positions = await this.options.currentPositions(moved);
      moved.forEach((channel, i) => {
        const position = positions[i];
        if (position === null) throw new Error(`could not read ${channel}'s position`);
        if (this.watches.has(channel)) this.follow(channel, position.version, position.epoch);
      });
    }
    let again = false;
    for (const [channel, watch] of wentBack) {
      const position = await this.options.rollBack(channel, { epoch: watch.epoch, version: watch.end });
      if (this.watches.get(channel) !== watch) continue;
      if (position.epoch !== 0) this.follow(channel, position.version, position.epoch);
      else again = true;
    }
    this.lastCheck = again ? 0 : Date.now();
    if (failed > 0) throw new Error(`${failed} of ${watched.length} channels could not be checked; checking again in 1 s`);
  }
}

/** "<firstVersion>:<count>:<epoch>:" then the packed events (redis-lua-append.ts); null when malformed. */
export function parseLiveMessage(message: Buffer): BatchEntry | null {
  const fields: number[] = [];
  let at = 0;
  for (let i = 0; i < 3; i++) {
    const colon = message.indexOf(0x3a, at);
    if (colon < 0) return null;
    fields.push(Number(message.toString('latin1', at, colon)));
    at = colon + 1;
  }
  const [firstVersion, count, epoch] = fields;
  if (!fields.every(Number.isSafeInteger) || count < 1) return null;
  return { id: `${firstVersion}-1`, firstVersion, count, epoch, packed: message.subarray(at) };
}
