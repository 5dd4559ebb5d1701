/**
 * The HTTP edges of issue 20 against a real server process: `POST /api/identity` is limited per
 * client address (--identity-per-minute-per-ip) and checks its body; `HEAD` on the snapshot routes
 * answers like `GET` without the body.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startServer } from '../helpers/server-process.ts';

function mint(url: string, body?: string): Promise<Response> {
  return fetch(`${url}/api/identity`, { method: 'POST', body, headers: body === undefined ? {} : { 'Content-Type': 'application/json' } });
}

/** A raw HTTP request, so that what comes after the headers of a HEAD answer can be seen (fetch hides it). */
function head(port: number, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bodyBytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'HEAD' }, (res) => {
      let bodyBytes = 0;
      res.on('data', (d: Buffer) => { bodyBytes += d.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bodyBytes }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('POST /api/identity', () => {
  it('mints at most --identity-per-minute-per-ip per address, then 429 RATE_LIMITED with Retry-After', async () => {
    const server = await startServer(['--identity-per-minute-per-ip', '3']);
    try {
      const users = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const res = await mint(server.url, i === 1 ? '{}' : undefined);
        assert.equal(res.status, 200, `mint ${i}`);
        users.add(((await res.json()) as { userId: string }).userId);
      }
      assert.equal(users.size, 3, 'three identities');
      const refused = await mint(server.url);
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`);
      const body = (await refused.json()) as { code: string; message: string };
      assert.equal(body.code, 'RATE_LIMITED');
      assert.match(body.message, /identity-per-minute-per-ip/);
    } finally {
      await server.stop();
      server.cleanup();
    }
  });

  it('takes an empty body or a JSON object, and refuses anything else with 400 INVALID_REQUEST', async () => {
    const server = await startServer();
    try {
      for (const ok of [undefined, '', '{}', ' {"note": "hi"} ']) {
        assert.equal((await mint(server.url, ok)).status, 200, `body ${JSON.stringify(ok)}`);
      }
      for (const bad of ['not json', '{"a":', '[1]', '42']) {
        const res = await mint(server.url, bad);
        assert.equal(res.status, 400, `body ${JSON.stringify(bad)}`);
        const body = (await res.json()) as { code: string; message: string };
        assert.equal(body.code, 'INVALID_REQUEST');
        assert.ok(body.message.length > 0);
      }
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
});

describe('HEAD on the snapshot routes', () => {
  it('answers like GET, headers and all, without a body', async () => {
    const server = await startServer();
    try {
      for (const path of ['/api/place/main/snapshot.png', '/api/place/main/snapshot.bin']) {
        const get = await fetch(`${server.url}${path}`);
        assert.equal(get.status, 200);
        const getBytes = (await get.arrayBuffer()).byteLength;
        const h = await head(server.port, path);
        assert.equal(h.status, 200, `HEAD ${path}`);
        assert.equal(h.bodyBytes, 0, 'no body');
        assert.equal(h.headers['x-brigade-version'], get.headers.get('x-brigade-version'));
        assert.equal(h.headers.etag, get.headers.get('etag'));
        assert.equal(h.headers['content-type'], get.headers.get('content-type'));
        assert.equal(Number(h.headers['content-length']), getBytes, 'Content-Length of the GET body');
      }
      assert.equal((await head(server.port, '/api/place/nope/snapshot.png')).status, 404, 'an unknown canvas is still 404');
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
});
