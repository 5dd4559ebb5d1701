/**
 * The tracker on one node (embedded engine), through a real `brigade serve` process and real
 * WebSocket clients speaking bittorrent-tracker's exact JSON: announce replies and counts, offers
 * and answers relayed, seeders, stop, close, scrape, /api/tracker, and every bad input refused
 * with its failure reason (or a typed close), counted in /metrics, without disturbing other peers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { metric } from '../helpers/metrics.ts';
import { WireClient, WirePeer, binaryId, hex, scrape, sdp } from '../apps/tracker/wire-client.ts';
import { eventually } from '../helpers/eventually.ts';

describe('tracker on one node (embedded engine)', () => {
  let server: ServerProcess;
  const clients: WireClient[] = [];
  const connect = async (path = '/announce') => {
    const c = await WireClient.connect(`ws://127.0.0.1:${server.port}${path}`);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer(['--tracker-tick-ms', '10', '--tracker-max-errors', '5', '--tracker-max-messages-per-second', '30', '--tracker-max-offers', '6', '--tracker-max-numwant', '20', '--tracker-max-scrape-hashes', '4', '--tracker-trickle']);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
    server.cleanup();
  });

  it('relays an offer and its answer between two peers, with the right counts', async () => {
    const infoHash = binaryId();
    const a = new WirePeer(await connect(), infoHash);
    const b = new WirePeer(await connect('/'), infoHash); // the tracker is served at / as well
    a.announce({ event: 'started', numwant: 50 }); // 5 offers, nobody else yet
    const ra = await a.reply();
    assert.deepEqual(ra, { action: 'announce', interval: 120, info_hash: infoHash, complete: 0, incomplete: 1 });
    const offersOfB = b.announce({ event: 'started', numwant: 50, left: 0 }); // a seeder
    const rb = await b.reply();
    assert.equal(rb.complete, 1);
    assert.equal(rb.incomplete, 1);
    // B's first offer reaches A (the only other peer), with B's peer_id and the offer_id.
    const offer = await a.offer();
    assert.deepEqual(offer, { action: 'announce', offer: offersOfB[0].offer, offer_id: offersOfB[0].offer_id, peer_id: b.peerId, info_hash: infoHash });
    // Only one peer to reach: the other four offers go nowhere (never back to B itself).
    a.sendAnswer(offer, sdp('answer', 'a-to-b'));
    const answer = await b.answer();
    assert.deepEqual(answer, { action: 'announce', answer: sdp('answer', 'a-to-b'), offer_id: offersOfB[0].offer_id, peer_id: a.peerId, info_hash: infoHash });
    assert.equal(b.client.received.filter((m) => m.offer).length, 0, 'B never gets its own offers');
    // Scrape: one seeder (B), one leecher (A).
    const s = await scrape(a.client, infoHash);
    assert.deepEqual(s.files, { [infoHash]: { complete: 1, incomplete: 1, downloaded: 1 } });
  });

  it('completed makes a seeder; stopped and closing leave at once', async () => {
    const infoHash = binaryId();
    const a = new WirePeer(await connect(), infoHash);
    const bClient = await connect();
    const b = new WirePeer(bClient, infoHash);
    const c = new WirePeer(await connect(), infoHash);
    a.announce({ event: 'started' });
    await a.reply();
    b.announce({ event: 'started' });
    await b.reply();
    c.announce({ event: 'started' });
    assert.deepEqual([(await c.reply()).complete, 3 - 0], [0, 3]);
    a.announce({ event: 'completed', left: 0 });
    const ra = await a.reply();
    assert.deepEqual([ra.complete, ra.incomplete], [1, 2]);
    b.announce({ event: 'stopped' });
    const rb = await b.reply();
    assert.deepEqual([rb.complete, rb.incomplete], [1, 1]);
    c.client.close();
    await c.client.closed;
    const s = await eventually(async () => {
      const r = await scrape(a.client, infoHash);
      return r.files[infoHash].incomplete === 0 ? r : null;
    }, { what: 'C to leave on close', intervalMs: 50 });
    assert.deepEqual(s.files[infoHash], { complete: 1, incomplete: 0, downloaded: 1 });
    // A periodic update (no event) keeps a seeder a seeder.
    a.announce({});
    assert.deepEqual([(await a.reply()).complete, (await scrape(a.client, infoHash)).files[infoHash].incomplete], [1, 0]);
  });

  it('offers go to min(numwant, offers) distinct random peers, one each', async () => {
    const infoHash = binaryId();
    const receivers = await Promise.all(Array.from({ length: 6 }, async () => new WirePeer(await connect(), infoHash)));
    for (const r of receivers) {
      r.announce({ event: 'started', offers: 0, numwant: 0 });
      await r.reply();
    }
    const sender = new WirePeer(await connect(), infoHash);
    const sent = sender.announce({ event: 'started', numwant: 4 }); // 4 offers
    assert.deepEqual([(await sender.reply()).incomplete], [7]);
    const got = await eventually(async () => {
      const n = receivers.reduce((sum, r) => sum + r.client.received.filter((m) => m.offer).length, 0);
      return n >= 4 ? receivers.flatMap((r) => r.client.received.filter((m) => m.offer)) : null;
    }, { what: '4 offers', intervalMs: 50 });
    assert.equal(got.length, 4);
    assert.deepEqual(new Set(got.map((m) => m.offer_id)), new Set(sent.map((o) => o.offer_id)), 'each offer once');
    assert.ok(receivers.every((r) => r.client.received.filter((m) => m.offer).length <= 1), 'distinct peers');
  });

  it('the trickle extension groups one tick of candidates into one message', async () => {
    const infoHash = binaryId();
    const a = new WirePeer(await connect(), infoHash);
    const b = new WirePeer(await connect(), infoHash);
    a.announce({ event: 'started', offers: 0, numwant: 0 });
    await a.reply();
    const [offerOfB] = b.announce({ event: 'started', numwant: 1 });
    await b.reply();
    const offer = await a.offer();
    a.sendAnswer(offer);
    await b.answer();
    // A sends three signal messages in one burst; B gets them as one message with 3 candidates.
    // The burst is one TCP write (the socket corked around the three frames), so the node reads it
    // in one tick: three separate writes may land in two ticks on a loaded machine, and then B
    // rightly gets two messages.
    const cand = (i: number) => ({ candidate: `candidate:${i} 1 udp 2122260223 127.0.0.1 5000${i} typ host`, sdpMLineIndex: 0, sdpMid: '0' });
    const socket = (a.client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.cork();
    for (let i = 0; i < 3; i++) a.client.send({ action: 'signal', info_hash: infoHash, peer_id: a.peerId, to_peer_id: b.peerId, offer_id: offerOfB.offer_id, candidates: [cand(i)] });
    socket.uncork();
    const sig = await b.client.next((m) => m.action === 'signal');
    assert.deepEqual(sig, { action: 'signal', info_hash: infoHash, peer_id: a.peerId, offer_id: offerOfB.offer_id, candidates: [cand(0), cand(1), cand(2)] });
    // The offerer can signal back (it learnt the link from the answer).
    b.client.send({ action: 'signal', info_hash: infoHash, peer_id: b.peerId, to_peer_id: a.peerId, offer_id: offerOfB.offer_id, candidates: [cand(9)] });
    assert.deepEqual((await a.client.next((m) => m.action === 'signal')).candidates, [cand(9)]);
    // A signal to a peer it never exchanged an offer with is refused.
    a.client.send({ action: 'signal', info_hash: infoHash, peer_id: a.peerId, to_peer_id: binaryId(), offer_id: offerOfB.offer_id, candidates: [cand(1)] });
    assert.equal((await a.failure())['failure code'], 'TRACKER_UNKNOWN_PEER');
  });

  it('tracker sockets count in the node\'s connections and messages in/out (/metrics)', async () => {
    const [conns0, in0, out0, connects0] = [await metric(server.url, 'brigade_connections'), await metric(server.url, 'brigade_messages_in_total'),
      await metric(server.url, 'brigade_messages_out_total'), await metric(server.url, 'brigade_connects_total')];
    const c1 = await connect();
    const c2 = await connect();
    assert.equal(await metric(server.url, 'brigade_connections') - conns0, 2);
    assert.equal(await metric(server.url, 'brigade_connects_total') - connects0, 2);
    const infoHash = binaryId();
    await scrape(c1, infoHash);
    await scrape(c2, infoHash);
    assert.equal(await metric(server.url, 'brigade_messages_in_total') - in0, 2);
    assert.equal(await metric(server.url, 'brigade_messages_out_total') - out0, 2);
    for (const name of ['brigade_connects_per_second', 'brigade_messages_in_per_second', 'brigade_messages_out_per_second', 'brigade_tracker_peers', 'brigade_tracker_swarms']) {
      assert.ok(await metric(server.url, name) >= 0, name);
    }
    c1.close();
    c2.close();
    await eventually(async () => (await metric(server.url, 'brigade_connections')) === conns0, { what: 'closed sockets to leave brigade_connections', intervalMs: 50 });
  });

  it('GET /api/tracker lists this node and the largest swarms', async () => {
    const infoHash = binaryId();
    const peers = await Promise.all(Array.from({ length: 3 }, async () => new WirePeer(await connect(), infoHash)));
    for (const p of peers) { p.announce({ event: 'started', offers: 0 }); await p.reply(); }
    const status = await eventually(async () => {
      const s = await (await fetch(`${server.url}/api/tracker`)).json() as any;
      return s.swarms.some((x: any) => x.infoHash === hex(infoHash)) && s.nodes[0]?.peers >= 3 ? s : null;
    }, { what: 'the swarm and node stats in /api/tracker', intervalMs: 50 });
    assert.equal(typeof status.nodeId, 'string');
    assert.equal(status.nodes.length, 1);
    assert.equal(status.nodes[0].nodeId, status.nodeId);
    for (const k of ['connections', 'peers', 'swarms', 'connectsPerSecond', 'messagesInPerSecond', 'messagesOutPerSecond', 'at']) assert.equal(typeof status.nodes[0][k], 'number', k);
    assert.deepEqual(status.swarms.find((x: any) => x.infoHash === hex(infoHash)), { infoHash: hex(infoHash), peers: 3, complete: 0, incomplete: 3 });
    for (let i = 1; i < status.swarms.length; i++) assert.ok(status.swarms[i - 1].peers >= status.swarms[i].peers, 'largest first');
    assert.ok(status.totals.swarms >= 1 && status.totals.peers >= 3);
    const apps = await (await fetch(`${server.url}/api/apps`)).json() as any[];
    assert.ok(apps.some((a) => a.name === 'tracker' && a.path === '/tracker'));
  });

  // Last: it stops the server.
  it('SIGTERM closes tracker connections with 1001 and the node exits cleanly', async () => {
    const infoHash = binaryId();
    const p = new WirePeer(await connect(), infoHash);
    p.announce({ event: 'started', offers: 0 });
    await p.reply();
    const code = await server.stop();
    assert.equal(code, 0);
    assert.equal((await p.client.closed).code, 1001);
    assert.ok(server.logs.some((l) => l.includes('"shut down"')), 'shut down in order');
  });
});
