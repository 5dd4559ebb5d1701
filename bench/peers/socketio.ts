/**
 * Peer (a) of the benchmark: socket.io 4 broadcasting each batch, the stack of the tracker seed.
 * Wire format (events, payload layout): src/sim/protocols/socketio.ts.
 *
 *   node --import tsx bench/peers/socketio.ts --host 127.0.0.1 --port 0 --tick-ms T --width W --height H
 *
 * prints `{"listening": <port>}` once accepting; SIGTERM stops it. Snapshot for the convergence
 * check: GET /snapshot (canvas bytes, X-Position = edits it reflects); GET /stats (PeerStats).
 *
 * Fairness (the same tick as Brigade's, --tick-ms, with Brigade's scheduling): edits accumulate;
 * each tick acknowledges them (the emit's ack callbacks), then `io.emit('batch', buffer)` once,
 * the buffer being u32 LE first position + the packed edits. socket.io does its own encoding
 * (one text packet naming the event + one binary attachment per viewer), as any socket.io app
 * would. Transports: WebSocket only (no long-polling to upgrade from), permessage-deflate off
 * (the engine.io default). Viewers are the default namespace '/', editors a namespace of their
 * own ('/editor'), so `io.emit` reaches viewers only. Backpressure: socket.io's default, an
 * unbounded queue per client; the bytes queued (engine.io write buffer + ws.bufferedAmount, summed
 * over viewers) are reported in /stats with the peak. Messages over --max-message-bytes close the
 * connection (engine.io's maxHttpBufferSize).
 */
import http from 'node:http';
import { Server, type Socket } from 'socket.io';
import { PeerError, PlaceLog } from './lib/place-log.ts';
import { answerHttp, notFound, runPeer } from './lib/run.ts';
import { BufferSampler, type PeerStats } from './lib/stats.ts';
import { PendingEdits, startTicker } from './lib/tick.ts';

/** Must match SocketIoEvents in src/sim/protocols/socketio.ts (not imported: that pulls in the client). */
const HELLO = 'hello';
const BATCH = 'batch';
const EDITS = 'edits';
const EDITOR_NAMESPACE = '/editor';
/** Emitted to an editor that sent edits without an ack callback, so the refusal is still heard. */
const REFUSED = 'refused';

type Ack = (reply: { first: number; count: number } | { error: PeerError }) => void;

/** Bytes queued for one client: engine.io packets not yet handed to ws, plus what ws holds. */
function queuedBytes(s: Socket): number {
  const conn = s.conn as unknown as { writeBuffer?: { data?: unknown }[]; transport?: { socket?: { bufferedAmount?: number } } };
  let n = conn.transport?.socket?.bufferedAmount ?? 0;
  for (const p of conn.writeBuffer ?? []) {
    const d = p.data;
    n += typeof d === 'string' ? d.length : d instanceof Uint8Array ? d.byteLength : 0;
  }
  return n;
}

await runPeer('socketio', async (config) => {
  const log = new PlaceLog(config);
  const size = log.codec.eventSize;
  const pending = new PendingEdits<Ack>(size);
  let fanouts = 0;
  let viewerMessages = 0;

  const server = http.createServer((req, res) => {
    if (!answerHttp(req, res, log, stats)) notFound(res);
  });
  const io = new Server(server, {
    transports: ['websocket'],
    serveClient: false,
    maxHttpBufferSize: config.maxMessageBytes,
  });
  const viewers = io.of('/');
  const editors = io.of(EDITOR_NAMESPACE);

  const buffered = () => {
    let n = 0;
    for (const s of viewers.sockets.values()) n += queuedBytes(s);
    return n;
  };
  const sampler = new BufferSampler(buffered, config.sampleMs);
  const stats = (): PeerStats => ({
    server: 'socketio', pid: process.pid, position: log.position, viewers: viewers.sockets.size, editors: editors.sockets.size,
    fanouts, viewerMessages, bufferedBytes: sampler.sample(), peakBufferedBytes: sampler.peak, peakAtMs: sampler.peakAtMs,
  });

  viewers.on('connection', (socket) => {
    // The socket is in the namespace now: the next batch reaches it. Tell it where that starts.
    socket.emit(HELLO, pending.nextToSend);
  });
  editors.on('connection', (socket) => {
    socket.on(EDITS, (data: unknown, ack: unknown) => {
      const reply: Ack = typeof ack === 'function' ? (ack as Ack) : (r) => socket.emit(REFUSED, r);
      try {
        if (!(data instanceof Uint8Array)) throw new PeerError('MALFORMED', `edits must be binary (packed edits), got ${typeof data}`);
        if (typeof ack !== 'function') throw new PeerError('MALFORMED', 'edits must be emitted with an ack callback');
        const first = log.acceptPacked(data);
        pending.add(first, data, reply);
      } catch (err) {
        if (!(err instanceof PeerError)) throw err;
        reply({ error: err });
      }
    });
  });

  const tick = () => {
    const b = pending.take(4);
    if (!b) return;
    // Acknowledge first, as Brigade does: an editor hears "accepted" before the fan-out.
    for (const a of b.acks) a.to({ first: a.first, count: a.count });
    b.frame.writeUInt32LE(b.first, 0);
    io.emit(BATCH, b.frame);
    fanouts++;
    viewerMessages += viewers.sockets.size;
  };
  const stopTicker = startTicker(config.tickMs, tick);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close() {
      stopTicker();
      sampler.stop();
      io.close();
    },
  };
});
