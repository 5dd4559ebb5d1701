/**
 * The late-frame index (src/apps/choir/late-index.ts) answers as the plain scan it replaced: a frame
 * at `pos` is late when another singer at the same or a larger delay has read past it. Checked on
 * seeded random rooms (equal delays, joins and leaves, reads moving forward) against that scan, and
 * through Room.write on a room of 64 singers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LateIndex, type LateIndexed } from '../../../src/apps/choir/late-index.ts';
import { FRAME_SAMPLES, Room } from '../../../src/apps/choir/room.ts';
import { tone } from '../../../src/apps/choir/dsp.ts';
import { prng } from '../../helpers/prng.ts';

const scan = (singers: LateIndexed[], s: LateIndexed, pos: number) =>
  singers.some((o) => o !== s && o.delaySamples >= s.delaySamples && o.lastReadEnd > pos);

describe('choir late-frame index', () => {
  it('agrees with the scan over every singer, through joins, leaves and reads', () => {
    const rand = prng(19);
    const index = new LateIndex<LateIndexed>();
    let singers: LateIndexed[] = [];
    let nextId = 1;
    let checks = 0, lates = 0;
    for (let step = 0; step < 4000; step++) {
      const r = rand();
      if (singers.length < 2 || r < 0.05) {
        // Delays on a coarse grid: many singers share one.
        singers.push({ id: nextId++, delaySamples: Math.floor(rand() * 6) * 48_000, lastReadEnd: rand() < 0.3 ? -Infinity : Math.floor(rand() * 100) * FRAME_SAMPLES });
        index.rebuild(singers);
      } else if (r < 0.1) {
        singers.splice(Math.floor(rand() * singers.length), 1);
        index.rebuild(singers);
      } else if (r < 0.5) {
        const s = singers[Math.floor(rand() * singers.length)];
        s.lastReadEnd = Math.max(s.lastReadEnd, Math.floor(rand() * 100) * FRAME_SAMPLES);
        index.noteRead(s);
      } else {
        const s = singers[Math.floor(rand() * singers.length)];
        const pos = Math.floor(rand() * 130) * FRAME_SAMPLES; // reads go up to 100 frames: some positions nobody read
        const want = scan(singers, s, pos);
        assert.equal(index.readPast(s, pos), want, `step ${step}: singer ${s.id} at delay ${s.delaySamples}, pos ${pos}`);
        checks++;
        if (want) lates++;
      }
    }
    assert.ok(checks > 1000 && lates > 100 && checks - lates > 100, `both answers exercised: ${lates} late of ${checks}`);
  });

  it('a singer\'s own read never makes its frame late; one at the same delay does, one ahead does not', () => {
    const index = new LateIndex<LateIndexed>();
    const me = { id: 1, delaySamples: 48_000, lastReadEnd: 10 * FRAME_SAMPLES };
    const ahead = { id: 2, delaySamples: 0, lastReadEnd: 10 * FRAME_SAMPLES };
    const same = { id: 3, delaySamples: 48_000, lastReadEnd: -Infinity };
    index.rebuild([me, ahead, same]);
    assert.equal(index.readPast(me, 0), false, 'only my own read and one ahead of me are past 0');
    same.lastReadEnd = FRAME_SAMPLES;
    index.noteRead(same);
    assert.equal(index.readPast(me, 0), true, 'a singer at my delay read past it');
    assert.equal(index.readPast(me, FRAME_SAMPLES), false);
    assert.equal(index.readPast(same, 0), true, 'and I read past theirs');
  });

  it('Room.write says late as the scan does, in a room of 64 singers', () => {
    let clock = 0;
    const room = new Room('late', { bufferSamples: 48_000 * 20, aheadSamples: 48_000, ownWindowSamples: 48_000, maxSingers: 64, now: () => clock });
    const singers = Array.from({ length: 64 }, (_, i) => room.join(i + 1, 'k', `s${i}`, (i % 8) * 48_000, 1, 0, 0));
    room.start(1, null);
    clock = 48_000 * 10;
    const rand = prng(7);
    const pcm = tone(440, FRAME_SAMPLES, 0.1);
    let lates = 0;
    for (let k = 0; k < 600; k++) {
      const s = singers[Math.floor(rand() * singers.length)];
      const pos = (400 + Math.floor(rand() * 60)) * FRAME_SAMPLES;
      if (rand() < 0.5) { room.read(s, pos); continue; }
      const want = scan(singers, s, pos) ? 'late' : 'added';
      assert.equal(room.write(s, pos, pcm), want, `singer ${s.id} writes at ${pos}`);
      if (want === 'late') lates++;
    }
    assert.ok(lates > 10, `some writes were late (${lates})`);
    room.leave(9);
    const s = singers[0];
    assert.equal(room.write(s, 500 * FRAME_SAMPLES, pcm), scan(singers.filter((x) => x.id !== 9), s, 500 * FRAME_SAMPLES) ? 'late' : 'added', 'after a leave');
  });
});
