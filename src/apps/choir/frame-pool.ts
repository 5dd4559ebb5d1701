/**
 * The owner's 20 ms PCM frames (960 Int16 samples), reused: every frame a singer sends made two of
 * them (the mix read for them, the voice decoded back from their shard), ~4 KB of garbage per frame
 * and a scavenge every few hundred ms at 100+ singers. A frame is given back only when nothing
 * holds it any more: the mix once its job is settled (the shard's RPC copied it into the shared
 * buffer, or the owner's codec encoded it), the voice once the room has added it (Room.write copies
 * it into the singer's own-voice ring).
 */
import { FRAME_SAMPLES } from './room.ts';
import { PCM_FRAME_OFFSET } from './rpc.ts';

const FRAME_BYTES = FRAME_SAMPLES * 2;
/** Each frame's own ArrayBuffer: the frame at PCM_FRAME_OFFSET in it (rpc.ts: the shard RPC's copies run word-aligned). */
const FRAME_BUFFER_BYTES = FRAME_BYTES + 8;

/** Frames kept for reuse at most: beyond the frames in flight at once, the rest are left to the GC. */
const KEEP = 512;

export class FramePool {
  private readonly free: Int16Array<ArrayBuffer>[] = [];

  take(): Int16Array<ArrayBuffer> {
    return this.free.pop() ?? new Int16Array(new ArrayBuffer(FRAME_BUFFER_BYTES), PCM_FRAME_OFFSET, FRAME_SAMPLES);
  }

  /** Gives `frame` back; the caller must hold no other reference to its memory. */
  give(frame: Int16Array | null): void {
    // Only a frame made as take() makes one (alone in its unshared buffer, at PCM_FRAME_OFFSET):
    // never a view into a larger one.
    if (frame && frame.length === FRAME_SAMPLES && frame.byteOffset === PCM_FRAME_OFFSET && frame.buffer instanceof ArrayBuffer
      && frame.buffer.byteLength === FRAME_BUFFER_BYTES && this.free.length < KEEP) this.free.push(frame as Int16Array<ArrayBuffer>);
  }

  get size(): number { return this.free.length; }
}

/** The owner thread's one pool (the app's mixes and the shards' decoded voices). */
export const pcmFrames = new FramePool();
