/**
 * The Redis engine's own gauges on a node's /metrics: which primary it uses (so a dashboard shows a
 * failover as the label moving), how often it followed one, and appends whose replicas did not
 * acknowledge in time.
 */
import client from 'prom-client';
import type { RedisEngine } from '../engines/index.ts';
import { pollingCounter } from '../util/metrics.ts';

export function redisMetrics(registry: client.Registry, engine: RedisEngine): void {
  new client.Gauge({
    name: 'brigade_redis_primary', help: 'The Redis primary this node uses now (label address); 1 while connected, 0 while not',
    labelNames: ['address'], registers: [registry],
    collect() {
      this.reset();
      const address = engine.primaryAddress();
      if (address !== null) this.set({ address }, engine.isReady() ? 1 : 0);
    },
  });
  pollingCounter(registry, 'brigade_redis_primary_changes_total',
    'Times this node came back on another Redis primary than before, or (cluster) found another set of primaries (failovers followed)', () => engine.primaryChanges);
  pollingCounter(registry, 'brigade_redis_replica_ack_shortfalls_total',
    'Appends committed on the primary that fewer than --redis-min-replicas-acked replicas acknowledged in time (their publishes went on in doubt)',
    () => engine.replicaAckShortfalls);
}
