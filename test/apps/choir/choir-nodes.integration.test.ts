/**
 * choir over many nodes, with real processes and a real redis-server: a room lives on one node at
 * a time (a held claim in the engine). A join that reaches another node is answered with the
 * holder's public URL, and the client goes there; `brigade serve --workers 2` spreads rooms over
 * its two processes (round-robin connections on the shared port, each worker's own port in the
 * reply); a node killed with SIGKILL stops renewing its claims, and after --choir-claim-ms its
 * rooms are taken afresh by the node the singers reconnect to (the buffer's audio is gone).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../../src/sdk/index.ts';
import '../../../src/apps/choir/errors.ts';
import { decodeReply, encodeFrame } from '../../../src/apps/choir/wire.ts';
import { eventually } from '../../helpers/eventually.ts';
import { startRedis, type RedisServer } from '../../helpers/redis-server.ts';
import { startServer, type ServerProcess } from '../../helpers/server-process.ts';
import { ChoirLink } from '../../../web/choir/link.ts';

interface Joined { singer: number; key: string; node: string; url: string; clock: number }
interface Elsewhere { room: string; elsewhere: string; node: string; retryAfterMs: number; take?: boolean }

let redis: RedisServer;
const servers: ServerProcess[] = [];
const clients: BrigadeClient[] = [];
const links: ChoirLink[] = [];
let deployments = 0;
const CLAIM_MS = 1000;
/** Each test's nodes are one deployment of their own (a prefix each): nodes of another test are not theirs to place rooms on. */
const nodeArgs = (deployment: string, claimMs = CLAIM_MS) => ['--apps', 'choir', '--redis', redis.url, '--redis-prefix', `choir-nodes-${process.pid}-${deployment}:`,
  '--choir-claim-ms', String(claimMs), '--choir-shards', '1', '--choir-buffer-ms', '4000'];

before(async () => { redis = await startRedis(); });
after(async () => {
  for (const c of clients) c.close();
  for (const l of links) await l.leave();
  for (const s of servers) { await s.kill(); s.cleanup(); }
  await redis.destroy();
});

const wsOf = (httpUrl: string) => httpUrl.replace(/^http/, 'ws') + '/ws';

/** A connected client, or null when nothing answers at `wsUrl` within 2 s (a dead node). */
async function connect(wsUrl: string): Promise<BrigadeClient | null> {
  const client = new BrigadeClient(wsUrl, { WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
  clients.push(client);
  const ok = await Promise.race([client.ready().then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
  if (!ok) { client.close(); return null; }
  return client;
}

/** Joins `room` through `entryWsUrl`, following one "elsewhere" answer; null when the room's node is not reachable (yet). */
async function joinVia(entryWsUrl: string, room: string): Promise<{ client: BrigadeClient; joined: Joined } | { elsewhere: Elsewhere }> {
  const client = await connect(entryWsUrl);
  assert.ok(client, `the entry ${entryWsUrl} answers`);
  let r = await client.request<Joined | Elsewhere>('choir.join', { room });
  if (!('elsewhere' in r)) return { client, joined: r };
  client.close();
  // Up to two hops, as the page's ChoirLink follows them.
  for (let hop = 0; hop < 2; hop++) {
    const there = await connect(wsOf(r.elsewhere));
    if (!there) return { elsewhere: r };
    // Sent there for load (`take`): that node takes the room, whatever its view of the loads.
    const again: Joined | Elsewhere = await there.request<Joined | Elsewhere>('choir.join', { room, take: r.take === true });
    if (!('elsewhere' in again)) return { client: there, joined: again };
    there.close();
    r = again;
  }
  return { elsewhere: r };
}

/** One empty frame that asks for a mix: the node serves this singer. */
async function frameWorks(client: BrigadeClient, j: Joined): Promise<boolean> {
  const reply = decodeReply(await client.request<Uint8Array>('choir.frame', encodeFrame({ singer: j.singer, key: j.key, writePos: -1, readPos: 0, opus: new Uint8Array(0) })));
  return reply.opus.length > 0 && reply.clock >= 0;
}

describe('choir over many nodes (redis)', () => {
  it('a room lives on one node: another node names its URL; after a SIGKILL the room is re-claimed where its singers reconnect', async () => {
    const a = await startServer([...nodeArgs('ab'), '--public-url', 'http://127.0.0.1:{port}']);
    const b = await startServer([...nodeArgs('ab'), '--public-url', 'http://127.0.0.1:{port}']);
    servers.push(a, b);

    const first = await joinVia(a.wsUrl, 'hall');
    assert.ok('joined' in first, 'the first join takes the room for node a');
    assert.equal(first.joined.url, a.url, 'the reply names node a\'s URL');
    assert.ok(await frameWorks(first.client, first.joined));

    // At node b: told that the room lives at a's URL, and the second singer goes there.
    const atB = await connect(b.wsUrl);
    const told = await atB!.request<Elsewhere>('choir.join', { room: 'hall' });
    assert.equal(told.elsewhere, a.url);
    assert.equal(told.node, first.joined.node);
    assert.ok(told.retryAfterMs > 0 && told.retryAfterMs <= CLAIM_MS);
    const second = await joinVia(b.wsUrl, 'hall');
    assert.ok('joined' in second && second.joined.node === first.joined.node, 'followed to node a');
    // A room nobody holds is taken by the node asked.
    const other = await joinVia(b.wsUrl, 'other-hall');
    assert.ok('joined' in other && other.joined.url === b.url);

    // The page's link (web/choir/link.ts) enters at b, follows `elsewhere` to a, and rejoins by
    // itself after a's death, through b once the claim runs out (a fresh join: a's singer is gone).
    // (`take`: node a takes it whatever the loads; it could otherwise send it to b, the lighter node.)
    const aisle = await connect(a.wsUrl);
    assert.equal((await aisle!.request<Joined>('choir.join', { room: 'aisle', take: true })).url, a.url, 'node a takes the room aisle');
    const link = new ChoirLink(b.wsUrl, { room: 'aisle', delayMs: 500 }, { WebSocket: WebSocket as never, backoff: { minDelayMs: 50, maxDelayMs: 400 }, onJoined: () => {} });
    links.push(link);
    const linked = await link.start();
    assert.equal(linked.url, a.url, 'the link followed elsewhere to node a');
    assert.ok(await frameWorks(link.client!, linked));

    // Node a dies without a word: its claim runs out, and the singers reconnect through node b.
    await a.kill();
    const closed = await eventually(() => !first.client.connected || null, { what: 'the singer\'s socket to node a closes' });
    assert.ok(closed);
    const moved = await eventually(async () => {
      const r = await joinVia(b.wsUrl, 'hall');
      return 'joined' in r ? r : null;
    }, { what: 'the room is re-claimed after --choir-claim-ms', timeoutMs: 20_000, intervalMs: 200 });
    assert.equal(moved.joined.url, b.url, 'the room lives on node b now');
    assert.ok(await frameWorks(moved.client, moved.joined), 'node b serves its frames');
    const state = await moved.client.request<{ singers: unknown[] }>('choir.state', { room: 'hall' });
    assert.equal(state.singers.length, 1, 'a fresh room: only the singer that came back (the buffer and the old singers are gone)');
    await eventually(() => link.rejoins === 1 && link.status.state === 'joined', { what: 'the link to rejoin through node b', timeoutMs: 20_000, intervalMs: 100 });
    assert.equal(link.joined!.url, b.url);
    assert.equal(link.joined!.replaced, null, 'a fresh join: the singer before lived on node a');
    assert.equal(link.joined!.delaySamples, 24_000, 'the same delay');
    assert.ok(await frameWorks(link.client!, link.joined!), 'node b serves the rejoined singer');
  });

  it('--workers 2 spreads rooms over both processes, and a killed worker\'s rooms come back on the restarted cluster', async () => {
    const cluster = await startServer([...nodeArgs(`workers-${++deployments}`), '--workers', '2', '--public-url', 'http://127.0.0.1:{port}']);
    servers.push(cluster);
    const listening = () => cluster.logs.map((l) => JSON.parse(l)).filter((r) => r.msg === 'brigade listening');
    await eventually(() => listening().length >= 2, { what: 'both workers listen' });
    const rooms = Array.from({ length: 8 }, (_, i) => `room-${i}`);
    const joined = new Map<string, Joined>();
    // node:cluster hands the shared port's connections to the workers in turn: each room is taken
    // by the worker its first singer's connection landed on.
    for (const room of rooms) {
      const r = await joinVia(cluster.wsUrl, room);
      assert.ok('joined' in r, `${room} joined: ${JSON.stringify(r)}`);
      joined.set(room, r.joined);
    }
    for (const room of rooms) {
      // A second singer through the shared port lands on either worker and still finds the room.
      const again = await joinVia(cluster.wsUrl, room);
      assert.ok('joined' in again && again.joined.node === joined.get(room)!.node, `${room}: one node`);
    }
    const nodes = new Set([...joined.values()].map((j) => j.node));
    assert.equal(nodes.size, 2, `rooms on both workers: ${[...joined.values()].map((j) => j.url).join(' ')}`);

    // SIGKILL the worker that holds room-0 (its pid is in its listening line, by its own port).
    const victimUrl = joined.get('room-0')!.url;
    const victim = listening().find((r) => `http://127.0.0.1:${r.nodePort}` === victimUrl);
    assert.ok(victim, 'the worker of room-0 logged its node port');
    process.kill(victim.pid, 'SIGKILL');
    const back = await eventually(async () => {
      const r = await joinVia(cluster.wsUrl, 'room-0');
      return 'joined' in r && r.joined.url !== victimUrl ? r : null;
    }, { what: 'room-0 re-claimed by a live worker', timeoutMs: 30_000, intervalMs: 200 });
    assert.ok(await frameWorks(back.client, back.joined));
  });

  it('--workers 2 places a new room on the worker with fewer singers, wherever its first singer\'s connection landed', async () => {
    const cluster = await startServer([...nodeArgs(`workers-${++deployments}`), '--workers', '2', '--public-url', 'http://127.0.0.1:{port}']);
    servers.push(cluster);
    await eventually(() => cluster.logs.filter((l) => l.includes('"brigade listening"')).length >= 2, { what: 'both workers listen' });
    // Six singers in one room make its worker the heavy one (later singers land on either worker and are sent there).
    const big = await joinVia(cluster.wsUrl, 'big');
    assert.ok('joined' in big);
    const heavy = big.joined.node;
    for (let i = 0; i < 5; i++) assert.ok('joined' in await joinVia(cluster.wsUrl, 'big'));
    // The nodes publish their loads every third of the claim's time.
    await new Promise((r) => setTimeout(r, CLAIM_MS));
    // New rooms' first singers come through the shared port, landing on both workers in turn: every
    // room goes to the light worker (its 0-3 singers stay at least 2 below the heavy one's 6).
    const placed: string[] = [];
    for (const room of ['small-1', 'small-2', 'small-3', 'small-4']) {
      const r = await joinVia(cluster.wsUrl, room);
      assert.ok('joined' in r, `${room} joined: ${JSON.stringify(r)}`);
      placed.push(r.joined.node);
    }
    assert.ok(placed.every((n) => n !== heavy), `new rooms on the light worker, not on ${heavy}: ${placed.join(' ')}`);
  });
  it('a link sent elsewhere to a dead node waits the claim\'s retryAfterMs, not its backoff, before trying again', async () => {
    // A claim long enough that the link's backoff (50 ms doubling to 400 ms) would try the dead
    // URL again and again while it lasts: at least two thirds of it (renewed every third) is left
    // when node a dies.
    const claimMs = 3000;
    const a = await startServer([...nodeArgs('dead-url', claimMs), '--public-url', 'http://127.0.0.1:{port}']);
    const b = await startServer([...nodeArgs('dead-url', claimMs), '--public-url', 'http://127.0.0.1:{port}']);
    servers.push(a, b);
    const atA = await connect(a.wsUrl);
    assert.equal((await atA!.request<Joined>('choir.join', { room: 'nave', take: true })).url, a.url, 'node a takes the room nave');
    const deadWs = wsOf(a.url);
    const trail: string[] = [];
    const link = new ChoirLink(b.wsUrl, { room: 'nave', delayMs: 500 }, {
      WebSocket: WebSocket as never, backoff: { minDelayMs: 50, maxDelayMs: 400 }, onJoined: () => {},
      onStatus: (st) => { trail.push(st.state === 'connecting' ? `connecting ${st.url}` : st.state === 'waiting' ? `waiting ${Math.round(st.delayMs)} ms` : st.state); },
    });
    links.push(link);
    assert.equal((await link.start()).url, a.url, 'joined at node a through b');

    const from = trail.length;
    await a.kill();
    await eventually(() => link.rejoins === 1 && link.status.state === 'joined', { what: 'the link to rejoin at node b once the claim runs out', timeoutMs: 20_000, intervalMs: 50 });
    assert.equal(link.joined!.url, b.url);
    const after = trail.slice(from);
    const toDead = after.filter((t) => t === `connecting ${deadWs}`).length;
    // Told `elsewhere: a` with the claim's time left, refused there, the link waits that long:
    // one refused connect, or two when its wait ends a hair before the claim does (a backoff
    // loop makes about eight in this claim).
    assert.ok(toDead >= 1, `the link was told elsewhere to the dead node while its claim lasted: ${after.join(' | ')}`);
    assert.ok(toDead <= 2, `and waited out the claim rather than trying the dead node again with backoff: ${after.join(' | ')}`);
  });
});
