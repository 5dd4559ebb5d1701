/**
 * The lifecycle every peer server shares: parse and validate flags (exit 2 with a one-line
 * reason), start, print exactly one JSON line `{"listening": <port>}` on stdout once accepting,
 * stop on SIGTERM/SIGINT (close the listener, drop every connection, exit 0). Also the HTTP
 * answers of the peers that have an HTTP server (socket.io, ws-json):
 *
 *   GET /snapshot  200, body = the canvas (width*height bytes, row-major, one colour index per
 *                  pixel), headers X-Position (edits it reflects), X-Width, X-Height
 *   GET /stats     200, JSON PeerStats (lib/stats.ts)
 *   anything else  404
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parsePeerArgs, UsageError, type PeerConfig } from './config.ts';
import type { PlaceLog } from './place-log.ts';
import type { PeerStats } from './stats.ts';

export interface StartedPeer {
  port: number;
  /** Closes the listener and every connection. */
  close(): void;
}

export async function runPeer(name: string, start: (config: PeerConfig) => Promise<StartedPeer>): Promise<void> {
  let config: PeerConfig;
  try {
    config = parsePeerArgs(name, process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  let peer: StartedPeer;
  try {
    peer = await start(config);
  } catch (err) {
    process.stderr.write(`${name}: could not start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const stop = () => {
    peer.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ listening: peer.port })}\n`);
}

/** Answers GET /snapshot and GET /stats; returns false for any other request (the caller 404s or passes it on). */
export function answerHttp(req: IncomingMessage, res: ServerResponse, log: PlaceLog, stats: () => PeerStats): boolean {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/snapshot' && path !== '/stats') return false;
  if (req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end(`${path} takes GET, got ${req.method}\n`);
    return true;
  }
  if (path === '/snapshot') {
    // Copy so the body is the canvas at this position even if edits arrive while it is written.
    const body = Buffer.from(log.canvas);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      'x-position': String(log.position),
      'x-width': String(log.config.width),
      'x-height': String(log.config.height),
    }).end(body);
  } else {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats()));
  }
  return true;
}

export function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('peer servers answer GET /snapshot and GET /stats\n');
}
