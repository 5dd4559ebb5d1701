/**
 * The tracker's fast path: the byte reader (json-bytes.ts) must agree with JSON.parse on every
 * message it accepts and give up on everything JSON.parse refuses; ids are written as
 * JSON.stringify writes them; parseMessageBytes accepts and refuses exactly as parseMessage; and
 * TrackerSocket's hand-written frames (every header length) reach a real ws client intact.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { idJson } from '../../../src/apps/tracker/ids.ts';
import { IdMemo, Message, RawJson, readMessage, toMessage } from '../../../src/apps/tracker/json-bytes.ts';
import { parseMessage, parseMessageBytes, type ParseLimits } from '../../../src/apps/tracker/parse.ts';
import { TrackerSocket } from '../../../src/apps/tracker/socket.ts';
import { LeanFrameSocket } from '../../../src/gateway/frame-socket.ts';
import { startLeanServer } from '../../helpers/lean-server.ts';
import { prng } from '../../helpers/prng.ts';

const limits: ParseLimits = { maxOffers: 10, maxNumwant: 100, maxScrapeHashes: 5, maxCandidates: 4, trickle: true };

/**
 * RawJson values replaced by what they hold and unset fields dropped, so the reader's result
 * compares with JSON.parse's.
 */
function plain(v: unknown): unknown {
  if (v instanceof RawJson) return v.value();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, plain(x)]));
  return v;
}

/**
 * The invariant: the reader gives up, or gives what JSON.parse gives (in the protocol's shapes:
 * toMessage keeps the fields the protocol reads); JSON.parse refusing means it gave up.
 */
function agrees(bytes: Buffer, label: string): 'read' | 'gave up' {
  const read = readMessage(bytes);
  let parsed: unknown;
  let ok = true;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    ok = false;
  }
  if (read === undefined) return 'gave up';
  assert.ok(ok, `read what JSON.parse refuses: ${label}`);
  assert.ok(read instanceof Message, 'one shape for every message');
  assert.deepEqual(plain(read), plain(toMessage(parsed)), label);
  return 'read';
}

const rand = prng(4);
const binary = () => String.fromCharCode(...Array.from({ length: 20 }, () => Math.floor(rand() * 256)));
const sdp = (tag: string) => ({ type: 'offer', sdp: `v=0\r\no=- ${tag} 2 IN IP4 127.0.0.1\r\ns=-\r\na=fingerprint:sha-256 AB:CD "q" \\ é ☃ 😀\r\n` });

function announce(): Record<string, unknown> {
  return {
    numwant: 3, uploaded: 0, downloaded: 1e3, left: rand() < 0.5 ? 0 : 12.5e-1, event: 'started', action: 'announce',
    info_hash: binary(), peer_id: binary(), offers: [0, 1, 2].map((i) => ({ offer: sdp(`t${i}`), offer_id: binary() })),
    extra: { nested: [1, -0.5, true, false, null, 'x', { y: [] }] },
  };
}

describe('tracker byte reader', () => {
  it('reads real-client messages exactly as JSON.parse, SDPs kept raw', () => {
    for (let i = 0; i < 200; i++) {
      const a = announce();
      const bytes = Buffer.from(JSON.stringify(a));
      assert.equal(agrees(bytes, 'announce'), 'read');
      const read = readMessage(bytes)!;
      const offers = read.offers as { offer: unknown }[];
      assert.ok(offers.every((o) => o.offer instanceof RawJson), 'offers raw');
      const answer = { action: 'announce', info_hash: binary(), peer_id: binary(), to_peer_id: binary(), offer_id: binary(), answer: sdp('a') };
      assert.equal(agrees(Buffer.from(JSON.stringify(answer, null, i % 3)), 'answer'), 'read');
      assert.ok(readMessage(Buffer.from(JSON.stringify(answer)))!.answer instanceof RawJson);
    }
    for (const text of ['{}', '{"action":"scrape"}', '{"action":"scrape","info_hash":["a","b"]}', ' {"candidates" : [ ] , "event":{ "a" : [ ] , "b":{ } } } ', '{"\\u0061ction":"x"}', '{"action":"\\ud800"}', '{"candidates":[0,-0,1e5,1E-5,-12.5e+3]}', '{"numwant":3,"numwant":"x"}']) {
      assert.equal(agrees(Buffer.from(text), text), 'read', text);
    }
  });

  it('gives every message one shape whatever its key order, and drops keys the protocol does not use', () => {
    const a = Buffer.from('{"zz":[1,{"q":2}],"peer_id":"p","action":"announce","offers":[{"x":1,"offer_id":"o","offer":{"sdp":"s"}}],"info_hash":"h"}');
    const b = Buffer.from('{"action":"announce","info_hash":"h","peer_id":"p","offers":[{"offer":{"sdp":"s"},"offer_id":"o"}]}');
    const ra = readMessage(a)!;
    const rb = readMessage(b)!;
    assert.ok(ra instanceof Message && rb instanceof Message);
    assert.deepEqual(Object.keys(ra), Object.keys(rb), 'same fields in the same order');
    assert.deepEqual(plain(ra), plain(rb));
    assert.equal('zz' in ra, false);
    assert.deepEqual(plain(ra), { action: 'announce', info_hash: 'h', peer_id: 'p', offers: [{ offer: { sdp: 's' }, offer_id: 'o' }] });
    // A key the protocol ignores must still be valid JSON for the reader to accept the message.
    assert.equal(readMessage(Buffer.from('{"action":"announce","zz":[1,}')), undefined);
  });

  it('gives up on whatever JSON.parse refuses, and on keys it leaves to JSON.parse', () => {
    const bad = ['', '[]', '"x"', '{', '{"a":1,}', '{"a":01}', '{"a":1.}', '{"a":.5}', '{"a":-}', '{"a":1e}', '{"a":tru}', '{"a":"\\x"}',
      '{"a":"\\u12g4"}', '{"a":"\u0001"}', '{"a":1}x', '{a:1}', "{'a':1}", '{"a":1 "b":2}', '{"offers":[{"offer":{"sdp":"\n"}}]}',
      '{"answer":{"a":1,}}', '{"answer":{"a" 1}}', '{"answer":{"a":[1,]}}', '{"__proto__":{"x":1}}', `{"a":${'['.repeat(40)}${']'.repeat(40)}}`];
    for (const text of bad) assert.equal(agrees(Buffer.from(text), text), 'gave up', text);
    // Raw control characters, quotes and backslashes at every alignment inside a long raw SDP (read four bytes at a time).
    for (let k = 0; k < 40; k++) {
      for (const c of ['\u0001', '\u001f', '"', '\\', '\\u00', ' ', 'é']) {
        const sdp = 'a'.repeat(k) + c + 'b'.repeat(45 - k);
        for (const pad of ['', ' ', '  ', '   ']) agrees(Buffer.from(`{"answer":${pad}{"sdp":"${sdp}"}}`), `${JSON.stringify(c)} at ${k} pad ${pad.length}`);
      }
    }
        // Every cut of a valid message is refused by both (or, cut at the end, still the same value).
    const whole = JSON.stringify(announce());
    for (let n = 0; n < whole.length; n += 7) agrees(Buffer.from(whole.slice(0, n)), `cut at ${n}`);
  });

  it('a connection\'s id memo gives the same ids as reading them, whatever the next message holds', () => {
    const ids = new IdMemo();
    const a = binary();
    const b = binary();
    const texts = [
      JSON.stringify({ action: 'announce', info_hash: a, peer_id: b }),
      JSON.stringify({ action: 'announce', info_hash: a, peer_id: b, offer_id: a }),
      JSON.stringify({ action: 'announce', info_hash: b, peer_id: a }),
      '{"action":"announce","info_hash":"\\u0041bc","peer_id":"Abc"}',
      '{"action":"announce","info_hash":"Abc","peer_id":"\\u0041bc"}',
      '{"info_hash":"Abc\\"","peer_id":"Abc"}',
      '{"info_hash":"Abc","peer_id":"Abcd"}',
      '{"info_hash":"Ab","peer_id":7}',
      JSON.stringify({ action: 'announce', info_hash: a, peer_id: b }),
    ];
    for (let round = 0; round < 2; round++) {
      for (const text of texts) {
        const read = readMessage(Buffer.from(text), ids);
        assert.deepEqual(read && plain(read), JSON.parse(text), text);
      }
    }
    const read = readMessage(Buffer.from(texts[0]), ids)!;
    assert.equal(read.info_hash, ids.infoHash, 'a repeat is the memo\'s string');
  });

  it('writes ids as JSON.stringify does, every byte value', () => {
    for (let c = 0; c < 256; c += 20) {
      const bin = Array.from({ length: 20 }, (_, i) => String.fromCharCode((c + i) & 0xff)).join('');
      assert.deepEqual(idJson(bin), Buffer.from(JSON.stringify(bin)));
    }
  });

  it('parseMessageBytes accepts and refuses exactly as parseMessage', () => {
    const base = announce();
    const cases: unknown[] = [
      base, { ...base, numwant: 500 }, { ...base, offers: [{ offer: 'sdp', offer_id: binary() }] }, { ...base, offers: [{ offer: sdp('x'), offer_id: 'short' }] },
      { ...base, event: 'nope' }, { ...base, info_hash: 'short' }, { action: 'announce', info_hash: binary(), peer_id: binary(), to_peer_id: binary(), offer_id: binary(), answer: sdp('a') },
      { action: 'announce', info_hash: binary(), peer_id: binary(), to_peer_id: binary(), offer_id: binary(), answer: 'x' },
      { action: 'scrape', info_hash: [binary(), binary()] }, { action: 'signal', info_hash: binary(), peer_id: binary(), to_peer_id: binary(), offer_id: binary(), candidates: [{ c: 1 }] },
      { action: 'nope' }, '{"action":', 'null',
    ];
    for (const c of cases) {
      const text = typeof c === 'string' ? c : JSON.stringify(c);
      for (const isBinary of [false, true]) {
        assert.deepEqual(plain(parseMessageBytes(Buffer.from(text), isBinary, limits)), plain(parseMessage(text, limits)), text.slice(0, 80));
      }
    }
  });
});

describe('tracker socket frames', () => {
  it('a real ws client receives every queued message whole, for every header length', async () => {
    const server = await startLeanServer({ maxPayload: 1 << 20 });
    const serverSide = server.next();
    const client = new WebSocket(server.url, { perMessageDeflate: false });
    try {
      const ws = await serverSide;
      const got: string[] = [];
      client.on('message', (d) => got.push(d.toString()));
      const socket = new TrackerSocket(new LeanFrameSocket(ws, '127.0.0.1', '/announce'), '127.0.0.1');
      const id = binary();
      const big = 'é'.repeat(40_000); // 80,000 bytes: the 8-byte length
      const raw = Buffer.from(`xx{"sdp":"${'a'.repeat(300)}"}yy`);
      const want: string[] = [];
      socket.add(Buffer.from('{"a":')); socket.add(7); socket.add(Buffer.from(',"id":')); socket.add(id); socket.add(Buffer.from('}')); socket.end();
      want.push(JSON.stringify({ a: 7, id }));
      socket.add(Buffer.from('{"raw":')); socket.add(new RawJson(raw, 2, raw.length - 2)); socket.add(Buffer.from('}')); socket.end();
      want.push(`{"raw":${raw.subarray(2, raw.length - 2).toString()}}`);
      socket.pushText(JSON.stringify({ big })); want.push(JSON.stringify({ big }));
      socket.pushText(''); want.push('');
      assert.equal(socket.queued, 4);
      const done = new Promise<void>((resolve) => client.on('message', () => got.length === want.length && resolve()));
      assert.equal(socket.flush(Infinity), 'sent');
      assert.equal(socket.queued, 0);
      await done;
      assert.deepEqual(got, want);
      assert.deepEqual(JSON.parse(got[0]), { a: 7, id });
    } finally {
      client.close();
      await server.close();
    }
  });
});
