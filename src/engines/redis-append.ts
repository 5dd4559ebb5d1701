/**
 * The Redis engine's append path: ONE script call per append() (per node per tick) over every
 * channel of the call (redis-lua-append.ts), and with minReplicasAcked a WAIT right behind it on
 * the append connection. On a cluster the call's channels are grouped by slot, one script per
 * slot sent at once, and a straggling shard's part is answered in doubt and left running
 * (redis-cluster-append.ts). Each script is also told what this node's reader has delivered of
 * its channels, so a log found below that (a failover lost batches) moves to a new epoch.
 */
import type { Cluster, Redis } from 'ioredis';
import type { AppendRequest, AppendResult } from '../core/engine.ts';
import { AppendSplitError, PRODUCER_WINDOW } from '../core/engine.ts';
import type { BrigadeError } from '../protocol/index.ts';
import { groupBySlot, settleOrLeaveStragglers } from './redis-cluster-append.ts';
import { inDoubt, outcomeUnknown, unavailable } from './redis-errors.ts';
import { packEvents } from './redis-event-codec.ts';
import { channelKeys, producerKey } from './redis-keys.ts';
import type { ChannelReader } from './redis-reader.ts';
import { newEpoch, scripts } from './redis-scripts.ts';
import { keySlot } from './redis-slot.ts';
import type { RedisConn } from './redis-target.ts';
import { validateStamps } from './stamps.ts';

export interface RedisAppendOptions {
  prefix: string;
  sharded: boolean;
  minReplicasAcked: number;
  replicaAckTimeoutMs: number;
  straggleMs: number;
  /** The append connection, checked (redis-connections.ts appending()). */
  appending: () => RedisConn;
  /** The reader: what it delivered of a channel (seen), and where it follows it from (follow). */
  reader: () => ChannelReader;
}

export class RedisAppendPath {
  private readonly options: RedisAppendOptions;
  private readonly minReplicasAcked: number;
  private readonly replicaAckTimeoutMs: number;
  private replicaShortfalls = 0;
  /** Cluster: channels whose last append was left running by append() (its shard straggled). */
  private readonly stillRunning = new Set<string>();

  constructor(options: RedisAppendOptions) {
    this.options = options;
    this.minReplicasAcked = options.minReplicasAcked;
    this.replicaAckTimeoutMs = options.replicaAckTimeoutMs;
  }

  /** Appends that committed on the primary but were not on minReplicasAcked replicas in time. */
  get replicaAckShortfalls(): number {
    return this.replicaShortfalls;
  }

  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    const conn = this.options.appending();
    if (requests.length === 0) return [];
    for (const request of requests) validateStamps(request.channel, request.events, request.publishes);
    if (!this.options.sharded) return this.appendGroup(conn, requests);
    const groups = groupBySlot(this.options.prefix, requests);
    // One script per slot, all sent at once (each to its slot's primary). A group with a channel
    // whose earlier call still runs is not sent: one call per channel at a time keeps its order
    // and keeps a stalled shard's queue from growing by a call every tick.
    const shards: Array<string | null> = [];
    const calls: Array<Promise<AppendResult[]>> = new Array(groups.length);
    const byShard = new Map<string, number[]>();
    groups.forEach((group, g) => {
      const part = group.map((i) => requests[i]);
      const running = part.find((r) => this.stillRunning.has(r.channel));
      const shard = running ? null : this.shardOf(conn as Cluster, part[0].channel);
      shards.push(shard);
      if (running) calls[g] = Promise.reject(outcomeUnknown(`not sent: the append of ${running.channel} before it still has no answer from its shard`));
      else if (this.minReplicasAcked === 0) calls[g] = this.appendGroup(conn, part);
      else byShard.set(shard!, [...(byShard.get(shard!) ?? []), g]);
    });
    for (const gs of byShard.values()) {
      this.appendShard(conn, gs.map((g) => groups[g].map((i) => requests[i]))).forEach((call, k) => {
        calls[gs[k]] = call;
      });
    }
    const straggleMs = this.options.straggleMs;
    const settled = await settleOrLeaveStragglers(calls, shards, straggleMs);
    const results: Array<AppendResult | null> = new Array(requests.length).fill(null);
    let failure: BrigadeError | null = null;
    settled.forEach((outcome, g) => {
      if (outcome === 'straggling') {
        // Its shard answers far later than the others (a failover, a stalled primary): this tick's
        // other shards are not held up for it. The call runs on and may commit; its publishes go
        // again with the same stamps once it has settled, and are then answered with their versions.
        const channels = groups[g].map((i) => requests[i].channel);
        for (const channel of channels) this.stillRunning.add(channel);
        void calls[g].catch(() => undefined).finally(() => {
          for (const channel of channels) this.stillRunning.delete(channel);
        });
        const err = outcomeUnknown(`no answer from its shard ${straggleMs} ms after the other shards answered; the call runs on`);
        if (failure === null || failure.code !== 'OUTCOME_UNKNOWN') failure = err;
        return;
      }
      if (outcome.status === 'fulfilled') {
        outcome.value.forEach((result, j) => {
          results[groups[g][j]] = result;
        });
      } else {
        const err = unavailable('append refused; nothing was committed', outcome.reason);
        // In doubt beats refused: the caller must then re-send with the same stamps.
        if (failure === null || (err.code === 'OUTCOME_UNKNOWN' && failure.code !== 'OUTCOME_UNKNOWN')) failure = err;
      }
    });
    if (failure === null) return results as AppendResult[];
    if (results.every((r) => r === null)) throw failure;
    throw new AppendSplitError(failure, results);
  }

  /** The primary that serves `channel`'s slot now ("host:port"; '' before the slot map is known). */
  private shardOf(cluster: Cluster, channel: string): string {
    return cluster.slots[keySlot(channelKeys(this.options.prefix, channel).meta)]?.[0] ?? '';
  }

  /** The script's arguments for requests whose keys are all in one slot (or on one server). */
  private scriptArgs(requests: AppendRequest[]): Array<string | Buffer | number> {
    const prefix = this.options.prefix;
    const keys: string[] = [];
    const args: Array<string | Buffer> = [String(requests.length), String(PRODUCER_WINDOW.seqs), String(PRODUCER_WINDOW.ms),
      this.options.sharded ? '1' : '0'];
    try {
      for (const request of requests) {
        const k = channelKeys(prefix, request.channel);
        keys.push(k.meta, k.log, k.snaps, k.snap);
        const publishes = request.publishes ?? [{ producer: '', seq: 0, count: request.events.length }];
        // What this engine has seen of the channel: a log found below it went back (a failover).
        const seen = this.options.reader().seen(request.channel);
        args.push(newEpoch(), String(seen?.epoch ?? 0), String(seen?.version ?? 0), String(publishes.length));
        let at = 0;
        for (const p of publishes) {
          keys.push(p.producer ? producerKey(prefix, request.channel, p.producer) : k.meta);
          args.push(p.producer ? String(p.seq) : '0', String(p.count), packEvents(request.events.slice(at, at + p.count)));
          at += p.count;
        }
      }
    } catch (err) {
      throw unavailable('append refused; nothing was committed', err);
    }
    return [keys.length, ...keys, ...args];
  }

  /** One script call (and its WAIT) for requests whose keys are all in one slot (or on one server). */
  private async appendGroup(conn: RedisConn, requests: AppendRequest[]): Promise<AppendResult[]> {
    const call = this.scriptArgs(requests);
    let reply: number[];
    let replicas = Infinity;
    try {
      const script = scripts(conn).brigadeAppend(call);
      // Sent right behind the script on the same connection: WAIT counts the replicas that have
      // every write of this connection so far, the script's included.
      const waited = this.minReplicasAcked > 0 ? (conn as Redis).wait(this.minReplicasAcked, this.replicaAckTimeoutMs) : null;
      waited?.catch(() => undefined); // judged below, after the script's own outcome
      reply = await script;
      if (waited) replicas = Number(await waited);
    } catch (err) {
      if (!inDoubt(err)) throw unavailable('append refused; nothing was committed', err);
      throw outcomeUnknown(err);
    }
    return this.appended(requests, reply, replicas);
  }

  /**
   * Cluster with minReplicasAcked: the scripts of every slot group served by one primary, and ONE
   * WAIT behind them, as one pipeline to that primary (a pipeline goes to one node: WAIT asks the
   * right one). One WAIT per shard, not per slot: WAIT blocks its connection, so a WAIT per slot
   * would queue each slot's behind the last's. A promise per group, in order.
   */
  private appendShard(conn: RedisConn, groups: AppendRequest[][]): Array<Promise<AppendResult[]>> {
    let calls: Array<Array<string | Buffer | number>>;
    try {
      calls = groups.map((requests) => this.scriptArgs(requests));
    } catch (err) {
      return groups.map(() => Promise.reject(err));
    }
    const pipeline = conn.pipeline();
    for (const call of calls) scripts(pipeline).brigadeAppend(call);
    pipeline.wait(this.minReplicasAcked, this.replicaAckTimeoutMs);
    const sent = pipeline.exec().then((replies) => {
      if (!replies) throw new Error('no reply');
      return replies;
    });
    sent.catch(() => undefined);
    let refreshed = false;
    return groups.map(async (requests, g) => {
      let replies: Array<[Error | null, unknown]>;
      try {
        replies = await sent;
      } catch (err) {
        if (!inDoubt(err)) throw unavailable('append refused; nothing was committed', err);
        throw outcomeUnknown(err);
      }
      const [refused, reply] = replies[g];
      if (refused) {
        // ioredis follows MOVED/ASK for a pipeline only when every command of it got one (WAIT
        // does not): the script did not run; learn where the slot went, for the next tick.
        if (/^(MOVED|ASK) /.test(refused.message) && !refreshed) {
          refreshed = true;
          (conn as Cluster).refreshSlotsCache();
        }
        if (!inDoubt(refused)) throw unavailable('append refused; nothing was committed', refused);
        throw outcomeUnknown(refused);
      }
      const waited = replies[groups.length];
      return this.appended(requests, reply as number[], waited[0] ? 0 : Number(waited[1]));
    });
  }

  /** The results of a script that ran, once `replicas` replicas (Infinity: none asked for) had it. */
  private appended(requests: AppendRequest[], reply: number[], replicas: number): AppendResult[] {
    if (replicas < this.minReplicasAcked) {
      this.replicaShortfalls++;
      throw outcomeUnknown(`committed on the primary, but ${replicas} of the ${this.minReplicasAcked} replicas asked for `
        + `acknowledged it within ${this.replicaAckTimeoutMs} ms, so a failover could still lose it`);
    }
    const results: AppendResult[] = [];
    let at = 0;
    for (let i = 0; i < requests.length; i++) {
      if (!Array.isArray(reply) || at + 3 > reply.length) throw outcomeUnknown('malformed reply');
      const version = Number(reply[at]);
      const epoch = Number(reply[at + 1]);
      const p = Number(reply[at + 2]);
      const firsts = reply.slice(at + 3, at + 3 + p).map(Number);
      at += 3 + p;
      results.push({ version, epoch, firsts });
      this.options.reader().follow(requests[i].channel, version, epoch);
    }
    return results;
  }
}
