// Web Push to devices that are not connected, against web-push-testing: a local stand-in for a
// browser push service (it issues subscriptions, checks the VAPID JWT, decrypts what it receives
// and keeps it for us to read), run as its own process. Two nodes on Redis, so "once, not once
// per node" and "connected on the other node" are tested too.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import webpush from 'web-push';
import { type BrigadeClient, type Inbox } from '../../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';
import { startRedis, type RedisServer } from '../../helpers/redis-server.ts';
import { freePort } from '../../helpers/free-port.ts';
import { startPushStandIn, type PushStandIn, type StandInSubscription } from '../../helpers/push-stand-in.ts';
import { eventually } from '../../helpers/eventually.ts';
import { metric } from '../../helpers/metrics.ts';

/** A counter summed over both nodes (a labelled counter is absent until its first label set). */
async function total(name: string): Promise<number> {
  let sum = 0;
  for (const node of [a, b]) sum += await metric(node.url, name).catch(() => 0);
  return sum;
}
import { identifiedClient, inboxApi } from './inbox-api.ts';
import '../../../src/apps/inbox/errors.ts';

const KEY = 'test-publisher-key-0123456789';
const vapid = webpush.generateVAPIDKeys();
let redis: RedisServer;
let pushService: PushStandIn;
let a: ServerProcess;
let b: ServerProcess;

before(async () => {
  pushService = await startPushStandIn();
  redis = await startRedis();
  const shared = ['--apps', 'inbox', '--identity-secret', 'shared-secret-for-tests-0123456789', '--inbox-publisher-key', KEY,
    '--inbox-device-secret', 'shared-device-secret-0123456789', '--inbox-publish-per-second', '0',
    '--inbox-vapid-private-key', vapid.privateKey, '--inbox-push-allow-http',
    '--redis', redis.url, '--redis-prefix', 'inboxpush:'];
  a = await startServer(shared);
  b = await startServer(shared);
});
const clients: BrigadeClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await a?.stop();
  await b?.stop();
  a?.cleanup();
  b?.cleanup();
  await redis?.destroy();
  pushService?.stop();
});

const callA = inboxApi(() => a.url, KEY);
const callB = inboxApi(() => b.url, KEY);

/** A browser's subscription, as the stand-in issues it for our applicationServerKey. */
const subscribe = (publicKey: string): Promise<StandInSubscription> => pushService.subscribe(publicKey);
/** What the stand-in received for a subscription, decrypted. */
const received = (sub: StandInSubscription): Promise<any[]> => pushService.received(sub);

async function device(groups: string[]): Promise<{ id: string; token: string }> {
  const r = await callA('POST', '/api/inbox/devices', { groups }, null);
  assert.equal(r.status, 201);
  return r.json;
}

async function connect(node: ServerProcess, token: string): Promise<{ c: BrigadeClient; inbox: Inbox }> {
  const c = await identifiedClient(node);
  clients.push(c);
  const inbox = c.inbox(token, { load: () => null as never, save: () => {} });
  void (async () => { for await (const _ of inbox); })();
  await eventually(() => inbox.cursor.epoch !== 0, { what: 'synced' });
  return { c, inbox };
}

test('Web Push: an offline matching device gets one push per message change from the two nodes; a connected one none; 410 forgets; failures counted', async () => {
  const keyA = (await callA('GET', '/api/inbox/push/key', undefined, null)).json.publicKey;
  assert.equal(keyA, vapid.publicKey, 'the configured VAPID key');
  assert.equal((await callB('GET', '/api/inbox/push/key', undefined, null)).json.publicKey, keyA, 'both nodes push with the same key');

  const off = await device(['p']);
  const on = await device(['p']);
  const other = await device(['q']);
  const gone = await device(['p']);
  const dead = await device(['p']);
  const subs = { off: await subscribe(keyA), on: await subscribe(keyA), other: await subscribe(keyA), gone: await subscribe(keyA) };
  for (const [d, s] of [[off, subs.off], [on, subs.on], [other, subs.other], [gone, subs.gone]] as const) {
    const r = await callA('PUT', '/api/inbox/devices/me/push', { endpoint: s.endpoint, keys: s.keys, expirationTime: null }, d.token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.push, true);
  }
  // A push service that is not there: its pushes fail and are counted.
  const closedPort = await freePort();
  assert.equal((await callB('PUT', '/api/inbox/devices/me/push', { endpoint: `http://127.0.0.1:${closedPort}/push/x`, keys: subs.off.keys }, dead.token)).status, 200);
  for (const d of [off, on, other, gone, dead]) {
    for (const call of [callA, callB]) await eventually(async () => (await call('GET', '/api/inbox/devices/me', undefined, d.token)).json.push === true, { what: 'both nodes know the subscription' });
  }
  // The stand-in's subscription of `gone` expires: its push service answers 410 from now on.
  await pushService.expire(subs.gone);

  // `on` is connected to B; A must know it (presence across nodes) and not push to it.
  const live = await connect(b, on.token);
  await eventually(async () => (await callA('GET', '/api/inbox/devices/me', undefined, on.token)).json.online === true, { what: 'A sees `on` online' });
  assert.equal((await callA('GET', '/api/inbox/devices/me', undefined, off.token)).json.online, false);

  const failedBefore = await total('inbox_push_failed_total');
  const m1 = (await callA('POST', '/api/inbox/messages', { to: 'group:p', title: 'for p', body: 'not in the push' })).json;
  await eventually(async () => (await received(subs.off)).length === 1, { what: 'the push of m1' });
  assert.deepEqual(await received(subs.off), [{ kind: 'message', id: m1.id, seq: m1.seq, title: 'for p' }]);
  // 410: the subscription is forgotten (on both nodes); the failing endpoint is counted.
  await eventually(async () => (await callB('GET', '/api/inbox/devices/me', undefined, gone.token)).json.push === false, { what: '410 forgets' });
  await eventually(async () => (await total('inbox_push_gone_total')) === 1, { what: 'gone counted' });
  await eventually(async () => (await total('inbox_push_failed_total')) === failedBefore + 1, { what: 'the failure counted' });

  // An edit at B: one more push (an edit); a message for `off` alone: one more. Nothing twice.
  const e = (await callB('PATCH', `/api/inbox/messages/${m1.id}`, { title: 'for p, edited' })).json;
  const m2 = (await callB('POST', '/api/inbox/messages', { to: `device:${off.id}`, title: 'just off' })).json;
  await eventually(async () => (await received(subs.off)).length >= 3, { what: 'the edit and m2' });
  assert.deepEqual((await received(subs.off)).sort((x, y) => x.seq - y.seq), [
    { kind: 'message', id: m1.id, seq: m1.seq, title: 'for p' },
    { kind: 'edit', id: m1.id, seq: e.seq, title: 'for p, edited' },
    { kind: 'message', id: m2.id, seq: m2.seq, title: 'just off' },
  ]);

  // `on` leaves: the next message for it is pushed (so its earlier silence was its being connected).
  live.inbox.close();
  live.c.close();
  await eventually(async () => (await callA('GET', '/api/inbox/devices/me', undefined, on.token)).json.online === false, { what: '`on` offline' });
  const m3 = (await callA('POST', '/api/inbox/messages', { to: `device:${on.id}`, title: 'now offline' })).json;
  await eventually(async () => (await received(subs.on)).length === 1, { what: 'the push to `on`' });
  assert.deepEqual(await received(subs.on), [{ kind: 'message', id: m3.id, seq: m3.seq, title: 'now offline' }]);
  assert.deepEqual(await received(subs.other), [], 'a device the expression does not match gets nothing');
  assert.equal(await total('inbox_push_sent_total'), 4);
  assert.equal((await received(subs.off)).length, 3);
});

test('Web Push subscriptions: bad ones are refused with a typed error and change nothing; DELETE stops pushes', async () => {
  const key = (await callA('GET', '/api/inbox/push/key', undefined, null)).json.publicKey;
  const d = await device(['r']);
  const s = await subscribe(key);
  const cases: [unknown, string | null, number, string][] = [
    [{ endpoint: s.endpoint, keys: s.keys }, d.token.slice(0, -2) + 'xx', 401, 'INBOX_BAD_DEVICE_TOKEN'],
    [{ endpoint: s.endpoint, keys: s.keys }, null, 401, 'INBOX_BAD_DEVICE_TOKEN'],
    [{ endpoint: 'ftp://push.example/x', keys: s.keys }, d.token, 400, 'INBOX_BAD_REQUEST'],
    [{ endpoint: 'not a url', keys: s.keys }, d.token, 400, 'INBOX_BAD_REQUEST'],
    [{ endpoint: s.endpoint + 'x'.repeat(2100), keys: s.keys }, d.token, 400, 'INBOX_BAD_REQUEST'],
    [{ endpoint: s.endpoint, keys: { p256dh: s.keys.auth, auth: s.keys.auth } }, d.token, 400, 'INBOX_BAD_REQUEST'],
    [{ endpoint: s.endpoint, keys: { p256dh: s.keys.p256dh, auth: 'AAAA' } }, d.token, 400, 'INBOX_BAD_REQUEST'],
    [{ endpoint: s.endpoint }, d.token, 400, 'INBOX_BAD_REQUEST'],
    [[1, 2], d.token, 400, 'INBOX_BAD_REQUEST'],
  ];
  for (const [body, token, status, code] of cases) {
    const r = await callA('PUT', '/api/inbox/devices/me/push', body, token);
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
    assert.equal(r.json.code, code, JSON.stringify(body).slice(0, 80));
  }
  assert.equal((await callA('GET', '/api/inbox/devices/me', undefined, d.token)).json.push, false, 'nothing changed');
  assert.equal((await callA('PUT', '/api/inbox/devices/me/push', { endpoint: s.endpoint, keys: s.keys }, d.token)).json.push, true);
  const del = await callA('DELETE', '/api/inbox/devices/me/push', undefined, d.token);
  assert.equal(del.status, 200);
  assert.equal(del.json.push, false);
  // A marker device proves the push round ran after the DELETE.
  const marker = await device(['r']);
  const ms = await subscribe(key);
  assert.equal((await callA('PUT', '/api/inbox/devices/me/push', { endpoint: ms.endpoint, keys: ms.keys }, marker.token)).status, 200);
  for (const call of [callA, callB]) await eventually(async () => (await call('GET', '/api/inbox/devices/me', undefined, marker.token)).json.push === true, { what: 'both nodes know the marker' });
  await callA('POST', '/api/inbox/messages', { to: 'group:r', title: 'after delete' });
  await eventually(async () => (await received(ms)).length === 1, { what: 'the marker push' });
  assert.deepEqual(await received(s), [], 'no push after DELETE');
});
