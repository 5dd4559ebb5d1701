/**
 * A real core for tests that need a CoreApi: the Hub over an EmbeddedEngine on a temporary SQLite
 * file, with a settable clock. Events go in through hub.publishInternal (committed by the hub's
 * own tick), snapshots through engine.putSnapshot, so retention trims the log for real.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/cli/config.ts';
import type { ChannelType } from '../../src/core/channel-type.ts';
import type { RetentionOptions } from '../../src/core/engine.ts';
import { Hub } from '../../src/core/hub.ts';
import { EmbeddedEngine } from '../../src/engines/embedded-engine.ts';

export interface RealCoreOptions {
  /** The engine's retention; default: the server's defaults. */
  retention?: RetentionOptions;
  /** The hub's automatic snapshot interval, events; default: the hub's default. */
  snapshotEvery?: number;
}

export interface RealCore {
  hub: Hub;
  engine: EmbeddedEngine;
  /** The hub's clock: every event and snapshot is stamped with `nowMs`. */
  clock: { nowMs: number };
  /**
   * Appends on the server's behalf at `timeMs` (default: the clock's time, which it also sets)
   * and resolves with the first version once committed and folded into the hub's state.
   * Await each call before the next: the hub reads the clock when it queues the events.
   */
  append(channel: string, payloads: Uint8Array[], publisher: string, timeMs?: number): Promise<number>;
  /**
   * Stores a snapshot of the hub's live state at its current version, as the hub does every
   * `snapshotEvery` events; the engine then trims the log per its retention.
   */
  snapshot(channel: string, timeMs?: number): Promise<void>;
  /** Stops the hub, closes the engine and removes the temporary directory. */
  close(): Promise<void>;
}

export async function createRealCore(type: ChannelType<any>, options: RealCoreOptions = {}): Promise<RealCore> {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-real-core-'));
  const engine = new EmbeddedEngine({
    path: join(dir, 'brigade.sqlite'),
    retention: options.retention ?? { retainEvents: defaultConfig.retainEvents, keepSnapshots: defaultConfig.keepSnapshots },
  });
  try {
    await engine.open();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const clock = { nowMs: 1_000_000 };
  const hub = new Hub({
    engine,
    types: [type],
    options: { tickMs: 1, ...(options.snapshotEvery === undefined ? {} : { snapshotEvery: options.snapshotEvery }) },
    now: () => clock.nowMs,
  });
  hub.start();
  let closed = false;

  return {
    hub,
    engine,
    clock,
    append(channel, payloads, publisher, timeMs = clock.nowMs) {
      clock.nowMs = timeMs;
      return hub.publishInternal(channel, payloads, publisher);
    },
    async snapshot(channel, timeMs = clock.nowMs) {
      clock.nowMs = timeMs;
      const ch = await hub.channel(channel);
      const view = await hub.view(channel);
      await engine.putSnapshot(channel, { version: view.version, bytes: type.encodeSnapshot(view.state), timeMs });
      // What the hub does after storing one itself.
      ch.lastStoredSnapshot = view.version;
      ch.oldest = (await engine.info(channel)).oldest;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await hub.stop();
        await engine.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
