import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { BrigadeClient, type InboxItem } from '../../../src/sdk/index.ts';
import { BodyEncoding, decodeServerFrame, encodeClientFrame, type ServerFrame } from '../../../src/protocol/index.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';
import { eventually } from '../../helpers/eventually.ts';
import { inboxApi } from './inbox-api.ts';
import '../../../src/apps/inbox/errors.ts'; // so the client names INBOX_* codes

const KEY = 'test-publisher-key-0123456789';
let server: ServerProcess;

before(async () => {
  server = await startServer(['--apps', 'inbox', '--inbox-publisher-key', KEY, '--inbox-max-title-bytes', '32',
    '--inbox-publish-per-second', '50', '--inbox-device-ttl', '1h']);
});
after(async () => {
  await server.stop();
  server.cleanup();
});

const call = inboxApi(() => server.url, KEY);

test('devices: register, self-update with the device token, forged and unknown tokens', async () => {
  const r = await call('POST', '/api/inbox/devices', { groups: ['sports'], attributes: { country: 'FR', age: 30 } }, null);
  assert.equal(r.status, 201);
  assert.match(r.json.id, /^[0-9a-f]{16}$/);
  assert.match(r.json.token, new RegExp(`^${r.json.id}\\.`));
  const me = await call('GET', '/api/inbox/devices/me', undefined, r.json.token);
  assert.equal(me.status, 200);
  assert.deepEqual(me.json.groups, ['sports']);
  const upd = await call('PATCH', '/api/inbox/devices/me', { groups: ['sports', 'news'] }, r.json.token);
  assert.equal(upd.status, 200);
  assert.deepEqual(upd.json.groups, ['sports', 'news']);
  assert.deepEqual(upd.json.attributes, { country: 'FR', age: 30 });
  const forged = r.json.token.slice(0, -2) + (r.json.token.endsWith('AA') ? 'BB' : 'AA');
  assert.equal((await call('PATCH', '/api/inbox/devices/me', { groups: [] }, forged)).json.code, 'INBOX_BAD_DEVICE_TOKEN');
  assert.equal((await call('GET', '/api/inbox/devices/me', undefined, 'garbage')).status, 401);
  assert.equal((await call('GET', '/api/inbox/devices/me', undefined, null)).status, 401);
  const bad = await call('POST', '/api/inbox/devices', { groups: ['has space'] }, null);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'INBOX_BAD_REQUEST');
});

test('bulk registration: the publisher key registers many devices at once; one bad profile registers none', async () => {
  const devices = [{ groups: ['bulk'], attributes: { n: 1 } }, { groups: ['bulk'], attributes: { n: 2 } }, { groups: ['bulk', 'more'] }];
  assert.equal((await call('POST', '/api/inbox/devices/bulk', { devices }, null)).json.code, 'INBOX_BAD_KEY');
  const bad = await call('POST', '/api/inbox/devices/bulk', { devices: [...devices, { groups: ['has space'] }] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'INBOX_BAD_REQUEST');
  assert.match(bad.json.message, /devices\[3\]/);
  assert.equal((await call('POST', '/api/inbox/devices/bulk', { devices: [] })).json.code, 'INBOX_BAD_REQUEST');
  assert.equal((await call('POST', '/api/inbox/expressions/check', { to: 'group:bulk' })).json.matching, 0, 'nothing registered by the refused request');
  const r = await call('POST', '/api/inbox/devices/bulk', { devices });
  assert.equal(r.status, 201);
  assert.equal(r.json.ids.length, 3);
  assert.equal(new Set(r.json.ids).size, 3);
  const me = await call('GET', '/api/inbox/devices/me', undefined, r.json.tokens[2]);
  assert.equal(me.json.id, r.json.ids[2]);
  assert.deepEqual(me.json.groups, ['bulk', 'more']);
  assert.equal((await call('POST', '/api/inbox/expressions/check', { to: 'group:bulk and n >= 2' })).json.matching, 1);
});

test('publisher API: key, expressions/check, publish, edit, recall, get, typed refusals', async () => {
  // Key.
  assert.equal((await call('POST', '/api/inbox/messages', { to: 'all', title: 't' }, null)).json.code, 'INBOX_BAD_KEY');
  assert.equal((await call('POST', '/api/inbox/messages', { to: 'all', title: 't' }, 'wrong')).status, 401);
  // Check: parse + count of active matching devices.
  await call('POST', '/api/inbox/devices', { groups: ['chk'], attributes: { n: 1 } }, null);
  await call('POST', '/api/inbox/devices', { groups: ['chk'], attributes: { n: 2 } }, null);
  const chk = await call('POST', '/api/inbox/expressions/check', { to: 'group:chk and n >= 2' });
  assert.equal(chk.status, 200);
  assert.equal(chk.json.matching, 1);
  assert.equal(chk.json.expression, 'group:chk and n >= 2');
  const badExpr = await call('POST', '/api/inbox/expressions/check', { to: 'group:chk and (n >= ' });
  assert.equal(badExpr.status, 400);
  assert.equal(badExpr.json.code, 'INBOX_BAD_EXPRESSION');
  assert.equal(badExpr.json.position, 20);
  assert.match(badExpr.json.expected, /a value/);
  // Publish.
  const p = await call('POST', '/api/inbox/messages', { to: 'group:chk', title: 'hello', body: 'b', data: { x: 1 } });
  assert.equal(p.status, 201);
  assert.match(p.json.id, /^[0-9a-f]{16}$/);
  assert.ok(p.json.seq >= 1);
  const g = await call('GET', `/api/inbox/messages/${p.json.id}`);
  assert.equal(g.status, 200);
  assert.equal(g.json.title, 'hello');
  assert.equal(g.json.status, 'live');
  assert.equal(g.json.recalled, false);
  // Edit.
  const e = await call('PATCH', `/api/inbox/messages/${p.json.id}`, { title: 'hello again' });
  assert.equal(e.status, 200);
  assert.ok(e.json.seq > p.json.seq);
  assert.equal((await call('GET', `/api/inbox/messages/${p.json.id}`)).json.title, 'hello again');
  // Refusals: bad expression, over-limit title (32 bytes here), data, schedule, unknown id.
  const cases: [unknown, number, string][] = [
    [{ to: 'group:', title: 't' }, 400, 'INBOX_BAD_EXPRESSION'],
    [{ to: 'all', title: 'x'.repeat(33) }, 413, 'INBOX_TOO_LARGE'],
    [{ to: 'all', title: 't', data: { big: 'x'.repeat(5000) } }, 413, 'INBOX_TOO_LARGE'],
    [{ to: 'all', title: 't', deliverAt: Date.now() - 3_600_000 }, 400, 'INBOX_BAD_SCHEDULE'],
    [{ to: 'all', title: 't', deliverAt: Date.now() + 3 * 365 * 86_400_000 }, 400, 'INBOX_BAD_SCHEDULE'],
    [{ to: 'all', title: 't', expiresAt: Date.now() - 3_600_000 }, 400, 'INBOX_BAD_SCHEDULE'],
    [{ to: 'all' }, 400, 'INBOX_BAD_REQUEST'],
  ];
  for (const [body, status, code] of cases) {
    const r = await call('POST', '/api/inbox/messages', body);
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
    assert.equal(r.json.code, code, JSON.stringify(body).slice(0, 80));
  }
  assert.equal((await call('GET', '/api/inbox/messages/0000000000000000')).status, 404);
  assert.equal((await call('PATCH', '/api/inbox/messages/0000000000000000', { title: 'x' })).json.code, 'INBOX_UNKNOWN_MESSAGE');
  assert.equal((await call('DELETE', '/api/inbox/messages/nothex')).status, 404);
  // Recall; then it cannot change any more.
  const d = await call('DELETE', `/api/inbox/messages/${p.json.id}`);
  assert.equal(d.status, 200);
  const after = await call('GET', `/api/inbox/messages/${p.json.id}`);
  assert.equal(after.json.status, 'recalled');
  assert.equal(after.json.recalled, true);
  assert.equal((await call('PATCH', `/api/inbox/messages/${p.json.id}`, { title: 'x' })).status, 409);
  // Scheduled: delivered at its time by the tick (once), expires at its time.
  const s = await call('POST', '/api/inbox/messages', { to: 'all', title: 'later', deliverAt: Date.now() + 500, expiresAt: Date.now() + 1500 });
  assert.equal(s.json.status, 'scheduled');
  await eventually(async () => (await call('GET', `/api/inbox/messages/${s.json.id}`)).json.status === 'live', { what: 'scheduled delivery' });
  await eventually(async () => (await call('GET', `/api/inbox/messages/${s.json.id}`)).json.status === 'expired', { what: 'expiry' });
});

test('bad input changes nothing: refused publishes, edits and device updates leave the world as it was', async () => {
  const live = async () => JSON.stringify((await call('GET', '/api/inbox/messages')).json.map((m: any) => [m.id, m.seq, m.title]));
  const d = (await call('POST', '/api/inbox/devices', { groups: ['bad-in'], attributes: { age: 30 } }, null)).json;
  const m = (await call('POST', '/api/inbox/messages', { to: 'group:bad-in', title: 'keep' })).json;
  const before = await live();
  const refusals: [string, string, unknown, string | null, number, string][] = [
    ['POST', '/api/inbox/messages', { to: 'all', title: 't', body: 'x'.repeat(4097) }, KEY, 413, 'INBOX_TOO_LARGE'],
    ['POST', '/api/inbox/messages', { to: 'all', title: 't', expiresAt: Date.now() + 60_000, deliverAt: Date.now() + 120_000 }, KEY, 400, 'INBOX_BAD_SCHEDULE'],
    ['POST', '/api/inbox/messages', { to: 'all', title: 't', deliverAt: 'not a date' }, KEY, 400, 'INBOX_BAD_SCHEDULE'],
    ['POST', '/api/inbox/messages', { to: 'group:x and', title: 't' }, KEY, 400, 'INBOX_BAD_EXPRESSION'],
    ['POST', '/api/inbox/messages', { to: 'all', title: 't' }, null, 401, 'INBOX_BAD_KEY'],
    ['POST', '/api/inbox/messages', { to: 'all', title: 't' }, KEY + 'x', 401, 'INBOX_BAD_KEY'],
    ['POST', '/api/inbox/messages', [1, 2], KEY, 400, 'INBOX_BAD_REQUEST'],
    ['PATCH', `/api/inbox/messages/${m.id}`, { title: 'x'.repeat(33) }, KEY, 413, 'INBOX_TOO_LARGE'],
    ['PATCH', `/api/inbox/messages/${m.id}`, { to: 'group:(' }, KEY, 400, 'INBOX_BAD_EXPRESSION'],
    ['PATCH', `/api/inbox/messages/${m.id}`, { title: 'ok', deliverAt: Date.now() }, KEY, 400, 'INBOX_BAD_REQUEST'],
    ['PATCH', `/api/inbox/messages/${m.id}`, { expiresAt: Date.now() - 3_600_000 }, KEY, 400, 'INBOX_BAD_SCHEDULE'],
    ['PATCH', `/api/inbox/messages/${m.id}`, { title: 'x' }, null, 401, 'INBOX_BAD_KEY'],
    ['DELETE', `/api/inbox/messages/${m.id}`, undefined, 'wrong-key', 401, 'INBOX_BAD_KEY'],
    ['PATCH', '/api/inbox/devices/me', { groups: ['ok', 'not ok'] }, d.token, 400, 'INBOX_BAD_REQUEST'],
    ['PATCH', '/api/inbox/devices/me', { attributes: { age: { deep: 1 } } }, d.token, 400, 'INBOX_BAD_REQUEST'],
    ['PATCH', '/api/inbox/devices/me', { attributes: { and: 1 } }, d.token, 400, 'INBOX_BAD_REQUEST'],
    ['PATCH', '/api/inbox/devices/me', { groups: Array.from({ length: 300 }, (_, i) => `g${i}`) }, d.token, 413, 'INBOX_TOO_LARGE'],
    ['PATCH', '/api/inbox/devices/me', { attributes: { s: 'x'.repeat(300) } }, d.token, 413, 'INBOX_TOO_LARGE'],
    ['PATCH', '/api/inbox/devices/me', { groups: [] }, `${d.id}.${'A'.repeat(43)}`, 401, 'INBOX_BAD_DEVICE_TOKEN'],
  ];
  for (const [method, path, body, auth, status, code] of refusals) {
    const r = await call(method, path, body, auth);
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 60)}`);
    assert.equal(r.json.code, code, `${method} ${path} ${JSON.stringify(body)?.slice(0, 60)}`);
    assert.equal(typeof r.json.message, 'string');
  }
  assert.equal(await live(), before, 'no message was added or changed');
  assert.equal((await call('GET', `/api/inbox/messages/${m.id}`)).json.title, 'keep');
  const me = (await call('GET', '/api/inbox/devices/me', undefined, d.token)).json;
  assert.deepEqual([me.groups, me.attributes], [['bad-in'], { age: 30 }], 'the device is as it was');
});

test('rate limit: a flooding publisher gets 429 RATE_LIMITED with Retry-After; nothing lost before it', async () => {
  let limited: Response | null = null;
  // Bursts of 50 at once: however slow the machine, a burst arrives faster than the bucket refills.
  for (let burst = 0; burst < 6 && !limited; burst++) {
    const answers = await Promise.all(Array.from({ length: 50 }, () =>
      fetch(server.url + '/api/inbox/messages/0000000000000000', { headers: { authorization: `Bearer ${KEY}` } })));
    for (const res of answers) {
      if (res.status === 429 && !limited) limited = res;
      else await res.arrayBuffer();
    }
  }
  assert.ok(limited, 'no 429 after 300 requests');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal(((await limited.json()) as { code: string }).code, 'RATE_LIMITED');
  await eventually(async () => (await call('GET', '/api/inbox/messages')).status === 200, { what: 'the bucket refills' });
});

async function identity(): Promise<string> {
  const res = await fetch(server.url + '/api/identity', { method: 'POST' });
  return ((await res.json()) as { token: string }).token;
}

function collect(items: InboxItem[], it: AsyncIterable<InboxItem>): void {
  void (async () => {
    for await (const item of it) items.push(item);
  })();
}

test('delivery: only the matching device gets a message; an edit and a recall reach it; a device offline gets what it missed', async () => {
  await eventually(async () => (await call('GET', '/api/inbox/messages')).status === 200, { what: 'the bucket refills' });
  const a = (await call('POST', '/api/inbox/devices', { groups: ['dlv-a'], attributes: { age: 20 } }, null)).json;
  const b = (await call('POST', '/api/inbox/devices', { groups: ['dlv-b'], attributes: { age: 20 } }, null)).json;
  const opts = { WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 200 } };
  const ca = new BrigadeClient(server.wsUrl, { ...opts, token: await identity() });
  const cb = new BrigadeClient(server.wsUrl, { ...opts, token: await identity() });
  await ca.ready();
  await cb.ready();
  const ia = ca.inbox(a.token);
  const ib = cb.inbox(b.token);
  const got: InboxItem[] = [];
  const gotB: InboxItem[] = [];
  collect(got, ia);
  collect(gotB, ib);
  await eventually(() => ia.cursor.epoch !== 0 && ib.cursor.epoch !== 0, { what: 'both synced' });
  const m = (await call('POST', '/api/inbox/messages', { to: 'group:dlv-a and age >= 18', title: 'for a', body: 'hi' })).json;
  await eventually(() => got.find((i) => i.kind === 'message' && i.message.id === m.id), { what: 'a gets the message' });
  await call('PATCH', `/api/inbox/messages/${m.id}`, { body: 'edited' });
  await eventually(() => got.find((i) => i.kind === 'edit' && i.message.body === 'edited'), { what: 'a gets the edit' });
  await call('DELETE', `/api/inbox/messages/${m.id}`);
  await eventually(() => got.find((i) => i.kind === 'recall' && i.message.id === m.id), { what: 'a gets the recall' });
  // A marker for b proves b got nothing of a's message.
  const mb = (await call('POST', '/api/inbox/messages', { to: `device:${b.id}`, title: 'for b' })).json;
  await eventually(() => gotB.find((i) => i.message.id === mb.id), { what: 'b gets its own' });
  assert.equal(gotB.filter((i) => i.message.id === m.id).length, 0, 'b never saw a\'s message');
  assert.equal(got.filter((i) => i.message.id === mb.id).length, 0, 'a never saw b\'s message');

  // a goes offline; meanwhile one message arrives, one is edited into not matching, one recalled.
  const keep = (await call('POST', '/api/inbox/messages', { to: 'group:dlv-a', title: 'kept' })).json;
  const unmatch = (await call('POST', '/api/inbox/messages', { to: 'group:dlv-a', title: 'unmatched later' })).json;
  await eventually(() => got.find((i) => i.message.id === unmatch.id), { what: 'a holds both' });
  const cursor = structuredClone(ia.cursor);
  ia.close();
  ca.close();
  const missed = (await call('POST', '/api/inbox/messages', { to: 'group:dlv-a', title: 'missed' })).json;
  await call('PATCH', `/api/inbox/messages/${unmatch.id}`, { to: 'group:nobody' });
  await call('PATCH', `/api/inbox/messages/${keep.id}`, { title: 'kept, edited' });
  const ca2 = new BrigadeClient(server.wsUrl, { ...opts, token: await identity() });
  await ca2.ready();
  const ia2 = ca2.inbox(a.token, { load: () => cursor });
  const got2: InboxItem[] = [];
  collect(got2, ia2);
  await eventually(() => got2.find((i) => i.kind === 'message' && i.message.id === missed.id), { what: 'the missed message' });
  await eventually(() => got2.find((i) => i.kind === 'edit' && i.message.id === keep.id && i.message.title === 'kept, edited'), { what: 'the missed edit' });
  await eventually(() => got2.find((i) => i.kind === 'recall' && i.message.id === unmatch.id), { what: 'the unmatched one leaves' });
  assert.equal(got2.filter((i) => i.message.id === m.id).length, 0, 'the recalled one is not sent again');
  assert.ok(!('' + Object.keys(ia2.cursor.held)).includes(unmatch.id));
  // Read counts reach GET.
  ia2.markRead(missed.id);
  await eventually(async () => {
    const r = (await call('GET', `/api/inbox/messages/${missed.id}`)).json;
    return r.delivered >= 1 && r.read === 1;
  }, { what: 'delivered and read counts' });
  ia2.close();
  ia.close();
  ib.close();
  ca2.close();
  cb.close();
});

/** A device over a plain `ws` socket, keeping the raw bytes of every PUSH frame it is sent. */
async function rawDevice(deviceToken: string, sync = true) {
  const ws = new WebSocket(`${server.wsUrl}?token=${encodeURIComponent(await identity())}`);
  const pushes: Buffer[] = [];
  const waiting = new Map<number, (f: ServerFrame) => void>();
  ws.on('message', (data: Buffer) => {
    const f = decodeServerFrame(data);
    if (f.kind === 'push') pushes.push(Buffer.from(data));
    else if (f.kind === 'reply' || f.kind === 'error') waiting.get(f.requestId)?.(f);
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let nextId = 1;
  const request = (kind: string, body: unknown) => new Promise<any>((resolve, reject) => {
    const requestId = nextId++;
    waiting.set(requestId, (f) => (f.kind === 'reply' ? resolve(JSON.parse(new TextDecoder().decode(f.body))) : reject(f)));
    ws.send(encodeClientFrame({ kind: 'request', requestId, requestKind: kind, encoding: BodyEncoding.JSON, body: new TextEncoder().encode(JSON.stringify(body)) }));
  });
  if (sync) {
    await request('inbox.hello', { token: deviceToken });
    await request('inbox.sync', { token: deviceToken, epoch: 0, seq: 0 });
  }
  const items = () => pushes.map((b) => {
    const f = decodeServerFrame(b);
    return f.kind === 'push' ? { topic: f.topic, ...JSON.parse(new TextDecoder().decode(f.body)) } : null;
  });
  return { ws, pushes, request, items };
}

test('delivery: one PUSH frame per change of a message, byte for byte the same for every device it reaches, none for a device it does not match', async () => {
  const [a, b, c] = await Promise.all([['pf', 'x'], ['pf'], ['pf-not']].map(async (groups) => (await call('POST', '/api/inbox/devices', { groups }, null)).json));
  const [da, db, dc] = await Promise.all([a, b, c].map((d) => rawDevice(d.token)));
  for (const d of [da, db, dc]) await eventually(() => d.items().some((i) => i.kind === 'sync'), { what: 'synced' });
  const before = [da, db, dc].map((d) => d.pushes.length);
  const m = (await call('POST', '/api/inbox/messages', { to: 'group:pf', title: 'shared', body: 'the same bytes' })).json;
  const frameOf = (d: typeof da, kind: string) => d.pushes.slice(before[[da, db, dc].indexOf(d)]).find((buf) => {
    const f = decodeServerFrame(buf);
    return f.kind === 'push' && JSON.parse(new TextDecoder().decode(f.body)).kind === kind;
  });
  const fa = await eventually(() => frameOf(da, 'message'), { what: 'A gets the message' });
  const fb = await eventually(() => frameOf(db, 'message'), { what: 'B gets the message' });
  // Nothing in the frame names the device: the same WebSocket message went to both.
  assert.ok(fa.equals(fb), 'identical bytes');
  const item = da.items().find((i) => i?.kind === 'message' && i.message.id === m.id);
  assert.equal(item.topic, 'inbox');
  assert.equal(item.seq, m.seq);
  assert.equal(item.message.title, 'shared');
  // An edit: one new frame, again the same for both; a recall likewise.
  await call('PATCH', `/api/inbox/messages/${m.id}`, { title: 'shared, edited' });
  const ea = await eventually(() => frameOf(da, 'edit'), { what: 'A gets the edit' });
  assert.ok(ea.equals(await eventually(() => frameOf(db, 'edit'), { what: 'B gets the edit' })));
  await call('DELETE', `/api/inbox/messages/${m.id}`);
  const ra = await eventually(() => frameOf(da, 'recall'), { what: 'A gets the recall' });
  assert.ok(ra.equals(await eventually(() => frameOf(db, 'recall'), { what: 'B gets the recall' })));
  // C matches none of it: a marker to every device, then C has had its chance and got nothing else.
  const marker = (await call('POST', '/api/inbox/messages', { to: 'group:pf-not or group:pf', title: 'marker' })).json;
  await eventually(() => dc.items().some((i) => i?.message?.id === marker.id), { what: 'C gets the marker' });
  assert.deepEqual(dc.items().slice(before[2]).map((i) => i?.message?.id), [marker.id]);
  // No device subscribes to anything: the old per-device channel is no channel at all.
  const other = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never, token: await identity() });
  await other.ready();
  const err = await new Promise<{ code: string }>((resolve) => other.subscribe(`inbox:device:${a.id}`, { onBatch() {}, onError: resolve }, { mode: 'head' }));
  assert.equal(err.code, 'UNKNOWN_CHANNEL');
  other.close();
  for (const d of [da, db, dc]) d.ws.close();
});

test('delivery: only the connection that said hello with the device token gets its items; the inbox channels are closed to clients', async () => {
  const a = (await call('POST', '/api/inbox/devices', { groups: ['own'] }, null)).json;
  const thief = await rawDevice(a.token, false);
  await assert.rejects(thief.request('inbox.hello', { token: a.token.slice(0, -1) + (a.token.endsWith('x') ? 'y' : 'x') }), (f: any) => f.code === 'INBOX_BAD_DEVICE_TOKEN');
  // A sync without the hello that binds the device to this connection's identity is refused.
  await assert.rejects(thief.request('inbox.sync', { token: a.token, epoch: 0, seq: 0 }), (f: any) => f.code === 'FORBIDDEN');
  // After a good hello, only the very token it verified skips the signature check at sync: a forged
  // one, or another device's, is refused.
  const b = (await call('POST', '/api/inbox/devices', { groups: ['own'] }, null)).json;
  const helloed = await rawDevice(a.token, false);
  await helloed.request('inbox.hello', { token: a.token });
  await assert.rejects(helloed.request('inbox.sync', { token: a.token.slice(0, -1) + (a.token.endsWith('x') ? 'y' : 'x'), epoch: 0, seq: 0 }), (f: any) => f.code === 'INBOX_BAD_DEVICE_TOKEN');
  await assert.rejects(helloed.request('inbox.sync', { token: b.token, epoch: 0, seq: 0 }), (f: any) => f.code === 'FORBIDDEN');
  helloed.ws.close();
  const owner = await rawDevice(a.token);
  const m = (await call('POST', '/api/inbox/messages', { to: 'group:own', title: 'mine' })).json;
  await eventually(() => owner.items().some((i) => i?.message?.id === m.id), { what: 'the owner gets it' });
  assert.equal(thief.pushes.length, 0, 'nothing pushed to the other connection');
  const c = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never, token: await identity() });
  await c.ready();
  const errors: string[] = [];
  await new Promise<void>((resolve) => {
    c.subscribe('inbox:messages', { onBatch() {}, onError: (e) => { errors.push(e.code); resolve(); } }, { mode: 'head' });
  });
  assert.deepEqual(errors, ['FORBIDDEN']);
  c.close();
  owner.ws.close();
  thief.ws.close();
});

test('after a long idle (the tick sleeps: nothing to do): a publish reaches the connected device, a scheduled one goes out at its time, counts are kept', async () => {
  await eventually(async () => (await call('GET', '/api/inbox/messages')).status === 200, { what: 'the bucket refills' });
  const d = (await call('POST', '/api/inbox/devices', { groups: ['idle'] }, null)).json;
  const c = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never, token: await identity() });
  await c.ready();
  const it = c.inbox(d.token);
  const got: InboxItem[] = [];
  collect(got, it);
  await eventually(() => it.cursor.epoch !== 0, { what: 'synced' });
  for (let round = 0; round < 2; round++) {
    // Many tick intervals with nothing to publish, deliver or expire.
    await new Promise((r) => setTimeout(r, 1500));
    const m = (await call('POST', '/api/inbox/messages', { to: 'group:idle', title: `after idle ${round}` })).json;
    await eventually(() => got.find((i) => i.kind === 'message' && i.message.id === m.id), { what: `round ${round}'s message reaches the device` });
    await eventually(async () => (await call('GET', `/api/inbox/messages/${m.id}`)).json.delivered === 1, { what: `round ${round}'s delivery is counted` });
  }
  await new Promise((r) => setTimeout(r, 1500));
  const s = (await call('POST', '/api/inbox/messages', { to: 'group:idle', title: 'scheduled after idle', deliverAt: Date.now() + 2000 })).json;
  assert.equal(s.status, 'scheduled');
  await eventually(() => got.find((i) => i.kind === 'message' && i.message.id === s.id), { what: 'the scheduled message at its time', timeoutMs: 15_000 });
  assert.equal(got.filter((i) => i.message.id === s.id).length, 1, 'delivered once');
  it.close();
  c.close();
});

test('delivery: a connected device whose groups change gets what it now matches and a recall of what it no longer does; an edit then reaches only the new match', async () => {
  await eventually(async () => (await call('GET', '/api/inbox/messages')).status === 200, { what: 'the bucket refills' });
  const d = (await call('POST', '/api/inbox/devices', { groups: ['rg-old'] }, null)).json;
  const opts = { WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 200 } };
  const c = new BrigadeClient(server.wsUrl, { ...opts, token: await identity() });
  try {
    await c.ready();
    const inbox = c.inbox(d.token);
    const got: InboxItem[] = [];
    collect(got, inbox);
    await eventually(() => inbox.cursor.epoch !== 0, { what: 'synced' });
    const old = (await call('POST', '/api/inbox/messages', { to: 'group:rg-old', title: 'old' })).json;
    const fresh = (await call('POST', '/api/inbox/messages', { to: 'group:rg-new', title: 'new' })).json;
    await eventually(() => got.find((i) => i.kind === 'message' && i.message.id === old.id), { what: 'the old group\'s message' });
    assert.equal((await call('PATCH', '/api/inbox/devices/me', { groups: ['rg-new'] }, d.token)).status, 200);
    await eventually(() => got.find((i) => i.kind === 'message' && i.message.id === fresh.id), { what: 'the new group\'s message' });
    await eventually(() => got.find((i) => i.kind === 'recall' && i.message.id === old.id), { what: 'the recall of the old group\'s message' });
    await eventually(() => inbox.cursor.held[fresh.id] !== undefined && inbox.cursor.held[old.id] === undefined, { what: 'the cursor holds only the new one' });
    // The node's view of what the device holds moved too: an edit of the new one is an edit, the old one's edit is not sent.
    await call('PATCH', `/api/inbox/messages/${old.id}`, { title: 'old, edited' });
    await call('PATCH', `/api/inbox/messages/${fresh.id}`, { title: 'new, edited' });
    await eventually(() => got.find((i) => i.kind === 'edit' && i.message.id === fresh.id && i.message.title === 'new, edited'), { what: 'the edit of the new one' });
    assert.equal(got.filter((i) => i.message.id === old.id && i.kind === 'edit').length, 0, 'no edit of a message the device no longer holds');
    assert.equal(got.filter((i) => i.message.id === fresh.id && i.kind === 'message').length, 1, 'the new one arrived once');
  } finally {
    c.close();
  }
});
