/**
 * Brings one subscription from the client's version to the head, then makes it live.
 * Sources, cheapest first: nothing (already at head), the in-memory ring of encoded batches (the
 * same bytes live subscribers got), the engine's log in chunks, or a snapshot when the log no
 * longer holds the versions, the client's epoch is stale, or a snapshot is simply smaller.
 * Every frame obeys the connection's byte limit: past it the subscription goes BEHIND at the
 * next version it lacks, and the client resumes from there when it has drained.
 * Depends on the subscription and its channel, and on the `CatchUpHost` it defines here (the
 * subscriptions part of the hub implements it).
 */
import { SubscribeMode, encodeBatch, type ClientFrame } from '../protocol/index.ts';
import type { Engine } from './engine.ts';
import type { CoreOptions } from './options.ts';
import type { CoreStats } from './stats.ts';
import type { SubscribedChannel, Subscription } from './subscription.ts';

type SubscribeFrame = Extract<ClientFrame, { kind: 'subscribe' }>;

/** What a catch-up needs: the engine's log, the limits, the counters, and how to pause a subscription. */
export interface CatchUpHost {
  readonly engine: Pick<Engine, 'read'>;
  readonly options: Pick<CoreOptions, 'maxEventsPerFrame' | 'maxBufferedBytes'>;
  readonly stats: CoreStats;
  /** Stops sending to a slow connection and tells it where to resume. */
  goBehind(sub: Subscription, version: number): void;
}

export async function catchUp(hub: CatchUpHost, sub: Subscription, generation: number, f: SubscribeFrame): Promise<void> {
  const ch = sub.channel;
  const stale = () => sub.session.closed || sub.generation !== generation;
  let v = f.fromVersion;
  sub.position = v;
  if (f.mode === SubscribeMode.HEAD) {
    v = ch.head;
  } else if (
    f.mode === SubscribeMode.SNAPSHOT
    || (f.epoch !== 0 && f.epoch !== ch.epoch)
    || v < ch.oldest
    || ch.snapshotCheaperFrom(v)
  ) {
    if (!sendSnapshot(hub, sub, ch)) return;
    v = ch.head;
  }
  sub.position = v;

  for (;;) {
    if (stale()) return;
    if (v >= ch.recentStart) {
      // Synchronous from here to `live`: no batch can be committed in between.
      for (const { firstVersion, frame } of ch.recentFramesFrom(v)) {
        if (!sendFrame(hub, sub, frame, firstVersion)) return;
      }
      sub.position = ch.head;
      sub.state = 'live';
      ch.goLive(sub);
      return;
    }
    const want = Math.min(hub.options.maxEventsPerFrame, ch.recentStart - v);
    const events = await hub.engine.read(ch.name, v, want);
    if (stale()) return;
    if (events.length < want) {
      // Trimmed behind a snapshot while we were reading: a snapshot is the only way forward.
      if (!sendSnapshot(hub, sub, ch)) return;
      v = ch.head;
      continue;
    }
    const frame = encodeBatch(ch.name, v, events.map((e) => e.payload), ch.type.eventSize);
    if (!sendFrame(hub, sub, frame, v)) return;
    v += events.length;
    sub.position = v;
  }
}

/** Sends one catch-up frame unless the connection is over its limit (then: BEHIND at `version`). */
function sendFrame(hub: CatchUpHost, sub: Subscription, frame: Uint8Array, version: number): boolean {
  const buffered = sub.session.sink.bufferedAmount;
  if (buffered > 0 && buffered + frame.length > hub.options.maxBufferedBytes) {
    hub.goBehind(sub, version);
    return false;
  }
  sub.session.send(frame);
  hub.stats.framesOut++;
  hub.stats.bytesOut += frame.length;
  return true;
}

function sendSnapshot(hub: CatchUpHost, sub: Subscription, ch: SubscribedChannel): boolean {
  const snap = ch.snapshotAtHead();
  // A snapshot may be larger than the limit on its own: it goes whenever the buffer is empty.
  if (!sendFrame(hub, sub, snap.frame, sub.position)) return false;
  hub.stats.snapshotsSent++;
  sub.position = snap.version;
  return true;
}

