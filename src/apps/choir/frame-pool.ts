/**
 * The owner's PCM frames (a room's frame of Int16 samples: 960 at 20 ms, 2,880 at 60 ms), reused:
 * every frame a singer sends made two of them (the mix read for them, the voice decoded back from
 * their shard), ~4 KB of garbage per 20 ms frame and a scavenge every few hundred ms at 100+
 * singers. A frame is given back only when nothing holds it any more: the mix once its job is
 * settled (the shard's RPC copied it into the shared buffer, or the owner's codec encoded it), the
 * voice once the room has added it (Room.write copies it into the singer's own-voice ring).
 */
import { FRAME_SAMPLES } from './room.ts';
import { PCM_FRAME_OFFSET } from './rpc.ts';

/** Frames kept for reuse at most, per size: beyond the frames in flight at once, the rest are left to the GC. */
const KEEP = 512;

export class FramePool {
  /** The free frames of each size (samples): one list per frame size in use (--choir-frame-ms). */
  private readonly free = new Map<number, Int16Array<ArrayBuffer>[]>();

  /** A frame of `samples` Int16s, alone in its own ArrayBuffer at PCM_FRAME_OFFSET (rpc.ts: the shard RPC's copies run word-aligned). */
  take(samples = FRAME_SAMPLES): Int16Array<ArrayBuffer> {
    return this.free.get(samples)?.pop() ?? new Int16Array(new ArrayBuffer(samples * 2 + 8), PCM_FRAME_OFFSET, samples);
  }

  /** Gives `frame` back; the caller must hold no other reference to its memory. */
  give(frame: Int16Array | null): void {
    // Only a frame made as take() makes one (alone in its unshared buffer, at PCM_FRAME_OFFSET):
    // never a view into a larger one.
    if (!frame || frame.byteOffset !== PCM_FRAME_OFFSET || !(frame.buffer instanceof ArrayBuffer) || frame.buffer.byteLength !== frame.length * 2 + 8) return;
    let list = this.free.get(frame.length);
    if (!list) this.free.set(frame.length, (list = []));
    if (list.length < KEEP) list.push(frame as Int16Array<ArrayBuffer>);
  }

  /** Free frames kept, of every size. */
  get size(): number {
    let n = 0;
    for (const list of this.free.values()) n += list.length;
    return n;
  }
}

/** The owner thread's one pool (the app's mixes and the shards' decoded voices). */
export const pcmFrames = new FramePool();
