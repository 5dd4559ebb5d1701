/** Serves the bundled web clients (dist/web) with content types and revalidation. */
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.json': 'application/json', '.map': 'application/json',
  '.ico': 'image/x-icon',
};

/** Pretty paths for the app pages. */
const aliases: Record<string, string> = { '/': '/index.html', '/place': '/place.html', '/tracker': '/tracker.html', '/inbox': '/inbox.html', '/jobs': '/jobs.html', '/choir': '/choir.html' };

export function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://x');
  const rel = aliases[url.pathname] ?? url.pathname;
  const path = normalize(join(root, rel));
  if (!path.startsWith(normalize(root) + sep)) return false;
  let size: number;
  let mtime: Date;
  try {
    const st = statSync(path);
    if (!st.isFile()) return false;
    size = st.size;
    mtime = st.mtime;
  } catch {
    return false;
  }
  const etag = `"${size.toString(16)}-${mtime.getTime().toString(16)}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ETag: etag }).end();
    return true;
  }
  res.writeHead(200, {
    'Content-Type': types[extname(path)] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': 'no-cache',
    ETag: etag,
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(path).pipe(res);
  return true;
}
