/**
 * The room owner: one circular audio buffer per room (48 kHz mono Float32), its clock, and its
 * state (leader, song start and stop, singers with their delays and gains, an optional metronome).
 *
 * Positions are sample indexes on the room's clock (0 when the room was created, 48 per ms). The
 * buffer keeps the samples of the window [clock + ahead − length, clock + ahead): writes and reads
 * outside it are refused (too old: overwritten; ahead: not yet the room's). As the clock moves, the
 * slots that enter the window at its end are zeroed, so an old song never comes back.
 *
 * Mixing is addition at offsets into the Float32 sum (never clipped in the buffer, so a voice can be
 * taken out again exactly). A singer never hears their own voice: each singer keeps their own
 * contributions for the last `ownWindowSamples` (Int16 and the gain they were added with), and a
 * read subtracts them; clipping protection (a hard limit to ±1 after a soft knee) comes last, on
 * the way out. A singer that reads more than `ownWindowSamples` behind their own latest write could
 * hear themselves: bucket-brigade singers read ahead of what they sing, so this never happens in a
 * song (docs/choir.md).
 *
 * The song gates the voices: a frame is added only at positions inside the song, [startedAt,
 * stoppedAt) (both frame boundaries), or from startedAt on while it runs; between songs and
 * outside them nothing is added (counted in `framesOutsideSong`, not refused: a singer cannot know
 * the leader's start or stop before the reply that tells it). So after a stop the buffer holds
 * nothing at or past stoppedAt, whatever frames were still on their way.
 */
import { choirError } from './errors.ts';
import { LateIndex } from './late-index.ts';

export const SAMPLE_RATE = 48_000;
/**
 * One shard RPC's times, performance.now() ms: request stored, the shard picked it up, its reply
 * ready (the shard's stamps, NaN when the reply had none), the owner read it. Defined here, where a
 * late mix's stages are summed (Room.noteLate); the shards (owner-codecs.ts, shards.ts) stamp them.
 */
export interface RpcStamps { sentAt: number; pickedUpAt: number; readyAt: number; readAt: number }

/** The default frame: 20 ms (--choir-frame-ms; a room's own is RoomOptions.frameSamples). */
export const FRAME_SAMPLES = 960;
/** The frame durations a room may use, ms: Opus frame sizes that WebCodecs' AudioEncoder also takes. */
export const FRAME_MS_CHOICES = [20, 40, 60] as const;
/** Frames in about 100 ms of audio: what the page sends a message when --choir-frames-per-message is 0 (5 at 20 ms, 2 at 60 ms). */
export const defaultFramesPerMessage = (frameMs: number): number => Math.max(1, Math.round(100 / frameMs));

export interface RoomOptions {
  /** Length of the circular buffer, samples (default 60 s). */
  bufferSamples: number;
  /** How far past the clock a position may be written or read, samples (default 1 s). */
  aheadSamples: number;
  /** How long each singer's own contributions are kept to take out of their mix, samples. */
  ownWindowSamples: number;
  maxSingers: number;
  /**
   * Samples in one frame: each Opus packet's audio, the unit of writes and of the own-voice ring
   * (FRAME_SAMPLES, 20 ms, when absent; 40 or 60 ms: --choir-frame-ms). It divides bufferSamples.
   */
  frameSamples?: number;
  /** The room's clock: samples since the room was created. */
  now(): number;
}

export interface SingerInfo {
  id: number;
  name: string;
  delaySamples: number;
  gain: number;
  shard: number;
}

export class Singer implements SingerInfo {
  /** Int16 samples of this singer's recent contributions, a ring of whole frames. */
  readonly own: Int16Array;
  /** The frame index each ring slot holds (−1: none). */
  readonly ownFrame: Float64Array;
  readonly ownGain: Float32Array;
  lastSeenMs = 0;
  /** End (exclusive) of the latest read, samples. */
  lastReadEnd = -Infinity;
  /**
   * The write position a packet must have to continue the last one sent to this singer's decoder
   * (NaN: none yet, or that decode failed). Any other restarts the decoder (docs/choir.md "Codec
   * state follows the packets").
   */
  nextPacketPos = Number.NaN;
  frames = 0;

  constructor(readonly id: number, readonly key: string, public name: string, public delaySamples: number,
    public gain: number, readonly shard: number, ownWindowSamples: number, frameSamples = FRAME_SAMPLES) {
    const slots = Math.max(1, Math.ceil(ownWindowSamples / frameSamples));
    // Touched now (fill), not frame by frame: a fresh typed array this large is lazily mapped zero
    // pages, and each singer's first 5 s of frames paid a page fault per 4 KB in Room.write's copy
    // into it (the profile's costliest line of the owner, ~12 µs per frame at 120 singers).
    this.own = new Int16Array(slots * frameSamples).fill(0);
    this.ownFrame = new Float64Array(slots).fill(-1);
    this.ownGain = new Float32Array(slots);
  }

  info(): SingerInfo {
    return { id: this.id, name: this.name, delaySamples: this.delaySamples, gain: this.gain, shard: this.shard };
  }
}

/** What became of a frame of voice: added, added but a singer behind already read it, or outside the song (not added). */
export type WriteOutcome = 'added' | 'late' | 'outside';

export interface RoomState {
  name: string;
  clock: number;
  sampleRate: number;
  frameSamples: number;
  bufferSamples: number;
  leader: number | null;
  song: { startedAt: number; stoppedAt: number | null } | null;
  metronomeBpm: number | null;
  singers: SingerInfo[];
}

export class Room {
  readonly buffer: Float32Array;
  readonly singers = new Map<number, Singer>();
  leader: number | null = null;
  song: { startedAt: number; stoppedAt: number | null } | null = null;
  metronomeBpm: number | null = null;
  /** Positions below this have been zeroed for reuse up to it (exclusive end of the live window). */
  private zeroedTo: number;
  lateFrames = 0;
  /** Frames of voice not added: their position was outside the song (or there was no song). */
  framesOutsideSong = 0;
  deadlineMisses = 0;
  /**
   * Where the late mixes' time went, summed over them, seconds: `queue` from the frame's arrival to
   * its shard RPC going out (the batch gathering, a lane busy), `codec` the RPC's round trip or,
   * unsharded, the owner's own codec work, and `reply` from the reply read to the mix answered (the
   * owner's turn behind the batch's other jobs and whatever else its loop ran). The round trip
   * split: `shardWake` (REQUEST stored → the shard picked it up, which includes the shard finishing
   * the other lane's batch), `shardWork` (its batch's codec work), `ownerWake` (REPLY ready → the
   * owner read it).
   */
  readonly lateSeconds = { queue: 0, codec: 0, reply: 0, shardWake: 0, shardWork: 0, ownerWake: 0 };

  /**
   * Counts `mixes` answered late (a message's, all answered at `answered` after it arrived at
   * `arrived`, ms) and adds where their time went to `lateSeconds`, once per mix: the sums are over
   * the late mixes, so that ÷ `deadlineMisses` is a late mix's mean stages whatever the frames a
   * message. `rpc`: the shard RPC's stamps (none: the owner's own codec, or nothing to code).
   */
  noteLate(mixes: number, arrived: number, answered: number, rpc?: RpcStamps): void {
    this.deadlineMisses += mixes;
    const late = this.lateSeconds, k = mixes / 1000;
    const sentAt = rpc?.sentAt ?? arrived, readAt = rpc?.readAt ?? answered;
    late.queue += (sentAt - arrived) * k;
    late.codec += (readAt - sentAt) * k;
    late.reply += (answered - readAt) * k;
    if (rpc && Number.isFinite(rpc.pickedUpAt)) {
      late.shardWake += Math.max(0, rpc.pickedUpAt - sentAt) * k;
      late.shardWork += Math.max(0, rpc.readyAt - rpc.pickedUpAt) * k;
      late.ownerWake += Math.max(0, readAt - rpc.readyAt) * k;
    }
  }
  framesIn = 0;
  /** The singers by delay with their reads, for the late-frame check. */
  private readonly late = new LateIndex<Singer>();
  /** Samples in one frame (RoomOptions.frameSamples). */
  readonly frameSamples: number;

  constructor(readonly name: string, readonly options: RoomOptions) {
    if (options.aheadSamples >= options.bufferSamples) throw new Error('aheadSamples must be less than bufferSamples');
    this.frameSamples = options.frameSamples ?? FRAME_SAMPLES;
    if (!Number.isSafeInteger(this.frameSamples) || this.frameSamples < 1 || options.bufferSamples % this.frameSamples !== 0) {
      throw new Error(`a frame (${this.frameSamples} samples) must divide the buffer (${options.bufferSamples})`);
    }
    this.buffer = new Float32Array(options.bufferSamples);
    this.zeroedTo = options.now() + options.aheadSamples;
  }

  get clock(): number {
    return this.options.now();
  }

  /** Moves the window to the clock: zeroes the slots that enter it. Returns the clock. */
  advance(): number {
    const clock = this.options.now();
    const end = clock + this.options.aheadSamples;
    if (end > this.zeroedTo) {
      const L = this.buffer.length;
      const from = Math.max(this.zeroedTo, end - L);
      for (let p = from; p < end; p++) this.buffer[p % L] = 0;
      this.zeroedTo = end;
    }
    return clock;
  }

  /** Refuses [pos, pos + n) unless it lies in the buffer's window now. */
  checkWindow(pos: number, n: number): void {
    const clock = this.advance();
    const end = clock + this.options.aheadSamples;
    const start = end - this.buffer.length;
    if (!Number.isSafeInteger(pos) || pos < start) {
      throw choirError('CHOIR_FRAME_TOO_OLD', `position ${pos} is before the buffer's start ${start} (clock ${clock}, buffer ${this.buffer.length} samples)`);
    }
    if (pos + n > end) {
      throw choirError('CHOIR_FRAME_AHEAD', `position ${pos}+${n} is past the buffer's end ${end} (clock ${clock}, at most ${this.options.aheadSamples} samples ahead)`);
    }
  }

  join(id: number, key: string, name: string, delaySamples: number, gain: number, shard: number, nowMs: number): Singer {
    if (this.singers.size >= this.options.maxSingers) {
      throw choirError('CHOIR_ROOM_FULL', `room ${this.name} has ${this.singers.size} singers, at most ${this.options.maxSingers}`);
    }
    const singer = new Singer(id, key, name, delaySamples, gain, shard, this.options.ownWindowSamples, this.frameSamples);
    singer.lastSeenMs = nowMs;
    this.singers.set(id, singer);
    this.late.rebuild(this.singers.values());
    if (this.leader === null) this.leader = id;
    return singer;
  }

  leave(id: number): void {
    if (this.singers.delete(id)) this.late.rebuild(this.singers.values());
    if (this.leader === id) {
      // The next leader is the singer with the smallest delay (the front of the brigade).
      let next: Singer | null = null;
      for (const s of this.singers.values()) if (!next || s.delaySamples < next.delaySamples) next = s;
      this.leader = next ? next.id : null;
    }
  }

  /** Starts a song: clears the buffer; the song's first beat is at the clock (aligned to a frame). */
  start(singerId: number, metronomeBpm: number | null): number {
    this.requireLeader(singerId, 'start');
    const clock = this.advance();
    this.buffer.fill(0);
    for (const s of this.singers.values()) s.ownFrame.fill(-1);
    const F = this.frameSamples;
    const at = Math.ceil(clock / F) * F;
    this.song = { startedAt: at, stoppedAt: null };
    this.metronomeBpm = metronomeBpm;
    return at;
  }

  /**
   * Stops the song at the first frame boundary at or after the clock. Nothing at or past it stays
   * in the buffer (a frame stamped ahead of the clock may have been added already) and nothing is
   * added there afterwards: the voices end at stoppedAt for everyone.
   */
  stop(singerId: number): number {
    this.requireLeader(singerId, 'stop');
    const clock = this.advance();
    const song = this.song;
    if (!song || song.stoppedAt !== null) return song?.stoppedAt ?? clock;
    const F = this.frameSamples;
    const at = Math.max(song.startedAt, Math.ceil(clock / F) * F);
    song.stoppedAt = at;
    const L = this.buffer.length;
    for (let p = at; p < this.zeroedTo; p++) this.buffer[p % L] = 0;
    const firstFrame = at / F;
    for (const s of this.singers.values()) for (let i = 0; i < s.ownFrame.length; i++) if (s.ownFrame[i] >= firstFrame) s.ownFrame[i] = -1;
    return at;
  }

  /** Whether the frame at `pos` lies in the song: [startedAt, stoppedAt), or from startedAt while it runs. */
  inSong(pos: number): boolean {
    const song = this.song;
    return song !== null && pos >= song.startedAt && (song.stoppedAt === null || pos + this.frameSamples <= song.stoppedAt);
  }

  private requireLeader(singerId: number, what: string): void {
    if (this.leader !== singerId) throw choirError('CHOIR_NOT_LEADER', `only the leader (singer ${this.leader}) may ${what} the song`);
  }

  /**
   * Adds one frame of a singer's voice (Int16 PCM, frameSamples long) at `pos`, a multiple of
   * frameSamples. Writing the same position again replaces the singer's earlier frame there.
   * Returns 'late' when a singer behind this one already read that position, 'outside' (nothing
   * added, counted) when the position is not in the song.
   */
  write(singer: Singer, pos: number, pcm: Int16Array): WriteOutcome {
    const F = this.frameSamples;
    if (pcm.length !== F) throw choirError('CHOIR_BAD_OPUS', `a frame is ${F} samples, not ${pcm.length}`);
    if (pos % F !== 0) throw choirError('CHOIR_BAD_FRAME', `a write position is a multiple of ${F}, not ${pos}`);
    this.checkWindow(pos, F);
    if (!this.inSong(pos)) { this.framesOutsideSong++; return 'outside'; }
    const L = this.buffer.length;
    const frame = pos / F;
    const slots = singer.ownFrame.length;
    const slot = frame % slots;
    const base = slot * F;
    const at = (pos % L) | 0; // a frame divides L (checked by the constructor), so a frame never wraps; an integer index
    const buf = this.buffer;
    if (singer.ownFrame[slot] === frame) {
      const g = singer.ownGain[slot] / 32768;
      for (let i = 0; i < F; i++) buf[at + i] -= singer.own[base + i] * g;
    }
    const g = singer.gain / 32768;
    for (let i = 0; i < F; i++) buf[at + i] += pcm[i] * g;
    singer.own.set(pcm, base);
    singer.ownFrame[slot] = frame;
    singer.ownGain[slot] = singer.gain;
    singer.frames++;
    this.framesIn++;
    // Late: a singer at the same or a larger delay already read this position (O(log n): late-index.ts).
    const late = this.late.readPast(singer, pos);
    if (late) this.lateFrames++;
    return late ? 'late' : 'added';
  }

  /**
   * The mix `singer` hears at [pos, pos + n): everyone's voices but their own, plus the metronome,
   * clipped to Int16.
   */
  read(singer: Singer | null, pos: number, n = this.frameSamples, out = new Int16Array(n)): Int16Array {
    const F = this.frameSamples;
    this.checkWindow(pos, n);
    const L = this.buffer.length;
    const buf = this.buffer;
    const clip = CLIP, round = +CLIP_ROUND;
    // By runs that stay within one frame: the buffer is contiguous there (a frame divides
    // its length) and the singer's own voice to take out is one slot or none.
    for (let i = 0; i < n;) {
      const p = pos + i;
      const frame = Math.floor(p / F);
      const into = p - frame * F;
      const run = Math.min(n - i, F - into);
      const at = (p % L) | 0; // an integer index (a position from the wire is a double)
      let own: Int16Array | null = null, ownAt = 0, g = 0;
      if (singer) {
        const slot = frame % singer.ownFrame.length;
        if (singer.ownFrame[slot] === frame) { own = singer.own; ownAt = slot * F + into; g = singer.ownGain[slot] / 32768; }
      }
      // Clipping through CLIP, a table of toInt16 at every Int16 step (branch-free: a loud room's
      // samples go in and out of the knee at random, and the branches of toInt16 cost 3.5× the table).
      // The knee's limit is a literal (KNEE_FULL) and the table and its rounding are locals: with
      // the module's constant in the ternary, V8 (Node 20) kept the sample tagged and boxed every
      // one into a HeapNumber (~46 KB of garbage per 60 ms read), in the bundle whether or not
      // the module was initialised lazily (measured both ways: docs/choir.md "60 ms frames, and
      // the mix's read without garbage").
      if (own) {
        for (let k = 0; k < run; k++) {
          const v = buf[at + k] - own[ownAt + k] * g;
          out[i + k] = clip[((v > 1.375 ? 1.375 : v < -1.375 ? -1.375 : v) * 32767 + round) | 0];
        }
      } else {
        for (let k = 0; k < run; k++) {
          const v = buf[at + k];
          out[i + k] = clip[((v > 1.375 ? 1.375 : v < -1.375 ? -1.375 : v) * 32767 + round) | 0];
        }
      }
      i += run;
    }
    if (this.metronomeBpm && this.song && this.song.stoppedAt === null) this.addClicks(pos, n, singer, out);
    if (singer && pos + n > singer.lastReadEnd) {
      singer.lastReadEnd = pos + n;
      this.late.noteRead(singer);
    }
    return out;
  }

  /**
   * The metronome, added at read time (a 1 kHz click of 10 ms at each beat from the song's start):
   * the few samples under a click are mixed again with it, so the common case (no click in the
   * frame) costs nothing.
   */
  private addClicks(pos: number, n: number, singer: Singer | null, out: Int16Array): void {
    const beat = Math.round((SAMPLE_RATE * 60) / this.metronomeBpm!);
    const clickLen = 480; // 10 ms
    const startedAt = this.song!.startedAt;
    const L = this.buffer.length;
    const F = this.frameSamples;
    for (let i = Math.max(0, startedAt - pos); i < n; i++) {
      const p = pos + i;
      const into = (p - startedAt) % beat;
      if (into >= clickLen) { i += beat - into - 1; continue; } // jump to the next beat
      let v = this.buffer[p % L];
      if (singer) {
        const frame = Math.floor(p / F);
        const slot = frame % singer.ownFrame.length;
        if (singer.ownFrame[slot] === frame) v -= singer.own[slot * F + (p - frame * F)] * (singer.ownGain[slot] / 32768);
      }
      v += 0.3 * Math.sin((2 * Math.PI * 1000 * into) / SAMPLE_RATE) * (1 - into / clickLen);
      out[i] = toInt16(v);
    }
  }

  state(): RoomState {
    return {
      name: this.name, clock: this.advance(), sampleRate: SAMPLE_RATE, frameSamples: this.frameSamples,
      bufferSamples: this.buffer.length, leader: this.leader, song: this.song, metronomeBpm: this.metronomeBpm,
      singers: [...this.singers.values()].map((s) => s.info()),
    };
  }
}

/** |v| at and past which the knee gives full scale: 0.9 + 0.1 · atanh(1 − 0.5 / 3276.7) ≈ 1.3739, rounded up (Room.read's loops write it as a literal). */
const KNEE_FULL = 1.375;

/**
 * Clipping protection: linear up to 0.9, a soft knee to 1, then a hard limit; to Int16. Rounds with
 * Math.floor(x + 0.5), not Math.round: the same integer for every sample (they differ only on
 * doubles just under .5, far below an Int16 step), and V8 on this machine runs Math.round about
 * 10× slower in this loop (a frame's read went from ~18 to ~2 µs; docs/choir.md).
 */
export function toInt16(v: number): number {
  if (v <= 0.9 && v >= -0.9) return Math.floor(v * 32767 + 0.5); // the common case: linear
  const a = Math.abs(v);
  // Past KNEE_FULL the knee's tanh is within half an Int16 step of 1: full scale without it (a
  // loud mix clips most of its samples, and tanh per sample was most of a frame's read).
  if (a >= KNEE_FULL) return v < 0 ? -32767 : 32767;
  let y = a;
  if (a > 0.9) y = 0.9 + 0.1 * Math.tanh((a - 0.9) / 0.1);
  const s = Math.floor((v < 0 ? -y : y) * 32767 + 0.5);
  return s > 32767 ? 32767 : s < -32768 ? -32768 : s;
}

/**
 * toInt16 at every Int16 step of [−KNEE_FULL, KNEE_FULL]: CLIP[Math.floor(v · 32767 + 0.5) +
 * CLIP_ZERO] for v clamped to that range. Exact where toInt16 is linear (|v| ≤ 0.9) and at full
 * scale; in the knee, v is rounded to a step before it, so a sample may differ from toInt16(v) by 1
 * (the knee's slope is under 1). 180 KB, built once. A loud mix's read went from 6.8 to ~2 µs a
 * frame with it (docs/choir.md "Several frames a message").
 */
const CLIP_ZERO = Math.ceil(KNEE_FULL * 32767) + 1;
/**
 * CLIP_ZERO + 0.5: the table's index is (v · 32767 + CLIP_ROUND) | 0, which is Math.floor(v · 32767 +
 * 0.5) + CLIP_ZERO for every v in [−KNEE_FULL, KNEE_FULL] (the sum is positive there, so truncation
 * is floor), an int32 without a call.
 */
const CLIP_ROUND = CLIP_ZERO + 0.5;
const CLIP = new Int16Array(2 * CLIP_ZERO + 1);
for (let i = 0; i < CLIP.length; i++) CLIP[i] = toInt16((i - CLIP_ZERO) / 32767);
/** What Room.read's loops compute for one sample (they inline it): toInt16 through CLIP. */
export const clipInt16 = (v: number): number => CLIP[((v > KNEE_FULL ? KNEE_FULL : v < -KNEE_FULL ? -KNEE_FULL : v) * 32767 + CLIP_ROUND) | 0];
