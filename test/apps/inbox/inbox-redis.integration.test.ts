import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { identifiedClient } from './inbox-api.ts';
import { type BrigadeClient, type Inbox, type InboxItem } from '../../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';
import { startRedis, type RedisServer } from '../../helpers/redis-server.ts';
import { eventually } from '../../helpers/eventually.ts';
import '../../../src/apps/inbox/errors.ts';

const KEY = 'test-publisher-key-0123456789';
const shared = ['--apps', 'inbox', '--identity-secret', 'shared-secret-for-tests-0123456789', '--inbox-publisher-key', KEY,
  '--inbox-device-secret', 'shared-device-secret-0123456789', '--inbox-publish-per-second', '0'];
let redis: RedisServer;
let a: ServerProcess;
let b: ServerProcess;

before(async () => {
  redis = await startRedis({ appendonly: true });
  const prefix = ['--redis', redis.url, '--redis-prefix', 'inbox2:'];
  a = await startServer([...shared, ...prefix]);
  b = await startServer([...shared, ...prefix]);
});
after(async () => {
  await a.stop();
  await b.stop();
  a.cleanup();
  b.cleanup();
  await redis.destroy();
});

async function call(node: ServerProcess, method: string, path: string, body?: unknown, auth: string | null = KEY): Promise<{ status: number; json: any }> {
  const res = await fetch(node.url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function device(node: ServerProcess, token: string, load?: () => any): Promise<{ c: BrigadeClient; inbox: Inbox; items: InboxItem[] }> {
  const c = await identifiedClient(node);
  const inbox = c.inbox(token, load ? { load } : {});
  const items: InboxItem[] = [];
  void (async () => { for await (const i of inbox) items.push(i); })();
  await eventually(() => inbox.cursor.epoch !== 0, { what: 'synced' });
  return { c, inbox, items };
}

test('two nodes on Redis: published at A, delivered on B; edit at B and recall at A reach it; scheduled once; a device moves nodes with no gap and no duplicate', async () => {
  const d1 = (await call(a, 'POST', '/api/inbox/devices', { groups: ['red'] }, null)).json;
  const d2 = (await call(b, 'POST', '/api/inbox/devices', { groups: ['blue'] }, null)).json;
  // Each node sees the other's registrations (the registry is a shared log).
  await eventually(async () => (await call(b, 'GET', '/api/inbox/devices/me', undefined, d1.token)).status === 200, { what: 'd1 known on B' });
  await eventually(async () => (await call(a, 'GET', '/api/inbox/devices/me', undefined, d2.token)).status === 200, { what: 'd2 known on A' });
  const onB = await device(b, d1.token);
  const onA = await device(a, d2.token);

  const m = (await call(a, 'POST', '/api/inbox/messages', { to: 'group:red', title: 'from A' })).json;
  await eventually(() => onB.items.find((i) => i.kind === 'message' && i.message.id === m.id), { what: 'A→B delivery' });
  await eventually(async () => (await call(b, 'GET', `/api/inbox/messages/${m.id}`)).status === 200, { what: 'B knows the message' });
  await call(b, 'PATCH', `/api/inbox/messages/${m.id}`, { title: 'edited at B' });
  await eventually(() => onB.items.find((i) => i.kind === 'edit' && i.message.title === 'edited at B'), { what: 'the edit' });
  await call(a, 'DELETE', `/api/inbox/messages/${m.id}`);
  await eventually(() => onB.items.find((i) => i.kind === 'recall' && i.message.id === m.id), { what: 'the recall' });

  // Scheduled at A: both nodes tick, one deliver (claims; the fold is idempotent anyway).
  const s = (await call(a, 'POST', '/api/inbox/messages', { to: 'group:red or group:blue', title: 'at its time', deliverAt: Date.now() + 700 })).json;
  await eventually(() => onB.items.find((i) => i.message.id === s.id), { what: 'scheduled on B' });
  await eventually(() => onA.items.find((i) => i.message.id === s.id), { what: 'scheduled on A' });
  const status = (await call(b, 'GET', `/api/inbox/messages/${s.id}`)).json;
  assert.equal(status.status, 'live');
  assert.ok(status.seq === s.seq + 1, `the message changed once, by its deliver (seq ${s.seq} → ${status.seq})`);

  // d1 moves from B to A; meanwhile two messages.
  const cursor = structuredClone(onB.inbox.cursor);
  onB.inbox.close();
  onB.c.close();
  const x = (await call(a, 'POST', '/api/inbox/messages', { to: 'group:red', title: 'while moving 1' })).json;
  const y = (await call(b, 'POST', '/api/inbox/messages', { to: 'group:red', title: 'while moving 2' })).json;
  const moved = await device(a, d1.token, () => cursor);
  await eventually(() => moved.items.find((i) => i.message.id === x.id) && moved.items.find((i) => i.message.id === y.id), { what: 'what it missed' });
  const z = (await call(b, 'POST', '/api/inbox/messages', { to: 'group:red', title: 'after the move' })).json;
  await eventually(() => moved.items.find((i) => i.message.id === z.id), { what: 'live after the move' });
  assert.deepEqual(moved.items.map((i) => `${i.kind}:${i.message.id}`), [`message:${x.id}`, `message:${y.id}`, `message:${z.id}`], 'no gap, no duplicate, nothing old again');
  moved.inbox.close();
  moved.c.close();
  onA.inbox.close();
  onA.c.close();
});
