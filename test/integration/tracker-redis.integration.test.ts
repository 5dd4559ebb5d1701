/**
 * The tracker across nodes: real `brigade serve` processes sharing one real redis-server, real
 * WebSocket clients speaking bittorrent-tracker's exact JSON. Peers on different nodes find each
 * other (offers and answers relayed through Redis pub/sub), counts and scrapes agree on every
 * node, a peer of a SIGKILLed node leaves within the TTL, and one tick's relays for one node
 * travel as one direct message (one Redis PUBLISH).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { metric } from '../helpers/metrics.ts';
import { WireClient, WirePeer, binaryId, hex, scrape, sdp } from '../apps/tracker/wire-client.ts';
import { eventually } from '../helpers/eventually.ts';

/** Nodes 1 and 2 keep peers long enough for any test step; node 3 (quiet and killed peers) expires them fast. */
const LONG_TTL_MS = 60_000;
const SHORT_TTL_MS = 1500;

async function publishCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  const m = /cmdstat_publish:calls=(\d+)/.exec(info);
  return m ? Number(m[1]) : 0;
}

describe('tracker over Redis, several nodes', () => {
  let redis: RedisServer;
  let probe: Redis;
  let node1: ServerProcess;
  let node2: ServerProcess;
  const clients: WireClient[] = [];
  const connect = async (node: ServerProcess) => {
    const c = await WireClient.connect(`ws://127.0.0.1:${node.port}/announce`);
    clients.push(c);
    return c;
  };
  const args = (ttlMs = LONG_TTL_MS) => ['--redis', redis.url, '--redis-prefix', 'trk:', '--tracker-tick-ms', '10', '--tracker-peer-ttl-ms', String(ttlMs)];

  before(async () => {
    redis = await startRedis();
    probe = new Redis(redis.url);
    node1 = await startServer(args());
    node2 = await startServer(args());
  });
  after(async () => {
    for (const c of clients) c.close();
    probe.disconnect();
    await node1.stop();
    await node2.stop();
    node1.cleanup();
    node2.cleanup();
    await redis.destroy();
  });

  it('a peer on node 1 and a peer on node 2 exchange offer and answer; counts and scrapes agree', async () => {
    const infoHash = binaryId();
    const a = new WirePeer(await connect(node1), infoHash);
    const b = new WirePeer(await connect(node2), infoHash);
    const seeder = new WirePeer(await connect(node2), infoHash);
    a.announce({ event: 'started', offers: 0 });
    assert.deepEqual(await a.reply(), { action: 'announce', interval: 120, info_hash: infoHash, complete: 0, incomplete: 1 });
    seeder.announce({ event: 'completed', left: 0 });
    assert.deepEqual([(await seeder.reply()).complete, 1], [1, 1]);
    // B offers to 2 peers: A (node 1, through Redis) and the seeder (node 2, locally).
    const offersOfB = b.announce({ event: 'started', numwant: 2 });
    const rb = await b.reply();
    assert.deepEqual([rb.complete, rb.incomplete], [1, 2]);
    const offer = await a.offer();
    assert.equal(offer.peer_id, b.peerId);
    assert.equal(offer.info_hash, infoHash);
    const sent = offersOfB.find((o) => o.offer_id === offer.offer_id);
    assert.ok(sent, 'the offer_id is one B sent');
    assert.deepEqual(offer.offer, sent.offer);
    const toSeeder = await seeder.offer();
    assert.notEqual(toSeeder.offer_id, offer.offer_id, 'different offers to different peers');
    a.sendAnswer(offer, sdp('answer', 'a-on-node-1'));
    const answer = await b.answer();
    assert.deepEqual(answer, { action: 'announce', answer: sdp('answer', 'a-on-node-1'), offer_id: offer.offer_id, peer_id: a.peerId, info_hash: infoHash });
    // Scrapes from either node see the whole swarm.
    for (const c of [a.client, b.client]) {
      assert.deepEqual((await scrape(c, infoHash)).files[infoHash], { complete: 1, incomplete: 2, downloaded: 1 });
    }
    // stopped leaves at once, seen from the other node.
    b.announce({ event: 'stopped' });
    assert.deepEqual([(await b.reply()).incomplete], [1]);
    assert.deepEqual((await scrape(a.client, infoHash)).files[infoHash], { complete: 1, incomplete: 1, downloaded: 1 });
    // /api/tracker on node 1 shows both nodes and the swarm.
    const status = await eventually(async () => {
      const s = await (await fetch(`${node1.url}/api/tracker`)).json() as any;
      return s.nodes.length === 2 && s.swarms.some((x: any) => x.infoHash === hex(infoHash)) ? s : null;
    }, { what: 'two nodes in /api/tracker', intervalMs: 50 });
    assert.deepEqual(status.swarms.find((x: any) => x.infoHash === hex(infoHash)), { infoHash: hex(infoHash), peers: 2, complete: 1, incomplete: 1 });
  });

  it('one tick of relays for one other node is one direct message (one PUBLISH)', async () => {
    const infoHash = binaryId();
    const receiversClient = await connect(node2);
    const receivers = Array.from({ length: 5 }, () => new WirePeer(receiversClient, infoHash));
    for (const r of receivers) r.announce({ event: 'started', offers: 0 });
    for (const r of receivers) await r.reply();
    const sender = new WirePeer(await connect(node1), infoHash);
    const [sent1, items1, remote1, pub1, flushes2, out2] = [
      await metric(node1.url, 'brigade_tracker_direct_messages_sent_total'),
      await metric(node1.url, 'brigade_tracker_relay_items_sent_total'),
      await metric(node2.url, 'brigade_tracker_relay_items_received_total'),
      await publishCalls(probe),
      await metric(node2.url, 'brigade_tracker_socket_flushes_total'),
      await metric(node2.url, 'brigade_tracker_messages_out_total'),
    ];
    const offers = sender.announce({ event: 'started', numwant: 5 });
    await sender.reply();
    const got = await eventually(async () => {
      const msgs = receiversClient.received.filter((m) => m.offer && m.peer_id === sender.peerId);
      return msgs.length === 5 ? msgs : null;
    }, { what: 'five offers on node 2', intervalMs: 50 });
    assert.deepEqual(new Set(got.map((m) => m.offer_id)), new Set(offers.map((o) => o.offer_id)));
    assert.equal(await metric(node1.url, 'brigade_tracker_direct_messages_sent_total') - sent1, 1, 'one direct message');
    assert.equal(await metric(node1.url, 'brigade_tracker_relay_items_sent_total') - items1, 5, 'carrying five offers');
    assert.equal(await metric(node2.url, 'brigade_tracker_relay_items_received_total') - remote1, 5);
    assert.equal(await publishCalls(probe) - pub1, 1, 'one PUBLISH in Redis');
    // On node 2 the five offers for the one socket holding the five peers went out in one write.
    assert.equal(await metric(node2.url, 'brigade_tracker_messages_out_total') - out2, 5);
    assert.equal(await metric(node2.url, 'brigade_tracker_socket_flushes_total') - flushes2, 1, 'one corked write');
  });

  it('announces of one swarm within a tick share one membership read', async () => {
    const infoHash = binaryId();
    const c = await connect(node1);
    const peers = Array.from({ length: 6 }, () => new WirePeer(c, infoHash));
    const [reads0, ann0] = [await metric(node1.url, 'brigade_tracker_swarm_reads_total'), await metric(node1.url, 'brigade_tracker_announces_total')];
    for (const p of peers) p.announce({ event: 'started', offers: 0 }); // one burst on one socket
    const replies = await Promise.all(peers.map((p) => p.reply()));
    assert.equal(await metric(node1.url, 'brigade_tracker_announces_total') - ann0, 6);
    const reads = await metric(node1.url, 'brigade_tracker_swarm_reads_total') - reads0;
    assert.ok(reads >= 1 && reads <= 2, `6 announces in one burst, ${reads} reads`);
    assert.equal(Math.max(...replies.map((r) => r.incomplete)), 6);
  });

  it('a quiet peer expires from its swarm and its node; the peers of a SIGKILLed node leave within the TTL', async () => {
    const node3 = await startServer(args(SHORT_TTL_MS));
    try {
      const infoHash = binaryId();
      const a = new WirePeer(await connect(node1), infoHash);
      a.announce({ event: 'started', offers: 0 });
      await a.reply();
      // A peer that goes quiet on a connection that stays open.
      const quiet = new WirePeer(await WireClient.connect(`ws://127.0.0.1:${node3.port}/announce`), infoHash);
      quiet.announce({ event: 'started', offers: 0 });
      await quiet.reply();
      assert.equal(await metric(node3.url, 'brigade_tracker_peers'), 1);
      assert.equal((await scrape(a.client, infoHash)).files[infoHash].incomplete, 2);
      await eventually(async () => (await scrape(a.client, infoHash)).files[infoHash].incomplete === 1, { what: 'the quiet peer to expire', intervalMs: 50 });
      await eventually(async () => (await metric(node3.url, 'brigade_tracker_peers')) === 0, { what: 'node 3 to forget it', intervalMs: 50 });
      assert.equal(quiet.client.ws.readyState, quiet.client.ws.OPEN, 'its connection is untouched');
      quiet.client.close();

      const doomed = new WirePeer(await WireClient.connect(`ws://127.0.0.1:${node3.port}/announce`), infoHash);
      doomed.announce({ event: 'started', offers: 0, left: 0 });
      assert.deepEqual([(await doomed.reply()).complete], [1]);
      assert.deepEqual((await scrape(a.client, infoHash)).files[infoHash], { complete: 1, incomplete: 1, downloaded: 1 });
      await node3.kill();
      // The dead node cannot refresh its seeder nor say goodbye: it expires with node 3's TTL.
      const r = await eventually(async () => {
        a.announce({});
        const reply = await a.reply();
        return reply.complete === 0 ? reply : null;
      }, { what: 'the killed node\'s seeder to expire', intervalMs: 50 });
      assert.deepEqual([r.complete, r.incomplete], [0, 1]);
      assert.deepEqual((await scrape(a.client, infoHash)).files[infoHash], { complete: 0, incomplete: 1, downloaded: 0 });
      // And the dead node's stats record leaves /api/tracker (it lives 3 × 2 s).
      await eventually(async () => ((await (await fetch(`${node1.url}/api/tracker`)).json()) as any).nodes.length === 2, { what: 'node 3 gone from /api/tracker', intervalMs: 50 });
    } finally {
      await node3.kill();
      node3.cleanup();
    }
  });
});

describe('tracker while Redis is down', () => {
  it('announces and scrapes get TRACKER_UNAVAILABLE, nothing breaks, and it recovers', async () => {
    const redis = await startRedis();
    const node = await startServer(['--redis', redis.url, '--tracker-tick-ms', '10']);
    const client = await WireClient.connect(`ws://127.0.0.1:${node.port}/announce`);
    try {
      const infoHash = binaryId();
      const p = new WirePeer(client, infoHash);
      p.announce({ event: 'started', offers: 0 });
      assert.equal((await p.reply()).incomplete, 1);
      await redis.stop();
      p.announce({});
      const f = await p.failure();
      assert.deepEqual([f.action, f['failure code'], f.info_hash], ['announce', 'TRACKER_UNAVAILABLE', infoHash]);
      client.send({ action: 'scrape', info_hash: infoHash });
      assert.equal((await client.next((m) => m['failure reason'] !== undefined))['failure code'], 'TRACKER_UNAVAILABLE');
      assert.ok(await metric(node.url, 'brigade_tracker_failures_total') >= 2);
      await redis.restart();
      // The restarted Redis kept nothing (no persistence here): the peer re-joins with its next announce.
      const r = await eventually(async () => {
        p.announce({});
        const m = await client.next((x) => x.action === 'announce' && (x.complete !== undefined || x['failure reason'] !== undefined));
        return m.complete !== undefined ? m : null;
      }, { what: 'announces to work again', intervalMs: 50 });
      assert.deepEqual([r.complete, r.incomplete], [0, 1]);
      assert.equal(client.ws.readyState, client.ws.OPEN, 'the client stayed connected throughout');
    } finally {
      client.close();
      await node.stop();
      node.cleanup();
      await redis.destroy();
    }
  });
});
