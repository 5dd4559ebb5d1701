/**
 * The /choir page in real Chromium against a real server: two singers in one room, each in its own
 * browser with a fake microphone playing a WAV this test writes (Chromium's
 * --use-file-for-fake-audio-capture): singer A (slot 0, the leader) sings bursts of a 440 Hz tone,
 * singer B (slot 1, 1 s behind) sings silence. Opus runs in the pages through WebCodecs, the
 * microphone through getUserMedia and the page's AudioWorklet.
 *
 * A starts the song, stops it a few seconds later. Then, from the pages' logs (window.__choir:
 * what each page sang and the mix it received, by room position), with Goertzel in this file:
 * every tone burst A sang during the song starts in B's mix at the room position A stamped it with,
 * within ±TOLERANCE (5 ms); nothing of it is in A's own mix, nor in B's mix before the song or
 * after it stopped (the server adds no voice outside the song, and its replies say what it added). Also: the two pages' estimates of the room's clock agree, after one
 * page's audio clock fell 100 ms behind wall time; only the leader can
 * start; the click loopback test hears no clicks from a fake microphone (it does not take the tone
 * for them). All of it twice: with the default 20 ms Opus frames, and with 60 ms frames
 * (`--choir-frame-ms 60`, the seed's client's: the page's encoder, framing and positions follow the
 * room's frame from its join reply). Needs `npm run build` first (the server serves dist/web).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { BURST_MS, MAX_GAIN, PERIOD_MS, choirHooks as hooks, ms, onsets, openSinger, peak, toneBursts, wav } from './choir-pages.ts';

const TOLERANCE = ms(5);
const SONG_MS = 3500;

for (const frameMs of [20, 60]) describe(`choir page: two singers in Chromium, Opus through WebCodecs (${frameMs} ms frames)`, () => {
  const F = ms(frameMs);
  let server: ServerProcess;
  let dir: string;
  const browsers: Browser[] = [];
  const errors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'brigade-choir-e2e-'));
    writeFileSync(join(dir, 'tone.wav'), wav(toneBursts()));
    writeFileSync(join(dir, 'silence.wav'), wav(new Int16Array(ms(PERIOD_MS))));
    server = await startServer(['--apps', 'choir', '--choir-shards', '1', '--choir-frame-ms', String(frameMs)]);
  });

  after(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    await server?.stop();
    server?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const singer = (wavFile: string, name: string, slot: number): Promise<Page> =>
    openSinger({ url: server.url, room: 'e2e', wavPath: join(dir, wavFile), name, slot, browsers, errors, consoleErrors: true });

  test('the leader\'s tone reaches the singer behind at the position it was sung at, and not the leader\'s own mix', async () => {
    const pageA = await singer('tone.wav', 'A', 0);
    const pageB = await singer('silence.wav', 'B', 1);
    const a = hooks(pageA), b = hooks(pageB);

    const [sa, sb] = [await a.state(), await b.state()];
    assert.equal(sa.leader, true, 'the first singer leads');
    assert.equal(sb.leader, false);
    assert.equal(sb.delaySamples! - sa.delaySamples!, ms(1000), 'slot 1 sings 1 s behind slot 0');
    assert.equal(sa.frameSamples, F, 'the page took the room\'s frame from its join reply');
    assert.equal(await pageB.isDisabled('#start'), true, 'only the leader may start the song');
    // B mutes: it sends no voice during the song, and still hears the mix.
    await pageB.check('#mute');
    assert.equal((await b.state()).muted, true);

    // Both pages map their audio clocks onto the room's: at one instant they agree, within 10 ms or
    // within what the pages' own error bounds allow (each estimate is off by at most half its best
    // round trip, which a loaded machine can stretch past 10 ms), whichever is larger. First A's
    // audio clock falls 100 ms behind wall time (its AudioContext suspended for 100 ms: what a
    // starved audio thread dropping buffers does, 10 ms at a time): the page keeps its estimate
    // against wall time and maps it through the audio clock at each use, so the slip is in its
    // offset by its next reply (an estimate kept in audio frames carried it for up to 5 s, and the
    // clocks differed by 91.5 ms in a loaded CI run).
    const mixesBefore = (await a.state()).mixesReceived;
    await a.pauseAudio(100);
    await eventually(async () => (await a.state()).mixesReceived >= mixesBefore + 10, { what: 'A to hear mixes again after the pause', intervalMs: 50 });
    const now = Date.now();
    const [clockA, clockB] = [await a.roomClockAt(now), await b.roomClockAt(now)];
    const [rttA, rttB] = [(await a.state()).minRttMs!, (await b.state()).minRttMs!];
    const clockBound = Math.max(ms(10), ms((rttA + rttB) / 2 + 2));
    console.log(`# room clocks: A − B = ${((clockA! - clockB!) / 48).toFixed(1)} ms after A's audio paused 100 ms (best round trips ${rttA.toFixed(1)} and ${rttB.toFixed(1)} ms)`);
    assert.ok(Math.abs(clockA! - clockB!) <= clockBound, `the pages' room clocks differ by ${((clockA! - clockB!) / 48).toFixed(1)} ms, more than ${(clockBound / 48).toFixed(1)} ms (best round trips ${rttA.toFixed(1)} and ${rttB.toFixed(1)} ms)`);

    // The click loopback test: a fake microphone hears no clicks, and the tone does not pass for them.
    const [loopA, loopB] = await Promise.all([a.latencyTest(), b.latencyTest()]);
    assert.equal(loopA.heard, false, JSON.stringify(loopA));
    assert.equal(loopB.heard, false, JSON.stringify(loopB));

    await pageA.click('#start');
    const startedAt = (await eventually(async () => (await a.state()).song, { what: 'the song to start' }))!.startedAt;
    await eventually(async () => (await b.state()).song?.startedAt === startedAt, { what: 'B to see the song', intervalMs: 100 });
    await new Promise((r) => setTimeout(r, SONG_MS));
    await pageA.click('#stop');
    const stoppedAt = (await eventually(async () => (await a.state()).song?.stoppedAt ?? null, { what: 'the song to stop' }))!;
    // B hears 1 s behind: wait until its mix has come past the stop, with room to spare.
    const to = stoppedAt + ms(1200);
    await eventually(async () => ((await b.state()).heardRange?.[1] ?? 0) >= to, { what: 'B to hear past the song\'s end', timeoutMs: 10_000, intervalMs: 100 });

    const from = startedAt - ms(600);
    const sungA = await a.sung(from, to);
    const heardA = await a.heard(from, to);
    const heardB = await b.heard(from, to);
    const sungB = await b.sung(from, to);
    const song = (pos: number) => pos - from;

    // What A sang: tone bursts of ~0.5 amplitude; B sang silence.
    const sungLevel = peak(sungA.subarray(song(startedAt), song(stoppedAt)));
    assert.ok(sungLevel > 0.3, `A's microphone carries the tone (440 Hz amplitude ${sungLevel.toFixed(3)})`);
    assert.ok(peak(sungB) < 0.01, `B's microphone is silent (440 Hz amplitude ${peak(sungB).toFixed(4)})`);
    const threshold = sungLevel / 2;

    // What the server added of A's voice, from the replies (a frame whose reply A never got, a
    // TIMEOUT on a loaded machine, may have been added too: the server's gate, not this range, is
    // what keeps the tone inside the song). The server adds nothing outside [startedAt, stoppedAt),
    // whatever A sent before it learnt of the stop; A learns of it in the stop's reply and then
    // keeps capturing but sends no voice.
    const endState = await a.state();
    assert.equal(stoppedAt % F, 0, 'the song stops on a frame boundary');
    const [addedFrom, addedTo] = endState.addedRange!;
    assert.ok(addedFrom >= startedAt && addedTo <= stoppedAt, `the server added A's voice only inside the song: [${addedFrom}, ${addedTo}) in [${startedAt}, ${stoppedAt})`);
    assert.ok(endState.sungRange![1] - endState.voiceRange![1] > ms(500), `A stopped sending after the stop: voice to ${endState.voiceRange![1]}, microphone to ${endState.sungRange![1]}`);
    // Every burst whose onset the server took in time from A (its frames from 5 ms before to 25 ms
    // after the onset acknowledged as added, not late) starts in B's mix at the same position. A
    // frame lost on a loaded machine (its request timed out, or it came after B had read there)
    // leaves a hole B cannot hear: such a burst is not counted.
    const added = new Set(await a.addedFrames(from, to));
    const takenInTime = (p: number) => {
      for (let f = Math.floor((p - ms(5)) / F) * F; f < p + ms(25); f += F) if (!added.has(f)) return false;
      return true;
    };
    const wholeOnsets = onsets(sungA, threshold).map((x) => x + from).filter((p) => p - ms(5) >= addedFrom && p + ms(BURST_MS) <= addedTo);
    const sungOnsets = wholeOnsets.filter(takenInTime);
    const heardOnsets = onsets(heardB, threshold).map((x) => x + from);
    assert.ok(sungOnsets.length >= 2, `A sang at least two whole bursts during the song (onsets ${sungOnsets})`);
    const nearest = (p: number) => heardOnsets.reduce((best, q) => (Math.abs(q - p) < Math.abs(best - p) ? q : best), Infinity);
    const offsets = sungOnsets.map((p) => nearest(p) - p);
    const report = `A sang bursts at ${sungOnsets.map((p) => p - startedAt)} (${wholeOnsets.length - sungOnsets.length} more with a frame not added in time; A's frames: ${JSON.stringify({ sent: endState.voiceFramesSent, added: endState.voiceFramesAdded, late: endState.voiceFramesLate, outside: endState.voiceFramesOutside, errors: endState.errors })}), B heard them at ${heardOnsets.map((p) => p - startedAt)} (samples into the song): offsets ${offsets.map((d) => (d / 48).toFixed(2))} ms`;
    for (const d of offsets) assert.ok(Math.abs(d) <= TOLERANCE, `each burst is in B's mix within ±5 ms of where A sang it: ${report}`);
    const heardLevel = peak(heardB.subarray(song(startedAt), song(stoppedAt)));
    assert.ok(heardLevel > threshold, `B hears the tone at about the level sung (${heardLevel.toFixed(3)} against ${sungLevel.toFixed(3)})`);
    // Never louder than sung (by more than the codecs' ripple): a voice added twice, or a decoder
    // that missed a packet (docs/choir.md "Codec state follows the packets"), read 0.76-1.04 here.
    assert.ok(heardLevel < sungLevel * MAX_GAIN, `B hears the tone no louder than sung (${heardLevel.toFixed(3)} against ${sungLevel.toFixed(3)})`);
    console.log(`# ${report}; levels sung ${sungLevel.toFixed(3)}, heard by B ${heardLevel.toFixed(3)}`);

    // Nowhere else: not in A's own mix, not in B's before the song or after it stopped.
    assert.ok(peak(heardA) < 0.02, `A's own tone is not in A's mix (440 Hz amplitude ${peak(heardA).toFixed(4)})`);
    assert.ok(peak(heardB.subarray(0, song(startedAt))) < 0.02, 'B hears no tone before the song');
    // After the stop: one frame's margin, as the mix is coded in whole frames and a tone cut inside
    // one spreads codec noise over the rest of it; a voice added past the stop would show here.
    const quietFrom = song(stoppedAt + F);
    const leak = peak(heardB.subarray(quietFrom));
    assert.ok(leak < 0.02, `B hears no tone after the song (440 Hz amplitude ${leak.toFixed(4)}; A's voice sent to ${endState.voiceRange![1]}, added to ${addedTo}, stop at ${stoppedAt}, ${endState.voiceFramesOutside} frames outside the song)`);

    // No refusals (a TIMEOUT is not one: on a loaded machine a reply can take over 2 s).
    const [endA, endB] = [await a.state(), await b.state()];
    const refusals = (e: Record<string, number>) => Object.keys(e).filter((code) => code !== 'TIMEOUT');
    assert.deepEqual(refusals(endA.errors), [], `A: ${JSON.stringify(endA.errors)}`);
    assert.deepEqual(refusals(endB.errors), [], `B: ${JSON.stringify(endB.errors)}`);
    assert.ok(endA.voiceFramesAdded > 0, 'A sang during the song, and the server took its voice');
    assert.equal(endB.voiceFramesSent, 0, 'B, muted, sent no voice');
    assert.equal(endB.addedRange, null);
    assert.deepEqual(errors, []);
  });
});
