/**
 * Peer (c) of the benchmark: a raw `node:net` server writing pre-framed bytes to every socket,
 * the ceiling of what Node itself can fan out. Wire format: src/sim/protocols/net.ts.
 *
 *   node --import tsx bench/peers/net.ts --host 127.0.0.1 --port 0 --tick-ms T --width W --height H
 *
 * prints `{"listening": <port>}` once accepting; SIGTERM stops it. Snapshot for the convergence
 * check: a SNAPSHOT request (kind 3) on any connection, answered with the position and the canvas
 * (`snapshot(url)` in src/sim/protocols/net.ts does it); STATS (kind 4) the same way.
 *
 * Fairness (the same tick as Brigade's, --tick-ms, with Brigade's scheduling): edits accumulate;
 * each tick acknowledges them, builds ONE frame (u32 length, u32 first, u32 count, packed edits)
 * and `socket.write`s that same Buffer to every viewer socket. No per-viewer encoding, no
 * WebSocket framing, no cork/uncork (one write per socket per tick). Backpressure: none, as a
 * plain net server does by default: it writes regardless of what is still buffered, and the
 * bytes queued for viewers (sum of socket.writableLength) are reported in STATS, with the peak.
 * Editors are kept cheap: binary EDITS in, binary ACK out at the tick.
 */
import net from 'node:net';
import { BATCH_HEADER_BYTES, FrameReader, NetKind, NetReply, encodeNetReply } from '../../src/sim/protocols/net.ts';
import { PeerError, PlaceLog } from './lib/place-log.ts';
import { runPeer } from './lib/run.ts';
import { BufferSampler, type PeerStats } from './lib/stats.ts';
import { PendingEdits, startTicker } from './lib/tick.ts';

interface Conn {
  sock: net.Socket;
  reader: FrameReader;
  viewer: boolean;
  editor: boolean;
  /**
   * Replies owed since the last tick, in request order: an accepted EDITS is acknowledged at the
   * tick, and any reply to a later request waits behind it, so replies never overtake each other.
   */
  owed: (Buffer | { first: number; count: number })[];
}

const ackBody = Buffer.alloc(8);
function ackReply(first: number, count: number): Buffer {
  ackBody.writeUInt32LE(first, 0);
  ackBody.writeUInt32LE(count, 4);
  return encodeNetReply(NetReply.ACK, ackBody);
}

function errorReply(err: PeerError): Buffer {
  return encodeNetReply(NetReply.ERROR, Buffer.from(JSON.stringify(err)));
}

await runPeer('net', async (config) => {
  const log = new PlaceLog(config);
  const size = log.codec.eventSize;
  const pending = new PendingEdits<Conn>(size);
  const viewers = new Set<net.Socket>();
  const conns = new Set<Conn>();
  let editors = 0;
  let fanouts = 0;
  let viewerMessages = 0;

  const buffered = () => {
    let n = 0;
    for (const s of viewers) n += s.writableLength;
    return n;
  };
  const sampler = new BufferSampler(buffered, config.sampleMs);
  const stats = (): PeerStats => ({
    server: 'net', pid: process.pid, position: log.position, viewers: viewers.size, editors, fanouts, viewerMessages,
    bufferedBytes: sampler.sample(), peakBufferedBytes: sampler.peak, peakAtMs: sampler.peakAtMs,
  });

  const reply = (c: Conn, bytes: Buffer) => {
    if (c.owed.length > 0) c.owed.push(bytes);
    else c.sock.write(bytes);
  };

  const onMessage = (c: Conn, buf: Buffer, start: number, len: number) => {
    if (c.viewer) {
      // A viewer's stream carries batch frames only, so there is no way to answer it: close.
      c.sock.destroy();
      return;
    }
    if (len === 0) return reply(c, errorReply(new PeerError('MALFORMED', 'empty message: a message is u8 kind + body')));
    const kind = buf[start];
    if (kind === NetKind.EDITS) {
      const edits = buf.subarray(start + 1, start + len);
      let first: number;
      try {
        first = log.acceptPacked(edits);
      } catch (err) {
        if (err instanceof PeerError) return reply(c, errorReply(err));
        throw err;
      }
      if (!c.editor) { c.editor = true; editors++; }
      c.owed.push({ first, count: edits.length / size });
      pending.add(first, edits, c);
      return;
    }
    if (len !== 1) return reply(c, errorReply(new PeerError('MALFORMED', `kind ${kind} takes no body, got ${len - 1} bytes`)));
    if (kind === NetKind.VIEW) {
      if (c.owed.length > 0) return reply(c, errorReply(new PeerError('NOT_ALLOWED', 'VIEW while EDITS await their ACK; use a connection of its own')));
      c.viewer = true;
      if (c.editor) { c.editor = false; editors--; }
      viewers.add(c.sock);
      // The empty batch tells the viewer where it starts: the next batch's first position.
      const hello = Buffer.allocUnsafe(BATCH_HEADER_BYTES);
      hello.writeUInt32LE(8, 0);
      hello.writeUInt32LE(pending.nextToSend, 4);
      hello.writeUInt32LE(0, 8);
      c.sock.write(hello);
    } else if (kind === NetKind.SNAPSHOT) {
      const head = Buffer.allocUnsafe(12);
      head.writeUInt32LE(log.position, 0);
      head.writeUInt32LE(config.width, 4);
      head.writeUInt32LE(config.height, 8);
      reply(c, encodeNetReply(NetReply.SNAPSHOT, Buffer.concat([head, log.canvas])));
    } else if (kind === NetKind.STATS) {
      reply(c, encodeNetReply(NetReply.STATS, Buffer.from(JSON.stringify(stats()))));
    } else {
      reply(c, errorReply(new PeerError('UNKNOWN_KIND', `unknown message kind ${kind}; kinds are VIEW 1, EDITS 2, SNAPSHOT 3, STATS 4`)));
    }
  };

  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const c: Conn = { sock, reader: new FrameReader(config.maxMessageBytes), viewer: false, editor: false, owed: [] };
    conns.add(c);
    let lost = false;
    sock.on('data', (chunk: Buffer) => {
      if (lost) return;
      const err = c.reader.push(chunk, (buf, start, len) => onMessage(c, buf, start, len));
      if (err) {
        // The framing is lost: say why, then close once that is written.
        lost = true;
        sock.end(errorReply(new PeerError('TOO_LARGE', `${err} (--max-message-bytes)`)), () => sock.destroy());
      }
    });
    sock.on('error', () => { /* reset by the peer: 'close' follows */ });
    sock.on('close', () => {
      conns.delete(c);
      viewers.delete(sock);
      if (c.editor) editors--;
      c.editor = false;
    });
  });

  const tick = () => {
    const b = pending.take(BATCH_HEADER_BYTES);
    if (!b) return;
    // Acknowledge first, as Brigade does: an editor hears "accepted" before the fan-out.
    for (const a of b.acks) {
      const c = a.to;
      if (c.owed.length === 0) continue; // this connection's replies went out with an earlier entry
      for (const r of c.owed) c.sock.write(Buffer.isBuffer(r) ? r : ackReply(r.first, r.count));
      c.owed = [];
    }
    const frame = b.frame;
    frame.writeUInt32LE(8 + b.count * size, 0);
    frame.writeUInt32LE(b.first, 4);
    frame.writeUInt32LE(b.count, 8);
    for (const s of viewers) s.write(frame);
    fanouts++;
    viewerMessages += viewers.size;
  };
  const stopTicker = startTicker(config.tickMs, tick);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      stopTicker();
      sampler.stop();
      server.close();
      for (const c of conns) c.sock.destroy();
    },
  };
});
