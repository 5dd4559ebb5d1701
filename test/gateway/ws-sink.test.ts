/**
 * The corked sink's order (ws-sink.ts): frames held in one loop iteration leave in one write per
 * connection, and the fan-out's frame (sendLast) is written at once, after whatever other
 * connections hold (publishers hear their ACKs before viewers are written to), together with what
 * its own connection holds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flushSinks, wsSink } from '../../src/gateway/ws-sink.ts';
import type { LeanSocket } from '../../src/gateway/lean-ws.ts';

/** A socket that records each write: which connection, and the frames' payload bytes in it. */
function recordingSocket(name: string, log: string[]): LeanSocket {
  return {
    beforeClose: null,
    bufferedAmount: 0,
    write(bytes: Buffer): boolean {
      const payloads: string[] = [];
      for (let at = 0; at < bytes.length;) {
        const len = bytes[at + 1] & 0x7f; // the test's frames are under 126 bytes
        payloads.push(bytes.subarray(at + 2, at + 2 + len).toString());
        at += 2 + len;
      }
      log.push(`${name}:${payloads.join('+')}`);
      return true;
    },
  } as unknown as LeanSocket;
}

describe('ws sink', () => {
  it('writes what other connections hold before the fan-out frame, and a connection\'s own held frames with it in one write', () => {
    const log: string[] = [];
    const publisher = wsSink(recordingSocket('publisher', log));
    const subscribedPublisher = wsSink(recordingSocket('subscriber-publisher', log));
    const viewer = wsSink(recordingSocket('viewer', log));
    publisher.send(Buffer.from('ack1'));
    publisher.send(Buffer.from('ack2'));
    subscribedPublisher.send(Buffer.from('ack3'));
    const frame = Buffer.from('batch');
    subscribedPublisher.sendLast!(frame);
    viewer.sendLast!(frame);
    assert.deepEqual(log, ['subscriber-publisher:ack3+batch', 'publisher:ack1+ack2', 'viewer:batch']);
    flushSinks();
    assert.equal(log.length, 3, 'nothing was left held');
  });

  it('holds frames sent after the fan-out frame until the end of the iteration, in order', async () => {
    const log: string[] = [];
    const viewer = wsSink(recordingSocket('viewer', log));
    viewer.sendLast!(Buffer.from('batch'));
    viewer.send(Buffer.from('later1'));
    viewer.send(Buffer.from('later2'));
    assert.deepEqual(log, ['viewer:batch']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['viewer:batch', 'viewer:later1+later2']);
  });
});
