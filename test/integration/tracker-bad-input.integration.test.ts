/**
 * Bad input to the tracker (issue 4's list), through a real `brigade serve` process: each case gets
 * its `failure reason` and `failure code` (or a typed close past a limit), is counted in
 * brigade_tracker_failures_total{reason} / brigade_tracker_closes_total{code}, changes nothing, and
 * two well-behaved peers of the same swarm keep exchanging offers and answers throughout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, clientFrame } from '../helpers/raw-frames.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { WireClient, WirePeer, binaryId, scrape, sdp, type Json } from '../apps/tracker/wire-client.ts';
import { eventually } from '../helpers/eventually.ts';

/** A labelled series from /metrics, summed over the other labels; 0 when absent. */
async function series(baseUrl: string, name: string, label: string, value: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') && line.includes(`${label}="${value}"`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('tracker bad input', () => {
  let server: ServerProcess;
  const clients: WireClient[] = [];
  const infoHash = binaryId();
  let good1: WirePeer;
  let good2: WirePeer;
  const connect = async () => {
    const c = await WireClient.connect(`ws://127.0.0.1:${server.port}/announce`);
    clients.push(c);
    return c;
  };
  /** The good pair still works: 2 announces with an offer each way, answered. */
  const goodPairWorks = async () => {
    good1.announce({ numwant: 1 });
    await good1.reply();
    const offer = await good2.offer(10_000, good1.peerId);
    good2.sendAnswer(offer, sdp('answer', 'still-fine'));
    const answer = await good1.answer();
    assert.equal(answer.peer_id, good2.peerId);
    assert.deepEqual(answer.answer, sdp('answer', 'still-fine'));
  };
  /** Sends `msg`, expects one failure with `code`, and that the reason's counter moved. */
  const refused = async (client: WireClient, msg: Json | string, code: string, reason: string, expect: Json = {}) => {
    const before = await series(server.url, 'brigade_tracker_failures_total', 'reason', reason);
    if (typeof msg === 'string') client.sendRaw(msg);
    else client.send(msg);
    const f = await client.next((m) => m['failure reason'] !== undefined).catch((err: Error) => { throw new Error(`${reason}: ${err.message}`); });
    assert.equal(f['failure code'], code, JSON.stringify(f));
    assert.equal(typeof f['failure reason'], 'string');
    for (const [k, v] of Object.entries(expect)) assert.deepEqual(f[k], v, k);
    assert.equal(await series(server.url, 'brigade_tracker_failures_total', 'reason', reason), before + 1, `failures{reason=${reason}}`);
    return f;
  };

  before(async () => {
    server = await startServer(['--tracker-tick-ms', '10', '--tracker-max-errors', '16', '--tracker-max-messages-per-second', '40',
      '--tracker-max-offers', '6', '--tracker-max-numwant', '20', '--tracker-max-scrape-hashes', '3', '--tracker-max-peers-per-socket', '2',
      '--max-frame-bytes', '16384']);
    good1 = new WirePeer(await connect(), infoHash);
    good2 = new WirePeer(await connect(), infoHash);
    good1.announce({ event: 'started', offers: 0 });
    await good1.reply();
    good2.announce({ event: 'started', offers: 0 });
    await good2.reply();
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
    server.cleanup();
  });

  it('malformed messages, ids, actions, numwant, offers and scrapes are refused and change nothing', async () => {
    const bad = await connect();
    const peerId = binaryId();
    const ann = (extra: Json) => ({ numwant: 1, uploaded: 0, downloaded: 0, action: 'announce', info_hash: infoHash, peer_id: peerId, offers: [{ offer: sdp('offer'), offer_id: binaryId() }], ...extra });
    await refused(bad, '{"action":"announce",', 'TRACKER_MALFORMED_JSON', 'malformed_json', { action: undefined });
    await refused(bad, '[1,2]', 'TRACKER_MALFORMED_JSON', 'not_an_object');
    await refused(bad, { action: 'connect' }, 'TRACKER_UNKNOWN_ACTION', 'unknown_action');
    await refused(bad, ann({ info_hash: infoHash.slice(0, 19) }), 'TRACKER_BAD_INFO_HASH', 'bad_info_hash', { action: 'announce' });
    await refused(bad, ann({ info_hash: 'ā'.repeat(20) }), 'TRACKER_BAD_INFO_HASH', 'bad_info_hash');
    await refused(bad, ann({ peer_id: peerId + 'x' }), 'TRACKER_BAD_PEER_ID', 'bad_peer_id', { action: 'announce', info_hash: infoHash });
    await refused(bad, ann({ numwant: 21 }), 'TRACKER_BAD_NUMWANT', 'bad_numwant', { info_hash: infoHash });
    await refused(bad, ann({ numwant: -1 }), 'TRACKER_BAD_NUMWANT', 'bad_numwant');
    await refused(bad, ann({ numwant: '5' }), 'TRACKER_BAD_NUMWANT', 'bad_numwant');
    await refused(bad, ann({ offers: Array.from({ length: 7 }, () => ({ offer: sdp('offer'), offer_id: binaryId() })) }), 'TRACKER_TOO_MANY_OFFERS', 'too_many_offers');
    await refused(bad, ann({ offers: [{ offer: 'v=0', offer_id: binaryId() }] }), 'TRACKER_BAD_OFFERS', 'bad_offers');
    await refused(bad, ann({ offers: [{ offer: sdp('offer'), offer_id: 'short' }] }), 'TRACKER_BAD_OFFER_ID', 'bad_offer_id');
    await refused(bad, ann({ event: 'finished' }), 'TRACKER_BAD_EVENT', 'bad_event');
    await refused(bad, { action: 'scrape', info_hash: [binaryId(), binaryId(), binaryId(), binaryId()] }, 'TRACKER_TOO_MANY_INFO_HASHES', 'too_many_info_hashes', { action: 'scrape' });
    await refused(bad, { action: 'scrape', info_hash: 42 }, 'TRACKER_BAD_INFO_HASH', 'bad_info_hash', { action: 'scrape' });
    // Nothing was added by any of them.
    const s = await scrape(good1.client, infoHash);
    assert.deepEqual(s.files[infoHash], { complete: 0, incomplete: 2, downloaded: 0 });
    await goodPairWorks();
  });

  it('answers to unknown peers and offer ids are refused; a second answer to one offer too', async () => {
    const c = await connect();
    const p = new WirePeer(c, infoHash);
    p.announce({ event: 'started', offers: 0 });
    await p.reply();
    // Not announced on this connection.
    await refused(c, { action: 'announce', info_hash: infoHash, peer_id: binaryId(), to_peer_id: good1.peerId, answer: sdp('answer'), offer_id: binaryId() }, 'TRACKER_NOT_ANNOUNCED', 'not_announced', { action: 'announce', info_hash: infoHash });
    await refused(c, { action: 'announce', info_hash: infoHash, peer_id: p.peerId, to_peer_id: good1.peerId.slice(1), answer: sdp('answer'), offer_id: binaryId() }, 'TRACKER_BAD_TO_PEER_ID', 'bad_to_peer_id');
    await refused(c, { action: 'announce', info_hash: infoHash, peer_id: p.peerId, to_peer_id: good1.peerId, answer: sdp('answer'), offer_id: binaryId() }, 'TRACKER_UNKNOWN_PEER', 'unknown_peer', { action: 'announce', info_hash: infoHash });
    // An offer from good1 reaches p (the only peer wanting... good1 offers to everyone: numwant 3).
    good1.announce({ numwant: 3 });
    await good1.reply();
    const offer = await p.offer(10_000, good1.peerId);
    await refused(c, { action: 'announce', info_hash: infoHash, peer_id: p.peerId, to_peer_id: good1.peerId, answer: sdp('answer'), offer_id: binaryId() }, 'TRACKER_UNKNOWN_OFFER', 'unknown_offer');
    p.sendAnswer(offer, sdp('answer', 'from-p'));
    assert.deepEqual((await good1.answer()).answer, sdp('answer', 'from-p'));
    await refused(c, { action: 'announce', info_hash: infoHash, peer_id: p.peerId, to_peer_id: good1.peerId, answer: sdp('answer', 'twice'), offer_id: offer.offer_id }, 'TRACKER_UNKNOWN_OFFER', 'unknown_offer');
    assert.equal(good1.client.received.filter((m) => m.answer).length, 0, 'the refused answers reached nobody');
    // good2 got good1's other offer; drop it so goodPairWorks sees only new ones.
    await good2.offer(10_000, good1.peerId);
    p.announce({ event: 'stopped' });
    await p.reply();
    await goodPairWorks();
  });

  it('a connection holding too many peers is refused more', async () => {
    const c = await connect();
    const peerId = binaryId();
    for (let i = 0; i < 2; i++) {
      const p = new WirePeer(c, binaryId(), peerId);
      p.announce({ event: 'started', offers: 0 });
      await p.reply();
    }
    const third = new WirePeer(c, infoHash, peerId);
    const before = await series(server.url, 'brigade_tracker_failures_total', 'reason', 'too_many_peers');
    third.announce({ event: 'started', offers: 0 });
    const f = await third.failure();
    assert.equal(f['failure code'], 'TRACKER_TOO_MANY_PEERS');
    assert.equal(await series(server.url, 'brigade_tracker_failures_total', 'reason', 'too_many_peers'), before + 1);
    assert.equal((await scrape(c, infoHash)).files[infoHash].incomplete, 2, 'not added');
  });

  it('too many refusals close the connection with 4400', async () => {
    const c = await connect();
    const before = await series(server.url, 'brigade_tracker_closes_total', 'code', '4400');
    for (let i = 0; i < 17; i++) c.sendRaw('not json');
    const closed = await c.closed;
    assert.equal(closed.code, 4400);
    assert.equal(c.received.filter((m) => m['failure code'] === 'TRACKER_MALFORMED_JSON').length, 17, 'each refusal was answered, the 17th before the close');
    assert.equal(await series(server.url, 'brigade_tracker_closes_total', 'code', '4400'), before + 1);
    await goodPairWorks();
  });

  it('a flood is refused, then closed with 4429', async () => {
    const c = await connect();
    const beforeRate = await series(server.url, 'brigade_tracker_failures_total', 'reason', 'rate_limited');
    const before = await series(server.url, 'brigade_tracker_closes_total', 'code', '4429');
    const msg = JSON.stringify({ action: 'scrape', info_hash: infoHash });
    for (let i = 0; i < 500; i++) c.sendRaw(msg);
    const closed = await c.closed;
    assert.equal(closed.code, 4429);
    assert.ok(c.received.some((m) => m['failure code'] === 'TRACKER_RATE_LIMITED'), 'told it was rate limited');
    assert.equal(await series(server.url, 'brigade_tracker_closes_total', 'code', '4429'), before + 1);
    assert.ok(await series(server.url, 'brigade_tracker_failures_total', 'reason', 'rate_limited') > beforeRate);
    await goodPairWorks();
  });

  it('a message over --max-frame-bytes is closed with 1009 and counted', async () => {
    const c = await connect();
    const before = await series(server.url, 'brigade_tracker_failures_total', 'reason', 'too_big');
    c.send({ action: 'announce', info_hash: infoHash, peer_id: binaryId(), offers: [{ offer: { type: 'offer', sdp: 'x'.repeat(20_000) }, offer_id: binaryId() }] });
    assert.equal((await c.closed).code, 1009);
    await eventually(async () => (await series(server.url, 'brigade_tracker_failures_total', 'reason', 'too_big')) === before + 1, { what: 'too_big counted', intervalMs: 50 });
    await goodPairWorks();
  });

  it('frames that break RFC 6455 or carry bad UTF-8 are closed with 1002 / 1007 and counted', async () => {
    for (const [frame, code, reason] of [
      [clientFrame(Buffer.from('{"action":"scrape"}'), 0x81, false), 1002, 'bad_frame'], // unmasked
      [clientFrame(Buffer.from('{}'), 0xc1), 1002, 'bad_frame'], // RSV1: no extension was negotiated
      [clientFrame(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])), 1007, 'bad_utf8'],
    ] as const) {
      const before = await series(server.url, 'brigade_tracker_failures_total', 'reason', reason);
      const beforeClose = await series(server.url, 'brigade_tracker_closes_total', 'code', String(code));
      const { client, response } = await RawClient.open(server.port, Buffer.alloc(0), undefined, '/announce');
      assert.match(response, /^HTTP\/1.1 101 /);
      client.socket.write(clientFrame(Buffer.from(JSON.stringify({ action: 'scrape', info_hash: infoHash }))));
      const scraped = JSON.parse((await client.frame(1)).toString()) as Json;
      assert.equal(scraped.action, 'scrape', 'the connection worked before the bad frame');
      client.socket.write(frame);
      assert.equal(await client.closeCode(), code);
      await client.ended;
      await eventually(async () => (await series(server.url, 'brigade_tracker_failures_total', 'reason', reason)) === before + 1, { what: `${reason} counted`, intervalMs: 50 });
      assert.equal(await series(server.url, 'brigade_tracker_closes_total', 'code', String(code)), beforeClose + 1);
    }
    await goodPairWorks();
  });
});
