import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { type BrigadeClient, type InboxItem } from '../../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';
import { eventually } from '../../helpers/eventually.ts';
import { identifiedClient, inboxApi } from './inbox-api.ts';
import '../../../src/apps/inbox/errors.ts';

const KEY = 'test-publisher-key-0123456789';
let server: ServerProcess;

before(async () => {
  server = await startServer(['--apps', 'inbox', '--inbox-publisher-key', KEY, '--inbox-unacked-bytes', '2000',
    '--inbox-device-ttl', '6s', '--inbox-publish-per-second', '0']);
});
after(async () => {
  await server.stop();
  server.cleanup();
});

const call = inboxApi(() => server.url, KEY);

const client = (): Promise<BrigadeClient> => identifiedClient(server);

test('ACK throttle: past --inbox-unacked-bytes the node sends one "more" and stops until the device syncs from it', async () => {
  const d = (await call('POST', '/api/inbox/devices', { groups: ['thr'] }, null)).json;
  const ids: string[] = [];
  for (let i = 0; i < 8; i++) ids.push((await call('POST', '/api/inbox/messages', { to: 'group:thr', title: `m${i}`, body: 'x'.repeat(600) })).json.id);
  // A raw device, to see the wire items.
  const c = await client();
  const seen: any[] = [];
  await c.request('inbox.hello', { token: d.token });
  c.onPush('inbox', (body) => seen.push(JSON.parse(new TextDecoder().decode(body))));
  const r = await c.request<{ complete: boolean; after: number }>('inbox.sync', { token: d.token, epoch: 0, seq: 0 });
  assert.equal(r.complete, false);
  const more = await eventually(() => seen.find((i) => i.kind === 'more'), { what: 'a more' });
  const firstRound = seen.filter((i) => i.kind === 'message' || i.kind === 'edit');
  assert.ok(firstRound.length >= 1 && firstRound.length < 8, `sent ${firstRound.length} of 8 before "more"`);
  assert.equal(more.after, firstRound[firstRound.length - 1].seq);
  assert.ok(firstRound.reduce((n, i) => n + JSON.stringify(i).length, 0) <= 2000 + 800, 'about the byte budget');
  // Nothing more is sent while the device does not ack: a message published now waits.
  const late = (await call('POST', '/api/inbox/messages', { to: 'group:thr', title: 'late', body: 'y' })).json;
  const marker = await c.request('inbox.ack', { token: d.token, seq: more.after }); // ack, then check nothing arrived meanwhile
  assert.deepEqual(marker, { ok: true, stalled: true });
  assert.equal(seen.filter((i) => i.message?.id === late.id).length, 0);
  // The device asks for newer than S, round after round, until sync.
  let after = more.after;
  for (let round = 0; round < 10; round++) {
    const before = seen.length;
    await c.request('inbox.sync', { token: d.token, epoch: more.epoch, seq: after });
    const next = await eventually(() => seen.slice(before).find((i) => i.kind === 'more' || i.kind === 'sync'), { what: 'the next round' });
    await c.request('inbox.ack', { token: d.token, seq: next.after ?? next.seq });
    if (next.kind === 'sync') {
      assert.equal(new Set(next.held).size, 9);
      break;
    }
    after = next.after;
  }
  const got = new Set(seen.filter((i) => i.kind === 'message' || i.kind === 'edit').map((i) => i.message.id));
  for (const id of [...ids, late.id]) assert.ok(got.has(id), `got ${id}`);
  c.close();
});

// 6 s, not less: a connected device's last-seen is kept in whole seconds and refreshed about once a
// second, so it can be ~3 s old (docs/inbox.md); a 2 s TTL let a busy CI machine forget the kept one.
test('device TTL: a device not seen for --inbox-device-ttl is forgotten; a connected one is kept', async () => {
  const gone = (await call('POST', '/api/inbox/devices', { groups: ['ttl'] }, null)).json;
  const kept = (await call('POST', '/api/inbox/devices', { groups: ['ttl'] }, null)).json;
  const c = await client();
  const inbox = c.inbox(kept.token);
  const items: InboxItem[] = [];
  void (async () => { for await (const i of inbox) items.push(i); })();
  await eventually(() => inbox.cursor.epoch !== 0, { what: 'synced' });
  assert.equal((await call('POST', '/api/inbox/expressions/check', { to: 'group:ttl' })).json.matching, 2);
  await eventually(async () => (await call('GET', '/api/inbox/devices/me', undefined, gone.token)).json.code === 'INBOX_UNKNOWN_DEVICE', { what: 'forgotten' });
  assert.equal((await call('GET', '/api/inbox/devices/me', undefined, kept.token)).status, 200);
  assert.equal((await call('POST', '/api/inbox/expressions/check', { to: 'group:ttl' })).json.matching, 1);
  assert.equal((await call('PATCH', '/api/inbox/devices/me', { groups: [] }, gone.token)).status, 401);
  inbox.close();
  c.close();
});

test('restart on the same data: devices, messages and the publisher key come back (the world-view is refolded from the log)', async () => {
  const first = await startServer(['--apps', 'inbox']);
  const key = (await import('node:fs')).readFileSync(`${first.dataDir}/inbox-publisher-key`, 'utf8').trim();
  const post = async (node: ServerProcess, path: string, body: unknown, auth?: string) => {
    const res = await fetch(node.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() as any };
  };
  const d = (await post(first, '/api/inbox/devices', { groups: ['r'], attributes: { age: 40 } })).json;
  const m = (await post(first, '/api/inbox/messages', { to: 'group:r', title: 'survives' }, key)).json;
  await first.stop();
  const second = await startServer(['--apps', 'inbox'], { dataDir: first.dataDir });
  try {
    const me = await fetch(second.url + '/api/inbox/devices/me', { headers: { authorization: `Bearer ${d.token}` } });
    assert.equal(me.status, 200);
    assert.deepEqual(((await me.json()) as any).attributes, { age: 40 });
    const got = await fetch(`${second.url}/api/inbox/messages/${m.id}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(((await got.json()) as any).title, 'survives');
    assert.equal((await post(second, '/api/inbox/expressions/check', { to: 'group:r and age > 30' }, key)).json.matching, 1);
  } finally {
    await second.stop();
    first.cleanup();
    const { rmSync } = await import('node:fs');
    rmSync(first.dataDir, { recursive: true, force: true });
  }
});
