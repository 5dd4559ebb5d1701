/** choir's frame codec (src/apps/choir/wire.ts), which the /choir page shares: round trips and refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeFrame, decodeFrames, decodeFramesReply, decodeReply, encodeFrame, encodeFrames, encodeFramesReply, encodeReply, encodeReplyInPlace, FRAME_HEADER_BYTES, FRAMES_HEADER_BYTES,
  REPLY_HEADER_BYTES,
} from '../../../src/apps/choir/wire.ts';

test('a frame round trips: singer, the key as 8 bytes, positions and the packet', () => {
  const opus = new Uint8Array([1, 2, 3]);
  const bytes = encodeFrame({ singer: 7, key: '00ff10a0b1c2d3e4', writePos: 960 * 5, readPos: -1, opus });
  assert.equal(bytes.length, FRAME_HEADER_BYTES + 3);
  assert.deepEqual([...bytes.subarray(5, 13)], [0x00, 0xff, 0x10, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4]);
  const f = decodeFrame(bytes);
  assert.deepEqual({ ...f, opus: [...f.opus] }, { singer: 7, key: '00ff10a0b1c2d3e4', writePos: 4800, readPos: -1, opus: [1, 2, 3] });
});

test('a reply round trips, with the song and what became of the voice', () => {
  const r = decodeReply(encodeReply({ clock: 123_456, readPos: 960, opus: new Uint8Array([9]) }));
  assert.deepEqual({ ...r, opus: [...r.opus] }, { clock: 123_456, readPos: 960, song: null, voice: 'none', codecEpoch: 0, opus: [9] });
  const running = decodeReply(encodeReply({ clock: 5, readPos: -1, song: { startedAt: 1920, stoppedAt: null }, voice: 'added', codecEpoch: 70_000, opus: new Uint8Array(0) }));
  assert.deepEqual({ ...running, opus: [...running.opus] }, { clock: 5, readPos: -1, song: { startedAt: 1920, stoppedAt: null }, voice: 'added', codecEpoch: 70_000, opus: [] });
  const stopped = decodeReply(encodeReply({ clock: 5, readPos: 0, song: { startedAt: 1920, stoppedAt: 9600 }, voice: 'outside', opus: new Uint8Array([1, 2]) }));
  assert.deepEqual({ ...stopped, opus: [...stopped.opus] }, { clock: 5, readPos: 0, song: { startedAt: 1920, stoppedAt: 9600 }, voice: 'outside', codecEpoch: 0, opus: [1, 2] });
  assert.equal(decodeReply(encodeReply({ clock: 5, readPos: 0, song: null, voice: 'late', opus: new Uint8Array(0) })).voice, 'late');
});

test('a reply written in place around its packet is the same bytes, and needs the room in front', () => {
  const r = { clock: 5, readPos: 960, song: { startedAt: 1920, stoppedAt: 9600 }, voice: 'late' as const, codecEpoch: 3 };
  const whole = new Uint8Array(REPLY_HEADER_BYTES + 3);
  whole.set([4, 5, 6], REPLY_HEADER_BYTES);
  const inPlace = encodeReplyInPlace({ ...r, opus: whole.subarray(REPLY_HEADER_BYTES) });
  assert.equal(inPlace.buffer, whole.buffer, 'no copy of the packet');
  assert.deepEqual([...inPlace], [...encodeReply({ ...r, opus: new Uint8Array([4, 5, 6]) })]);
  const short = new Uint8Array(REPLY_HEADER_BYTES + 2);
  assert.throws(() => encodeReplyInPlace({ ...r, opus: short.subarray(REPLY_HEADER_BYTES - 1) }), RangeError);
  assert.deepEqual([...short], new Array(REPLY_HEADER_BYTES + 2).fill(0), 'nothing written when refused');
});

test('a version 1 reply (a 17-byte header, no song) still decodes', () => {
  const v1 = new Uint8Array(17 + 2);
  const v = new DataView(v1.buffer);
  v.setUint8(0, 1); v.setFloat64(1, 42, true); v.setFloat64(9, 960, true); v1.set([7, 8], 17);
  const r = decodeReply(v1);
  assert.deepEqual({ ...r, opus: [...r.opus] }, { clock: 42, readPos: 960, opus: [7, 8] });
});

test('a version 2 reply (a 35-byte header, no codec epoch) still decodes', () => {
  const v2 = new Uint8Array(35 + 2);
  const v = new DataView(v2.buffer);
  v.setUint8(0, 2); v.setFloat64(1, 42, true); v.setFloat64(9, 960, true);
  v.setUint8(17, 1); v.setFloat64(18, 0, true); v.setFloat64(26, -1, true); v.setUint8(34, 1); v2.set([7, 8], 35);
  const r = decodeReply(v2);
  assert.deepEqual({ ...r, opus: [...r.opus] }, { clock: 42, readPos: 960, song: { startedAt: 0, stoppedAt: null }, voice: 'added', opus: [7, 8] });
});

test('a short frame, another version or a position that is not a whole sample count is refused, typed', () => {
  const ok = encodeFrame({ singer: 1, key: '0123456789abcdef', writePos: 0, readPos: 0, opus: new Uint8Array(0) });
  assert.throws(() => decodeFrame(ok.subarray(0, 10)), { code: 'CHOIR_BAD_FRAME' });
  const v2 = ok.slice(); v2[0] = 2;
  assert.throws(() => decodeFrame(v2), { code: 'CHOIR_BAD_FRAME' });
  const half = encodeFrame({ singer: 1, key: '0123456789abcdef', writePos: 0.5, readPos: 0, opus: new Uint8Array(0) });
  assert.throws(() => decodeFrame(half), { code: 'CHOIR_BAD_FRAME' });
});

test('a message of several frames round trips: positions, and each packet (an empty one: nothing sung in that frame)', () => {
  const packets = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([4])];
  const bytes = encodeFrames({ singer: 9, key: '00ff10a0b1c2d3e4', writePos: 960 * 7, readPos: 960 * 2, packets });
  assert.equal(bytes.length, FRAMES_HEADER_BYTES + 2 * 3 + 4);
  const f = decodeFrames(bytes);
  assert.deepEqual({ ...f, packets: f.packets.map((p) => [...p]) }, { version: 2, singer: 9, key: '00ff10a0b1c2d3e4', writePos: 6720, readPos: 1920, packets: [[1, 2, 3], [], [4]] });
  // A version 1 frame reads as a message of one.
  const one = decodeFrames(encodeFrame({ singer: 9, key: '00ff10a0b1c2d3e4', writePos: -1, readPos: 0, opus: new Uint8Array([5]) }));
  assert.deepEqual({ ...one, packets: one.packets.map((p) => [...p]) }, { version: 1, singer: 9, key: '00ff10a0b1c2d3e4', writePos: -1, readPos: 0, packets: [[5]] });
  assert.throws(() => encodeFrames({ singer: 1, key: '', writePos: 0, readPos: 0, packets: [] }), RangeError);
  assert.throws(() => encodeFrames({ singer: 1, key: '', writePos: 0, readPos: 0, packets: new Array(256).fill(new Uint8Array(0)) }), RangeError);
});

test('a malformed message of several frames is refused, typed: no frames, packets past its end, bytes after them, a bad position, another version', () => {
  const ok = encodeFrames({ singer: 1, key: '0123456789abcdef', writePos: 0, readPos: 0, packets: [new Uint8Array([1, 2]), new Uint8Array([3])] });
  assert.equal(decodeFrames(ok).packets.length, 2);
  const none = ok.slice(0, FRAMES_HEADER_BYTES); none[29] = 0;
  assert.throws(() => decodeFrames(none), { code: 'CHOIR_BAD_FRAME', message: /at least one frame/ });
  assert.throws(() => decodeFrames(ok.subarray(0, ok.length - 1)), { code: 'CHOIR_BAD_FRAME', message: /runs past/ });
  assert.throws(() => decodeFrames(ok.subarray(0, FRAMES_HEADER_BYTES + 1)), { code: 'CHOIR_BAD_FRAME', message: /header bytes/ });
  assert.throws(() => decodeFrames(new Uint8Array([...ok, 0])), { code: 'CHOIR_BAD_FRAME', message: /after the last packet/ });
  assert.throws(() => decodeFrames(ok.subarray(0, 12)), { code: 'CHOIR_BAD_FRAME' });
  const v9 = ok.slice(); v9[0] = 9;
  assert.throws(() => decodeFrames(v9), { code: 'CHOIR_BAD_FRAME', message: /version 9/ });
  assert.throws(() => decodeFrames(encodeFrames({ singer: 1, key: '', writePos: 1.5, readPos: 0, packets: [new Uint8Array(0)] })), { code: 'CHOIR_BAD_FRAME' });
  assert.throws(() => decodeFrames(encodeFrames({ singer: 1, key: '', writePos: 0, readPos: -2, packets: [new Uint8Array(0)] })), { code: 'CHOIR_BAD_FRAME' });
});

test('the reply to several frames round trips: the song, the epoch, each frame\'s voice and mix; an older reply reads as one frame', () => {
  const r = decodeFramesReply(encodeFramesReply({
    clock: 99_000, readPos: 1920, song: { startedAt: 960, stoppedAt: null }, codecEpoch: 2,
    voices: ['added', 'late', 'outside', 'none'], mixes: [new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3]), new Uint8Array([4])],
  }));
  assert.deepEqual({ ...r, mixes: r.mixes.map((m) => [...m]) }, {
    clock: 99_000, readPos: 1920, song: { startedAt: 960, stoppedAt: null }, codecEpoch: 2,
    voices: ['added', 'late', 'outside', 'none'], mixes: [[1], [], [2, 3], [4]],
  });
  const stopped = decodeFramesReply(encodeFramesReply({ clock: 1, readPos: -1, song: { startedAt: 0, stoppedAt: 4800 }, codecEpoch: 0, voices: ['none'], mixes: [new Uint8Array(0)] }));
  assert.deepEqual(stopped.song, { startedAt: 0, stoppedAt: 4800 });
  const v3 = decodeFramesReply(encodeReply({ clock: 5, readPos: 960, song: null, voice: 'added', codecEpoch: 3, opus: new Uint8Array([7]) }));
  assert.deepEqual({ ...v3, mixes: v3.mixes.map((m) => [...m]) }, { clock: 5, readPos: 960, song: null, codecEpoch: 3, voices: ['added'], mixes: [[7]] });
});
