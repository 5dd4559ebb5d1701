/**
 * The lean server-side WebSocket (src/gateway/lean-ws.ts) over real loopback TCP: against the `ws`
 * client for what clients send, and against a raw socket writing crafted frames for what they
 * must not (each such case gets its close code, and nothing of it reaches the app).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { LeanProtocolError, LeanSocket } from '../../src/gateway/lean-ws.ts';
import { startLeanServer, type LeanServer } from '../helpers/lean-server.ts';
import { RawClient, clientFrame, serverFrame } from '../helpers/raw-frames.ts';
import { prng } from '../helpers/prng.ts';
import { eventually } from '../helpers/eventually.ts';

const MAX = 4096;

describe('lean WebSocket server', () => {
  let server: LeanServer;
  before(async () => { server = await startLeanServer({ maxPayload: MAX, closeTimeoutMs: 200 }); });
  after(async () => { await server.close(); });

  /** The next server socket, recording what reaches the app. */
  const nextSocket = async () => {
    const socket = await server.next();
    const got: Array<{ text: string; binary: boolean; bytes: Buffer }> = [];
    const errors: LeanProtocolError[] = [];
    let closes = 0;
    socket.handler = {
      onMessage: (data, binary) => got.push({ text: data.toString(), binary, bytes: Buffer.from(data) }),
      onProtocolError: (e) => errors.push(e),
      onClose: () => { closes++; },
    };
    socket.start();
    return { socket, got, errors, closes: () => closes };
  };

  it('talks to the ws client: text and binary both ways, the first offered subprotocol, a clean close', async () => {
    const serverSide = nextSocket();
    const client = new WebSocket(server.url, ['first', 'second'], { perMessageDeflate: true });
    await new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject); });
    assert.equal(client.protocol, 'first');
    assert.equal(client.extensions, '', 'no extension is negotiated, even when offered');
    const s = await serverSide;
    const received: Array<{ data: string; binary: boolean }> = [];
    client.on('message', (d, binary) => received.push({ data: d.toString(), binary }));
    client.send('héllo');
    client.send(Buffer.from([1, 2, 3]));
    client.send('x'.repeat(300)); // 16-bit length
    await eventually(() => s.got.length === 3);
    assert.deepEqual(s.got.map((g) => [g.text, g.binary]), [['héllo', false], ['\u0001\u0002\u0003', true], ['x'.repeat(300), false]]);
    assert.equal(s.socket.open, true);
    assert.equal(s.socket.write(Buffer.concat([serverFrame(Buffer.from('one')), serverFrame(Buffer.from('two'))])), true);
    await eventually(() => received.length === 2);
    assert.deepEqual(received, [{ data: 'one', binary: false }, { data: 'two', binary: false }]);
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    client.close(1000, 'bye');
    assert.equal(await closed, 1000, 'the close frame is echoed');
    await eventually(() => s.closes() === 1);
    assert.equal(s.socket.open, false);
    assert.equal(s.socket.write(serverFrame(Buffer.from('late'))), false, 'nothing is written after the close');
    assert.deepEqual(s.errors, []);
  });

  it('reads messages however the bytes are split across reads, and several per read', async () => {
    const serverSide = nextSocket();
    const { client } = await RawClient.open(server.port);
    const s = await serverSide;
    const rand = prng(7);
    const texts = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 'ü' : 'a').repeat(1 + Math.floor(rand() * 500)) + i);
    const bytes = Buffer.concat(texts.map((t) => clientFrame(Buffer.from(t))));
    for (let at = 0; at < bytes.length;) {
      const n = 1 + Math.floor(rand() * (rand() < 0.5 ? 3 : 900));
      client.socket.write(bytes.subarray(at, at + n));
      at += n;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await eventually(() => s.got.length === texts.length, { what: () => `${texts.length} texts (got ${s.got.length}; errors ${JSON.stringify(s.errors)})` });
    assert.deepEqual(s.got.map((g) => g.text), texts);
    // And the first frame may ride in the same packet as the upgrade request (the "head").
    const headSide = nextSocket();
    await RawClient.open(server.port, clientFrame(Buffer.from('in the head')));
    const h = await headSide;
    await eventually(() => h.got.length === 1);
    assert.equal(h.got[0].text, 'in the head');
    client.socket.destroy();
  });

  it('joins a fragmented message, answering a ping sent between its fragments', async () => {
    const serverSide = nextSocket();
    const { client } = await RawClient.open(server.port);
    const s = await serverSide;
    client.socket.write(Buffer.concat([
      clientFrame(Buffer.from('frag'), 0x01), // text, not FIN
      clientFrame(Buffer.from('ping!'), 0x89), // ping
      clientFrame(Buffer.from('men'), 0x00), // continuation
      clientFrame(Buffer.from('ts'), 0x80), // continuation, FIN
      clientFrame(Buffer.from([0xde, 0xad]), 0x02), clientFrame(Buffer.from([0xbe, 0xef]), 0x80), // binary in two
      clientFrame(Buffer.from('pong'), 0x8a), // unsolicited pong: ignored
    ]));
    assert.equal((await client.frame(10)).toString(), 'ping!');
    await eventually(() => s.got.length === 2);
    assert.equal(s.got[0].text, 'fragments');
    assert.deepEqual([...s.got[1].bytes], [0xde, 0xad, 0xbe, 0xef]);
    assert.equal(s.got[1].binary, true);
    // A message in a thousand one-byte fragments (its bytes kept in one buffer, not an object each).
    const text = 'ü'.repeat(500);
    const bytes = Buffer.from(text);
    client.socket.write(Buffer.concat([...bytes].map((b, i) => clientFrame(Buffer.from([b]), (i === bytes.length - 1 ? 0x80 : 0) | (i === 0 ? 0x01 : 0x00)))));
    await eventually(() => s.got.length === 3);
    assert.equal(s.got[2].text, text);
    assert.deepEqual(s.errors, []);
    client.socket.destroy();
  });

  const refusals: Array<[string, () => Buffer, number]> = [
    ['an unmasked frame', () => clientFrame(Buffer.from('hi'), 0x81, false), 1002],
    ['RSV bits (an extension that was never negotiated)', () => clientFrame(Buffer.from('hi'), 0xc1), 1002],
    ['an unknown opcode', () => clientFrame(Buffer.from('hi'), 0x83), 1002],
    ['a continuation with nothing to continue', () => clientFrame(Buffer.from('hi'), 0x80), 1002],
    ['a new message inside a fragmented one', () => Buffer.concat([clientFrame(Buffer.from('a'), 0x01), clientFrame(Buffer.from('b'), 0x81)]), 1002],
    ['a fragmented ping', () => clientFrame(Buffer.from('p'), 0x09), 1002],
    ['a control frame over 125 bytes', () => clientFrame(Buffer.alloc(126), 0x89), 1002],
    ['a close frame with a 1-byte payload', () => clientFrame(Buffer.from([3]), 0x88), 1002],
    ['a close frame with a reserved code', () => clientFrame(Buffer.from([0x03, 0xee]), 0x88), 1002],
    ['text that is not UTF-8', () => clientFrame(Buffer.from([0x7b, 0xff, 0x7d])), 1007],
    ['text split so that its fragments join into bad UTF-8', () => Buffer.concat([clientFrame(Buffer.from([0xc3]), 0x01), clientFrame(Buffer.from([0x28]), 0x80)]), 1007],
    ['a frame declaring more than maxPayload (no payload sent)', () => clientFrame(Buffer.alloc(0), 0x81, true, MAX + 1).subarray(0, 8), 1009],
    ['a 64-bit length far past any payload', () => clientFrame(Buffer.alloc(0), 0x82, true, 2 ** 40).subarray(0, 14), 1009],
    ['fragments adding up past maxPayload', () => Buffer.concat([clientFrame(Buffer.alloc(MAX - 10, 97), 0x01), clientFrame(Buffer.alloc(11, 97), 0x80)]), 1009],
  ];
  for (const [what, frames, code] of refusals) {
    it(`closes with ${code} on ${what}, after delivering what came before, and ends the connection`, async () => {
      const serverSide = nextSocket();
      const { client } = await RawClient.open(server.port);
      const s = await serverSide;
      client.socket.write(Buffer.concat([clientFrame(Buffer.from('fine')), frames(), clientFrame(Buffer.from('after'))]));
      assert.equal(await client.closeCode(), code);
      await client.ended;
      await eventually(() => s.closes() === 1);
      assert.deepEqual(s.got.map((g) => g.text), ['fine'], 'nothing after the bad frame is delivered');
      assert.deepEqual(s.errors.map((e) => e.code), [code]);
      assert.equal(typeof s.errors[0].reason, 'string');
    });
  }

  it('a close the server starts: the ws client answers; a client that never answers is cut off after closeTimeoutMs', async () => {
    const serverSide = nextSocket();
    const client = new WebSocket(server.url);
    const closed = new Promise<[number, string]>((resolve) => client.once('close', (code, reason) => resolve([code, reason.toString()])));
    await new Promise((resolve) => client.once('open', resolve));
    const s = await serverSide;
    s.socket.close(4429, 'flooding');
    s.socket.close(4000, 'twice'); // only the first close counts
    assert.deepEqual(await closed, [4429, 'flooding']);
    await eventually(() => s.closes() === 1);

    const silentSide = nextSocket();
    const { client: raw } = await RawClient.open(server.port);
    const quiet = await silentSide;
    raw.socket.on('end', () => { /* a client that neither answers nor ends */ });
    quiet.socket.close(1001, 'going away');
    assert.equal(await raw.closeCode(), 1001);
    await raw.ended;
    await eventually(() => quiet.closes() === 1);
  });

  it('refuses an upgrade without a valid key or version with 400, and accepts no socket', async () => {
    const noKey = await RawClient.open(server.port, Buffer.alloc(0), 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
    assert.match(noKey.response, /^HTTP\/1.1 400 /);
    const badVersion = await RawClient.open(server.port, Buffer.alloc(0), `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 12\r\n\r\n`);
    assert.match(badVersion.response, /^HTTP\/1.1 400 /);
    assert.match(badVersion.response, /Sec-WebSocket-Version: 13/);
    await noKey.client.ended;
    await badVersion.client.ended;
    // The next accepted socket is a real one (the refused ones never reached the app).
    const serverSide = nextSocket();
    const ok = await RawClient.open(server.port);
    assert.match(ok.response, /^HTTP\/1.1 101 /);
    const s: { socket: LeanSocket } = await serverSide;
    s.socket.start(); // twice is once
    assert.equal(s.socket.open, true);
    ok.client.socket.destroy();
  });
});

