/**
 * Peer (d) of the benchmark: uWebSockets.js (the npm build @trufflesuite/uws-js-unofficial, C++
 * sockets, its own event loop integration) speaking the subset of Brigade's binary protocol
 * (docs/PROTOCOL.md) that the place workload uses, so the simulator drives it with Brigade's own
 * client adapter (src/sim/protocols/uws.ts is src/sim/protocols/brigade.ts under another name)
 * and every viewer receives byte-for-byte the frames Brigade would send.
 *
 *   node --import tsx bench/peers/uws.ts --host 127.0.0.1 --port 0 --tick-ms T --width W --height H
 *
 * prints `{"listening": <port>}` once accepting; SIGTERM stops it. HTTP: POST /api/identity
 * answers a token (any token is accepted: the peer has no identity), GET /snapshot and GET /stats
 * as the other peers (bench/peers/lib/run.ts).
 *
 * Wire (Brigade's): SUBSCRIBE from version = the position (0 on a fresh peer) → SUBSCRIBED; each
 * PUBLISH of one 3-byte edit is acknowledged at the tick with ACK(requestId, position); each
 * tick encodes ONE BATCH frame (channel, u64 first, u32 count, u16 3, edits) and hands it to
 * uWS's own broadcast, `app.publish(channel, frame, true)`: uWS frames it once and writes it to
 * every subscriber, corked. Anything else is refused with an ERROR frame. Backpressure: uWS
 * buffers up to maxBackpressure (set to 64 MiB so nothing is dropped, as raw net buffers
 * without limit); no BEHIND.
 *
 * Fairness: the same tick (bench/peers/lib/tick.ts, Brigade's scheduling), ACKs before the
 * fan-out as Brigade, one write per socket per tick. What uWS does that Brigade cannot from Node
 * is written down in docs/benchmarks-sim.md ("uWS").
 */
import uws from '@trufflesuite/uws-js-unofficial';
import { ClientKind, SubscribeMode } from '../../src/protocol/client-frames.ts';
import { ServerKind } from '../../src/protocol/server-frames.ts';
import { PeerError, PlaceLog } from './lib/place-log.ts';
import { runPeer } from './lib/run.ts';
import { BufferSampler, type PeerStats } from './lib/stats.ts';
import { PendingEdits, startTicker } from './lib/tick.ts';

/** Per-socket user data: uWS keeps it in the socket's own allocation (getUserData). */
interface Conn { viewer: boolean; editor: boolean; owed: number[]; closed: boolean }
type Ws = uws.WebSocket<Conn>;

const ERROR_CODE_MALFORMED = 1;

function ackFrame(requestId: number, version: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  b[0] = ServerKind.ACK;
  b.writeUInt32LE(requestId, 1);
  b.writeUInt32LE(version % 4294967296, 5);
  b.writeUInt32LE(Math.floor(version / 4294967296), 9);
  return b;
}

function errorFrame(requestId: number, message: string): Buffer {
  const msg = Buffer.from(message.slice(0, 1000));
  const b = Buffer.alloc(1 + 4 + 2 + 4 + 1 + msg.length);
  b[0] = ServerKind.ERROR;
  b.writeUInt32LE(requestId, 1);
  b.writeUInt16LE(ERROR_CODE_MALFORMED, 5);
  msg.copy(b, 12);
  return b;
}

function subscribedFrame(requestId: number, channel: Buffer, head: number): Buffer {
  const b = Buffer.alloc(1 + 4 + 1 + channel.length + 4 + 8);
  b[0] = ServerKind.SUBSCRIBED;
  b.writeUInt32LE(requestId, 1);
  b[5] = channel.length;
  channel.copy(b, 6);
  b.writeUInt32LE(head % 4294967296, 10 + channel.length);
  b.writeUInt32LE(Math.floor(head / 4294967296), 14 + channel.length);
  return b;
}

await runPeer('uws', async (config) => {
  const log = new PlaceLog(config);
  const size = log.codec.eventSize;
  const channel = 'place:main';
  const channelBytes = Buffer.from(channel);
  const header = 1 + 1 + channelBytes.length + 8 + 4 + 2;
  const pending = new PendingEdits<Ws>(size);
  let viewers = 0;
  let editors = 0;
  let fanouts = 0;
  let viewerMessages = 0;
  const sockets = new Set<Ws>();

  const buffered = () => {
    let n = 0;
    for (const s of sockets) n += s.getBufferedAmount();
    return n;
  };
  const sampler = new BufferSampler(buffered, config.sampleMs);
  const stats = (): PeerStats => ({
    server: 'uws', pid: process.pid, position: log.position, viewers, editors, fanouts, viewerMessages,
    bufferedBytes: sampler.sample(), peakBufferedBytes: sampler.peak, peakAtMs: sampler.peakAtMs,
  });

  /** Replies are sent in request order: an owed ACK holds back a later reply until the tick. */
  const reply = (ws: Ws, c: Conn, bytes: Buffer) => {
    if (c.owed.length > 0) return; // the peer answers malformed input only; an editor never mixes
    ws.send(bytes, true);
  };

  const onMessage = (ws: Ws, message: ArrayBuffer) => {
    const c = ws.getUserData();
    const m = Buffer.from(message);
    if (m.length < 6) return reply(ws, c, errorFrame(0, `a frame is at least 6 bytes, got ${m.length}`));
    const kind = m[0];
    const requestId = m.readUInt32LE(1);
    const chLen = m[5];
    if (m.length < 6 + chLen || m.toString('latin1', 6, 6 + chLen) !== channel) return reply(ws, c, errorFrame(requestId, `this peer serves channel ${channel} only`));
    let at = 6 + chLen;
    if (kind === ClientKind.PUBLISH) {
      let first: number;
      try {
        first = log.acceptPacked(m.subarray(at));
      } catch (err) {
        if (err instanceof PeerError) return reply(ws, c, errorFrame(requestId, err.message));
        throw err;
      }
      if (!c.editor) { c.editor = true; editors++; }
      c.owed.push(requestId, first);
      // The edit is copied: uWS's message buffer is only valid during this call.
      pending.add(first, Uint8Array.prototype.slice.call(m, at), ws);
    } else if (kind === ClientKind.SUBSCRIBE) {
      const mode = m[at];
      at += 1;
      const from = m.readUInt32LE(at) + m.readUInt32LE(at + 4) * 4294967296;
      if (mode !== SubscribeMode.FROM_VERSION || from !== pending.nextToSend) {
        return reply(ws, c, errorFrame(requestId, `this peer keeps no history: asked to start at ${from}, it is at ${pending.nextToSend}`));
      }
      ws.cork(() => {
        ws.send(subscribedFrame(requestId, channelBytes, pending.nextToSend), true);
        ws.subscribe(channel);
      });
      if (!c.viewer) { c.viewer = true; viewers++; }
    } else {
      reply(ws, c, errorFrame(requestId, `frame kind ${kind} is not served by this peer (SUBSCRIBE and PUBLISH are)`));
    }
  };

  const app = uws.App();
  app.post('/api/identity', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"token":"uws-peer"}');
  });
  app.get('/snapshot', (res) => {
    res.cork(() => {
      res.writeHeader('content-type', 'application/octet-stream')
        .writeHeader('x-position', String(log.position)).writeHeader('x-width', String(config.width)).writeHeader('x-height', String(config.height))
        .end(Buffer.from(log.canvas));
    });
  });
  app.get('/stats', (res) => {
    res.writeHeader('content-type', 'application/json').end(JSON.stringify(stats()));
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('uws peer: POST /api/identity, GET /snapshot, GET /stats, WebSocket /ws\n');
  });
  app.ws<Conn>('/ws', {
    compression: uws.DISABLED,
    maxPayloadLength: config.maxMessageBytes,
    // Viewers send nothing after SUBSCRIBE: no idle timeout, and nothing dropped under load.
    idleTimeout: 0,
    maxBackpressure: 64 * 1024 * 1024,
    closeOnBackpressureLimit: 0,
    sendPingsAutomatically: false,
    upgrade: (res, req, context) => {
      res.upgrade<Conn>({ viewer: false, editor: false, owed: [], closed: false },
        req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => { sockets.add(ws); },
    message: (ws, message, isBinary) => {
      if (!isBinary) { ws.send(errorFrame(0, 'frames are binary'), true); return; }
      onMessage(ws, message);
    },
    close: (ws) => {
      const c = ws.getUserData();
      c.closed = true;
      sockets.delete(ws);
      if (c.viewer) viewers--;
      if (c.editor) editors--;
    },
  });

  const tick = () => {
    const b = pending.take(header);
    if (!b) return;
    // Acknowledge first, as Brigade does; one corked write per editor.
    for (const a of b.acks) {
      const ws = a.to;
      const c = ws.getUserData();
      if (c.closed || c.owed.length === 0) continue;
      const owed = c.owed;
      c.owed = [];
      ws.cork(() => {
        for (let i = 0; i < owed.length; i += 2) ws.send(ackFrame(owed[i], owed[i + 1]), true);
      });
    }
    const f = b.frame;
    let o = 0;
    f[o++] = ServerKind.BATCH;
    f[o++] = channelBytes.length;
    channelBytes.copy(f, o);
    o += channelBytes.length;
    f.writeUInt32LE(b.first % 4294967296, o);
    f.writeUInt32LE(Math.floor(b.first / 4294967296), o + 4);
    f.writeUInt32LE(b.count, o + 8);
    f.writeUInt16LE(size, o + 12);
    app.publish(channel, f, true);
    fanouts++;
    viewerMessages += viewers;
  };
  const stopTicker = startTicker(config.tickMs, tick);

  let listenSocket: uws.us_listen_socket | false = false;
  await new Promise<void>((resolve, reject) => {
    app.listen(config.host, config.port, (s) => {
      listenSocket = s;
      if (s) resolve();
      else reject(new Error(`cannot listen on ${config.host}:${config.port}`));
    });
  });
  return {
    port: uws.us_socket_local_port(listenSocket as unknown as uws.us_listen_socket),
    close() {
      stopTicker();
      sampler.stop();
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      for (const s of sockets) s.end();
    },
  };
});
