/**
 * The lean socket's write path (src/gateway/lean-ws.ts write()): frames go straight to the TCP
 * descriptor while nothing is queued, through Node's stream once the kernel's send buffer is full,
 * and straight again once it drains. Over real loopback TCP against a raw client that stops
 * reading, so the kernel's buffers really fill.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeanProtocolError, LeanSocket } from '../../src/gateway/lean-ws.ts';
import { startLeanServer } from '../helpers/lean-server.ts';
import { RawClient, serverFrame } from '../helpers/raw-frames.ts';
import { eventually } from '../helpers/eventually.ts';

const SIZE = 8000;

/** Frame `i`: its number in the first 4 bytes, then its low byte over the rest. */
function payload(i: number): Buffer {
  const b = Buffer.alloc(SIZE, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

function quiet(socket: LeanSocket): LeanProtocolError[] {
  const errors: LeanProtocolError[] = [];
  socket.handler = { onMessage: () => {}, onClose: () => {}, onProtocolError: (e) => errors.push(e) };
  socket.start();
  return errors;
}

function fdOf(socket: LeanSocket): number {
  return (socket.socket as unknown as { _handle: { fd: number } })._handle.fd;
}

describe('lean socket writes', () => {
  for (const directWrites of [true, false]) {
    it(`keeps every byte in order through a full send buffer and after it drains (${directWrites ? 'direct writes' : 'stream only'})`, async () => {
      const server = await startLeanServer({ maxPayload: 4096, directWrites });
      try {
        const serverSide = server.next();
        const { client } = await RawClient.open(server.port);
        const lean = await serverSide;
        quiet(lean);
        client.socket.pause();
        let sent = 0;
        // Until the kernel takes no more (both sockets' buffers full) and the stream starts to queue.
        while (lean.bufferedAmount === 0 && sent < 20_000) lean.write(serverFrame(payload(sent++), 0x82));
        assert.ok(lean.bufferedAmount > 0, `the send buffer filled after ${sent} frames`);
        let last = true;
        for (let k = 0; k < 50; k++) last = lean.write(serverFrame(payload(sent++), 0x82));
        assert.equal(last, false, 'over the stream\'s mark while queued');
        assert.ok(lean.bufferedAmount >= 50 * SIZE, 'the later frames wait in the stream');
        client.socket.resume();
        // Writes while the stream drains its queue into the kernel must wait behind the queue.
        while (lean.bufferedAmount > 0) {
          lean.write(serverFrame(payload(sent++), 0x82));
          await new Promise((resolve) => setImmediate(resolve));
        }
        await eventually(() => client.frames.length === sent);
        // Drained: the next writes take the direct path again (and must still come after the rest).
        for (let k = 0; k < 100; k++) assert.equal(lean.write(serverFrame(payload(sent++), 0x82)), true);
        await eventually(() => client.frames.length === sent);
        client.frames.forEach((f, i) => {
          assert.equal(f.opcode, 2);
          assert.equal(f.payload.length, SIZE);
          assert.equal(f.payload.readUInt32BE(0), i, `frame ${i} in its place`);
          assert.equal(f.payload[SIZE - 1], i & 0xff, `frame ${i} whole`);
        });
        client.socket.destroy();
      } finally {
        await server.close();
      }
    });
  }

  it('never writes to the descriptor of a destroyed socket, whose number may belong to something else by then', async () => {
    const server = await startLeanServer({ maxPayload: 4096 });
    const dir = mkdtempSync(join(tmpdir(), 'brigade-fd-'));
    try {
      const serverSide = server.next();
      const { client } = await RawClient.open(server.port);
      const dead = await serverSide;
      quiet(dead);
      const deadFd = fdOf(dead);
      dead.terminate(); // closes the descriptor now; the socket's 'close' event comes later
      // Anything opened next takes the lowest free number: the dead socket's.
      const file = openSync(join(dir, 'other'), 'w+');
      try {
        assert.equal(file, deadFd, 'the descriptor number was taken again');
        assert.equal(dead.write(serverFrame(Buffer.from('stray'), 0x82)), false);
        assert.equal(fstatSync(file).size, 0, 'nothing was written to what now has that number');
      } finally {
        closeSync(file);
      }
      client.socket.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await server.close();
    }
  });
});

