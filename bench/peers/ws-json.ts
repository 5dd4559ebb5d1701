/**
 * Peer (b) of the benchmark: the naive `ws` server where the place seed started: every edit, as
 * it arrives, is JSON-encoded and sent to every viewer. Wire format: src/sim/protocols/ws-json.ts.
 *
 *   node --import tsx bench/peers/ws-json.ts --host 127.0.0.1 --port 0 --tick-ms T --width W --height H
 *
 * prints `{"listening": <port>}` once accepting; SIGTERM stops it. Snapshot for the convergence
 * check: GET /snapshot (canvas bytes, X-Position = edits it reflects); GET /stats (PeerStats).
 * --tick-ms is accepted for a uniform command line and not used: this peer has no tick.
 *
 * Fairness: naive on purpose, as the seed's first version was. Per edit: `JSON.stringify({ p, x,
 * y, c })` once, then `ws.send(text)` to every open viewer (the broadcast loop of the ws README).
 * No batching, no pre-framing. The editor is acknowledged (JSON) before the fan-out, as Brigade
 * acknowledges before its fan-out. Backpressure: ws's default, an unbounded queue per socket;
 * the bytes queued (sum of ws.bufferedAmount over viewers) are reported in /stats with the peak.
 * permessage-deflate is off (ws's server default). Messages over --max-message-bytes are closed
 * by ws with 1009.
 */
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { PeerError, PlaceLog } from './lib/place-log.ts';
import { answerHttp, notFound, runPeer } from './lib/run.ts';
import { BufferSampler, type PeerStats } from './lib/stats.ts';

await runPeer('ws-json', async (config) => {
  const log = new PlaceLog(config);
  const viewers = new Set<WebSocket>();
  let editors = 0;
  let fanouts = 0;
  let viewerMessages = 0;

  const buffered = () => {
    let n = 0;
    for (const ws of viewers) n += ws.bufferedAmount;
    return n;
  };
  const sampler = new BufferSampler(buffered, config.sampleMs);
  const stats = (): PeerStats => ({
    server: 'ws-json', pid: process.pid, position: log.position, viewers: viewers.size, editors, fanouts, viewerMessages,
    bufferedBytes: sampler.sample(), peakBufferedBytes: sampler.peak, peakAtMs: sampler.peakAtMs,
  });

  /** Parses and checks {"edits": [[x, y, c], …]}; returns flat [x, y, c, …] or throws PeerError. */
  const parseEdits = (text: string): number[] => {
    let m: unknown;
    try {
      m = JSON.parse(text);
    } catch {
      throw new PeerError('MALFORMED', `not JSON: ${text.slice(0, 60)}`);
    }
    const edits = (m as { edits?: unknown } | null)?.edits;
    if (!Array.isArray(edits) || edits.length === 0) throw new PeerError('MALFORMED', 'expected {"edits": [[x, y, c], …]} with at least one edit');
    const flat: number[] = [];
    edits.forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 3) throw new PeerError('MALFORMED', `edit ${i}: expected [x, y, c], got ${JSON.stringify(e)?.slice(0, 60)}`);
      log.check(e[0], e[1], e[2], i);
      flat.push(e[0], e[1], e[2]);
    });
    return flat;
  };

  const onEditorMessage = (ws: WebSocket, data: Buffer, isBinary: boolean) => {
    let flat: number[];
    try {
      if (isBinary) throw new PeerError('MALFORMED', 'editor messages are JSON text, got a binary message');
      flat = parseEdits(data.toString());
    } catch (err) {
      if (!(err instanceof PeerError)) throw err;
      ws.send(JSON.stringify({ error: err }));
      return;
    }
    const first = log.acceptChecked(flat);
    ws.send(JSON.stringify({ first, count: flat.length / 3 }));
    for (let i = 0, p = first; i < flat.length; i += 3, p++) {
      const text = JSON.stringify({ p, x: flat[i], y: flat[i + 1], c: flat[i + 2] });
      for (const v of viewers) {
        if (v.readyState === WebSocket.OPEN) v.send(text);
      }
      fanouts++;
      viewerMessages += viewers.size;
    }
  };

  const server = http.createServer((req, res) => {
    if (!answerHttp(req, res, log, stats)) notFound(res);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/viewer' && path !== '/editor') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nWebSocket paths are /viewer and /editor\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => { /* 'close' follows */ });
      if (path === '/viewer') {
        viewers.add(ws);
        ws.on('close', () => viewers.delete(ws));
        // Viewers only listen; anything they send is ignored.
        ws.send(JSON.stringify({ hello: log.position }));
      } else {
        editors++;
        ws.on('close', () => { editors--; });
        ws.on('message', (data: Buffer, isBinary: boolean) => onEditorMessage(ws, data, isBinary));
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close() {
      sampler.stop();
      server.close();
      for (const ws of wss.clients) ws.terminate();
    },
  };
});
