/**
 * What every part of the hub shares: the engine, the resolved options, the counters, the logger,
 * the observer and the clock. The hub builds one and hands it to each part; depends only on the
 * contracts it names.
 */
import type { Engine } from './engine.ts';
import type { CoreOptions, Logger } from './options.ts';
import type { CoreObserver, CoreStats } from './stats.ts';

export interface CoreContext {
  readonly engine: Engine;
  readonly options: CoreOptions;
  readonly stats: CoreStats;
  readonly logger: Logger;
  readonly observer: CoreObserver;
  /** This node's id (random per process). */
  readonly nodeId: string;
  /** Milliseconds since the Unix epoch (publish times, cooldowns, the idle sweep). */
  now(): number;
}
