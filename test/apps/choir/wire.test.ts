/** choir's frame codec (src/apps/choir/wire.ts), which the /choir page shares: round trips and refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFrame, decodeReply, encodeFrame, encodeReply, FRAME_HEADER_BYTES } from '../../../src/apps/choir/wire.ts';

test('a frame round trips: singer, the key as 8 bytes, positions and the packet', () => {
  const opus = new Uint8Array([1, 2, 3]);
  const bytes = encodeFrame({ singer: 7, key: '00ff10a0b1c2d3e4', writePos: 960 * 5, readPos: -1, opus });
  assert.equal(bytes.length, FRAME_HEADER_BYTES + 3);
  assert.deepEqual([...bytes.subarray(5, 13)], [0x00, 0xff, 0x10, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4]);
  const f = decodeFrame(bytes);
  assert.deepEqual({ ...f, opus: [...f.opus] }, { singer: 7, key: '00ff10a0b1c2d3e4', writePos: 4800, readPos: -1, opus: [1, 2, 3] });
});

test('a reply round trips', () => {
  const r = decodeReply(encodeReply({ clock: 123_456, readPos: 960, opus: new Uint8Array([9]) }));
  assert.deepEqual({ ...r, opus: [...r.opus] }, { clock: 123_456, readPos: 960, opus: [9] });
});

test('a short frame, another version or a position that is not a whole sample count is refused, typed', () => {
  const ok = encodeFrame({ singer: 1, key: '0123456789abcdef', writePos: 0, readPos: 0, opus: new Uint8Array(0) });
  assert.throws(() => decodeFrame(ok.subarray(0, 10)), { code: 'CHOIR_BAD_FRAME' });
  const v2 = ok.slice(); v2[0] = 2;
  assert.throws(() => decodeFrame(v2), { code: 'CHOIR_BAD_FRAME' });
  const half = encodeFrame({ singer: 1, key: '0123456789abcdef', writePos: 0.5, readPos: 0, opus: new Uint8Array(0) });
  assert.throws(() => decodeFrame(half), { code: 'CHOIR_BAD_FRAME' });
});
