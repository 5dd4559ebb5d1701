/**
 * The Redis engine's reads of a channel: its events (read), its position (info: creating the meta
 * of a new or lost log in a new epoch), and its snapshots (put, get). A read or info that reaches
 * a log's head tells the reader to follow the channel from there, so catch-up and live delivery
 * meet without a gap.
 */
import type { ChannelInfo, LogEvent, RetentionOptions, StoredSnapshot } from '../core/engine.ts';
import { BrigadeError } from '../protocol/index.ts';
import { unavailable } from './redis-errors.ts';
import { unpackEvents } from './redis-event-codec.ts';
import { batchId, channelKeys, parseBatchEntry, type RawStreamEntry } from './redis-keys.ts';
import type { ChannelReader } from './redis-reader.ts';
import { asBuffer, newEpoch, scripts } from './redis-scripts.ts';
import type { RedisConn } from './redis-target.ts';

export interface RedisReadsOptions {
  prefix: string;
  retention: RetentionOptions;
  /** The command connection (redis-connections.ts connected()). */
  connected: () => RedisConn;
  reader: () => ChannelReader;
}

export class RedisReads {
  private readonly options: RedisReadsOptions;
  private readonly prefix: string;

  constructor(options: RedisReadsOptions) {
    this.options = options;
    this.prefix = options.prefix;
  }

  /**
   * The stored events in [fromVersion, fromVersion + limit), never below `oldest`; like the
   * embedded engine, a read starting below `oldest` comes back short at the front.
   */
  async read(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]> {
    const cmd = this.options.connected();
    if (limit <= 0) return [];
    const keys = channelKeys(this.prefix, channel);
    const rangeEnd = Math.min(fromVersion + limit, Number.MAX_SAFE_INTEGER);
    const start = Math.max(0, fromVersion);
    if (rangeEnd <= start) return [];
    let results: Array<[Error | null, unknown]> | null;
    try {
      // One round trip: the batch straddling fromVersion, the batches starting after it within the
      // range, and the bounds. Trimming only removes whole batches below `oldest`, and appends only
      // add above the head, so the three need not be read atomically.
      results = await cmd.pipeline()
        .xrevrangeBuffer(keys.log, batchId(start), '-', 'COUNT', 1)
        .xrangeBuffer(keys.log, `${start + 1}-0`, batchId(rangeEnd - 1))
        .hmget(keys.meta, 'head', 'oldest', 'epoch')
        .exec();
    } catch (err) {
      throw unavailable('read failed', err);
    }
    if (!results) throw unavailable('read failed', 'no reply');
    const failed = results.find(([err]) => err !== null);
    if (failed) throw unavailable('read failed', failed[0]);
    const straddling = results[0][1] as RawStreamEntry[];
    const following = results[1][1] as RawStreamEntry[];
    const [head, oldest, epoch] = (results[2][1] as Array<string | null>).map((v) => Number(v ?? 0));
    const from = Math.max(start, oldest);
    const end = Math.min(rangeEnd, head);
    const events: LogEvent[] = [];
    let next = from;
    for (const entry of [...straddling, ...following]) {
      if (next >= end) break;
      const batch = parseBatchEntry(entry);
      if (!batch) continue;
      if (batch.firstVersion + batch.count <= next) continue;
      if (batch.firstVersion > next) break; // a gap: the log is trimmed or damaged here
      const skip = next - batch.firstVersion;
      const taken = unpackEvents(batch.packed, skip, Math.min(batch.count - skip, end - next));
      for (const event of taken) events.push(event);
      next += taken.length;
      if (taken.length === 0) break;
    }
    if (next >= head && epoch > 0) this.options.reader().follow(channel, head, epoch);
    return events;
  }

  async info(channel: string): Promise<ChannelInfo> {
    const cmd = this.options.connected();
    const keys = channelKeys(this.prefix, channel);
    let row: [number, number, number];
    try {
      row = await scripts(cmd).brigadeInfo(keys.meta, keys.log, keys.snaps, keys.snap, newEpoch());
    } catch (err) {
      throw unavailable('info failed', err);
    }
    const [epoch, head, oldest] = row.map(Number);
    this.options.reader().follow(channel, head, epoch);
    return { epoch, head, oldest };
  }

  async putSnapshot(channel: string, snapshot: StoredSnapshot): Promise<void> {
    const cmd = this.options.connected();
    const keys = channelKeys(this.prefix, channel);
    const { keepSnapshots, retainEvents } = this.options.retention;
    let oldest: number;
    try {
      oldest = Number(await scripts(cmd).brigadePutSnapshot(
        keys.meta, keys.log, keys.snaps, keys.snap, String(snapshot.version), asBuffer(snapshot.bytes),
        String(snapshot.timeMs), String(Math.max(1, keepSnapshots)), String(retainEvents), newEpoch(),
        String(snapshot.epoch ?? 0)));
    } catch (err) {
      throw unavailable('storing the snapshot failed', err);
    }
    if (oldest < 0) {
      throw new BrigadeError('UNAVAILABLE', `snapshot of epoch ${snapshot.epoch} refused: ${channel}'s log is no longer at that epoch`);
    }
  }

  async getSnapshot(channel: string, atOrBefore?: number): Promise<StoredSnapshot | null> {
    const cmd = this.options.connected();
    const keys = channelKeys(this.prefix, channel);
    let row: [Buffer, Buffer, Buffer] | null;
    try {
      row = await scripts(cmd).brigadeGetSnapshotBuffer(
        keys.snaps, keys.snap, atOrBefore === undefined ? '+inf' : String(atOrBefore));
    } catch (err) {
      throw unavailable('reading the snapshot failed', err);
    }
    if (!row || !row[1]) return null;
    return { version: Number(row[0].toString()), bytes: row[1], timeMs: Number(row[2].toString()) };
  }
}
