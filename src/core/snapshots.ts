/**
 * Snapshots this node stores in the engine: one each time one of its own appends crosses a
 * multiple of snapshotEvery, stored once the channel's state reaches that version (after the
 * batch's fan-out), so over a shared engine one node stores each snapshot. The engine may then
 * trim the log behind it; the channel's `oldest` follows.
 * Depends on the engine contract (through CoreContext) and on the channel registry (a channel
 * unloaded or replaced since is not stored).
 */
import type { ChannelRegistry } from './channel-registry.ts';
import type { CoreContext } from './core-context.ts';
import type { SubscribedChannel } from './subscription.ts';

export class Snapshots {
  constructor(private readonly ctx: CoreContext, private readonly registry: Pick<ChannelRegistry, 'isCurrent'>) {}

  /** This node appended `ch`'s versions [first, end): a snapshot is due at `end` if they cross a multiple of snapshotEvery. */
  appended(ch: SubscribedChannel, first: number, end: number): void {
    const every = this.ctx.options.snapshotEvery;
    if (every > 0 && Math.floor(end / every) > Math.floor(first / every)) ch.snapshotDueAt = end;
  }

  /** Stores `ch`'s snapshot when one is due and its state has reached that version. */
  maybeStore(ch: SubscribedChannel): void {
    if (ch.snapshotDueAt > 0 && ch.head >= ch.snapshotDueAt && this.registry.isCurrent(ch)) {
      ch.snapshotDueAt = 0;
      this.store(ch);
    }
  }

  private store(ch: SubscribedChannel): void {
    const { engine, logger } = this.ctx;
    const version = ch.head;
    ch.lastStoredSnapshot = version;
    const bytes = ch.type.encodeSnapshot(ch.state);
    engine.putSnapshot(ch.name, { version, epoch: ch.epoch, bytes, timeMs: this.ctx.now() })
      .then(() => engine.info(ch.name))
      .then((info) => { ch.oldest = info.oldest; })
      .catch((err) => logger.warn({ channel: ch.name, version, err: String(err) }, 'snapshot not stored'));
  }
}
