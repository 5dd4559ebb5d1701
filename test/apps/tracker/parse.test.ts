/**
 * parseMessage: what the real bittorrent-tracker client sends parses into the right request, and
 * every malformed field is a typed failure carrying the action and info_hash when known.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, failureText, type ParseLimits } from '../../../src/apps/tracker/index.ts';
import { binaryId, hex, sdp } from './wire-client.ts';

const limits: ParseLimits = { maxOffers: 5, maxNumwant: 10, maxScrapeHashes: 3, maxCandidates: 2, trickle: false };
const parse = (m: unknown, l: ParseLimits = limits) => parseMessage(typeof m === 'string' ? m : JSON.stringify(m), l);
const reason = (r: ReturnType<typeof parse>) => ('reason' in r ? r.reason : `parsed as ${r.kind}`);

describe('tracker parseMessage', () => {
  const infoHash = binaryId();
  const peerId = binaryId();
  const base = { numwant: 2, uploaded: 0, downloaded: 0, action: 'announce', info_hash: infoHash, peer_id: peerId };
  const offers = [{ offer: sdp('offer'), offer_id: binaryId() }, { offer: sdp('offer'), offer_id: binaryId() }];

  it('parses the real client\'s started announce with offers', () => {
    const r = parse({ ...base, event: 'started', offers });
    assert.ok(!('reason' in r) && r.kind === 'announce');
    assert.equal(r.infoHex, hex(infoHash));
    assert.equal(r.peerHex, hex(peerId));
    assert.equal(r.event, 'started');
    assert.equal(r.seeder, false);
    assert.equal(r.numwant, 2);
    assert.deepEqual(r.offers.map((o) => o.offerId), offers.map((o) => o.offer_id));
  });

  it('numwant caps the offers relayed; absent means all of them', () => {
    const one = parse({ ...base, numwant: 1, offers });
    assert.ok(!('reason' in one) && one.kind === 'announce' && one.numwant === 1);
    const { numwant: _, ...noNumwant } = base;
    const all = parse({ ...noNumwant, offers });
    assert.ok(!('reason' in all) && all.kind === 'announce' && all.numwant === 2);
  });

  it('left = 0 or completed makes a seeder; left absent or null is a leecher', () => {
    for (const [extra, seeder] of [[{ left: 0 }, true], [{ event: 'completed' }, true], [{}, false], [{ left: null }, false], [{ left: 5 }, false]] as const) {
      const r = parse({ ...base, ...extra });
      assert.ok(!('reason' in r) && r.kind === 'announce');
      assert.equal(r.seeder, seeder, JSON.stringify(extra));
    }
  });

  it('stopped and completed skip the numwant check (the client sends its default 50) and carry no offers', () => {
    for (const event of ['stopped', 'completed']) {
      const r = parse({ ...base, numwant: 50, event, offers });
      assert.ok(!('reason' in r) && r.kind === 'announce', event);
      assert.deepEqual([r.numwant, r.offers.length], [0, 0]);
    }
  });

  it('parses an answer', () => {
    const to = binaryId();
    const offerId = binaryId();
    const r = parse({ action: 'announce', info_hash: infoHash, peer_id: peerId, to_peer_id: to, answer: sdp('answer', 'x'), offer_id: offerId });
    assert.ok(!('reason' in r) && r.kind === 'answer');
    assert.deepEqual([r.toPeerHex, r.offerId, r.answer], [hex(to), offerId, sdp('answer', 'x')]);
  });

  it('parses scrapes of one, several and all info hashes', () => {
    const h2 = binaryId();
    const one = parse({ action: 'scrape', info_hash: infoHash });
    assert.ok(!('reason' in one) && one.kind === 'scrape');
    assert.deepEqual(one.infoHashes, [infoHash]);
    const two = parse({ action: 'scrape', info_hash: [infoHash, h2, infoHash] });
    assert.ok(!('reason' in two) && two.kind === 'scrape');
    assert.deepEqual(two.infoHashes, [infoHash, h2]);
    const all = parse({ action: 'scrape' });
    assert.ok(!('reason' in all) && all.kind === 'scrape' && all.infoHashes === null);
  });

  it('refuses every malformed field with its reason', () => {
    const cases: [unknown, string][] = [
      ['{"action":', 'malformed_json'],
      ['null', 'not_an_object'],
      [[base], 'not_an_object'],
      [{ action: 'connect' }, 'unknown_action'],
      [{ ...base, action: 'signal', to_peer_id: binaryId(), offer_id: binaryId(), candidates: [{}] }, 'unknown_action'],
      [{ ...base, info_hash: infoHash.slice(1) }, 'bad_info_hash'],
      [{ ...base, info_hash: 'Ā' + infoHash.slice(1) }, 'bad_info_hash'],
      [{ ...base, info_hash: 12 }, 'bad_info_hash'],
      [{ ...base, peer_id: peerId + 'x' }, 'bad_peer_id'],
      [{ ...base, numwant: 11, offers }, 'bad_numwant'],
      [{ ...base, numwant: 1.5 }, 'bad_numwant'],
      [{ ...base, numwant: -1 }, 'bad_numwant'],
      [{ ...base, numwant: '2' }, 'bad_numwant'],
      [{ ...base, offers: Array.from({ length: 6 }, () => offers[0]) }, 'too_many_offers'],
      [{ ...base, offers: {} }, 'bad_offers'],
      [{ ...base, offers: [{ offer: 'sdp', offer_id: binaryId() }] }, 'bad_offers'],
      [{ ...base, offers: [{ offer: sdp('offer'), offer_id: 'x' }] }, 'bad_offer_id'],
      [{ ...base, event: 'finish' }, 'bad_event'],
      [{ ...base, answer: 'sdp', to_peer_id: binaryId(), offer_id: binaryId() }, 'bad_answer'],
      [{ ...base, answer: sdp('answer'), to_peer_id: 'short', offer_id: binaryId() }, 'bad_to_peer_id'],
      [{ ...base, answer: sdp('answer'), to_peer_id: binaryId() }, 'bad_offer_id'],
      [{ action: 'scrape', info_hash: [infoHash, binaryId(), binaryId(), binaryId()] }, 'too_many_info_hashes'],
      [{ action: 'scrape', info_hash: [infoHash, 'short'] }, 'bad_info_hash'],
      [{ action: 'scrape', info_hash: { a: 1 } }, 'bad_info_hash'],
    ];
    for (const [msg, want] of cases) assert.equal(reason(parse(msg)), want, JSON.stringify(msg).slice(0, 120));
  });

  it('failures carry action and info_hash when known, and a code', () => {
    const f = parse({ ...base, numwant: 99 });
    assert.ok('reason' in f);
    assert.deepEqual(JSON.parse(failureText(f)), { action: 'announce', 'failure reason': f.message, 'failure code': 'TRACKER_BAD_NUMWANT', info_hash: infoHash });
    const g = parse({ ...base, info_hash: 'x' });
    assert.ok('reason' in g);
    assert.deepEqual(Object.keys(JSON.parse(failureText(g))), ['action', 'failure reason', 'failure code']);
  });

  it('the signal extension parses only when enabled, within its limits', () => {
    const on = { ...limits, trickle: true };
    const msg = { action: 'signal', info_hash: infoHash, peer_id: peerId, to_peer_id: binaryId(), offer_id: binaryId(), candidates: [{ candidate: 'c' }] };
    const r = parse(msg, on);
    assert.ok(!('reason' in r) && r.kind === 'signal' && r.candidates.length === 1);
    assert.equal(reason(parse({ ...msg, candidates: [] }, on)), 'bad_candidates');
    assert.equal(reason(parse({ ...msg, candidates: [1, 2, 3] }, on)), 'too_many_candidates');
    assert.equal(reason(parse({ ...msg, to_peer_id: 'x' }, on)), 'bad_to_peer_id');
  });
});
