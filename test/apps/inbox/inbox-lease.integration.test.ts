/**
 * The device lease (`--inbox-device-lease-ms`): announced in the sync reply; a device that stops
 * acking is no longer pushed to on its node once it lapses (and loses nothing: its next sync
 * brings what it missed); the SDK acks at two thirds of the announced lease (MQTT's keep-alive
 * ratio), so an idle SDK device keeps receiving; an ack after a lapse is answered `stalled`, and an
 * SDK device whose heartbeat came too late syncs from its cursor and gets what it missed.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BrigadeClient, type InboxItem } from '../../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';
import { eventually } from '../../helpers/eventually.ts';
import { identifiedClient, inboxApi } from './inbox-api.ts';

const KEY = 'test-publisher-key-0123456789';
const LEASE_MS = 1500;
let server: ServerProcess;

before(async () => {
  server = await startServer(['--apps', 'inbox', '--inbox-publisher-key', KEY, '--inbox-device-lease-ms', String(LEASE_MS), '--inbox-publish-per-second', '0']);
});
after(async () => {
  await server.stop();
  server.cleanup();
});

const call = inboxApi(() => server.url, KEY);

const client = (): Promise<BrigadeClient> => identifiedClient(server);

test('a short lease: a device that stops acking gets no more pushes (its next sync brings them); the SDK acks at two thirds of the announced lease and keeps receiving', async () => {
  const silent = (await call('POST', '/api/inbox/devices', { groups: ['lease'] }, null)).json;
  const idle = (await call('POST', '/api/inbox/devices', { groups: ['lease'] }, null)).json;
  // A raw device that syncs and then never acks.
  const raw = await client();
  const seen: any[] = [];
  raw.onPush('inbox', (body) => seen.push(JSON.parse(new TextDecoder().decode(body))));
  await raw.request('inbox.hello', { token: silent.token });
  const reply = await raw.request<{ epoch: number; head: number; leaseMs: number }>('inbox.sync', { token: silent.token, epoch: 0, seq: 0 });
  assert.equal(reply.leaseMs, LEASE_MS, 'the sync reply announces the lease');
  // Within its lease the raw device is pushed to.
  const first = (await call('POST', '/api/inbox/messages', { to: 'group:lease', title: 'first', body: 'a' })).json;
  await eventually(() => seen.some((i) => i.message?.id === first.id), { what: 'first, live, within the lease' });
  // An SDK device on another connection: it follows the announced lease.
  const sdk = await client();
  const inbox = sdk.inbox(idle.token);
  const items: InboxItem[] = [];
  void (async () => { for await (const i of inbox) items.push(i); })();
  await eventually(() => inbox.leaseMs === LEASE_MS, { what: 'the SDK read the lease' });
  assert.equal(inbox.heartbeatMs, Math.floor((LEASE_MS * 2) / 3));
  await eventually(() => items.some((i) => i.message.id === first.id), { what: 'first at the SDK device' });
  // Two leases of silence from the raw device (the SDK device idle too, but acking).
  await sleep(2 * LEASE_MS + 500);
  const second = (await call('POST', '/api/inbox/messages', { to: 'group:lease', title: 'second', body: 'b' })).json;
  await eventually(() => items.some((i) => i.message.id === second.id), { what: 'second, live, at the idle SDK device' });
  // The same tick's pass reached both connections: a reply on the raw one comes after anything
  // pushed to it then, and nothing was.
  await raw.request('inbox.hello', { token: silent.token });
  assert.equal(seen.filter((i) => i.message?.id === second.id).length, 0, 'no push to a device whose lease lapsed');
  // Its late ack is answered `stalled`: the node pushes it nothing until it syncs.
  assert.deepEqual(await raw.request('inbox.ack', { token: silent.token, seq: 0 }), { ok: true, stalled: true });
  // Nothing is lost: its next sync from its cursor brings what it missed.
  const cursor = seen.filter((i) => i.kind === 'message').at(-1).seq;
  await raw.request('inbox.sync', { token: silent.token, epoch: reply.epoch, seq: cursor });
  await eventually(() => seen.some((i) => i.message?.id === second.id), { what: 'second after a sync' });
  inbox.close();
  sdk.close();
  raw.close();
});

test('an SDK device whose heartbeat comes later than the lease: its ack is answered stalled, it syncs from its cursor and gets what it missed, once', async () => {
  const late = (await call('POST', '/api/inbox/devices', { groups: ['late'] }, null)).json;
  const sdk = await client();
  // Acks every 2.5 leases: the lease lapses between two of them.
  const inbox = sdk.inbox(late.token, { heartbeatMs: Math.round(LEASE_MS * 2.5) });
  const items: InboxItem[] = [];
  void (async () => { for await (const i of inbox) items.push(i); })();
  const first = (await call('POST', '/api/inbox/messages', { to: 'group:late', title: 'first', body: 'a' })).json;
  await eventually(() => items.some((i) => i.message.id === first.id), { what: 'first, live' });
  // The lease lapses (the node checks once a second); a message then is not pushed.
  await sleep(LEASE_MS + 1200);
  const missed = (await call('POST', '/api/inbox/messages', { to: 'group:late', title: 'missed', body: 'b' })).json;
  // The next heartbeat's reply says stalled: the SDK syncs and the message arrives.
  await eventually(() => items.some((i) => i.message.id === missed.id), { what: 'the missed message after the late heartbeat', timeoutMs: 4 * LEASE_MS + 2000 });
  // Live again after that sync, and nothing came twice.
  const third = (await call('POST', '/api/inbox/messages', { to: 'group:late', title: 'third', body: 'c' })).json;
  await eventually(() => items.some((i) => i.message.id === third.id), { what: 'third, live after the resync' });
  assert.deepEqual(items.map((i) => [i.kind, i.message.id]), [['message', first.id], ['message', missed.id], ['message', third.id]]);
  inbox.close();
  sdk.close();
});
