// Epochs: an operator restores an older copy of the data and runs `brigade inbox new-epoch`; a
// device whose cursor is from the lost timeline resyncs in full instead of trusting sequence
// numbers the restored store hands out again to other messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InboxCursor, InboxItem } from '../../../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';
import { eventually } from '../../helpers/eventually.ts';
import { identifiedClient, inboxApi } from './inbox-api.ts';
import '../../../src/apps/inbox/errors.ts';

const KEY = 'test-publisher-key-0123456789';
const cli = fileURLToPath(new URL('../../../bin/brigade.js', import.meta.url));
const args = ['--apps', 'inbox', '--inbox-publisher-key', KEY, '--inbox-publish-per-second', '0'];

/** A device on `server` from `cursor`: its items, and its cursor as the SDK saves it. */
async function connect(server: ServerProcess, token: string, saved: { cursor: InboxCursor | null }) {
  const c = await identifiedClient(server);
  const inbox = c.inbox(token, { load: () => structuredClone(saved.cursor) as InboxCursor, save: (cur) => { saved.cursor = structuredClone(cur); } });
  const items: InboxItem[] = [];
  void (async () => { for await (const i of inbox) items.push(i); })();
  return { items, close: () => { inbox.close(); c.close(); }, inbox };
}

test('new epoch after restoring an older copy: a device with a cursor from the lost timeline resyncs in full', async () => {
  const data = mkdtempSync(join(tmpdir(), 'brigade-epoch-'));
  const backup = mkdtempSync(join(tmpdir(), 'brigade-epoch-backup-'));
  let server = await startServer(args, { dataDir: data });
  try {
    const call = inboxApi(() => server.url, KEY);
    const pushKey = (await call('GET', '/api/inbox/push/key', undefined, null)).json.publicKey;
    const d = (await call('POST', '/api/inbox/devices', { groups: ['e'] }, null)).json;
    const saved: { cursor: InboxCursor | null } = { cursor: null };
    const m1 = (await call('POST', '/api/inbox/messages', { to: 'group:e', title: 'm1' })).json;
    let dev = await connect(server, d.token, saved);
    await eventually(() => saved.cursor && saved.cursor.held[m1.id], { what: 'm1 held' });
    dev.close();
    await server.stop();

    // The backup: an older copy of the whole data directory, taken with the node stopped.
    cpSync(data, backup, { recursive: true });

    server = await startServer(args, { dataDir: data });
    const m2 = (await call('POST', '/api/inbox/messages', { to: 'group:e', title: 'm2' })).json;
    const m3 = (await call('POST', '/api/inbox/messages', { to: 'group:e', title: 'm3' })).json;
    dev = await connect(server, d.token, saved);
    await eventually(() => saved.cursor && saved.cursor.held[m2.id] && saved.cursor.held[m3.id] && saved.cursor.seq >= m3.seq, { what: 'm2 and m3 held' });
    const lost = structuredClone(saved.cursor!);
    dev.close();
    await server.stop();

    // Restore the older copy, then start a new epoch.
    rmSync(data, { recursive: true, force: true });
    cpSync(backup, data, { recursive: true });
    const bad = spawnSync(process.execPath, [cli, 'inbox', 'new-epoch', '--data', data, '--no-such-flag', '1'], { encoding: 'utf8' });
    assert.equal(bad.status, 2, 'an unknown option is refused');
    const run = spawnSync(process.execPath, [cli, 'inbox', 'new-epoch', '--data', data], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim()) as { epoch: number; seq: number };
    assert.notEqual(out.epoch, lost.epoch);

    server = await startServer(args, { dataDir: data });
    assert.equal((await call('GET', '/api/inbox/push/key', undefined, null)).json.publicKey, pushKey, 'the VAPID key comes from the data directory');
    assert.equal((await call('GET', `/api/inbox/messages/${m2.id}`)).status, 404, 'm2 is not in the restored data');
    assert.equal((await call('GET', `/api/inbox/messages/${m1.id}`)).json.title, 'm1');
    // New messages: the first takes a seq the device already holds for m2 or m3 (reused).
    const fresh: { id: string; seq: number }[] = [];
    do fresh.push((await call('POST', '/api/inbox/messages', { to: 'group:e', title: `new ${fresh.length}` })).json);
    while (fresh[fresh.length - 1].seq <= lost.seq);
    assert.ok(fresh[0].seq <= lost.seq, `seq ${fresh[0].seq} is reused (the device's cursor is at ${lost.seq})`);

    // The device comes back with its cursor from the lost timeline.
    saved.cursor = structuredClone(lost);
    dev = await connect(server, d.token, saved);
    await eventually(() => saved.cursor!.epoch === out.epoch && fresh.every((m) => saved.cursor!.held[m.id]), { what: 'the full resync' });
    await eventually(() => !saved.cursor!.held[m2.id] && !saved.cursor!.held[m3.id], { what: 'm2 and m3 dropped' });
    assert.deepEqual(Object.keys(saved.cursor!.held).sort(), [m1.id, ...fresh.map((m) => m.id)].sort());
    const kinds = dev.items.map((i) => `${i.kind}:${i.message.id}`);
    for (const m of fresh) assert.ok(kinds.includes(`message:${m.id}`), `got ${m.id}`);
    assert.ok(kinds.includes(`recall:${m2.id}`) && kinds.includes(`recall:${m3.id}`), kinds.join(' '));
    assert.ok(!kinds.includes(`message:${m1.id}`), 'm1, unchanged, is not given twice');
    // And live delivery goes on in the new epoch.
    const after = (await call('POST', '/api/inbox/messages', { to: 'group:e', title: 'after' })).json;
    await eventually(() => dev.items.find((i) => i.message.id === after.id), { what: 'live after the resync' });
    dev.close();
  } finally {
    await server.stop();
    rmSync(data, { recursive: true, force: true });
    rmSync(backup, { recursive: true, force: true });
  }
});
