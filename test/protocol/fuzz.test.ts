/**
 * Fuzzes both decoders with valid frames of every kind, mutated (bit flips, truncation,
 * extension, splices, overwritten fields) and with pure random bytes. Every call must either
 * return a frame or throw a BrigadeError with a decode code; a frame that decodes must re-encode
 * to the same bytes wherever the encoding is canonical.
 *
 * The run is seeded: the seed is printed, and BRIGADE_FUZZ_SEED=<seed> replays it exactly.
 * BRIGADE_FUZZ_FRAMES sets how many frames (default 120,000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BrigadeError, ErrorCodes, SubscribeMode, decodeClientFrame, decodeServerFrame, encodeAck, encodeBatch,
  encodeBehind, encodeClientFrame, encodeError, encodeSnapshot, encodeSubscribed, encodeUnsubscribed, encodeReply, encodePush,
  type ClientFrame, type ErrorCode, type ServerFrame,
} from '../../src/protocol/index.ts';
import { prng } from '../helpers/prng.ts';

const seed = Number(process.env.BRIGADE_FUZZ_SEED ?? (Date.now() ^ (Math.random() * 0x100000000)) >>> 0) >>> 0;
const frameCount = Number(process.env.BRIGADE_FUZZ_FRAMES ?? 120_000);


const rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
const randomBytes = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
};

const channelChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-';
const randomChannel = () => {
  const n = pick([1, 2, 5, 10, 40, 255]);
  let s = '';
  for (let i = 0; i < n; i++) s += channelChars[int(channelChars.length)];
  return s;
};
const randomVersion = () => pick([0, 1, int(1000), 0xffffffff, 0x100000000, 2 ** 52 + int(1000), Number.MAX_SAFE_INTEGER - int(3)]);
const randomU32 = () => pick([0, 1, int(0x100000000), 0xffffffff]);
const messages = ['', 'not allowed', 'überlänge 日本語 🎨', '\uFEFFbom', 'x'.repeat(300)];
const codes = Object.keys(ErrorCodes) as ErrorCode[];

function validClientFrame(): Uint8Array {
  const requestId = randomU32();
  const channel = randomChannel();
  switch (int(3)) {
    case 0: return encodeClientFrame({ kind: 'subscribe', requestId, channel, mode: pick([SubscribeMode.FROM_VERSION, SubscribeMode.SNAPSHOT, SubscribeMode.HEAD]), fromVersion: randomVersion(), epoch: randomU32() });
    case 1: return encodeClientFrame({ kind: 'unsubscribe', requestId, channel });
    default: return encodeClientFrame({ kind: 'publish', requestId, channel, payload: randomBytes(pick([0, 1, 3, 20, 200])) });
  }
}

function validServerFrame(): Uint8Array {
  const channel = randomChannel();
  switch (int(7)) {
    case 0: {
      const n = pick([0, 1, 2, 5, 30]);
      const size = pick([0, 1, 3, 8]);
      const events = Array.from({ length: n }, () => randomBytes(size === 0 ? int(12) : size));
      return encodeBatch(channel, randomVersion(), events);
    }
    case 1: return encodeSubscribed(randomU32(), channel, randomU32(), randomVersion());
    case 2: return encodeSnapshot(channel, randomU32(), randomVersion(), randomBytes(pick([0, 4, 64, 500])));
    case 3: return encodeAck(randomU32(), randomVersion());
    case 4: return encodeError(randomU32(), new BrigadeError(pick(codes), pick(messages), randomU32()), pick(['', channel]));
    case 5: return encodeBehind(channel, randomVersion());
    default: return encodeUnsubscribed(randomU32(), channel);
  }
}

const interesting = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x20, 0xc0, 0xed, 0xef];

function mutate(src: Uint8Array, other: Uint8Array): Uint8Array {
  let b = src.slice();
  const rounds = 1 + int(3);
  for (let r = 0; r < rounds; r++) {
    switch (int(8)) {
      case 0: { // flip 1-4 bits
        if (b.length === 0) break;
        for (let k = 1 + int(4); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
        break;
      }
      case 1: b = b.slice(0, int(b.length + 1)); break; // truncate
      case 2: { // extend with random bytes
        const tail = randomBytes(1 + int(16));
        const out = new Uint8Array(b.length + tail.length);
        out.set(b); out.set(tail, b.length);
        b = out;
        break;
      }
      case 3: { // splice: a prefix of this frame with a suffix of another
        const cut = int(b.length + 1);
        const from = int(other.length + 1);
        const out = new Uint8Array(cut + other.length - from);
        out.set(b.subarray(0, cut)); out.set(other.subarray(from), cut);
        b = out;
        break;
      }
      case 4: if (b.length) b[int(b.length)] = pick(interesting); break; // an edge value in one byte
      case 5: { // a u32-sized field set to an edge value
        if (b.length < 5) break;
        const at = int(b.length - 3);
        const v = pick([0, 1, 0xffffffff, 0x7fffffff, 0x00200000, b.length]);
        new DataView(b.buffer, b.byteOffset).setUint32(at, v >>> 0, true);
        break;
      }
      case 6: { // delete a byte
        if (b.length === 0) break;
        const at = int(b.length);
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]);
        break;
      }
      default: { // insert a byte
        const at = int(b.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), int(256), ...b.subarray(at)]);
      }
    }
  }
  return b;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

const clientCodes = new Set<ErrorCode>(['MALFORMED_FRAME', 'UNKNOWN_FRAME_KIND', 'INVALID_CHANNEL_NAME']);
const serverCodes = clientCodes;

/** The canonical encoding of a decoded server frame, or null where the bytes may legitimately differ. */
function reencodeServer(f: ServerFrame, bytes: Uint8Array): Uint8Array | null {
  switch (f.kind) {
    case 'batch': {
      // The encoder picks the event size from the events; the decoder accepts any consistent one.
      const at = 1 + 1 + bytes[1] + 8 + 4;
      const eventSize = bytes[at] | (bytes[at + 1] << 8);
      return encodeBatch(f.channel, f.firstVersion, f.events, eventSize);
    }
    case 'subscribed': return encodeSubscribed(f.requestId, f.channel, f.epoch, f.headVersion);
    case 'snapshot': return encodeSnapshot(f.channel, f.epoch, f.version, f.state);
    case 'ack': return encodeAck(f.requestId, f.version);
    case 'error': {
      // Unknown wire codes read as INTERNAL; messages past 1000 characters are cut when encoding.
      const wire = bytes[5] | (bytes[6] << 8);
      if (ErrorCodes[f.code] !== wire || f.message.length > 1000) return null;
      return encodeError(f.requestId, new BrigadeError(f.code, f.message, f.retryAfterMs), f.channel);
    }
    case 'behind': return encodeBehind(f.channel, f.version);
    case 'unsubscribed': return encodeUnsubscribed(f.requestId, f.channel);
    case 'reply': return encodeReply(f.requestId, f.encoding, f.body);
    case 'push': return encodePush(f.topic, f.body);
  }
}

interface Tally { decoded: number; refused: number }

/** Returns a failure description, or null. */
function check(bytes: Uint8Array, side: 'client' | 'server', tally: Tally): string | null {
  let reencoded: Uint8Array | null;
  try {
    if (side === 'client') {
      const f: ClientFrame = decodeClientFrame(bytes);
      reencoded = encodeClientFrame(f);
    } else {
      const f = decodeServerFrame(bytes);
      reencoded = reencodeServer(f, bytes);
    }
  } catch (err) {
    tally.refused++;
    if (!(err instanceof BrigadeError)) return `${side} decoder threw ${String(err)} (not a BrigadeError)`;
    if (!(side === 'client' ? clientCodes : serverCodes).has(err.code)) return `${side} decoder threw code ${err.code}`;
    return null;
  }
  tally.decoded++;
  if (reencoded && !same(reencoded, bytes)) return `${side} frame re-encodes differently: ${hex(reencoded)}`;
  return null;
}

test(`decoders survive ${frameCount} random and mutated frames (seed ${seed})`, (t) => {
  t.diagnostic(`seed ${seed} — replay with BRIGADE_FUZZ_SEED=${seed}`);
  console.log(`# fuzz seed ${seed} (BRIGADE_FUZZ_SEED=${seed} replays this run)`);
  const started = performance.now();
  const clientCorpus = Array.from({ length: 200 }, validClientFrame);
  const serverCorpus = Array.from({ length: 400 }, validServerFrame);
  const client: Tally = { decoded: 0, refused: 0 };
  const server: Tally = { decoded: 0, refused: 0 };

  // Unmutated frames must all decode and re-encode.
  for (const f of clientCorpus) {
    const fail = check(f, 'client', client);
    assert.equal(fail, null, `valid ${hex(f)}: ${fail} (seed ${seed})`);
  }
  for (const f of serverCorpus) {
    const fail = check(f, 'server', server);
    assert.equal(fail, null, `valid ${hex(f)}: ${fail} (seed ${seed})`);
  }
  assert.equal(client.refused + server.refused, 0);

  const all = [...clientCorpus, ...serverCorpus];
  for (let i = 0; i < frameCount; i++) {
    let input: Uint8Array;
    const roll = int(10);
    if (roll === 0) input = randomBytes(int(48));
    else if (roll === 1) input = Uint8Array.from([pick([0x01, 0x02, 0x03, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87]), ...randomBytes(int(40))]);
    else input = mutate(pick(roll < 6 ? clientCorpus : serverCorpus), pick(all));
    // Every input goes to both decoders: each must cope with the other direction's frames too.
    for (const side of ['client', 'server'] as const) {
      const fail = check(input, side, side === 'client' ? client : server);
      if (fail) assert.fail(`frame #${i} ${hex(input)}: ${fail} — seed ${seed}, replay with BRIGADE_FUZZ_SEED=${seed}`);
    }
  }
  const ms = performance.now() - started;
  t.diagnostic(`client decoded ${client.decoded}, refused ${client.refused}; server decoded ${server.decoded}, refused ${server.refused}; ${ms.toFixed(0)} ms`);
  // Mutations that keep a frame valid must be common enough for the re-encode check to mean something.
  assert.ok(client.decoded > frameCount / 50 && server.decoded > frameCount / 50, 'too few mutated frames decoded');
});
