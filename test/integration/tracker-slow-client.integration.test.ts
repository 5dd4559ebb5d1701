/**
 * The core's byte limit on the tracker (core/outbox.ts through a real `brigade serve`): a client
 * that stops reading gets nothing more once its connection has more than --max-buffered-bytes
 * unsent; the messages meant for it are dropped and counted (relays_dropped_total{why="slow"}),
 * the peer that keeps sending is answered throughout, and once the slow client reads again it gets
 * the later relays, in order. Every relay is either received or counted as dropped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { RawClient, clientFrame } from '../helpers/raw-frames.ts';
import { WireClient, binaryId } from '../apps/tracker/wire-client.ts';
import { eventually } from '../helpers/eventually.ts';

const LIMIT = 64 * 1024;
/** Each relayed offer carries about this many bytes of SDP, so the kernel's buffers fill after a few hundred. */
const SDP_BYTES = 30_000;

async function droppedSlow(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('brigade_tracker_relays_dropped_total{why="slow"'));
  if (!line) throw new Error('relays_dropped_total{why="slow"} not exported');
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('tracker: a client that stops reading', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--max-buffered-bytes', String(LIMIT), '--tracker-max-messages-per-second', '0', '--tracker-tick-ms', '5']);
  });
  after(async () => {
    await server.stop();
    server.cleanup();
  });

  it('is sent nothing past the byte limit, counted; the sender is unaffected; it gets the later relays once it reads', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const infoHash = binaryId();
    const { client: slow } = await RawClient.open(server.port, Buffer.alloc(0), undefined, '/announce');
    const sender = await WireClient.connect(`ws://127.0.0.1:${server.port}/announce`);
    try {
      slow.socket.write(clientFrame(Buffer.from(JSON.stringify({
        numwant: 0, uploaded: 0, downloaded: 0, left: 1, event: 'started', action: 'announce', info_hash: infoHash, peer_id: binaryId(), offers: [],
      }))));
      assert.equal(JSON.parse((await slow.frame(1)).toString()).complete, 0, 'the slow peer is in the swarm');

      const senderId = binaryId();
      let sent = 0;
      const announce = async (tag: string) => {
        sender.send({
          numwant: 1, uploaded: 0, downloaded: 0, action: 'announce', info_hash: infoHash, peer_id: senderId,
          offers: [{ offer: { type: 'offer', sdp: `${tag} ${'x'.repeat(SDP_BYTES)}` }, offer_id: randomBytes(20).toString('latin1') }],
        });
        sent++;
        // The reply comes in the tick that also flushed (or dropped) the offer for the slow peer.
        const reply = await sender.next((m) => m.action === 'announce' && m.complete !== undefined);
        assert.equal(reply.incomplete, 2);
      };

      slow.socket.pause();
      let dropped = 0;
      while (dropped === 0) {
        assert.ok(sent < 4000, 'the limit was never reached');
        for (let k = 0; k < 20; k++) await announce(`fill-${sent}`);
        dropped = await droppedSlow(base);
      }

      slow.socket.resume();
      // Announce until a relay is written to the slow peer again (it drains first): the reply to
      // the sender comes in the tick that flushed the relay, so the counter then says whether it
      // was dropped; one that was not must arrive.
      const lastTag = () => {
        const f = slow.frames.at(-1);
        return f && f.opcode === 1 ? (JSON.parse(f.payload.toString()) as { offer: { sdp: string } }).offer.sdp.split(' ')[0] : '';
      };
      for (let written = false; !written;) {
        assert.ok(sent < 8000, 'the slow peer never got a relay again');
        const before = dropped;
        const tag = `after-${sent}`;
        await announce(tag);
        dropped = await droppedSlow(base);
        written = dropped === before;
        if (written) await eventually(() => lastTag() === tag, { what: `the relay ${tag} at the slow peer` });
      }
      const tags = slow.frames.filter((f) => f.opcode === 1).map((f) => (JSON.parse(f.payload.toString()) as { offer: { sdp: string } }).offer.sdp.split(' ')[0]);
      const numbers = tags.map((t) => Number(t.split('-')[1]));
      for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] > numbers[i - 1], 'relays arrive in order, none twice');
      const droppedNow = await droppedSlow(base);
      assert.ok(droppedNow > 0);
      assert.equal(tags.length + droppedNow, sent, 'every relay was received or counted as dropped');
      assert.ok(tags.length < sent);
    } finally {
      sender.close();
      slow.socket.destroy();
    }
  });
});
