/**
 * DirectMessages for the Redis engine, over Redis pub/sub: PUBLISH on the command connection to
 * `<prefix>dm:<address>` (on a cluster: SPUBLISH to `<prefix>dm:{<address>}` on the shard of that
 * slot, received on the shard reader's subscriber; plain PUBLISH would go to every node of the
 * cluster). A connection of its own, opened on the first receive(), SUBSCRIBEs to the addresses
 * received here (binary-safe, through `messageBuffer`) and resubscribes by itself after a
 * reconnect. Messages published while it is (re)subscribing are lost: at most once, as
 * DirectMessages promises.
 */
import type { Cluster } from 'ioredis';
import { BrigadeError } from '../protocol/index.ts';
import type { EngineLogger } from './redis-connections.ts';
import { unavailable } from './redis-errors.ts';
import { directChannel } from './redis-keys.ts';
import { asBuffer } from './redis-scripts.ts';
import { connectTo, type RedisConn, type RedisTarget } from './redis-target.ts';

/** One receive() call: its own object, so the same function registered twice is two receivers. */
interface Receiver { handler: (bytes: Uint8Array) => void }

/** What direct messages need of the engine's connections (redis-connections.ts). */
export interface DirectMessageConnections {
  readonly target: RedisTarget;
  readonly closed: boolean;
  readonly opened: boolean;
  guard(): void;
  connected(): RedisConn;
  trouble(err: Error): void;
}

export class RedisDirectMessages {
  private readonly prefix: string;
  private readonly conns: DirectMessageConnections;
  private readonly logger: EngineLogger;
  /** The pub/sub connection, opened on the first receive() (a cluster: the shard reader's). */
  private subscriber: RedisConn | null = null;
  /** Pub/sub channel → the receivers of its address on this engine. */
  private readonly receivers = new Map<string, Set<Receiver>>();

  constructor(prefix: string, conns: DirectMessageConnections, logger: EngineLogger) {
    this.prefix = prefix;
    this.conns = conns;
    this.logger = logger;
  }

  /** A cluster: messages come in on the shard reader's sharded subscriber. */
  useShardSubscriber(subscriber: Cluster): void {
    this.subscriber = subscriber;
    subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.deliverDirect(channel.toString(), message));
  }

  async sendTo(address: string, bytes: Uint8Array): Promise<void> {
    const cmd = this.conns.connected();
    try {
      if (this.conns.target.kind === 'cluster') await cmd.spublish(directChannel(this.prefix, address, true), asBuffer(bytes));
      else await cmd.publish(directChannel(this.prefix, address), asBuffer(bytes));
    } catch (err) {
      throw unavailable('sending the direct message failed', err);
    }
  }

  receive(address: string, handler: (bytes: Uint8Array) => void): () => void {
    this.conns.guard();
    if (!this.conns.opened) throw new BrigadeError('UNAVAILABLE', 'the redis engine is not open; call open() first');
    const sharded = this.conns.target.kind === 'cluster';
    const channel = directChannel(this.prefix, address, sharded);
    const subscriber = this.subscriber ?? this.openSubscriber();
    let receivers = this.receivers.get(channel);
    if (!receivers) {
      receivers = new Set();
      this.receivers.set(channel, receivers);
      // Queued until the connection is ready; commands on one connection run in order, so a later
      // UNSUBSCRIBE of the same channel cannot overtake this.
      (sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel)).catch((err: unknown) =>
        this.logger.warn({ err: String(err), address }, 'subscribing to direct messages failed'));
    }
    const receiver: Receiver = { handler };
    receivers.add(receiver);
    return () => {
      const current = this.receivers.get(channel);
      if (!current?.delete(receiver) || current.size > 0) return;
      this.receivers.delete(channel);
      if (this.subscriber && !this.conns.closed) {
        (sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)).catch((err: unknown) =>
          this.logger.warn({ err: String(err), address }, 'unsubscribing from direct messages failed'));
      }
    };
  }

  /** Forgets every receiver and hands back the subscriber connection, to be quit by close(). */
  detach(): RedisConn | null {
    const subscriber = this.subscriber;
    this.subscriber = null;
    this.receivers.clear();
    return subscriber;
  }

  /**
   * Unlike the others, this connection queues commands while (re)connecting and resubscribes after a
   * reconnect: a subscription is standing state, not a command that may have run.
   */
  private openSubscriber(): RedisConn {
    const subscriber = connectTo(this.conns.target, {
      protocol: 2,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
      connectionName: 'brigade-engine-dm',
    });
    subscriber.on('error', (err: Error) => this.conns.trouble(err));
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.deliverDirect(channel.toString(), message));
    this.subscriber = subscriber;
    return subscriber;
  }

  private deliverDirect(channel: string, message: Buffer): void {
    const receivers = this.receivers.get(channel);
    if (!receivers) return;
    for (const receiver of [...receivers]) {
      if (!receivers.has(receiver)) continue; // removed by an earlier handler of this message
      try {
        receiver.handler(message);
      } catch (err) {
        this.logger.warn({ err, channel }, 'direct message handler threw');
      }
    }
  }
}
