/**
 * fetch() for the simulator's own HTTP calls (sign-in, /info, snapshots, /metrics), made from a
 * loopback source address of their own.
 *
 * Why: every viewer socket is bound to a 127.0.0.x source address with an ephemeral port, and Linux
 * never gives a port that has a bound socket (one in TIME_WAIT included) to an unbound connect(). At
 * 100,000 viewers (about 17,000 per address) the viewers' ports cover the whole ephemeral range, so
 * a plain fetch fails with EADDRNOTAVAIL ('fetch failed') for as long as they live, and for a minute
 * after. A socket bound to an address no viewer uses still finds a port, the way the viewers' own do.
 * Non-loopback URLs get no source address.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The bench's own HTTP calls come from here (the editors use 127.0.0.9, viewers 127.0.0.10 and up). */
export const SIM_HTTP_SOURCE = '127.0.0.8';

export interface SimFetchInit {
  method?: 'GET' | 'POST';
  /** A request body (sent as is) and headers. */
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Whole request, ms (default 10 s). */
  timeoutMs?: number;
  /** Source address; default SIM_HTTP_SOURCE for 127.x hosts, none otherwise. */
  localAddress?: string;
}

export function simFetch(url: string, init: SimFetchInit = {}): Promise<Response> {
  const u = new URL(url);
  const localAddress = init.localAddress ?? (/^127\.\d+\.\d+\.\d+$/.test(u.hostname) ? SIM_HTTP_SOURCE : undefined);
  const timeoutMs = init.timeoutMs ?? 10_000;
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { method: init.method ?? 'GET', localAddress, agent: false, headers: init.headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        const headers: Array<[string, string]> = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
        const empty = status === 204 || status === 304;
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers }));
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`${init.method ?? 'GET'} ${url}: no answer in ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(new Error(`${init.method ?? 'GET'} ${url}${localAddress ? ` from ${localAddress}` : ''}: ${err.message}`));
    }
    req.on('error', fail);
    req.end(init.body);
  });
}
