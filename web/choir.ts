/**
 * The /choir page (docs/choir.md "The page"): join a room at a delay slot, sing into the
 * microphone, hear the mix of the singers ahead of you; the leader starts and stops the song.
 *
 * Audio path: microphone → getUserMedia → AudioWorklet (web/choir-worklet.ts) → 20 ms frames
 * stamped with the room position they were sung against → WebCodecs Opus → `choir.frame` REQUEST
 * through the SDK; its REPLY carries the mix at the position this page asked for → WebCodecs →
 * the worklet's playback ring → speakers. Each reply also carries the room's clock, from which
 * web/choir/clock.ts keeps the offset between the room's clock and this page's audio clock.
 * The click loopback test (web/choir/latency.ts) measures this device's output + input latency.
 *
 * Your voice goes into the room only during a song (between the leader's start and stop); the mix
 * plays all the time (between songs it is silent, or the metronome).
 *
 * Tests read state through window.__choir (ChoirHooks), never from the DOM's text.
 */
import { FRAME_SAMPLES, SAMPLE_RATE, type RoomState } from '../src/apps/choir/room.ts';
import { decodeFramesReply, encodeFrames, MIX_LEAD_MS } from '../src/apps/choir/wire.ts';
import { BrigadeError, type BrigadeClient } from '../src/sdk/index.ts';
import type { FromWorklet, ToWorklet } from './choir-worklet.ts';
import { ClockSync } from './choir/clock.ts';
import { CODEC_DELAY_SAMPLES, OpusFrameDecoder, OpusFrameEncoder, opusSupport } from './choir/codec.ts';
import { CLICK_TIMES_MS, clickShape, measureLoopback, type LoopbackResult } from './choir/latency.ts';
import { ChoirLink, type Joined, type LinkStatus } from './choir/link.ts';
import { PacketSequence } from './choir/packet-sequence.ts';
import { PcmLog } from './choir/pcm-log.ts';

/** Delay slots: slot n sings n × SLOT_MS behind the room's clock (slot 0 leads). */
const SLOT_MS = 1000;
const SLOTS = 8;
/** How often the page asks for the room's state (leader, song, singers), ms. */
const STATE_POLL_MS = 500;
const ms = (v: number) => Math.round((v * SAMPLE_RATE) / 1000);


/** What end-to-end tests read from the page. */
export interface ChoirDebugState {
  joined: boolean;
  singer: number | null;
  leader: boolean;
  delaySamples: number | null;
  /** The room's frame, samples (its --choir-frame-ms), as this page encodes and frames its microphone; null before it joined. */
  frameSamples: number | null;
  song: RoomState['song'];
  /** Room position − local audio frame (the frame being heard), samples; null before the first reply. */
  offsetSamples: number | null;
  /** Output + input latency subtracted from the stamps, samples. */
  latencySamples: number;
  /** The mute box: no voice is sent (the mix still plays). */
  muted: boolean;
  minRttMs: number | null;
  lastRttMs: number | null;
  framesSent: number;
  voiceFramesSent: number;
  mixesReceived: number;
  /** Times the mix decoder was restarted (the first mix, a missed one, a new codec epoch), and the last mix's codec epoch. */
  mixDecoderRestarts: number;
  codecEpoch: number | null;
  /** Refusals and failures, by error code. */
  errors: Record<string, number>;
  sungRange: [number, number] | null;
  heardRange: [number, number] | null;
  /** [first, end) of the positions this page sent its voice for (whether or not the server added it). */
  voiceRange: [number, number] | null;
  /** [first, end) of the positions the server's replies said it added this page's voice at. */
  addedRange: [number, number] | null;
  /** Voice frames the replies said were added, and not added (outside the song as the server saw it). */
  voiceFramesAdded: number;
  voiceFramesOutside: number;
  /** Added, but a singer behind had already read the position (they missed it). */
  voiceFramesLate: number;
  /** The link to the room: joined, or connecting / waiting to join again after a lost connection. */
  link: LinkStatus['state'] | null;
  /** Joins after the first (each after a lost connection, without a reload). */
  rejoins: number;
  /** The public URL of the node the singer joined (the join reply's `url`). */
  nodeUrl: string | null;
  /** The link's last steps, oldest first: `connecting ws://…/ws`, `joined ws://…/ws`, `waiting 250 ms: why` (at most 50). */
  linkTrail: string[];
}

export interface ChoirHooks {
  state(): ChoirDebugState;
  /** The microphone by the room position each sample was sung against, [from, to), Int16; zeros where none (sent or not: see voiceRange). */
  sung(from: number, to: number): number[];
  /** The mix this page received, by room position, [from, to), Int16; zeros where none arrived. */
  heard(from: number, to: number): number[];
  /** Positions in [from, to) of the frames the replies said were added in time (not late), ascending. */
  addedFrames(from: number, to: number): number[];
  /**
   * The room's clock (samples) this page estimates at `epochMs` (ms since 1970: the same scale in
   * every page), through its audio clock: the local frame heard then plus the offset in use.
   */
  roomClockAt(epochMs: number): number | null;
  /**
   * Suspends the page's AudioContext for `pauseMs` and resumes it: the audio clock falls that far
   * behind wall time, as when a starved audio thread drops buffers. Resolves once resumed.
   */
  pauseAudio(pauseMs: number): Promise<void>;
  latencyTest(): Promise<LoopbackResult>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const roomInput = $<HTMLInputElement>('room');
const nameInput = $<HTMLInputElement>('name');
const slotSelect = $<HTMLSelectElement>('slot');
const latencyInput = $<HTMLInputElement>('latency');
const bpmInput = $<HTMLInputElement>('bpm');
const muteInput = $<HTMLInputElement>('mute');
const statusLine = $<HTMLParagraphElement>('status');

for (let n = 0; n < SLOTS; n++) slotSelect.append(new Option(n === 0 ? 'slot 0: leads (0 s)' : `slot ${n}: ${((n * SLOT_MS) / 1000).toFixed(1)} s behind`, String(n)));
roomInput.value = new URLSearchParams(location.search).get('room') ?? 'main';

/** The microphone, the worklet and the speakers: made on the first click that needs them. */
interface Audio { ctx: AudioContext; node: AudioWorkletNode; stream: MediaStream }
let audio: Audio | null = null;
let recorded: ((m: Extract<FromWorklet, { type: 'recorded' }>) => void) | null = null;

/**
 * A joined singer's session. It outlives its connections: after a drop the link joins again
 * (docs/choir.md "Rejoining"), and the session takes the new singer, clock and room state, keeping
 * its microphone, codecs and audio.
 */
interface Session {
  link: ChoirLink;
  /** The link's client while joined; null while it rejoins (frames are not sent then). */
  client: BrigadeClient | null;
  joined: Joined;
  encoder: OpusFrameEncoder;
  decoder: OpusFrameDecoder;
  clock: ClockSync;
  /** The mixes' packets in the order this singer's encoder on the server made them: a missed one restarts the decoder. */
  mixes: PacketSequence;
  nextRead: number | null;
  /**
   * The frames encoded since the last message (at most the server's framesPerMessage): their write
   * positions follow one another; an empty packet is a frame not sung.
   */
  pending: { writePos: number; packet: Uint8Array }[];
  poll: ReturnType<typeof setInterval>;
  state: RoomState;
  /** The room clock of the newest word on the song (a reply, a poll, a start or stop): an older one never overrides it. */
  songClock: number;
}
let session: Session | null = null;
let latencySamples = 0;
const stats = { framesSent: 0, voiceFramesSent: 0, voiceFramesAdded: 0, voiceFramesOutside: 0, voiceFramesLate: 0, mixesReceived: 0, mixDecoderRestarts: 0, codecEpoch: null as number | null, errors: {} as Record<string, number> };
/** The link's last steps, `connecting <url>` / `joined <url>` / `waiting <ms>: <why>` (the hops of each join, for the hooks). */
const linkTrail: string[] = [];
const LINK_TRAIL_MAX = 50;
let voiceRange: [number, number] | null = null;
let addedRange: [number, number] | null = null;
/** Positions of the frames added in time, the last 30 s of them (the hooks' addedFrames). */
const addedFrames: number[] = [];
const widen = (r: [number, number] | null, from: number, to: number): [number, number] => (r ? [Math.min(r[0], from), Math.max(r[1], to)] : [from, to]);

/**
 * The song as the server said it at room clock `clock`. Replies to frames, polls and the leader's
 * start/stop all carry it and may come back out of order (a poll sent before the stop can land
 * after it): the newest by the room's clock wins.
 */
function learnSong(s: Session, song: RoomState['song'], clock: number): void {
  if (clock < s.songClock) return;
  s.songClock = clock;
  const was = s.state.song;
  if (was?.startedAt === song?.startedAt && was?.stoppedAt === song?.stoppedAt) return;
  s.state = { ...s.state, song };
  // The server wipes what was added at or past a stop (a frame stamped ahead of its clock): so does this count.
  if (song?.stoppedAt != null && addedRange && addedRange[1] > song.stoppedAt) addedRange = addedRange[0] < song.stoppedAt ? [addedRange[0], song.stoppedAt] : null;
  render();
}
const sungLog = new PcmLog(ms(30_000));
const heardLog = new PcmLog(ms(30_000));

function say(text: string, error = false): void {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', error);
}

function countError(err: unknown): void {
  if (err instanceof BrigadeError && err.code === 'CHOIR_NOT_A_SINGER') session?.link.rejoin('the server no longer knows this singer');
  const code = err instanceof BrigadeError ? err.code : 'CLIENT_ERROR';
  stats.errors[code] = (stats.errors[code] ?? 0) + 1;
  say(`${code}: ${(err as Error).message}`, true);
}

async function ensureAudio(): Promise<Audio> {
  if (audio) return audio;
  const ctx = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: 'interactive' });
  await ctx.audioWorklet.addModule('choir-worklet.js');
  // No echo cancellation or gain control: they would eat the clicks of the latency test and colour the voice.
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  const node = new AudioWorkletNode(ctx, 'choir', {
    numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
    processorOptions: { frameSamples: FRAME_SAMPLES, ringSamples: ms(4000) },
  });
  ctx.createMediaStreamSource(stream).connect(node);
  node.connect(ctx.destination);
  node.port.onmessage = (e: MessageEvent<FromWorklet>) => {
    if (e.data.type === 'frame') onMicFrame(e.data.label, e.data.pcm);
    else recorded?.(e.data);
  };
  await ctx.resume();
  audio = { ctx, node, stream };
  return audio;
}

const toWorklet = (m: ToWorklet, transfer: Transferable[] = []) => audio?.node.port.postMessage(m, transfer);

/** The local audio frame being heard at `perfMs` (performance.now()), from the output's timestamp. */
function heardFrameAt(perfMs: number): number {
  const ctx = audio!.ctx;
  const t = ctx.getOutputTimestamp();
  if (t.contextTime && t.performanceTime) return (t.contextTime + (perfMs - t.performanceTime) / 1000) * SAMPLE_RATE;
  return ctx.currentTime * SAMPLE_RATE;
}

/**
 * The clock offset to use now: the room-against-wall-time estimate mapped through the audio clock
 * as it is at this moment (web/choir/clock.ts). Called at each use (a reply, a read, the hooks), so
 * a slip of the audio clock against wall time (a starved audio thread drops buffers) is in the
 * offset by the next reply; when the offset in use moves, the worklet gets new shifts.
 */
function refreshOffset(s: Session): number | null {
  const before = s.clock.offset;
  const now = performance.now();
  const offset = s.clock.offsetFor(heardFrameAt(now), now);
  if (offset !== before && session === s) sendShifts();
  return offset;
}

/**
 * The worklet's shifts from the clock offset: the output at local frame f plays room position
 * f + offset − delay; a microphone sample at local frame f was sung against what was heard
 * `latency` frames earlier, room position f + offset − delay − latency, and goes into the encoder
 * frame labelled that less the codec's delay (the server's decode puts it back in place). The
 * worklet's labels only go forward (web/choir/mic-framer.ts); `freshPositions`: a new room, whose
 * positions start again from 0.
 */
function sendShifts(freshPositions = false): void {
  const s = session;
  const offset = s?.clock.offset ?? null;
  if (!s || offset === null) return toWorklet({ type: 'shifts', play: null, capture: null });
  const play = offset - s.joined.delaySamples;
  toWorklet({ type: 'shifts', play, capture: play - latencySamples - CODEC_DELAY_SAMPLES, fresh: freshPositions, frameSamples: s.encoder.frameSamples });
}

/** A whole microphone frame from the worklet, labelled with its encoder position. */
function onMicFrame(label: number, pcm: Float32Array<ArrayBuffer>): void {
  if (!session) return;
  sungLog.add(label + CODEC_DELAY_SAMPLES, pcm);
  session.encoder.encode(label, pcm);
}

/** Frames in each message: the server's --choir-frames-per-message, from the join reply (1 from a server that does not say; the server bounds it). */
const framesPerMessage = (s: Session) => Math.max(1, s.joined.framesPerMessage ?? 1);

/**
 * Where to read the mix of a message's `n` frames: its first frame MIX_LEAD_MS ahead of what is
 * heard now, plus the message's other frames (its first frame was encoded that much before it is
 * sent); one frame after the last message's.
 */
function nextReadPos(s: Session, n: number): number {
  const offset = refreshOffset(s)!;
  const hearing = heardFrameAt(performance.now()) + offset - s.joined.delaySamples;
  const F = s.encoder.frameSamples; // the room's frame (its --choir-frame-ms, from the join reply)
  const want = Math.floor((hearing + ms(MIX_LEAD_MS) + CODEC_DELAY_SAMPLES) / F) * F;
  // Steady state: one frame after the last. Fallen behind or run ahead (a jump of the offset): catch up.
  if (s.nextRead === null || s.nextRead < want - 2 * F || s.nextRead > want + (4 + n) * F) s.nextRead = want;
  const pos = s.nextRead;
  s.nextRead += n * F;
  return pos;
}

/**
 * An encoded microphone frame: kept until the message has the server's frames per message, then
 * sent (during a song, with the voice) with the reads of as many mix frames. A frame that does not
 * follow the last one kept sends those first.
 */
function onPacket(s: Session, writePos: number, packet: Uint8Array): void {
  if (session !== s || !s.client) { s.pending.length = 0; return; } // rejoining: the frame is dropped
  if (s.clock.offset === null) return;
  const song = s.state.song;
  const F = s.encoder.frameSamples; // the room's frame (its --choir-frame-ms, from the join reply)
  // Whole frames inside the song only (its start is a frame boundary, its stop need not be).
  const singing = !muteInput.checked && song !== null && writePos >= song.startedAt && (song.stoppedAt === null || writePos + F <= song.stoppedAt);
  const last = s.pending[s.pending.length - 1];
  if (last && last.writePos + F !== writePos) sendPending(s);
  s.pending.push({ writePos, packet: singing ? packet : new Uint8Array(0) });
  if (s.pending.length >= framesPerMessage(s)) sendPending(s);
}

/** Sends the frames kept (web/choir.ts onPacket) as one `choir.frame` message and handles its reply. */
function sendPending(s: Session): void {
  const frames = s.pending.splice(0);
  const client = s.client;
  if (frames.length === 0 || !client) return;
  const n = frames.length;
  const F = s.encoder.frameSamples; // the room's frame (its --choir-frame-ms, from the join reply)
  const first = frames[0].writePos;
  const sung = frames.some((f) => f.packet.length > 0);
  // A young room's clock may not yet have reached this singer's delay: no mix to read then.
  const readPos = nextReadPos(s, n);
  const mixes = s.mixes;
  const mixNumbers = frames.map(() => (readPos >= 0 ? mixes.take() : 0));
  const body = encodeFrames({
    singer: s.joined.singer, key: s.joined.key,
    writePos: sung ? first : -1, readPos: readPos >= 0 ? readPos : -1,
    packets: frames.map((f) => f.packet),
  });
  const sentAt = performance.now();
  stats.framesSent += n;
  for (const f of frames) {
    if (f.packet.length === 0) continue;
    stats.voiceFramesSent++;
    voiceRange = widen(voiceRange, f.writePos, f.writePos + F);
  }
  client.request<Uint8Array>('choir.frame', body, { timeoutMs: 2000 }).then((bytes) => {
    if (session !== s || s.client !== client) return;
    const arrived = performance.now();
    const reply = decodeFramesReply(bytes);
    s.clock.add({ rttMs: arrived - sentAt, roomClock: reply.clock, arrivedMs: arrived });
    refreshOffset(s);
    // The song's start and stop reach this page within one round trip of any frame.
    learnSong(s, reply.song, reply.clock);
    for (let i = 0; i < reply.voices.length && i < n; i++) {
      const voice = reply.voices[i];
      const writePos = first + i * F;
      if (voice === 'added' || voice === 'late') {
        stats.voiceFramesAdded++;
        // Past a known stop, the stop wiped it (its reply came back after the stop's, on the other lane).
        const stoppedAt = s.state.song?.stoppedAt;
        if (stoppedAt == null || writePos + F <= stoppedAt) addedRange = widen(addedRange, writePos, writePos + F);
      }
      if (voice === 'added') { addedFrames.push(writePos); if (addedFrames.length > 1500) addedFrames.shift(); }
      else if (voice === 'late') stats.voiceFramesLate++;
      else if (voice === 'outside') stats.voiceFramesOutside++;
    }
    stats.codecEpoch = reply.codecEpoch;
    for (let i = 0; i < reply.mixes.length && i < n; i++) {
      const mix = reply.mixes[i];
      if (mix.length === 0) continue;
      // A mix before it was missed, it is the first, or the server's codec state for this singer
      // started afresh (a new codec epoch: their shard restarted; docs/choir.md "Shard restarts").
      if (!mixes.follows(mixNumbers[i], reply.codecEpoch)) { s.decoder.restart(); stats.mixDecoderRestarts++; }
      s.decoder.decode(reply.readPos + i * F, mix);
    }
  }, (err: unknown) => { if (s.client === client) countError(err); });
}

/** A decoded mix frame: what was read at `readPos` is the mix of [readPos − codec delay, …). */
function onMixPcm(readPos: number, pcm: Float32Array): void {
  const pos = readPos - CODEC_DELAY_SAMPLES;
  stats.mixesReceived++;
  heardLog.add(pos, pcm);
  toWorklet({ type: 'mix', pos, pcm }, [pcm.buffer]);
}

async function join(): Promise<void> {
  const unsupported = await opusSupport();
  if (unsupported) throw new Error(unsupported);
  await ensureAudio();
  const entry = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const link = new ChoirLink(entry, { room: roomInput.value.trim(), name: nameInput.value.trim(), delayMs: Number(slotSelect.value) * SLOT_MS }, {
    onJoined: (client, joined, rejoin, rttMs) => onJoined(link, client, joined, rejoin, rttMs),
    onLost: (reason) => {
      const s = session;
      if (!s || s.link !== link) return;
      s.client = null;
      say(`connection lost (${reason}): joining again…`, true);
      render();
    },
    onStatus: (st) => {
      if (st.state !== 'closed') {
        linkTrail.push(st.state === 'waiting' ? `waiting ${Math.round(st.delayMs)} ms: ${st.reason}` : `${st.state} ${st.url}`);
        if (linkTrail.length > LINK_TRAIL_MAX) linkTrail.shift();
      }
      if (session?.link !== link) return;
      if (st.state === 'waiting' && st.attempt > 0) say(`rejoin attempt ${st.attempt} failed (${st.reason}); next in ${(st.delayMs / 1000).toFixed(1)} s`, true);
      render();
    },
  });
  await link.start();
}

/** The room's frame, samples (its --choir-frame-ms; 20 ms from a server that does not say). */
const frameSamplesOf = (joined: Joined): number => (Number.isInteger(joined.frameSamples) && joined.frameSamples > 0 ? joined.frameSamples : FRAME_SAMPLES);

/** Joined the first time, or again after a lost connection: the session goes on with the new singer. */
function onJoined(link: ChoirLink, client: BrigadeClient, joined: Joined, rejoin: boolean, rttMs: number): void {
  const clock = new ClockSync(SAMPLE_RATE);
  const now = performance.now();
  clock.add({ rttMs, roomClock: joined.clock, arrivedMs: now });
  clock.offsetFor(heardFrameAt(now), now);
  const s0 = session;
  if (rejoin && s0?.link === link) {
    // The same room on the same node (the singer before was replaced) keeps its clock and its
    // positions; a room that is new (its node restarted or it moved) starts its positions afresh.
    const newRoom = joined.replaced === null || joined.replaced === undefined;
    if (newRoom) forgetPositions();
    // A new singer on the server: a fresh encoder makes its mixes, so the first one restarts the decoder here.
    Object.assign(s0, { client, joined, clock, nextRead: null, pending: [], state: joined, songClock: joined.clock, mixes: new PacketSequence() });
    const frameSamples = frameSamplesOf(joined);
    if (frameSamples !== s0.encoder.frameSamples) {
      // A node with another --choir-frame-ms: this page's encoder and framing follow it.
      s0.encoder.close();
      s0.encoder = new OpusFrameEncoder(frameSamples, (pos, packet) => onPacket(s0, pos, packet), countError);
    }
    sendShifts(newRoom);
    render();
    say(`joined ${joined.name} again as singer ${joined.singer} (rejoin ${link.rejoins}${joined.replaced ? '' : ': a new room, the audio before is gone'})`);
    return;
  }
  const frameSamples = frameSamplesOf(joined);
  const s: Session = {
    link, client, joined, clock, mixes: new PacketSequence(), nextRead: null, pending: [], state: joined, songClock: joined.clock,
    encoder: new OpusFrameEncoder(frameSamples, (pos, packet) => onPacket(s, pos, packet), countError),
    decoder: new OpusFrameDecoder(onMixPcm, countError),
    poll: setInterval(() => { pollState(s).catch((err: unknown) => { if (s.client) countError(err); }); }, STATE_POLL_MS),
  };
  session = s;
  sendShifts();
  render();
  say(`joined ${joined.name} as singer ${joined.singer}, ${(joined.delaySamples / SAMPLE_RATE).toFixed(1)} s behind the clock`);
}

/** A new room's positions are another room's audio: the logs and ranges by position start afresh. */
function forgetPositions(): void {
  sungLog.clear();
  heardLog.clear();
  addedFrames.length = 0;
  voiceRange = addedRange = null;
}

async function pollState(s: Session): Promise<void> {
  const client = s.client;
  if (!client) return;
  const state = await client.request<RoomState>('choir.state', { room: s.joined.name });
  if (session !== s || s.client !== client) return;
  const song = s.state.song;
  s.state = { ...state, song };
  learnSong(s, state.song, state.clock);
  render();
}

async function leave(): Promise<void> {
  const s = session;
  if (!s) return;
  session = null;
  clearInterval(s.poll);
  sendShifts();
  await s.link.leave();
  s.encoder.close();
  s.decoder.close();
  render();
  say('left the room');
}

async function startOrStop(start: boolean): Promise<void> {
  const s = session;
  const client = s?.client;
  if (!s || !client) return;
  const auth = { singer: s.joined.singer, key: s.joined.key };
  const bpm = bpmInput.value.trim() === '' ? null : Number(bpmInput.value);
  const state = await client.request<RoomState>(start ? 'choir.start' : 'choir.stop', start ? { ...auth, metronomeBpm: bpm } : auth);
  if (session !== s) return;
  const song = s.state.song;
  s.state = { ...state, song };
  learnSong(s, state.song, state.clock);
  render();
}

/** Plays the clicks, records the microphone, and takes the latency from what it heard. */
async function latencyTest(): Promise<LoopbackResult> {
  const a = await ensureAudio();
  const click = clickShape(SAMPLE_RATE);
  const start = Math.ceil(a.ctx.currentTime * SAMPLE_RATE) + ms(200);
  const at = CLICK_TIMES_MS.map((t) => start + ms(t));
  const recordTo = at[at.length - 1] + ms(600);
  const done = new Promise<Extract<FromWorklet, { type: 'recorded' }>>((resolve) => { recorded = resolve; });
  toWorklet({ type: 'clicks', at, click, recordFrom: start, recordTo });
  const rec = await done;
  recorded = null;
  const result = measureLoopback(rec.pcm, rec.from, at, click, { sampleRate: SAMPLE_RATE });
  if (result.heard) {
    latencySamples = result.latencySamples;
    latencyInput.value = ((latencySamples * 1000) / SAMPLE_RATE).toFixed(1);
    sendShifts();
    say(`latency ${latencyInput.value} ms (${result.clicksHeard} clicks agree within ${((result.spreadSamples * 1000) / SAMPLE_RATE).toFixed(1)} ms)`);
  } else {
    say(`latency test: ${result.reason}; the latency stays ${latencyInput.value} ms (turn the speakers up, or type it)`, true);
  }
  return result;
}

function render(): void {
  const s = session;
  $('join').hidden = s !== null;
  $('leave').hidden = s === null;
  $('room-pane').hidden = s === null;
  roomInput.disabled = nameInput.disabled = slotSelect.disabled = s !== null;
  if (!s) return;
  const leader = s.state.leader === s.joined.singer;
  $('room-name').textContent = s.joined.name;
  const st = s.link.status;
  $('link').textContent = st.state === 'joined' ? `connected${st.rejoins > 0 ? ` (rejoined ${st.rejoins}×)` : ''}`
    : st.state === 'waiting' ? `connection lost: rejoining in ${(st.delayMs / 1000).toFixed(1)} s (${st.reason})`
      : st.state === 'connecting' ? `connection lost: rejoining through ${st.url}…` : 'closed';
  $('link').classList.toggle('error', st.state !== 'joined');
  $('role').textContent = leader ? 'you lead' : `singer ${s.joined.singer}`;
  ($('start') as HTMLButtonElement).disabled = !leader;
  ($('stop') as HTMLButtonElement).disabled = !leader || !s.state.song || s.state.song.stoppedAt !== null;
  const song = s.state.song;
  $('song').textContent = !song ? 'no song yet: the leader starts it'
    : song.stoppedAt === null ? `singing since ${(song.startedAt / SAMPLE_RATE).toFixed(1)} s on the room's clock`
      : `the song ran ${(song.startedAt / SAMPLE_RATE).toFixed(1)}–${(song.stoppedAt / SAMPLE_RATE).toFixed(1)} s`;
  const rows = s.state.singers.map((x) => {
    const tr = document.createElement('tr');
    for (const v of [x.name || `singer ${x.id}`, `${(x.delaySamples / SAMPLE_RATE).toFixed(1)} s`, x.id === s.state.leader ? 'leads' : '']) tr.append(Object.assign(document.createElement('td'), { textContent: v }));
    return tr;
  });
  $('singers').querySelector('tbody')!.replaceChildren(...rows);
  const f = (v: number | null, unit: string) => (v === null ? '–' : `${v.toFixed(1)} ${unit}`);
  $('rtt').textContent = `${f(s.clock.lastRttMs, 'ms')} (best ${f(s.clock.minRttMs, 'ms')})`;
  $('offset').textContent = s.clock.offset === null ? '–' : `${s.clock.offset} samples (±${f((s.clock.minRttMs ?? 0) / 2, 'ms')})`;
  $('frames').textContent = `${stats.framesSent} sent (${stats.voiceFramesSent} with voice), ${stats.mixesReceived} mixes`;
}

function debugState(): ChoirDebugState {
  const s = session;
  return {
    joined: s !== null, singer: s?.joined.singer ?? null, leader: s !== null && s.state.leader === s.joined.singer,
    delaySamples: s?.joined.delaySamples ?? null, frameSamples: s?.encoder.frameSamples ?? null, song: s?.state.song ?? null, offsetSamples: s?.clock.offset ?? null,
    latencySamples, muted: muteInput.checked, minRttMs: s?.clock.minRttMs ?? null, lastRttMs: s?.clock.lastRttMs ?? null,
    ...stats, errors: { ...stats.errors }, sungRange: sungLog.range(), heardRange: heardLog.range(), voiceRange, addedRange,
    link: s?.link.status.state ?? null, rejoins: s?.link.rejoins ?? 0, nodeUrl: s?.joined.url ?? null, linkTrail: [...linkTrail],
  };
}

const run = (fn: () => Promise<unknown>) => () => { fn().catch(countError); };
$('join-form').addEventListener('submit', (e) => { e.preventDefault(); run(join)(); });
$('leave').addEventListener('click', run(leave));
$('start').addEventListener('click', run(() => startOrStop(true)));
$('stop').addEventListener('click', run(() => startOrStop(false)));
$('latency-test').addEventListener('click', run(latencyTest));
latencyInput.addEventListener('change', () => {
  const v = Number(latencyInput.value);
  latencySamples = Number.isFinite(v) && v >= 0 ? ms(v) : 0;
  sendShifts();
});
setInterval(() => { if (session) render(); }, 500);
window.addEventListener('pagehide', () => { void leave(); });

(window as unknown as { __choir: ChoirHooks }).__choir = {
  state: debugState,
  sung: (from, to) => sungLog.read(from, to),
  heard: (from, to) => heardLog.read(from, to),
  addedFrames: (from, to) => addedFrames.filter((p) => p >= from && p < to).sort((x, y) => x - y),
  roomClockAt: (epochMs) => {
    // The offset as the page would use it now (each use maps it afresh), through the audio clock.
    const offset = session && audio ? refreshOffset(session) : null;
    if (offset === null) return null;
    return heardFrameAt(epochMs - performance.timeOrigin) + offset;
  },
  pauseAudio: async (pauseMs) => {
    const a = await ensureAudio();
    await a.ctx.suspend();
    await new Promise((r) => setTimeout(r, pauseMs));
    await a.ctx.resume();
  },
  latencyTest,
};
