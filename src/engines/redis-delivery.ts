/**
 * Delivery of committed batches to the Redis engine's onBatch handlers: it starts the reader for
 * the target (the one-server XREAD loop, redis-batch-reader.ts, or on a cluster sharded pub/sub
 * with log reads, redis-shard-reader.ts), decodes each batch once for every handler, and answers
 * the reader's questions: where a channel's log is now (its epoch check) and, when a log went back
 * below what this node delivered (a failover lost batches), moving the channel to a new epoch.
 * The other parts tell the reader what they saw of a log through reader() (follow, seen).
 */
import type { Cluster, Redis } from 'ioredis';
import type { BatchHandler, CommittedBatch, LogEvent, Position } from '../core/engine.ts';
import { RedisBatchReader } from './redis-batch-reader.ts';
import type { EngineLogger } from './redis-connections.ts';
import { unpackEvents } from './redis-event-codec.ts';
import { channelKeys, liveChannel, type BatchEntry } from './redis-keys.ts';
import type { ChannelReader } from './redis-reader.ts';
import { newEpoch, scripts } from './redis-scripts.ts';
import { RedisShardReader } from './redis-shard-reader.ts';
import type { RedisConn } from './redis-target.ts';

export interface RedisDeliveryOptions {
  prefix: string;
  readBlockMs: number;
  batchesPerRead: number;
  epochCheckMs: number;
  logger: EngineLogger;
  /** The command connection (redis-connections.ts connected()). */
  connected: () => RedisConn;
}

export class RedisDelivery {
  private readonly options: RedisDeliveryOptions;
  private readonly handlers: BatchHandler[] = [];
  private current: ChannelReader | null = null;

  constructor(options: RedisDeliveryOptions) {
    this.options = options;
  }

  onBatch(handler: BatchHandler): void {
    this.handlers.push(handler);
  }

  /** Starts the reader on the connections open() made: a sharded subscriber on a cluster. */
  start(cmd: RedisConn, readerConn: RedisConn, sharded: boolean): void {
    const { prefix, batchesPerRead, epochCheckMs, logger } = this.options;
    const common = {
      batchesPerRead,
      logKey: (channel: string) => channelKeys(prefix, channel).log,
      metaKey: (channel: string) => channelKeys(prefix, channel).meta,
    };
    const answers = {
      deliver: (channel: string, batch: BatchEntry) => this.deliver(channel, batch),
      announce: (channel: string, position: Position) => this.emit({ channel, firstVersion: position.version, epoch: position.epoch, events: [] }),
      currentPositions: (channels: string[]) => this.currentPositions(channels),
      rollBack: (channel: string, seen: Position) => this.rollBack(channel, seen),
      epochCheckMs,
    };
    this.current = sharded
      ? new RedisShardReader({
        cmd,
        subscriber: readerConn as Cluster,
        ...common,
        liveChannel: (channel) => liveChannel(prefix, channel),
        ...answers,
        logger,
      })
      : new RedisBatchReader(readerConn as Redis, {
        blockMs: this.options.readBlockMs,
        ...common,
        ...answers,
        unblock: async (clientId) => Number(await (cmd as Redis).client('UNBLOCK', clientId)),
        logger,
      });
    this.current.start();
  }

  /** The running reader (after open()). */
  reader(): ChannelReader {
    return this.current!;
  }

  /** The hub unloaded `channel`: its log leaves this engine's reads (see redis-batch-reader.ts). */
  releaseChannel(channel: string): void {
    this.current?.unwatch(channel);
  }

  /** Channels whose batches this engine now reads (for tests and metrics). */
  watchedChannels(): number {
    return this.current?.watching ?? 0;
  }

  /** Hands back the reader, to be stopped by close(); nothing is delivered through this part after. */
  detach(): ChannelReader | null {
    const reader = this.current;
    this.current = null;
    return reader;
  }

  private deliver(channel: string, entry: BatchEntry): void {
    if (this.handlers.length === 0) return;
    let events: LogEvent[];
    try {
      events = unpackEvents(entry.packed, 0, entry.count);
    } catch (err) {
      this.options.logger.warn({ err, channel, firstVersion: entry.firstVersion }, 'undecodable batch in the redis log; skipped');
      return;
    }
    const { firstVersion, epoch } = entry;
    this.emit({ channel, firstVersion, epoch, events });
  }

  private emit(batch: CommittedBatch): void {
    for (const handler of this.handlers) {
      try {
        handler(batch);
      } catch (err) {
        // The batch is committed; one faulty subscriber must not stop delivery to the others.
        this.options.logger.warn({ err, channel: batch.channel, firstVersion: batch.firstVersion }, 'onBatch handler threw');
      }
    }
  }

  /**
   * The channel's log is below what this engine saw of it in the same epoch: the Redis now serving
   * lost batches that were delivered (a failover to a replica that had not got them). Its epoch is
   * moved on (redis-lua-roll-back.ts; once, whichever engine sees it first), so every node reloads
   * it and every client takes a snapshot instead of trusting versions that now mean other events.
   */
  private async rollBack(channel: string, seen: Position): Promise<Position> {
    const cmd = this.options.connected();
    const [epoch, head] = (await scripts(cmd).brigadeRollBack(
      channelKeys(this.options.prefix, channel).meta, String(seen.epoch), String(seen.version), newEpoch())).map(Number);
    this.options.logger.warn({ channel, seenEpoch: seen.epoch, seenEnd: seen.version, epoch, head },
      'redis log went back below what this node had delivered (a failover lost batches); the channel moves to a new epoch');
    return { epoch, version: head };
  }

  /**
   * Where each channel's log is now (creating the meta of a lost one, as info() does), for the
   * reader's epoch check; null for a channel it could not ask about.
   */
  private async currentPositions(channels: string[]): Promise<Array<Position | null>> {
    const cmd = scripts(this.options.connected());
    // One call each (a cluster refuses a pipeline over several slots); they go out together.
    return Promise.all(channels.map(async (channel) => {
      const keys = channelKeys(this.options.prefix, channel);
      try {
        const row = await cmd.brigadeInfo(keys.meta, keys.log, keys.snaps, keys.snap, newEpoch());
        return Array.isArray(row) ? { epoch: Number(row[0]), version: Number(row[1]) } : null;
      } catch {
        return null;
      }
    }));
  }
}
