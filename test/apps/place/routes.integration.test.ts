import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decode } from 'fast-png';
import { DEFAULT_PALETTE, PlaceChannelType, placeRoutes, type CanvasState } from '../../../src/apps/place/index.ts';
import { createRealCore, type RealCore } from '../../helpers/real-core.ts';

const type = new PlaceChannelType({
  canvases: { main: { width: 10, height: 6, palette: [...DEFAULT_PALETTE] } },
  cooldownMs: 1000,
});
const ch = 'place:main';
const codec = type.canvas(ch)!.codec;
// One snapshot kept and no events behind it: storing a snapshot trims the log up to it.
let core: RealCore;
let epoch = 0;
const TOKEN = 'sekrit-token';
let server: Server;
let base = '';

before(async () => {
  core = await createRealCore(type, { retention: { retainEvents: 0, keepSnapshots: 1 } });
  epoch = (await core.hub.view(ch)).epoch;
  const routes = placeRoutes(core.hub, type, { adminToken: TOKEN, pngMinIntervalMs: 0 });
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    for (const r of routes) {
      const m = r.method === req.method ? url.match(r.path) : null;
      if (m) return void r.handle(req, res, m);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await core.close();
});

const admin = (path: string, body: unknown, token = TOKEN) => fetch(`${base}/api/place/main/admin/${path}`, {
  method: 'POST',
  headers: token ? { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } : {},
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

async function liveState(): Promise<CanvasState> {
  return (await core.hub.view<CanvasState>(ch)).state;
}

test('canvases and info describe each canvas', async () => {
  const list = await (await fetch(`${base}/api/place/canvases`)).json();
  assert.deepEqual(list, [{
    name: 'main', width: 10, height: 6, palette: [...DEFAULT_PALETTE], cooldownMs: 1000, eventSize: 2, snapshotEncoding: 'nibbles',
  }]);
  await core.append(ch, [codec.encode(1, 1, 5)], 'alice');
  const info = await (await fetch(`${base}/api/place/main/info?x=1`)).json();
  assert.equal(info.version, 1);
  assert.equal(info.epoch, epoch);
  assert.equal(info.width, 10);
});

test('unknown canvas is a 404 with PLACE_UNKNOWN_CANVAS', async () => {
  const res = await fetch(`${base}/api/place/nope/info`);
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.code, 'PLACE_UNKNOWN_CANVAS');
  assert.match(body.message, /canvases: main/);
  assert.equal((await fetch(`${base}/api/place/%E0%A4%A/snapshot.png`)).status, 404);
});

test('snapshot.png carries version, epoch, ETag and caching headers; 304 on If-None-Match', async () => {
  const res = await fetch(`${base}/api/place/main/snapshot.png`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  const version = (await core.hub.view(ch)).version;
  assert.equal(res.headers.get('x-brigade-version'), String(version));
  assert.equal(res.headers.get('x-brigade-epoch'), String(epoch));
  assert.equal(res.headers.get('etag'), `"${epoch}-${version}"`);
  assert.equal(res.headers.get('cache-control'), 'public, max-age=1');
  assert.match(res.headers.get('access-control-expose-headers')!, /X-Brigade-Version.*X-Brigade-Epoch/);
  const png = decode(new Uint8Array(await res.arrayBuffer()));
  assert.equal(png.width, 10);
  assert.equal(png.data[1 * 5 + 0] & 0x0f, 5); // (1,1): row 1, low nibble of byte 0

  const again = await fetch(`${base}/api/place/main/snapshot.png`, { headers: { 'If-None-Match': `W/"0-1", "${epoch}-${version}"` } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get('x-brigade-version'), String(version));
});

test('snapshot.bin is the encodeSnapshot bytes with size headers', async () => {
  const res = await fetch(`${base}/api/place/main/snapshot.bin`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  assert.equal(res.headers.get('x-canvas-width'), '10');
  assert.equal(res.headers.get('x-canvas-height'), '6');
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert.deepEqual(bytes, type.encodeSnapshot(await liveState()));
});

test('admin routes need the bearer token', async () => {
  for (const token of ['', 'wrong', `${TOKEN}x`]) {
    const res = await admin('erase', { x: 0, y: 0, width: 1, height: 1 }, token);
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.code, 'FORBIDDEN');
    assert.match(body.message, /Authorization: Bearer/);
  }
  // With no token configured the admin API is off, whatever the request says.
  const erase = placeRoutes(core.hub, type, { adminToken: '' }).find((r) => r.path.test('/api/place/main/admin/erase'))!;
  let status = 0;
  let text = '';
  const res = { headersSent: false, writeHead(s: number) { status = s; return this; }, end(t: string) { text = t; } };
  const req = { headers: { authorization: 'Bearer ' } };
  await erase.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse, '/api/place/main/admin/erase'.match(erase.path)!);
  assert.equal(status, 401);
  assert.match(JSON.parse(text).message, /disabled: no admin token/);
});

test('erase writes one admin edit per differing pixel', async () => {
  await core.append(ch, [codec.encode(2, 2, 7), codec.encode(3, 2, 7)], 'bob');
  const head = (await core.hub.view(ch)).version;
  const res = await admin('erase', { x: 2, y: 2, width: 3, height: 2, colour: 0 });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { edits: 2, firstVersion: head });
  const state = await liveState();
  assert.equal(state.pixels[2 * 10 + 2], 0);
  assert.equal(state.pixels[2 * 10 + 3], 0);
  const none = await (await admin('erase', { x: 2, y: 2, width: 3, height: 2 })).json();
  assert.deepEqual(none, { edits: 0, firstVersion: null });
});

test('erase refuses bad bodies with typed 400s', async () => {
  const cases: [unknown, string, RegExp][] = [
    ['{not json', 'PLACE_BAD_EDIT', /not valid JSON/],
    [[1, 2], 'PLACE_BAD_EDIT', /JSON object/],
    [{ x: 0, y: 0, width: 0, height: 1 }, 'PLACE_BAD_EDIT', /width must be an integer >= 1/],
    [{ x: 8, y: 0, width: 3, height: 1 }, 'PLACE_OUT_OF_BOUNDS', /x must stay within 0-9/],
    [{ x: 0, y: 0, width: 1, height: 1, colour: 16 }, 'PLACE_BAD_COLOUR', /colours are 0-15/],
  ];
  for (const [body, code, message] of cases) {
    const res = await admin('erase', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    const json = await res.json();
    assert.equal(json.code, code);
    assert.match(json.message, message);
  }
});

test('rollback undoes one user since a time, keeping later edits by others', async () => {
  await core.snapshot(ch, 5_000_000);
  const snapshotVersion = (await core.hub.view(ch)).version;
  // The snapshot trimmed the log up to itself: rollback replays from it.
  assert.equal(await core.hub.oldestVersion(ch), snapshotVersion);
  await core.append(ch, [codec.encode(5, 5, 9)], 'artist', 5_000_001);
  await core.append(ch, [codec.encode(5, 5, 3), codec.encode(6, 5, 3), codec.encode(7, 5, 3)], 'vandal', 5_000_100);
  await core.append(ch, [codec.encode(6, 5, 12)], 'carol', 5_000_200);
  const head = (await core.hub.view(ch)).version;
  const res = await admin('rollback', { userId: 'vandal', sinceMs: 5_000_050 });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { edits: 2, firstVersion: head });
  const state = await liveState();
  assert.deepEqual([state.pixels[55], state.pixels[56], state.pixels[57]], [9, 12, 0]);
});

test('rollback past the retained log is a 409 saying from when it is possible', async () => {
  // The log starts at the only snapshot (stored at 5_000_000), so nothing before it is reachable.
  const snapshot = (await core.hub.getSnapshot(ch))!;
  assert.equal(await core.hub.getSnapshot(ch, snapshot.version - 1), null);
  assert.ok(snapshot.version > 0);
  assert.equal(await core.hub.oldestVersion(ch), snapshot.version);
  const res = await admin('rollback', { userId: 'vandal', sinceMs: 10 });
  assert.equal(res.status, 409);
  const body = await res.json();
  assert.equal(body.code, 'PLACE_ROLLBACK_TOO_OLD');
  assert.match(body.message, /rollback is possible for sinceMs >= 5000001/);
  const bad = await admin('rollback', { userId: '', sinceMs: 10 });
  assert.equal(bad.status, 400);
});
