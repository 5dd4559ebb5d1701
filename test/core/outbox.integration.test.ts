/**
 * The core's Outbox (src/core/outbox.ts) over the gateway's FrameSocket and real loopback TCP:
 * a tick's messages built into one buffer reach a real `ws` client as the same messages, for every
 * header length (2, 4 and 10 bytes) and both kinds (text, binary), custom pieces written with
 * reserve/advance included; and the byte limit: a socket with more unsent than the limit gets
 * nothing (the messages are counted as dropped), and once it drains it gets the next flush whole.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { Outbox, newOutboxCounters } from '../../src/core/outbox.ts';
import type { LeanSocket } from '../../src/gateway/lean-ws.ts';
import { LeanFrameSocket } from '../../src/gateway/frame-socket.ts';
import { eventually } from '../helpers/eventually.ts';
import { startLeanServer } from '../helpers/lean-server.ts';
import { RawClient } from '../helpers/raw-frames.ts';

function frameSocket(lean: LeanSocket): LeanFrameSocket {
  const socket = new LeanFrameSocket(lean, '127.0.0.1', '/test');
  lean.start();
  return socket;
}

/** Bytes 0..n-1 of a pattern that differs per message, so a shifted or cut payload shows. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

describe('core outbox', () => {
  it('a real ws client receives every queued message whole and in order, for every header length, text and binary, in one write', async () => {
    const server = await startLeanServer({ maxPayload: 1 << 20 });
    const serverSide = server.next();
    const client = new WebSocket(server.url, { perMessageDeflate: false });
    try {
      const lean = await serverSide;
      const got: Array<{ text: boolean; data: Buffer }> = [];
      client.on('message', (d, isBinary) => got.push({ text: !isBinary, data: Buffer.from(d as Buffer) }));
      await new Promise((resolve) => client.once('open', resolve));
      const socket = frameSocket(lean);
      let writes = 0;
      const writeFramed = socket.writeFramed.bind(socket);
      socket.writeFramed = (bytes) => { writes++; writeFramed(bytes); };
      const counters = newOutboxCounters();
      const outbox = new Outbox(socket, counters);
      const want: Array<{ text: boolean; data: Buffer }> = [];
      // Payload lengths at every edge of the three header sizes: 2 bytes up to 125, 4 up to 65,535, 10 beyond.
      const lengths = [0, 1, 125, 126, 127, 4000, 65_535, 65_536, 80_000, 3];
      lengths.forEach((n, i) => {
        const data = pattern(n, i);
        const text = i % 2 === 0;
        if (text) data.fill(0x61 + (i % 26)); // text must be UTF-8: one letter
        // Built from several pieces, so the header moves with a payload built in steps.
        const cut = Math.floor(n / 3);
        outbox.bytes(data.subarray(0, cut));
        outbox.bytes(data.subarray(cut));
        if (text) outbox.endText();
        else outbox.endBinary();
        want.push({ text, data });
      });
      // Pieces of other kinds: latin1, UTF-8, numbers and a custom piece written with reserve/advance.
      outbox.latin1('{"n":');
      outbox.number(1_234_567);
      outbox.latin1(',"s":"');
      outbox.utf8('é ☃ 😀');
      const buf = outbox.reserve(3);
      const at = outbox.offset;
      buf[at] = 0x22; buf[at + 1] = 0x7d; // "}
      outbox.advance(2);
      outbox.endText();
      want.push({ text: true, data: Buffer.from('{"n":1234567,"s":"é ☃ 😀"}') });
      outbox.pushText('whole ☃');
      want.push({ text: true, data: Buffer.from('whole ☃') });
      outbox.endBinary(); // an empty message when none was begun
      want.push({ text: false, data: Buffer.alloc(0) });
      assert.equal(outbox.queued, want.length);

      assert.equal(outbox.flush(1 << 20), 'sent');
      assert.equal(outbox.queued, 0);
      assert.equal(writes, 1, 'one write for the whole tick');
      assert.deepEqual(counters, { sent: want.length, writes: 1, overLimit: 0, closed: 0 });
      await eventually(() => got.length >= want.length, { what: 'every message received' });
      assert.equal(got.length, want.length);
      got.forEach((m, i) => {
        assert.equal(m.text, want[i].text, `message ${i}: its kind`);
        assert.ok(m.data.equals(want[i].data), `message ${i} (${want[i].data.length} bytes) whole`);
      });
      assert.equal(outbox.flush(1 << 20), 'empty');

      // The next tick reuses buffers: what it sends must not be mixed with the last tick's bytes.
      outbox.pushText('next');
      assert.equal(outbox.flush(1 << 20), 'sent');
      await eventually(() => got.length === want.length + 1, { what: 'the next tick' });
      assert.equal(got[want.length].data.toString(), 'next');
    } finally {
      client.close();
      await server.close();
    }
  });

  it('refuses a reserve-less advance and a flush inside a message', async () => {
    const server = await startLeanServer({ maxPayload: 4096 });
    const serverSide = server.next();
    const { client } = await RawClient.open(server.port);
    try {
      const outbox = new Outbox(frameSocket(await serverSide));
      outbox.latin1('x');
      assert.throws(() => outbox.advance(1 << 20), RangeError);
      outbox.endText();
      outbox.latin1('open');
      assert.throws(() => outbox.flush(Infinity), /being built/);
      assert.equal(outbox.discard(), 1, 'the ended message dropped (and the open one)');
      assert.equal(outbox.building, false);
      assert.equal(outbox.flush(Infinity), 'empty');
    } finally {
      client.socket.destroy();
      await server.close();
    }
  });

  it('drops and counts a flush to a socket over the byte limit; after it drains the next flush arrives, in order', async () => {
    const server = await startLeanServer({ maxPayload: 4096 });
    const serverSide = server.next();
    const { client } = await RawClient.open(server.port);
    try {
      const socket = frameSocket(await serverSide);
      const counters = newOutboxCounters();
      const outbox = new Outbox(socket, counters);
      const SIZE = 8000;
      client.socket.pause();
      // Fill the kernel's buffers and then the stream's: the socket now has bytes unsent.
      let sent = 0;
      while (socket.bufferedAmount === 0 && sent < 20_000) {
        const p = pattern(SIZE, sent);
        p.writeUInt32BE(sent++, 0);
        outbox.push(p, false);
        assert.equal(outbox.flush(Infinity), 'sent');
      }
      assert.ok(socket.bufferedAmount > 0, `unsent bytes after ${sent} messages`);
      const limit = socket.bufferedAmount - 1;

      outbox.pushText('dropped 1');
      outbox.pushText('dropped 2');
      assert.equal(outbox.flush(limit), 'over-limit');
      assert.equal(outbox.queued, 0, 'the tick\'s messages are gone');
      assert.equal(counters.overLimit, 2);
      assert.equal(counters.sent, sent);

      client.socket.resume();
      await eventually(() => socket.bufferedAmount === 0, { what: 'the socket drains' });
      outbox.pushText('after');
      assert.equal(outbox.flush(limit), 'sent');
      await eventually(() => client.frames.length === sent + 1, { what: 'every sent message received' });
      client.frames.slice(0, sent).forEach((f, i) => {
        assert.equal(f.opcode, 2);
        const p = pattern(SIZE, i);
        p.writeUInt32BE(i, 0);
        assert.ok(f.payload.equals(p), `message ${i} whole and in its place`);
      });
      assert.equal(client.frames[sent].opcode, 1);
      assert.equal(client.frames[sent].payload.toString(), 'after', 'the dropped messages never arrive');
      assert.equal(counters.sent, sent + 1);
    } finally {
      client.socket.destroy();
      await server.close();
    }
  });

  it('discards and counts a flush to a closed socket', async () => {
    const server = await startLeanServer({ maxPayload: 4096 });
    const serverSide = server.next();
    const { client } = await RawClient.open(server.port);
    try {
      const socket = frameSocket(await serverSide);
      const counters = newOutboxCounters();
      const outbox = new Outbox(socket, counters);
      client.socket.destroy();
      await eventually(() => !socket.open, { what: 'the server sees the close' });
      outbox.pushText('too late');
      assert.equal(outbox.flush(Infinity), 'closed');
      assert.deepEqual(counters, { sent: 0, writes: 0, overLimit: 0, closed: 1 });
    } finally {
      await server.close();
    }
  });
});
