/**
 * Round trips for every client and server frame kind, the exact byte layout of a few frames (so a
 * change to the wire format fails here, not in a client in the field), and the typed errors every
 * kind of bad input must produce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BrigadeError, ErrorCodes, SubscribeMode, decodeClientFrame, decodeServerFrame, encodeAck, encodeBatch,
  encodeBehind, encodeClientFrame, encodeError, encodeSnapshot, encodeSubscribed, encodeUnsubscribed,
  errorCodeFromWire, encodeReply, encodePush, httpStatusFor, registerErrorCodes, type ClientFrame, type ErrorCode,
} from '../../src/protocol/index.ts';

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const versions = [0, 1, 255, 256, 0xffffffff, 0x100000000, 0x100000001, 2 ** 52, MAX_SAFE - 1, MAX_SAFE];

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function bytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function throwsCode(fn: () => unknown, code: ErrorCode, what = ''): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BrigadeError, `${what}: expected BrigadeError, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return true;
  }, what);
}

function clientRoundTrip(frame: ClientFrame): Uint8Array {
  const encoded = encodeClientFrame(frame);
  const decoded = decodeClientFrame(encoded);
  if (decoded.kind === 'publish') {
    assert.deepEqual({ ...decoded, payload: [...decoded.payload] }, { ...frame, payload: [...(frame as { payload: Uint8Array }).payload] });
  } else {
    assert.deepEqual(decoded, frame);
  }
  assert.equal(hex(encodeClientFrame(decoded)), hex(encoded));
  return encoded;
}

const ev = (...b: number[]) => new Uint8Array(b);

// ---- client frames ---------------------------------------------------------------------------

test('SUBSCRIBE round trips in every mode, with versions up to 2^53-1 and u32 extremes', () => {
  for (const mode of [SubscribeMode.FROM_VERSION, SubscribeMode.SNAPSHOT, SubscribeMode.HEAD]) {
    for (const fromVersion of versions) {
      for (const [requestId, epoch] of [[1, 0], [0xffffffff, 0xffffffff], [0, 12345]]) {
        clientRoundTrip({ kind: 'subscribe', requestId, channel: 'place:main', mode, fromVersion, epoch });
      }
    }
  }
});

test('SUBSCRIBE has the documented layout', () => {
  const b = encodeClientFrame({ kind: 'subscribe', requestId: 7, channel: 'ab', mode: SubscribeMode.FROM_VERSION, fromVersion: 0x100000002, epoch: 0xdeadbeef });
  assert.equal(hex(b), '01' + '07000000' + '02' + '6162' + '00' + '0200000001000000' + 'efbeadde');
});

test('UNSUBSCRIBE and PUBLISH round trip', () => {
  clientRoundTrip({ kind: 'unsubscribe', requestId: 42, channel: 'a' });
  clientRoundTrip({ kind: 'unsubscribe', requestId: 0xffffffff, channel: 'x'.repeat(255) });
  assert.equal(hex(clientRoundTrip({ kind: 'publish', requestId: 3, channel: 'c', payload: ev(1, 2, 3) })), '03' + '03000000' + '01' + '63' + '010203');
  clientRoundTrip({ kind: 'publish', requestId: 1, channel: 'inbox:all', payload: new Uint8Array(0) });
  const big = new Uint8Array(70_000).map((_, i) => i * 31);
  clientRoundTrip({ kind: 'publish', requestId: 9, channel: 'A-Z_a.z:0/9', payload: big });
});

test('channel names: every allowed character, 1 and 255 bytes', () => {
  const all = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-';
  for (const channel of [all, 'a', 'z'.repeat(255)]) {
    clientRoundTrip({ kind: 'unsubscribe', requestId: 1, channel });
    const batch = decodeServerFrame(encodeBatch(channel, 0, [ev(1)]));
    assert.equal(batch.kind === 'batch' && batch.channel, channel);
  }
});

// ---- server frames ---------------------------------------------------------------------------

function decodeBatch(b: Uint8Array) {
  const f = decodeServerFrame(b);
  assert.equal(f.kind, 'batch');
  return f as Extract<typeof f, { kind: 'batch' }>;
}

test('BATCH of fixed-size events is packed without prefixes and round trips', () => {
  const events = [ev(0x01, 0x90, 0x3a), ev(0xff, 0xff, 0xff), ev(0, 0, 0)];
  for (const firstVersion of versions) {
    const b = encodeBatch('place:main', firstVersion, events);
    const f = decodeBatch(b);
    assert.equal(f.firstVersion, firstVersion);
    assert.deepEqual(f.events.map((e) => [...e]), events.map((e) => [...e]));
    assert.equal(hex(encodeBatch(f.channel, f.firstVersion, f.events)), hex(b));
  }
  const b = encodeBatch('p', 0x100000005, [ev(1, 2, 3), ev(4, 5, 6)]);
  assert.equal(hex(b), '81' + '01' + '70' + '0500000001000000' + '02000000' + '0300' + '010203' + '040506');
});

test('BATCH of variable-size events carries u32 lengths and round trips (zero-length events too)', () => {
  const events = [ev(1), ev(), ev(2, 3), new Uint8Array(70_000).fill(7), ev(9, 9, 9, 9)];
  const b = encodeBatch('inbox:all', MAX_SAFE - events.length, events);
  const f = decodeBatch(b);
  assert.equal(f.firstVersion, MAX_SAFE - events.length);
  assert.deepEqual(f.events.map((e) => e.length), events.map((e) => e.length));
  assert.deepEqual(f.events.map((e) => [...e]), events.map((e) => [...e]));
  assert.equal(hex(encodeBatch(f.channel, f.firstVersion, f.events)), hex(b));
  assert.equal(hex(encodeBatch('c', 1, [ev(5), ev(6, 7)])), '81' + '0163' + '0100000000000000' + '02000000' + '0000' + '01000000' + '05' + '02000000' + '0607');
});

test('BATCH: empty, single event, and an explicit event size', () => {
  const empty = encodeBatch('c', 10, []);
  assert.equal(hex(empty), '81' + '0163' + '0a00000000000000' + '00000000' + '0000');
  const f = decodeBatch(empty);
  assert.deepEqual([f.firstVersion, f.events.length], [10, 0]);
  // An empty batch declared with a fixed size is also well-formed.
  assert.equal(decodeBatch(encodeBatch('c', 10, [], 3)).events.length, 0);
  assert.deepEqual([...decodeBatch(encodeBatch('c', 0, [ev(1, 2)])).events[0]], [1, 2]);
  // A channel type's fixed size is honoured even when it is given explicitly.
  const fixed = encodeBatch('c', 0, [ev(1, 2, 3)], 3);
  assert.equal(hex(fixed), hex(encodeBatch('c', 0, [ev(1, 2, 3)])));
  const variable = encodeBatch('c', 0, [ev(1, 2, 3), ev(4, 5, 6)], 0);
  assert.deepEqual(decodeBatch(variable).events.map((e) => [...e]), [[1, 2, 3], [4, 5, 6]]);
});

test('SUBSCRIBED, SNAPSHOT, ACK, BEHIND, UNSUBSCRIBED round trip', () => {
  for (const v of versions) {
    assert.deepEqual(decodeServerFrame(encodeSubscribed(0xffffffff, 'a:b', 0x80000001, v)),
      { kind: 'subscribed', requestId: 0xffffffff, channel: 'a:b', epoch: 0x80000001, headVersion: v });
    assert.deepEqual(decodeServerFrame(encodeAck(5, v)), { kind: 'ack', requestId: 5, version: v });
    assert.deepEqual(decodeServerFrame(encodeBehind('place:main', v)), { kind: 'behind', channel: 'place:main', version: v });
    const snap = decodeServerFrame(encodeSnapshot('s', 7, v, ev(1, 2, 3)));
    assert.deepEqual(snap.kind === 'snapshot' && { ...snap, state: [...snap.state] },
      { kind: 'snapshot', channel: 's', epoch: 7, version: v, state: [1, 2, 3] });
  }
  const empty = decodeServerFrame(encodeSnapshot('s', 1, 0, new Uint8Array(0)));
  assert.equal(empty.kind === 'snapshot' && empty.state.length, 0);
  const state = new Uint8Array(500_000).map((_, i) => i);
  const big = decodeServerFrame(encodeSnapshot('place:main', 1, 3, state));
  assert.ok(big.kind === 'snapshot' && Buffer.from(big.state).equals(Buffer.from(state)));
  assert.deepEqual(decodeServerFrame(encodeUnsubscribed(8, 'x')), { kind: 'unsubscribed', requestId: 8, channel: 'x' });
  assert.equal(hex(encodeAck(1, 2)), '84' + '01000000' + '0200000000000000');
  assert.equal(hex(encodeBehind('c', 0x100000000)), '86' + '0163' + '0000000001000000');
  assert.equal(hex(encodeSubscribed(2, 'c', 3, 4)), '82' + '02000000' + '0163' + '03000000' + '0400000000000000');
  assert.equal(hex(encodeSnapshot('c', 3, 4, ev(0xaa))), '83' + '0163' + '03000000' + '0400000000000000' + 'aa');
  assert.equal(hex(encodeUnsubscribed(2, 'c')), '87' + '02000000' + '0163');
});

test('ERROR round trips every code, unicode messages, retryAfterMs and an empty channel', () => {
  const messages = ['', 'plain', 'überlänge — 日本語 — 🎨🖌️', '\uFEFFleading BOM is content', 'x'.repeat(1000)];
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    for (const message of messages) {
      for (const [requestId, channel, retryAfterMs] of [[0, '', 0], [77, 'place:main', 1500], [0xffffffff, 'c', 0xffffffff]] as const) {
        const b = encodeError(requestId, new BrigadeError(code, message, retryAfterMs), channel);
        assert.deepEqual(decodeServerFrame(b), { kind: 'error', requestId, code, retryAfterMs, channel, message });
      }
    }
  }
  assert.equal(hex(encodeError(3, new BrigadeError('COOLDOWN', 'é', 500), 'c')),
    '85' + '03000000' + '2900' + 'f4010000' + '0163' + 'c3a9');
  assert.equal(hex(encodeError(0, new BrigadeError('VERSION_AHEAD', ''))), '85' + '00000000' + '0c00' + '00000000' + '00');
});

test('ERROR: an unknown wire code (a newer server) decodes as INTERNAL; long messages are cut to 1000 characters', () => {
  const b = bytes('85 01000000 3930 00000000 00'); // wire code 12345
  const f = decodeServerFrame(concat(b, new TextEncoder().encode('new')));
  assert.equal(f.kind === 'error' && f.code, 'INTERNAL');
  assert.equal(errorCodeFromWire(9999), 'INTERNAL');
  assert.equal(errorCodeFromWire(41), 'COOLDOWN');
  const long = decodeServerFrame(encodeError(1, new BrigadeError('INTERNAL', 'y'.repeat(5000))));
  assert.equal(long.kind === 'error' && long.message.length, 1000);
});

// ---- refusals --------------------------------------------------------------------------------

const fixedClientFrames = [
  encodeClientFrame({ kind: 'subscribe', requestId: 1, channel: 'place:main', mode: 0, fromVersion: 5, epoch: 9 }),
  encodeClientFrame({ kind: 'unsubscribe', requestId: 1, channel: 'place:main' }),
];
const fixedServerFrames = [
  encodeBatch('place:main', 3, [ev(1, 2, 3), ev(4, 5, 6)]),
  encodeBatch('inbox:all', 3, [ev(1), ev(2, 3)]),
  encodeBatch('c', 0, []),
  encodeSubscribed(1, 'place:main', 2, 3),
  encodeAck(1, 2),
  encodeBehind('place:main', 4),
  encodeUnsubscribed(1, 'place:main'),
];

test('truncated frames throw MALFORMED_FRAME at every cut', () => {
  throwsCode(() => decodeClientFrame(new Uint8Array(0)), 'MALFORMED_FRAME', 'empty client frame');
  throwsCode(() => decodeServerFrame(new Uint8Array(0)), 'MALFORMED_FRAME', 'empty server frame');
  for (const f of fixedClientFrames) {
    for (let n = 1; n < f.length; n++) throwsCode(() => decodeClientFrame(f.subarray(0, n)), 'MALFORMED_FRAME', `client ${hex(f)} cut at ${n}`);
  }
  for (const f of fixedServerFrames) {
    for (let n = 1; n < f.length; n++) throwsCode(() => decodeServerFrame(f.subarray(0, n)), 'MALFORMED_FRAME', `server ${hex(f)} cut at ${n}`);
  }
  // Frames whose tail is "the rest" still need their whole header.
  const publish = encodeClientFrame({ kind: 'publish', requestId: 1, channel: 'place:main', payload: ev(1) });
  for (let n = 1; n < 1 + 4 + 1 + 10; n++) throwsCode(() => decodeClientFrame(publish.subarray(0, n)), 'MALFORMED_FRAME', `publish cut at ${n}`);
  const snapshot = encodeSnapshot('place:main', 1, 2, ev(1));
  for (let n = 1; n < 1 + 11 + 4 + 8; n++) throwsCode(() => decodeServerFrame(snapshot.subarray(0, n)), 'MALFORMED_FRAME', `snapshot cut at ${n}`);
  const error = encodeError(1, new BrigadeError('INTERNAL', 'm'), 'place:main');
  for (let n = 1; n < 1 + 4 + 2 + 4 + 11; n++) throwsCode(() => decodeServerFrame(error.subarray(0, n)), 'MALFORMED_FRAME', `error cut at ${n}`);
});

test('trailing bytes throw MALFORMED_FRAME', () => {
  for (const f of fixedClientFrames) throwsCode(() => decodeClientFrame(concat(f, ev(0))), 'MALFORMED_FRAME', hex(f));
  for (const f of fixedServerFrames) throwsCode(() => decodeServerFrame(concat(f, ev(0))), 'MALFORMED_FRAME', hex(f));
});

test('a batch whose count does not match its bytes throws without allocating for the claimed count', () => {
  // fixed size 3, count 0xffffffff, 3 bytes of events
  throwsCode(() => decodeServerFrame(bytes('81 0163 0000000000000000 ffffffff 0300 010203')), 'MALFORMED_FRAME');
  // variable size, count 0xffffffff, one 4-byte length
  throwsCode(() => decodeServerFrame(bytes('81 0163 0000000000000000 ffffffff 0000 00000000')), 'MALFORMED_FRAME');
  // variable size, an event length past the end
  throwsCode(() => decodeServerFrame(bytes('81 0163 0000000000000000 01000000 0000 05000000 0102')), 'MALFORMED_FRAME');
});

test('unknown frame kinds throw UNKNOWN_FRAME_KIND', () => {
  for (const k of [0x00, 0x06, 0x7f, 0x81, 0x85, 0xff]) throwsCode(() => decodeClientFrame(ev(k, 1, 2, 3)), 'UNKNOWN_FRAME_KIND', `client 0x${k.toString(16)}`);
  for (const k of [0x00, 0x01, 0x03, 0x80, 0x8a, 0xff]) throwsCode(() => decodeServerFrame(ev(k, 1, 2, 3)), 'UNKNOWN_FRAME_KIND', `server 0x${k.toString(16)}`);
  throwsCode(() => decodeClientFrame(ev(0x42)), 'UNKNOWN_FRAME_KIND');
});

test('bad channel names throw INVALID_CHANNEL_NAME, on encode and on decode', () => {
  for (const channel of ['', 'a b', 'é', 'place:main!', 'x'.repeat(256), 'tab\t', 'new\nline', '🎨']) {
    throwsCode(() => encodeClientFrame({ kind: 'unsubscribe', requestId: 1, channel }), 'INVALID_CHANNEL_NAME', JSON.stringify(channel));
    throwsCode(() => encodeClientFrame({ kind: 'publish', requestId: 1, channel, payload: ev() }), 'INVALID_CHANNEL_NAME', JSON.stringify(channel));
  }
  const withChannel = (kind: number, name: Uint8Array, tail: string) =>
    concat(ev(kind), bytes('01000000'), ev(name.length), name, bytes(tail));
  const enc = (s: string) => new TextEncoder().encode(s);
  for (const name of [enc('a b'), enc('é'), enc('semi;colon'), enc('🎨')]) {
    throwsCode(() => decodeClientFrame(withChannel(0x02, name, '')), 'INVALID_CHANNEL_NAME', `unsubscribe ${hex(name)}`);
    throwsCode(() => decodeClientFrame(withChannel(0x03, name, 'aa')), 'INVALID_CHANNEL_NAME', `publish ${hex(name)}`);
    throwsCode(() => decodeServerFrame(concat(ev(0x86, name.length), name, bytes('0000000000000000'))), 'INVALID_CHANNEL_NAME', `behind ${hex(name)}`);
  }
  throwsCode(() => decodeClientFrame(withChannel(0x02, ev(), '')), 'INVALID_CHANNEL_NAME', 'empty channel');
  throwsCode(() => decodeServerFrame(bytes('81 00 0000000000000000 00000000 0000')), 'INVALID_CHANNEL_NAME', 'empty batch channel');
});

test('bad UTF-8 throws MALFORMED_FRAME, in channel names and in error messages', () => {
  // invalid byte, lone lead, overlong NUL, truncated sequence, UTF-16 surrogate, above U+10FFFF, lone continuation
  const badUtf8 = ['ff', 'c0', 'c080', 'e282', 'eda080', 'f4908080', '80', '41ff42'].map(bytes);
  for (const b of badUtf8) {
    throwsCode(() => decodeClientFrame(concat(ev(0x02), bytes('01000000'), ev(b.length), b)), 'MALFORMED_FRAME', `channel ${hex(b)}`);
    throwsCode(() => decodeServerFrame(concat(bytes('85 01000000 0100 00000000 00'), b)), 'MALFORMED_FRAME', `message ${hex(b)}`);
    throwsCode(() => decodeServerFrame(concat(bytes('85 01000000 0100 00000000'), ev(b.length), b)), 'MALFORMED_FRAME', `error channel ${hex(b)}`);
  }
});

test('versions at or above 2^53 and unknown subscribe modes throw MALFORMED_FRAME', () => {
  throwsCode(() => decodeServerFrame(bytes('84 01000000 0000000000002000')), 'MALFORMED_FRAME', '2^53');
  throwsCode(() => decodeServerFrame(bytes('86 0163 ffffffffffffffff')), 'MALFORMED_FRAME', '2^64-1');
  assert.deepEqual(decodeServerFrame(bytes('84 01000000 ffffffffffff1f00')), { kind: 'ack', requestId: 1, version: MAX_SAFE });
  throwsCode(() => decodeClientFrame(bytes('01 01000000 0163 03 0000000000000000 00000000')), 'MALFORMED_FRAME', 'mode 3');
  throwsCode(() => decodeClientFrame(bytes('01 01000000 0163 00 0000000000002000 00000000')), 'MALFORMED_FRAME', 'fromVersion 2^53');
});

test('the worked example in docs/PROTOCOL.md is what the codecs produce', () => {
  const edit = (x: number, y: number, colour: number) => {
    const v = (x << 14) | (y << 4) | colour; // the place app's 3-byte edit, big-endian
    return ev(v >>> 16, (v >>> 8) & 0xff, v & 0xff);
  };
  const batch = encodeBatch('place:main', 1500, [edit(3, 5, 2), edit(999, 999, 15), edit(500, 0, 7)]);
  assert.equal(hex(batch), [
    '81', '0a706c6163653a6d61696e', 'dc05000000000000', '03000000', '0300', '00c052', 'f9fe7f', '7d0007',
  ].join(''));
  assert.equal(hex(encodeClientFrame({ kind: 'publish', requestId: 7, channel: 'place:main', payload: edit(3, 5, 2) })),
    '03' + '07000000' + '0a706c6163653a6d61696e' + '00c052');
  assert.equal(hex(encodeAck(7, 1500)), '84' + '07000000' + 'dc05000000000000');
  assert.equal(hex(encodeError(8, new BrigadeError('COOLDOWN', 'wait 4 s', 4000), 'place:main')),
    '85' + '08000000' + '2900' + 'a00f0000' + '0a706c6163653a6d61696e' + '7761697420342073');
  assert.equal(hex(encodeAck(0, 2 ** 32 + 2)).slice(10), '0200000001000000');
});

test('REQUEST and REPLY round-trip; a bad kind or encoding is refused with the request id', () => {
  const body = new TextEncoder().encode('{"a":1}');
  const f = decodeClientFrame(encodeClientFrame({ kind: 'request', requestId: 77, requestKind: 'place.canvases', encoding: 1, body }));
  assert.equal(f.kind, 'request');
  if (f.kind !== 'request') return;
  assert.equal(f.requestId, 77);
  assert.equal(f.requestKind, 'place.canvases');
  assert.equal(f.encoding, 1);
  assert.deepEqual([...f.body], [...body]);
  const r = decodeServerFrame(encodeReply(77, 0, new Uint8Array([9, 8])));
  assert.deepEqual(r, { kind: 'reply', requestId: 77, encoding: 0, body: new Uint8Array([9, 8]) });
  assert.throws(() => encodeClientFrame({ kind: 'request', requestId: 1, requestKind: 'Bad Kind', encoding: 0, body }), (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME');
  // kind "A!" (uppercase, punctuation), then encoding 7: each refused naming request 5
  const badKind = bytes('04 05000000 02 4121 00');
  assert.throws(() => decodeClientFrame(badKind), (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME' && e.requestId === 5);
  const badEncoding = bytes('04 05000000 01 61 07');
  assert.throws(() => decodeClientFrame(badEncoding), (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME' && e.requestId === 5);
});

test('a well-formed frame with a bad channel name names its own request id', () => {
  // PUBLISH request 0x01020304 to "a b"
  const frame = bytes('03 04030201 03 612062 ff');
  assert.throws(() => decodeClientFrame(frame), (e: unknown) => e instanceof BrigadeError && e.code === 'INVALID_CHANNEL_NAME' && e.requestId === 0x01020304);
  // too short to hold a request id: 0
  assert.throws(() => decodeClientFrame(bytes('03 0403')), (e: unknown) => e instanceof BrigadeError && e.requestId === 0);
});

test('app error blocks: registered once, refused when they overlap, decoded by name', () => {
  registerErrorCodes({ owner: 'zeta', first: 900, codes: { ZETA_BROKEN: { wire: 901, http: 409, temporary: true } } });
  registerErrorCodes({ owner: 'zeta', first: 900, codes: { ZETA_BROKEN: { wire: 901, http: 409, temporary: true } } });
  assert.equal(errorCodeFromWire(901), 'ZETA_BROKEN');
  assert.equal(new BrigadeError('ZETA_BROKEN', 'x').wireCode, 901);
  assert.equal(new BrigadeError('ZETA_BROKEN', 'x').temporary, true);
  assert.equal(httpStatusFor('ZETA_BROKEN'), 409);
  const refused = (block: Parameters<typeof registerErrorCodes>[0], why: RegExp) => assert.throws(() => registerErrorCodes(block), why);
  refused({ owner: 'other', first: 900, codes: { OTHER_X: { wire: 902 } } }, /belongs to zeta/);
  refused({ owner: 'other', first: 50, codes: {} }, /multiple of 100/);
  refused({ owner: 'other', first: 800, codes: { ZETA_X: { wire: 801 } } }, /must be OTHER_/);
  refused({ owner: 'other', first: 800, codes: { OTHER_X: { wire: 950 } } }, /outside its block/);
  refused({ owner: 'zeta', first: 900, codes: { ZETA_OTHER: { wire: 901 } } }, /already ZETA_BROKEN/);
  assert.equal(errorCodeFromWire(802), 'INTERNAL', 'a refused block registers nothing');
});

test('PUBLISH_ONCE round-trips its producer and seq; bad stamps are refused naming the request', () => {
  const payload = new Uint8Array([1, 2, 3]);
  const f = decodeClientFrame(encodeClientFrame({ kind: 'publish', requestId: 9, channel: 'place:main', payload, producer: 'sdk-0123abcd', seq: 42 }));
  assert.deepEqual(f, { kind: 'publish', requestId: 9, channel: 'place:main', payload, producer: 'sdk-0123abcd', seq: 42 });
  // Unstamped stays a plain PUBLISH (0x03).
  assert.equal(encodeClientFrame({ kind: 'publish', requestId: 9, channel: 'a', payload })[0], 0x03);
  assert.equal(encodeClientFrame({ kind: 'publish', requestId: 9, channel: 'a', payload, producer: 'p', seq: 1 })[0], 0x05);
  for (const [producer, seq] of [['', 1], ['a b', 1], ['p', 0], ['p', 2 ** 32]] as const) {
    assert.throws(() => encodeClientFrame({ kind: 'publish', requestId: 1, channel: 'a', payload, producer, seq }), (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME', `${producer} ${seq}`);
  }
  // seq 0 on the wire: refused with request 7's id
  assert.throws(() => decodeClientFrame(bytes('05 07000000 0161 0170 00000000')), (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME' && e.requestId === 7);
  // producer "a b": refused with its id
  assert.throws(() => decodeClientFrame(bytes('05 07000000 0161 03612062 01000000')), (e: unknown) => e instanceof BrigadeError && e.requestId === 7);
});

test('PUBLISH decodes the right channel each time when names repeat, alternate or share a length (the last name is reused only when its bytes match)', () => {
  const names = ['place:main', 'place:main', 'place:side', 'place:main', 'chat:abcde', 'x', 'place:main'];
  for (const [i, channel] of names.entries()) {
    const payload = new Uint8Array([i, 1, 2]);
    const f = decodeClientFrame(encodeClientFrame({ kind: 'publish', requestId: 1000 + i, channel, payload }));
    assert.deepEqual(f, { kind: 'publish', requestId: 1000 + i, channel, payload });
  }
  // A bad name of the same length as the last good one is still refused, naming its request.
  const good = encodeClientFrame({ kind: 'publish', requestId: 7, channel: 'place:main', payload: new Uint8Array([1]) });
  decodeClientFrame(good);
  const bad = good.slice();
  bad[6 + 5] = 0x20; // 'place main'
  assert.throws(() => decodeClientFrame(bad), (e: BrigadeError) => e.code === 'INVALID_CHANNEL_NAME' && e.requestId === 7);
  // The decoded frame does not share the cached bytes: a later frame's buffer can be reused.
  const again = decodeClientFrame(good) as { channel: string; payload: Uint8Array };
  good.fill(0);
  assert.equal(again.channel, 'place:main');
});

test('PUSH round-trips: topic and body, the body the rest of the frame; an empty topic is refused', () => {
  const body = new TextEncoder().encode('{"kind":"message","seq":3}');
  const frame = encodePush('inbox', body);
  assert.deepEqual([...frame.subarray(0, 7)], [0x89, 5, ...new TextEncoder().encode('inbox')]);
  assert.deepEqual(decodeServerFrame(frame), { kind: 'push', topic: 'inbox', body });
  assert.throws(() => decodeServerFrame(bytes('89 00 7b7d')), (e: unknown) => e instanceof BrigadeError && e.code === 'INVALID_CHANNEL_NAME');
  assert.throws(() => decodeServerFrame(bytes('89 05 696e')), (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME');
});
