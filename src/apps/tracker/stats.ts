/**
 * The tracker's counters: plain numbers on the hot path, exported through prom-client collect
 * callbacks into the node's registry (the same /metrics as the core), as src/gateway/metrics.ts
 * does for the core's.
 */
import client from 'prom-client';
import { TrackerFailureCodes, type FailureReason } from './failures.ts';
import { pollingCounter } from '../../util/metrics.ts';

export interface TrackerStats {
  connections: number;
  connectsTotal: number;
  messagesIn: number;
  messagesOut: number;
  announces: number;
  answers: number;
  signals: number;
  scrapes: number;
  offersRelayedLocal: number;
  offersRelayedRemote: number;
  answersRelayedLocal: number;
  answersRelayedRemote: number;
  signalsRelayedLocal: number;
  signalsRelayedRemote: number;
  /** Direct messages sent to other nodes (one per destination node per tick). */
  directMessagesSent: number;
  /** Relay items those messages carried (offers, answers, candidate groups). */
  relayItemsSent: number;
  directMessagesReceived: number;
  relayItemsReceived: number;
  /** Relays that could not be delivered, by why (the target left, its socket was too slow, ...). */
  dropped: Map<string, number>;
  /** Grouped socket writes (one per socket per tick) carrying messagesOut messages. */
  socketFlushes: number;
  /** Membership reads of swarms (one per swarm per tick however many announces it had). */
  swarmReads: number;
  failures: Map<FailureReason | 'too_big', number>;
  closes: Map<number, number>;
  ticks: number;
}

export function newTrackerStats(): TrackerStats {
  // Every failure reason and server close code starts at 0, so /metrics lists them all.
  const failures = new Map<FailureReason | 'too_big', number>([...Object.keys(TrackerFailureCodes) as FailureReason[], 'too_big' as const].map((r) => [r, 0]));
  const closes = new Map<number, number>([[4400, 0], [4429, 0], [1009, 0]]);
  return {
    connections: 0, connectsTotal: 0, messagesIn: 0, messagesOut: 0, announces: 0, answers: 0, signals: 0,
    scrapes: 0, offersRelayedLocal: 0, offersRelayedRemote: 0, answersRelayedLocal: 0, answersRelayedRemote: 0,
    signalsRelayedLocal: 0, signalsRelayedRemote: 0, directMessagesSent: 0, relayItemsSent: 0,
    directMessagesReceived: 0, relayItemsReceived: 0, dropped: new Map([['gone', 0], ['slow', 0], ['unavailable', 0]]), socketFlushes: 0, swarmReads: 0,
    failures, closes, ticks: 0,
  };
}

export function bump<K>(map: Map<K, number>, key: K, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Registers the tracker's metrics; `local` reads the node's current swarms and peers. */
export function registerTrackerMetrics(registry: client.Registry, stats: TrackerStats, local: () => { swarms: number; peers: number }): void {
  const counter = (name: string, help: string, read: () => number) => pollingCounter(registry, name, help, read);
  const labelled = <K>(name: string, help: string, label: string, map: Map<K, number>) => {
    const last = new Map<K, number>();
    new client.Counter({
      name, help, labelNames: [label], registers: [registry],
      collect() {
        for (const [k, v] of map) {
          // inc(0) too, so every known label is exported from the start (0 before the first event).
          this.inc({ [label]: String(k) }, Math.max(0, v - (last.get(k) ?? 0)));
          last.set(k, v);
        }
      },
    });
  };
  const twoWay = (name: string, help: string, readLocal: () => number, readRemote: () => number) => {
    const last = { local: 0, remote: 0 };
    new client.Counter({
      name, help, labelNames: ['target'], registers: [registry],
      collect() {
        for (const [target, read] of [['local', readLocal], ['remote', readRemote]] as const) {
          const v = read();
          this.inc({ target }, Math.max(0, v - last[target]));
          last[target] = v;
        }
      },
    });
  };
  const gauge = (name: string, help: string, read: () => number) => {
    new client.Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };

  gauge('brigade_tracker_connections', 'Open tracker WebSocket connections', () => stats.connections);
  gauge('brigade_tracker_swarms', 'Swarms with at least one peer on this node', () => local().swarms);
  gauge('brigade_tracker_peers', 'Peers (info_hash, peer_id) held by this node', () => local().peers);
  counter('brigade_tracker_connects_total', 'Tracker WebSocket connections accepted', () => stats.connectsTotal);
  counter('brigade_tracker_messages_in_total', 'Tracker messages received', () => stats.messagesIn);
  counter('brigade_tracker_messages_out_total', 'Tracker messages sent to clients', () => stats.messagesOut);
  counter('brigade_tracker_announces_total', 'Announces accepted (answers not included)', () => stats.announces);
  counter('brigade_tracker_answers_total', 'Answers accepted for relaying', () => stats.answers);
  counter('brigade_tracker_signals_total', 'Trickle `signal` messages accepted', () => stats.signals);
  counter('brigade_tracker_scrapes_total', 'Scrapes answered', () => stats.scrapes);
  twoWay('brigade_tracker_offers_relayed_total', 'Offers relayed, to a peer on this node (local) or another node (remote)', () => stats.offersRelayedLocal, () => stats.offersRelayedRemote);
  twoWay('brigade_tracker_answers_relayed_total', 'Answers relayed, to a peer on this node (local) or another node (remote)', () => stats.answersRelayedLocal, () => stats.answersRelayedRemote);
  twoWay('brigade_tracker_signals_relayed_total', 'Candidate groups relayed, local or remote', () => stats.signalsRelayedLocal, () => stats.signalsRelayedRemote);
  counter('brigade_tracker_direct_messages_sent_total', 'Node-to-node direct messages sent (one per destination node per tick)', () => stats.directMessagesSent);
  counter('brigade_tracker_relay_items_sent_total', 'Relay items (offers, answers, candidate groups) carried by those direct messages', () => stats.relayItemsSent);
  counter('brigade_tracker_direct_messages_received_total', 'Node-to-node direct messages received', () => stats.directMessagesReceived);
  counter('brigade_tracker_relay_items_received_total', 'Relay items received from other nodes', () => stats.relayItemsReceived);
  counter('brigade_tracker_socket_flushes_total', 'Grouped socket writes (one per socket per tick)', () => stats.socketFlushes);
  counter('brigade_tracker_swarm_reads_total', 'Swarm membership reads (one per swarm per tick)', () => stats.swarmReads);
  counter('brigade_tracker_ticks_total', 'Tracker ticks that did work', () => stats.ticks);
  labelled('brigade_tracker_failures_total', 'Messages refused, by reason', 'reason', stats.failures);
  labelled('brigade_tracker_closes_total', 'Tracker connections closed by the server, by close code', 'code', stats.closes);
  labelled('brigade_tracker_relays_dropped_total', 'Relays not delivered, by why', 'why', stats.dropped);
}
