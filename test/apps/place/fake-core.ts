/**
 * An in-memory CoreApi for the place tests: one log per channel folded with the real
 * PlaceChannelType, stored snapshots, and a trimmable log start.
 */
import type { ChannelView, CoreApi } from '../../../src/core/core-api.ts';
import type { LogEvent, StoredSnapshot } from '../../../src/core/engine.ts';
import type { CanvasState, PlaceChannelType } from '../../../src/apps/place/index.ts';

interface FakeChannel {
  view: ChannelView<CanvasState>;
  log: LogEvent[];
  /** Versions below this are trimmed. */
  oldest: number;
  snapshots: StoredSnapshot[];
}

export class FakeCore implements CoreApi {
  private readonly channels = new Map<string, FakeChannel>();
  nowMs = 1_000_000;
  publishCalls = 0;

  constructor(private readonly type: PlaceChannelType, readonly epoch = 7) {}

  private channel(name: string): FakeChannel {
    let c = this.channels.get(name);
    if (c === undefined) {
      c = { view: { epoch: this.epoch, version: 0, state: this.type.init(name) }, log: [], oldest: 0, snapshots: [] };
      this.channels.set(name, c);
    }
    return c;
  }

  /** Appends as if a user published (no validation), at the fake clock's time. */
  append(channel: string, payloads: Uint8Array[], publisher: string, timeMs = this.nowMs): number {
    const c = this.channel(channel);
    const first = c.log.length;
    for (const payload of payloads) {
      const version = c.log.length;
      c.log.push({ payload, publisher, timeMs });
      this.type.apply(c.view.state, payload, version);
      c.view.version = version + 1;
    }
    return first;
  }

  /** Stores a snapshot of the live state, as the core does every N events. */
  snapshot(channel: string, timeMs = this.nowMs): void {
    const c = this.channel(channel);
    c.snapshots.push({ version: c.view.version, bytes: this.type.encodeSnapshot(c.view.state), timeMs });
  }

  trimBefore(channel: string, version: number): void {
    this.channel(channel).oldest = version;
  }

  async view<S>(channel: string): Promise<ChannelView<S>> {
    return this.channel(channel).view as unknown as ChannelView<S>;
  }

  async publishInternal(channel: string, payloads: Uint8Array[], publisher: string): Promise<number> {
    this.publishCalls++;
    return this.append(channel, payloads, publisher);
  }

  async readLog(channel: string, fromVersion: number, limit: number): Promise<LogEvent[]> {
    const c = this.channel(channel);
    if (fromVersion < c.oldest) throw new Error(`read below oldest ${c.oldest}`);
    return c.log.slice(fromVersion, fromVersion + limit);
  }

  async oldestVersion(channel: string): Promise<number> {
    return this.channel(channel).oldest;
  }

  async getSnapshot(channel: string, atOrBefore = Infinity): Promise<StoredSnapshot | null> {
    const found = this.channel(channel).snapshots.filter((s) => s.version <= atOrBefore);
    return found.length === 0 ? null : found.reduce((a, b) => (b.version > a.version ? b : a));
  }
}
