import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bitsFor, makeEditCodec } from '../../../src/apps/place/index.ts';

test('default 1000x1000 with 16 colours packs (x << 14) | (y << 4) | colour into 3 bytes', () => {
  const codec = makeEditCodec(1000, 1000, 16);
  assert.equal(codec.eventSize, 3);
  for (const [x, y, c] of [[0, 0, 0], [999, 999, 15], [512, 3, 7], [1, 998, 9]]) {
    const bytes = codec.encode(x, y, c);
    const value = (x << 14) | (y << 4) | c;
    assert.deepEqual([...bytes], [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]);
    assert.deepEqual(codec.decode(bytes), { x, y, colour: c });
  }
});

test('odd sizes round-trip: 3000x5 with 40 colours', () => {
  const codec = makeEditCodec(3000, 5, 40);
  // 12 + 3 + 6 = 21 bits
  assert.equal(codec.eventSize, 3);
  for (let x = 0; x < 3000; x += 7) {
    for (let y = 0; y < 5; y++) {
      const c = (x + y) % 40;
      assert.deepEqual(codec.decode(codec.encode(x, y, c)), { x, y, colour: c });
    }
  }
});

test('layouts past 32 bits stay exact', () => {
  const codec = makeEditCodec(16384, 16384, 256); // 14 + 14 + 8 = 36 bits
  assert.equal(codec.eventSize, 5);
  const edit = { x: 16383, y: 12345, colour: 255 };
  assert.deepEqual(codec.decode(codec.encode(edit.x, edit.y, edit.colour)), edit);
  const big = makeEditCodec(2 ** 20, 2 ** 20, 2 ** 12); // 52 bits
  assert.equal(big.eventSize, 7);
  assert.deepEqual(big.decode(big.encode(2 ** 20 - 1, 2 ** 20 - 2, 4095)), { x: 2 ** 20 - 1, y: 2 ** 20 - 2, colour: 4095 });
});

test('decode reads at an offset inside a packed batch', () => {
  const codec = makeEditCodec(1000, 1000, 16);
  const batch = new Uint8Array([...codec.encode(1, 2, 3), ...codec.encode(4, 5, 6)]);
  assert.deepEqual(codec.decode(batch, 3), { x: 4, y: 5, colour: 6 });
});

test('bit counts: at least 1, ceil(log2(n)) otherwise', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 16, 17, 1000, 1024, 1025].map(bitsFor), [1, 1, 2, 2, 3, 4, 5, 10, 10, 11]);
  assert.equal(makeEditCodec(1, 1, 1).eventSize, 1);
});

test('refuses sizes it cannot represent', () => {
  assert.throws(() => makeEditCodec(0, 10, 16), /width must be a positive integer/);
  assert.throws(() => makeEditCodec(2 ** 30, 2 ** 30, 16), /at most 53/);
});
