import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrigadeError } from '../../../src/protocol/index.ts';
import { DEFAULT_PALETTE, PlaceChannelType, type CanvasState } from '../../../src/apps/place/index.ts';

const user = { userId: 'alice', ip: '127.0.0.1' };
const palette40 = Array.from({ length: 40 }, (_, i) => `#${(i * 6).toString(16).padStart(2, '0')}0000`);

function makeType(cooldownMs = 0): PlaceChannelType {
  return new PlaceChannelType({
    canvases: {
      main: { width: 1000, height: 1000, palette: [...DEFAULT_PALETTE] },
      odd: { width: 7, height: 3, palette: palette40 },
      small: { width: 5, height: 3, palette: DEFAULT_PALETTE.slice(0, 10) },
    },
    cooldownMs,
  });
}

function codeOf(err: BrigadeError | null): string | null {
  return err === null ? null : err.code;
}

test('channel names, existence and event sizes', () => {
  const type = makeType();
  assert.equal(type.prefix, 'place:');
  assert.ok(type.exists('place:main'));
  assert.ok(!type.exists('place:nope'));
  assert.equal(type.canvas('place:main')!.codec.eventSize, 3);
  assert.equal(type.maxEventBytes, 3);
  const one = new PlaceChannelType({ canvases: { a: { width: 10, height: 10, palette: [...DEFAULT_PALETTE] } }, cooldownMs: 0 });
  assert.equal(one.eventSize, 2); // 4 + 4 + 4 bits
  assert.throws(() => type.init('place:nope'), (e: unknown) => e instanceof BrigadeError && e.code === 'PLACE_UNKNOWN_CANVAS');
});

test('bad configuration is refused with what is allowed', () => {
  const mk = (c: object) => () => new PlaceChannelType({ canvases: { x: { width: 10, height: 10, palette: ['#000000'], ...c } }, cooldownMs: 0 });
  assert.throws(mk({ width: 0 }), /width is 0; it must be an integer/);
  assert.throws(mk({ palette: ['red'] }), /'#rrggbb'/);
  assert.throws(mk({ palette: [] }), /a palette holds 1-256/);
  assert.throws(() => new PlaceChannelType({ canvases: { 'a b': { width: 1, height: 1, palette: ['#000000'] } }, cooldownMs: 0 }), /not allowed/);
  assert.throws(() => new PlaceChannelType({ canvases: {}, cooldownMs: -1 }), /cooldownMs/);
});

test('validate refuses each bad input with a typed error naming what is allowed', () => {
  const type = makeType();
  const main = type.canvas('place:main')!.codec;
  const small = type.canvas('place:small')!.codec;

  const badLength = type.validate('place:main', new Uint8Array(4), user, 0);
  assert.equal(codeOf(badLength), 'PLACE_BAD_EDIT');
  assert.match(badLength!.message, /exactly 3 bytes.*got 4/);

  const outX = type.validate('place:main', main.encode(1000, 5, 1), user, 0);
  assert.equal(codeOf(outX), 'PLACE_OUT_OF_BOUNDS');
  assert.match(outX!.message, /\(1000, 5\).*1000x1000.*x must be 0-999 and y 0-999/);
  assert.equal(codeOf(type.validate('place:main', main.encode(3, 1023, 1), user, 0)), 'PLACE_OUT_OF_BOUNDS');

  const colour = type.validate('place:small', small.encode(1, 1, 12), user, 0);
  assert.equal(codeOf(colour), 'PLACE_BAD_COLOUR');
  assert.match(colour!.message, /colour 12.*colours are 0-9/);

  const anon = type.validate('place:main', main.encode(1, 1, 1), { userId: '', ip: '1.2.3.4' }, 0);
  assert.equal(codeOf(anon), 'AUTH_REQUIRED');

  assert.equal(codeOf(type.validate('place:nope', main.encode(1, 1, 1), user, 0)), 'PLACE_UNKNOWN_CANVAS');
  assert.equal(type.validate('place:main', main.encode(999, 999, 15), user, 0), null);
});

test('cooldown: one edit per period per user per canvas, with retryAfterMs', () => {
  let clock = 10_000;
  const type = new PlaceChannelType({
    canvases: { a: { width: 10, height: 10, palette: [...DEFAULT_PALETTE] }, b: { width: 10, height: 10, palette: [...DEFAULT_PALETTE] } },
    cooldownMs: 5000,
    now: () => clock,
  });
  const edit = type.canvas('place:a')!.codec.encode(1, 1, 1);
  assert.equal(type.validate('place:a', edit, user, clock), null);
  assert.equal(type.cooldownRemainingMs('place:a', 'alice'), 5000);

  clock += 1200;
  const refused = type.validate('place:a', edit, user, clock);
  assert.equal(codeOf(refused), 'COOLDOWN');
  assert.equal(refused!.retryAfterMs, 3800);
  assert.ok(refused!.temporary);
  assert.match(refused!.message, /one pixel per 5 s.*next is allowed in 3\.8 s/);
  assert.equal(type.cooldownRemainingMs('place:a', 'alice'), 3800);

  // Other users and other canvases are not affected; a refused edit does not restart the period.
  assert.equal(type.validate('place:a', edit, { userId: 'bob', ip: '' }, clock), null);
  assert.equal(type.validate('place:b', edit, user, clock), null);

  clock = 15_000;
  assert.equal(type.validate('place:a', edit, user, clock), null);
});

test('cooldown 0 disables it and records nothing', () => {
  const type = makeType(0);
  const edit = type.canvas('place:main')!.codec.encode(1, 1, 1);
  for (let i = 0; i < 5; i++) assert.equal(type.validate('place:main', edit, user, 0), null);
  assert.equal(type.cooldownEntries('place:main'), 0);
});

test('cooldown entries are swept once their period is over', () => {
  const type = makeType(1000);
  const edit = type.canvas('place:main')!.codec.encode(1, 1, 1);
  for (let i = 0; i < 100; i++) type.validate('place:main', edit, { userId: `u${i}`, ip: '' }, 0);
  assert.equal(type.cooldownEntries('place:main'), 100);
  type.validate('place:main', edit, { userId: 'late', ip: '' }, 2000);
  assert.equal(type.cooldownEntries('place:main'), 1);
});

test('apply sets one pixel and ignores malformed admin events', () => {
  const type = makeType();
  const state = type.init('place:small');
  const codec = state.codec;
  type.apply(state, codec.encode(4, 2, 9), 0);
  assert.equal(state.pixels[2 * 5 + 4], 9);
  assert.equal(state.version, 1);
  type.apply(state, codec.encode(5, 0, 1), 1); // x out of range
  type.apply(state, codec.encode(0, 0, 12), 2); // colour out of palette
  type.apply(state, new Uint8Array(1), 3); // wrong length
  assert.equal(state.version, 4);
  assert.equal(state.pixels.reduce((a, b) => a + b, 0), 9);
});

function randomEdits(type: PlaceChannelType, channel: string, n: number, seed: number): Uint8Array[] {
  const { codec, width, height, palette } = type.canvas(channel)!;
  let s = seed;
  const rand = (m: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % m;
  };
  return Array.from({ length: n }, () => codec.encode(rand(width), rand(height), rand(palette.length)));
}

for (const channel of ['place:main', 'place:odd', 'place:small']) {
  test(`snapshot round trip and snapshot + tail equals full replay (${channel})`, () => {
    const type = makeType();
    const edits = randomEdits(type, channel, 3000, 42);
    const full = type.init(channel);
    edits.forEach((e, v) => type.apply(full, e, v));

    for (const k of [0, 1, 1234, 2999, 3000]) {
      const partial = type.init(channel);
      for (let v = 0; v < k; v++) type.apply(partial, edits[v], v);
      const restored: CanvasState = type.decodeSnapshot(channel, type.encodeSnapshot(partial));
      assert.deepEqual(restored.pixels, partial.pixels);
      // The snapshot's version travels beside its bytes (engine record, frame header).
      assert.equal(restored.version, 0);
      restored.version = k;
      for (let v = k; v < edits.length; v++) type.apply(restored, edits[v], v);
      assert.deepEqual(restored.pixels, full.pixels);
      assert.equal(restored.version, full.version);
    }
  });
}

test('snapshot sizes: nibbles for <= 16 colours, bytes above', () => {
  const type = makeType();
  assert.equal(type.encodeSnapshot(type.init('place:main')).length, 500_000);
  assert.equal(type.encodeSnapshot(type.init('place:small')).length, 8); // 15 pixels -> 8 bytes
  assert.equal(type.encodeSnapshot(type.init('place:odd')).length, 21);
  const state = type.init('place:small');
  type.apply(state, state.codec.encode(0, 0, 9), 0);
  type.apply(state, state.codec.encode(1, 0, 3), 1);
  type.apply(state, state.codec.encode(4, 2, 5), 2);
  const bytes = type.encodeSnapshot(state);
  assert.equal(bytes[0], 0x93); // high nibble first
  assert.equal(bytes[7], 0x50); // odd count: last pixel in the high nibble
});

test('decodeSnapshot refuses bytes of the wrong length or colours outside the palette', () => {
  const type = makeType();
  const isMalformed = (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME';
  assert.throws(() => type.decodeSnapshot('place:main', new Uint8Array(499_999)), isMalformed);
  assert.throws(() => type.decodeSnapshot('place:main', new Uint8Array(1_000_000)), /needs exactly 500000/);
  assert.throws(() => type.decodeSnapshot('place:small', new Uint8Array(8).fill(0xff)), /colours are 0-9/);
  assert.throws(() => type.decodeSnapshot('place:odd', new Uint8Array(21).fill(40)), isMalformed);
});

test('cooldown across nodes: the shared claim per user and canvas, and a claim held elsewhere re-bases this node', () => {
  let clock = 50_000;
  const type = new PlaceChannelType({ canvases: { a: { width: 10, height: 10, palette: [...DEFAULT_PALETTE] } }, cooldownMs: 5000, now: () => clock });
  const edit = type.canvas('place:a')!.codec.encode(1, 1, 1);
  assert.equal(type.validate('place:a', edit, user, clock), null);
  const claim = type.sharedClaim('place:a', user, clock)!;
  assert.deepEqual([claim.key, claim.ttlMs], ['place:cooldown:place:a:alice', 5000]);
  assert.notEqual(type.sharedClaim('place:a', { userId: 'bob', ip: '' }, clock)!.key, claim.key, 'one claim per user');
  assert.equal(type.sharedClaim('place:a', { userId: '', ip: '' }, clock), null, 'anonymous edits never get this far');
  assert.equal(type.sharedClaim('place:nope', user, clock), null);
  assert.equal(makeType(0).sharedClaim('place:main', user, clock), null, 'no cooldown, no claim');

  // Another node's edit holds the claim for 2 s more: the refusal says so, and so does this node from now on.
  const refused = claim.refused(2000);
  assert.equal(codeOf(refused), 'COOLDOWN');
  assert.equal(refused.retryAfterMs, 2000);
  assert.equal(type.cooldownRemainingMs('place:a', 'alice'), 2000);
  clock += 500;
  assert.equal(type.validate('place:a', edit, user, clock)!.retryAfterMs, 1500);
  assert.equal(claim.refused(60_000).retryAfterMs, 5000, 'never more than one period');
  clock += 5000;
  assert.equal(type.validate('place:a', edit, user, clock), null);
});
