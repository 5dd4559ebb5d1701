/**
 * The choir app on the App contract: rooms (room.ts) owned by the main thread, codec shards
 * (shards.ts) over worker threads, and the transport through the core's REQUEST/REPLY
 * (`choir.join`, `choir.leave`, `choir.start`, `choir.stop`, `choir.state`, `choir.frame`).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import client from 'prom-client';
import type { App, AppRequest } from '../../core/index.ts';
import { BrigadeError } from '../../protocol/index.ts';
import { CHOIR_ERRORS, choirError } from './errors.ts';
import { defaultFramesPerMessage, FRAME_MS_CHOICES, Room, SAMPLE_RATE, type Singer } from './room.ts';
import { OwnerCodecs, type Codecs, type FramesCodecResult, type ShardFigures } from './owner-codecs.ts';
import { pcmFrames } from './frame-pool.ts';
import { RoomPlacement } from './placement.ts';
import { ShardPool } from './shards.ts';
import { decodeFrames, encodeFramesReply, encodeReply, encodeReplyInPlace, REPLY_HEADER_BYTES, type FrameReply, type VoiceOutcome } from './wire.ts';

export interface ChoirOptions {
  [k: string]: number;
  shards: number;
  maxSingers: number;
  frameMs: number;
  bufferMs: number;
  aheadMs: number;
  ownWindowMs: number;
  maxFrameBytes: number;
  maxFramesPerMessage: number;
  framesPerMessage: number;
  bitrate: number;
  complexity: number;
  singerIdleMs: number;
  deadlineMs: number;
  claimMs: number;
  ownerCodec: number;
  shardSpinUs: number;
  batchMs: number;
  pollReplies: number;
  pretenuring: number;
}

const NO_BYTES = new Uint8Array(0);
const ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/**
 * The most frames a message may carry (its codec work is one job, split over RPCs where one does
 * not hold it, so any count fits the shards' RPCs; 50 keeps a message's codec work, ~5 ms, from holding its shard's queue much longer
 * than a batch).
 */
const MAX_MESSAGE_FRAMES = 50;
/** A duration that is whole 20 ms frames (start() checks the buffer's against --choir-frame-ms too). */
const wholeFrames = (ms: number) => (Number.isInteger(ms) && ms % 20 === 0 ? null : 'must be a multiple of 20 ms');

export const choirApp: App<ChoirOptions> = {
  name: 'choir',
  description: 'Bucket-brigade group singing: one shared audio buffer per room, Opus codec sharded over worker threads',
  page: '/choir',
  errors: CHOIR_ERRORS,
  options: {
    shards: { default: 0, help: 'codec shards (worker threads); 0: cores − 1, at least 1' },
    maxSingers: { default: 64, help: 'singers per room at most', validate: (v) => (v >= 1 ? null : 'at least 1') },
    frameMs: {
      default: 20,
      help: `audio in one Opus frame, ms (${FRAME_MS_CHOICES.join(', ')}): the unit of the voices' writes, the mixes' reads and the codec work; longer frames cost the server less per second of audio (the seed's client uses 60) and add that much to each singer's latency`,
      validate: (v) => ((FRAME_MS_CHOICES as readonly number[]).includes(v) ? null : FRAME_MS_CHOICES.join(', ')),
    },
    bufferMs: { default: 60_000, help: 'length of each room\'s circular audio buffer, ms', validate: (v) => (v >= 1000 ? wholeFrames(v) : 'at least 1000') },
    aheadMs: { default: 1000, help: 'how far past the room\'s clock a frame may be stamped, ms', validate: wholeFrames },
    ownWindowMs: { default: 5000, help: 'how long each singer\'s own voice is kept to take out of their mix, ms', validate: (v) => (v >= 20 ? null : 'at least 20') },
    maxFrameBytes: { default: 1275, help: 'largest Opus packet accepted for one frame, bytes' },
    maxFramesPerMessage: { default: 30, help: 'most frames one choir.frame message may carry (30 at 20 ms: 600 ms, the seed\'s batch; at most 50)', validate: (v) => (v >= 1 && v <= MAX_MESSAGE_FRAMES ? null : `1..${MAX_MESSAGE_FRAMES}`) },
    framesPerMessage: { default: 0, help: 'frames the /choir page sends in one message (told in each join reply; fewer: less latency, more CPU per frame in the server); 0: about 100 ms (5 at 20 ms, 2 at 60 ms)', validate: (v) => (v >= 0 && v <= MAX_MESSAGE_FRAMES ? null : `0..${MAX_MESSAGE_FRAMES}`) },
    bitrate: { default: 64_000, help: 'Opus bitrate of each mix sent to a singer, bits/s', validate: (v) => (v >= 6000 && v <= 510_000 ? null : '6000..510000') },
    complexity: { default: 5, help: 'Opus encoder complexity 0..10', validate: (v) => (v <= 10 ? null : '0..10') },
    singerIdleMs: { default: 15_000, help: 'a singer who sends nothing this long leaves the room, ms' },
    deadlineMs: { default: 20, help: 'a mix answered later than this after its frame arrived counts as a deadline miss, ms' },
    shardSpinUs: { default: 0, help: 'how long a codec shard spins on its status word after a reply before it sleeps in Atomics.wait, µs (0: sleeps at once)', validate: (v) => (v <= 5000 ? null : '0..5000') },
    batchMs: { default: 4, help: 'how long a codec shard\'s batch of frames gathers before its RPC goes out, ms (0: as soon as the shard is free); fewer, larger RPCs (fewer thread wake-ups, less CPU per frame) for up to that much more latency', validate: (v) => (v <= 10 ? null : '0..10') },
    pollReplies: { default: 1, help: '1: look for the codec shards\' replies at every frame handled, not only when Atomics.waitAsync\'s task comes round on the event loop; 0: waitAsync only', validate: (v) => (v === 0 || v === 1 ? null : '0 or 1') },
    pretenuring: { default: 0, help: '0: turn V8\'s allocation-site pretenuring off in this process when choir starts (a message\'s short-lived objects were being allocated straight into the old space, and kept what they pointed to alive: half the owner\'s GC; docs/choir.md "Session 10"); 1: leave V8\'s default', validate: (v) => (v === 0 || v === 1 ? null : '0 or 1') },
    claimMs: { default: 5000, help: 'a room\'s claim on its node (engine), renewed every third of it; a room whose node died moves after this, ms', validate: (v) => (v >= 300 ? null : 'at least 300') },
    ownerCodec: { default: 0, help: '1: run every singer\'s Opus codec in the owner thread, no shards (the unsharded baseline of the benchmarks)', validate: (v) => (v === 0 || v === 1 ? null : '0 or 1') },
  },

  start(core) {
    const o = core.options;
    if (o.aheadMs >= o.bufferMs) throw new Error('choir: --choir-ahead-ms must be less than --choir-buffer-ms');
    const F = Math.round((o.frameMs * SAMPLE_RATE) / 1000);
    // A frame never wraps round the buffer's end (Room.write and read copy it in one run).
    if (o.bufferMs % o.frameMs !== 0) throw new Error(`choir: --choir-buffer-ms (${o.bufferMs}) must be a multiple of --choir-frame-ms (${o.frameMs})`);
    const framesPerMessage = o.framesPerMessage > 0 ? o.framesPerMessage : Math.min(o.maxFramesPerMessage, defaultFramesPerMessage(o.frameMs));
    if (framesPerMessage > o.maxFramesPerMessage) throw new Error('choir: --choir-frames-per-message must be at most --choir-max-frames-per-message');
    const shardCount = o.shards > 0 ? o.shards : Math.max(1, availableParallelism() - 1);
    const codecOptions = {
      count: shardCount, bitrate: o.bitrate, complexity: o.complexity, frameSamples: F, spinUs: o.shardSpinUs, batchMs: o.batchMs, pollReplies: o.pollReplies === 1,
      opusHeadroom: REPLY_HEADER_BYTES, // each mix's reply is written around its packet (wire.ts encodeReplyInPlace)
    };
    if (o.pretenuring === 0) {
      // V8 reads this flag at each GC, so setting it here, after the options are checked (a start
      // refused for them changes nothing) and before the hot path runs, works as if node had started
      // with it; it is process-wide (every app and thread here), which is why it is choir's option
      // and logged (measured: docs/choir.md "Session 10").
      setFlagsFromString('--no-allocation-site-pretenuring');
      core.logger.info({ v8Flag: '--no-allocation-site-pretenuring' }, 'choir: V8 allocation-site pretenuring is off in this process (--choir-pretenuring 1 leaves it on)');
    }
    const pool: Codecs = o.ownerCodec === 1 ? new OwnerCodecs(codecOptions) : new ShardPool(codecOptions);
    const rooms = new Map<string, Room & { created: number }>();
    const placement = new RoomPlacement(core, o.claimMs);
    const singers = new Map<number, { room: Room; singer: Singer }>();
    let nextSinger = 1;
    const ms = (v: number) => Math.round((v * SAMPLE_RATE) / 1000);

    const roomOf = (name: unknown, create: boolean): Room => {
      if (typeof name !== 'string' || !ROOM_NAME.test(name)) throw choirError('CHOIR_BAD_ROOM', 'a room name is 1-64 of [A-Za-z0-9_.-]');
      let room = rooms.get(name);
      if (!room) {
        if (!create) throw choirError('CHOIR_BAD_ROOM', `no room ${name}`);
        const created = performance.now();
        room = Object.assign(new Room(name, {
          bufferSamples: ms(o.bufferMs), aheadSamples: ms(o.aheadMs), ownWindowSamples: ms(o.ownWindowMs), maxSingers: o.maxSingers, frameSamples: F,
          now: () => Math.floor((performance.now() - created) * (SAMPLE_RATE / 1000)),
        }), { created });
        rooms.set(name, room);
      }
      return room;
    };
    const singerOf = (id: unknown, key: unknown): { room: Room; singer: Singer } => {
      const s = typeof id === 'number' ? singers.get(id) : undefined;
      if (!s || s.singer.key !== key) throw choirError('CHOIR_NOT_A_SINGER', `no singer ${String(id)} with that key (never joined, left, or idle past --choir-singer-idle-ms)`);
      s.singer.lastSeenMs = Date.now();
      return s;
    };
    const body = (req: AppRequest): Record<string, unknown> => {
      const b = req.json();
      if (!b || typeof b !== 'object') throw new BrigadeError('INVALID_REQUEST', 'the body is a JSON object');
      return b as Record<string, unknown>;
    };
    const leave = (id: number) => {
      const s = singers.get(id);
      if (!s) return;
      singers.delete(id);
      s.room.leave(id);
      pool.unpin(id);
      if (s.room.singers.size === 0) dropRoom(s.room.name);
    };
    const dropRoom = (name: string) => {
      rooms.delete(name);
      placement.release(name);
    };

    core.request('choir.join', async (req) => {
      const b = body(req);
      if (typeof b.room !== 'string' || !ROOM_NAME.test(b.room)) throw choirError('CHOIR_BAD_ROOM', 'a room name is 1-64 of [A-Za-z0-9_.-]');
      // Everything checked before anything changes (a claim taken, a room made).
      const delayMs = b.delayMs ?? 0;
      const gain = b.gain ?? 1;
      if (typeof delayMs !== 'number' || !(delayMs >= 0) || delayMs > o.bufferMs - o.aheadMs) throw new BrigadeError('INVALID_REQUEST', `delayMs is 0..${o.bufferMs - o.aheadMs}`);
      if (typeof gain !== 'number' || !(gain >= 0 && gain <= 4)) throw new BrigadeError('INVALID_REQUEST', 'gain is 0..4');
      const replaces = b.replaces ?? null;
      if (replaces !== null && (typeof replaces !== 'object' || typeof (replaces as { singer?: unknown }).singer !== 'number' || typeof (replaces as { key?: unknown }).key !== 'string')) {
        throw new BrigadeError('INVALID_REQUEST', 'replaces is {singer: number, key: string} or null');
      }
      if (b.take !== undefined && typeof b.take !== 'boolean') throw new BrigadeError('INVALID_REQUEST', 'take is true or false');
      // A room lives on one node at a time: a room not here is claimed for this node, or the client
      // is told which node's URL holds it (docs/choir.md, "Many nodes").
      if (!rooms.has(b.room)) {
        // `take`: this node was named by another for its load; it takes the room (loads read at two
        // nodes a moment apart could otherwise send the singer back and forth).
        const elsewhere = await placement.place(b.room, b.take === true ? null : singers.size);
        if (elsewhere) return { room: b.room, elsewhere: elsewhere.url, node: elsewhere.node, retryAfterMs: elsewhere.retryAfterMs, ...(elsewhere.take ? { take: true } : {}) };
      }
      const room = roomOf(b.room, true);
      const name = typeof b.name === 'string' ? b.name.slice(0, 64) : '';
      // A rejoin after a lost connection (docs/choir.md "Rejoining"): the singer this page was
      // before gives up its place (and the lead, if it led) to the new one at once, instead of
      // idling out after --choir-singer-idle-ms. One that is not here (the node restarted, another
      // room, a wrong key) is no one to replace: the join goes on as a fresh one.
      const old = replaces ? singers.get((replaces as { singer: number }).singer) : undefined;
      const replaced = old && old.room === room && old.singer.key === (replaces as { key: string }).key ? old.singer : null;
      const wasLeader = replaced !== null && room.leader === replaced.id;
      if (replaced) {
        singers.delete(replaced.id);
        room.leave(replaced.id);
        pool.unpin(replaced.id);
      }
      const id = nextSinger++;
      const key = randomBytes(8).toString('hex');
      const shard = pool.pin(id);
      let singer: Singer;
      try {
        singer = room.join(id, key, name, ms(delayMs), gain, shard, Date.now());
      } catch (err) {
        pool.unpin(id);
        if (room.singers.size === 0) dropRoom(room.name);
        throw err;
      }
      singers.set(id, { room, singer });
      if (wasLeader) room.leader = id;
      return { singer: id, key, shard, replaced: replaced?.id ?? null, delaySamples: singer.delaySamples, node: core.nodeId, url: core.publicUrl(), framesPerMessage, maxFramesPerMessage: o.maxFramesPerMessage, ...room.state() };
    });
    core.request('choir.leave', (req) => {
      const b = body(req);
      singerOf(b.singer, b.key);
      leave(b.singer as number);
      return { left: true };
    });
    core.request('choir.start', (req) => {
      const b = body(req);
      const { room } = singerOf(b.singer, b.key);
      const bpm = b.metronomeBpm ?? null;
      if (bpm !== null && (typeof bpm !== 'number' || !(bpm >= 20 && bpm <= 300))) throw new BrigadeError('INVALID_REQUEST', 'metronomeBpm is 20..300 or null');
      return { startedAt: room.start(b.singer as number, bpm as number | null), ...room.state() };
    });
    core.request('choir.stop', (req) => {
      const b = body(req);
      const { room } = singerOf(b.singer, b.key);
      return { stoppedAt: room.stop(b.singer as number), ...room.state() };
    });
    core.request('choir.state', (req) => roomOf(body(req).room, false).state());
    core.request('choir.frame', async (req) => {
      const arrived = performance.now();
      pool.poll(); // a reply already there goes on now, not when waitAsync's task comes round
      const f = decodeFrames(req.body);
      const { room, singer } = singerOf(f.singer, f.key);
      const packets = f.packets;
      const n = packets.length;
      const several = f.version !== 1;
      if (n > o.maxFramesPerMessage) throw choirError('CHOIR_FRAME_TOO_LARGE', `a message carries at most ${o.maxFramesPerMessage} frames (--choir-max-frames-per-message); got ${n}`);
      // Everything is checked before any codec work or any change: a message with one bad frame
      // changes nothing (its other frames are refused with it, typed, and the singer sends again).
      const voices: VoiceOutcome[] = new Array(n);
      const writes: boolean[] = new Array(n);
      let sung = false;
      for (let i = 0; i < n; i++) {
        const p = packets[i];
        if (p.length > o.maxFrameBytes) throw choirError('CHOIR_FRAME_TOO_LARGE', `an Opus packet is at most ${o.maxFrameBytes} bytes; got ${p.length}${several ? ` (frame ${i})` : ''}`);
        sung ||= p.length > 0;
      }
      if (sung && f.writePos >= 0 && f.writePos % F !== 0) throw choirError('CHOIR_BAD_FRAME', `a write position is a multiple of ${F}; got ${f.writePos}`);
      for (let i = 0; i < n; i++) {
        voices[i] = 'none';
        writes[i] = false;
        if (f.writePos < 0 || packets[i].length === 0) continue;
        // Refuse out-of-window frames before spending codec time on them; a frame outside the song
        // is not decoded either (counted, not refused: docs/choir.md "Song edges").
        const pos = f.writePos + i * F;
        room.checkWindow(pos, F);
        if (room.inSong(pos)) writes[i] = true;
        else voices[i] = 'outside';
      }
      // Every mix is read before any codec job goes out, and the reads' whole span is checked
      // first: a read out of the window refuses the message with nothing read (a read moves the
      // singer's read end, which decides whose later writes are late) and nothing queued.
      const mixes: (Int16Array | null)[] = new Array(n).fill(null);
      if (f.readPos >= 0) {
        room.checkWindow(f.readPos, n * F);
        try {
          for (let i = 0; i < n; i++) mixes[i] = room.read(singer, f.readPos + i * F, F, pcmFrames.take(F));
        } catch (err) {
          for (const mix of mixes) pcmFrames.give(mix);
          throw err;
        }
      }
      for (let i = 0; i < n; i++) if (voices[i] === 'outside') room.framesOutsideSong++;
      // The mixes were read now, from what the buffer holds; each frame's decode and its mix's encode
      // go to the singer's shard as one job, batched with the other frames of that shard into one
      // RPC (a message's frames, in order, in the same RPC when its gathering allows); the decoded
      // voices are added when they come back (docs/choir.md, "Batches").
      // The singer's encoder coded every frame in order; their decoder here sees only the packets
      // added (none outside the song, none the page did not send). A packet that does not follow
      // the last one decoded restarts the decoder: one that missed packets mis-predicts the band
      // energies of the next ones (a tone came out twice as loud; docs/choir.md).
      const sent: (Uint8Array | null)[] = new Array(n);
      const fresh: boolean[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const pos = f.writePos + i * F;
        fresh[i] = writes[i] && singer.nextPacketPos !== pos;
        if (writes[i]) singer.nextPacketPos = pos + F;
        sent[i] = writes[i] ? packets[i] : null;
      }
      let done: FramesCodecResult;
      try {
        done = await pool.frames(singer.id, sent, mixes, fresh);
      } catch (err) {
        if (writes.includes(true)) singer.nextPacketPos = Number.NaN; // a packet may not have reached the decoder
        throw err;
      } finally {
        for (const mix of mixes) pcmFrames.give(mix); // settled: the shard's RPC copied it, or the owner's codec encoded it
      }
      // Written only if the song still holds it: a stop may have come while the shard decoded.
      for (let i = 0; i < n; i++) {
        const pcm = done.pcm[i];
        if (!pcm) continue;
        try {
          voices[i] = room.write(singer, f.writePos + i * F, pcm);
        } finally {
          pcmFrames.give(pcm); // the room copied it into the singer's own-voice ring
        }
      }
      const answered = performance.now();
      if (answered - arrived > o.deadlineMs) room.noteLate(f.readPos >= 0 ? n : 1, arrived, answered, done.rpc);
      if (several) {
        const out: Uint8Array[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = done.opus[i] ?? NO_BYTES;
        return encodeFramesReply({ clock: room.clock, readPos: f.readPos, song: room.song, codecEpoch: done.epoch, voices, mixes: out });
      }
      const opus = done.opus[0];
      const reply: FrameReply = { clock: room.clock, readPos: f.readPos, song: room.song, voice: voices[0], codecEpoch: done.epoch, opus: opus ?? NO_BYTES };
      return opus && (done.opusHeadroom ?? 0) >= REPLY_HEADER_BYTES ? encodeReplyInPlace(reply) : encodeReply(reply);
    });

    // A singer who stops sending goes quiet at once (nobody waits for them) and leaves after singerIdleMs.
    core.tick(1000, () => {
      const cutoff = Date.now() - o.singerIdleMs;
      for (const [id, s] of singers) if (s.singer.lastSeenMs < cutoff) leave(id);
    });

    // Renew the claims of the rooms held here; a room whose claim another node now holds (this node
    // was cut off from the engine past --choir-claim-ms) is dropped here with its singers.
    core.tick(Math.max(100, Math.floor(o.claimMs / 3)), async () => {
      await placement.publishLoad(singers.size).catch((err: unknown) => core.logger.warn({ err: String(err) }, 'choir: publishing this node\'s load failed'));
      for (const name of await placement.renew([...rooms.keys()])) {
        core.logger.warn({ room: name }, 'choir: another node holds this room\'s claim now; dropping it here');
        const room = rooms.get(name);
        if (room) for (const id of [...room.singers.keys()]) leave(id);
        rooms.delete(name);
      }
    });

    registerChoirMetrics(core.metricsRegistry as client.Registry, rooms, pool);
    return {
      async stop() {
        await placement.releaseAll([...rooms.keys()]); // a graceful stop hands its rooms over at once
        await pool.close();
      },
    };
  },
};

function registerChoirMetrics(registry: client.Registry, rooms: Map<string, Room>, pool: Codecs): void {
  const perRoom = (name: string, help: string, read: (r: Room) => number) => {
    const last = new Map<string, number>();
    new client.Counter({
      name, help, labelNames: ['room'], registers: [registry],
      collect() {
        for (const r of rooms.values()) {
          const v = read(r);
          const prev = last.get(r.name) ?? 0;
          this.inc({ room: r.name }, Math.max(0, v - prev)); // by 0 too: the room shows from its first scrape
          last.set(r.name, v);
        }
      },
    });
  };
  new client.Gauge({
    name: 'brigade_choir_singers', help: 'Singers in each choir room', labelNames: ['room'], registers: [registry],
    collect() { this.reset(); for (const r of rooms.values()) this.set({ room: r.name }, r.singers.size); },
  });
  perRoom('brigade_choir_frames_total', 'Voice frames added into each room\'s buffer', (r) => r.framesIn);
  perRoom('brigade_choir_frames_outside_song_total', 'Voice frames not added: stamped outside the song (before its start, at or past its stop, or between songs)', (r) => r.framesOutsideSong);
  perRoom('brigade_choir_late_frames_total', 'Voice frames added at a position a singer behind had already heard', (r) => r.lateFrames);
  perRoom('brigade_choir_mix_deadline_misses_total', 'Mixes answered later than --choir-deadline-ms after their frame arrived', (r) => r.deadlineMisses);
  // Where those late mixes' time went (Room.lateSeconds): divide by the misses for a late mix's mean stages.
  perRoom('brigade_choir_late_mix_queue_seconds_total', 'Sum over the late mixes of frame arrived → its shard RPC sent (batch gathering, lane busy), seconds', (r) => r.lateSeconds.queue);
  perRoom('brigade_choir_late_mix_codec_seconds_total', 'Sum over the late mixes of the shard RPC\'s round trip (unsharded: the owner\'s codec work), seconds', (r) => r.lateSeconds.codec);
  perRoom('brigade_choir_late_mix_shard_wake_seconds_total', 'Of the late mixes\' round trips: request stored → the shard picked it up, seconds', (r) => r.lateSeconds.shardWake);
  perRoom('brigade_choir_late_mix_shard_work_seconds_total', 'Of the late mixes\' round trips: the shard\'s work on their batch, seconds', (r) => r.lateSeconds.shardWork);
  perRoom('brigade_choir_late_mix_owner_wake_seconds_total', 'Of the late mixes\' round trips: reply ready → the owner read it, seconds', (r) => r.lateSeconds.ownerWake);
  perRoom('brigade_choir_late_mix_reply_seconds_total', 'Sum over the late mixes of reply read → mix answered (the owner\'s turn after the RPC), seconds', (r) => r.lateSeconds.reply);
  const cpuLast: number[] = [];
  new client.Counter({
    name: 'brigade_choir_shard_cpu_seconds_total', help: 'CPU seconds used by each codec shard\'s thread (Linux: the thread\'s own clock)', labelNames: ['shard'], registers: [registry],
    collect() {
      for (const [i, v] of pool.cpuSeconds().entries()) {
        this.inc({ shard: String(i) }, Math.max(0, v - (cpuLast[i] ?? 0)));
        cpuLast[i] = Math.max(v, cpuLast[i] ?? 0);
      }
    },
  });
  // The shards' RPC stages, as sums (rate them; divide by the counts for means): a round trip is
  // REQUEST stored → REPLY read by the owner (the shard's work and both thread hand-offs); a job's
  // wait is its time queued behind the RPC in flight before its own went out.
  const figureCounter = (name: string, help: string, read: (f: ShardFigures) => number) => {
    const last: number[] = [];
    new client.Counter({
      name, help, labelNames: ['shard'], registers: [registry],
      collect() {
        for (const [i, f] of pool.figures().entries()) {
          const v = read(f);
          this.inc({ shard: String(i) }, Math.max(0, v - (last[i] ?? 0)));
          last[i] = Math.max(v, last[i] ?? 0);
        }
      },
    });
  };
  figureCounter('brigade_choir_shard_rpcs_total', 'RPCs to each codec shard (one per batch of jobs)', (f) => f.rpcs);
  figureCounter('brigade_choir_shard_rpc_seconds_total', 'Sum of the RPCs\' round trips to each codec shard, seconds', (f) => f.rpcSeconds);
  figureCounter('brigade_choir_shard_jobs_total', 'Frames sent to each codec shard (a message\'s frames travel as one job)', (f) => f.jobs);
  figureCounter('brigade_choir_shard_wait_seconds_total', 'Sum of the frames\' waits in each shard\'s queue before their RPC went out, seconds', (f) => f.waitSeconds);
  figureCounter('brigade_choir_shard_wake_seconds_total', 'Sum over RPCs of REQUEST stored → the shard picks it up (its Atomics.wait wake-up), seconds', (f) => f.shardWakeSeconds);
  figureCounter('brigade_choir_shard_work_seconds_total', 'Sum over RPCs of the shard\'s work: picked up → REPLY ready, seconds', (f) => f.shardWorkSeconds);
  figureCounter('brigade_choir_shard_owner_wake_seconds_total', 'Sum over RPCs of REPLY ready → the owner reads it (Atomics.waitAsync on the event loop), seconds', (f) => f.ownerWakeSeconds);
  figureCounter('brigade_choir_shard_backlog_rpcs_total', 'RPCs whose jobs were already queued when the previous reply was ready', (f) => f.backlogRpcs);
  figureCounter('brigade_choir_shard_backlog_gap_seconds_total', 'Sum over those RPCs of previous REPLY ready → this REQUEST stored (the shard waiting on the owner), seconds', (f) => f.backlogGapSeconds);
  figureCounter('brigade_choir_shard_restarts_total', 'Codec shard threads restarted (exited, threw, or did not answer in time)', (f) => f.restarts);
  new client.Gauge({
    name: 'brigade_choir_shard_queue_depth', help: 'Codec calls waiting for or in each shard\'s RPC', labelNames: ['shard'], registers: [registry],
    collect() { for (let i = 0; i < pool.size; i++) this.set({ shard: String(i) }, pool.queueDepth(i)); },
  });
}
