/**
 * Swarm membership strings, target picking, and the node-to-node relay codec.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { peerMember, pickTargets, swarmView } from '../../../src/apps/tracker/index.ts';
import { decodeRelay, encodeRelay } from '../../../src/apps/tracker/relay.ts';
import { prng } from '../../helpers/prng.ts';

const peer = (i: number) => i.toString(16).padStart(40, '0');

describe('tracker swarm membership', () => {
  it('counts distinct peers, seeders and leechers, and knows each one\'s node', () => {
    const v = swarmView([peerMember(peer(1), 'n1', false), peerMember(peer(2), 'n2', true), peerMember(peer(3), 'n1', false), 'garbage', 'x@y']);
    assert.deepEqual([v.complete, v.incomplete, v.peers.length], [1, 2, 3]);
    assert.deepEqual(v.peers.find((p) => p.peerHex === peer(2)), { peerHex: peer(2), nodeId: 'n2', seeder: true });
  });

  it('a peer listed by two nodes (a reconnect, until the old entry expires) counts once, seeder winning', () => {
    const v = swarmView([peerMember(peer(1), 'old', false), peerMember(peer(1), 'new', true), peerMember(peer(2), 'a', false), peerMember(peer(2), 'b', false)].sort());
    assert.deepEqual([v.complete, v.incomplete, v.peers.length], [1, 1, 2]);
  });

  it('picks up to n distinct peers at random, never the announcer, in small and large swarms', () => {
    const rand = prng(7);
    for (const size of [1, 3, 10, 500]) {
      const peers = Array.from({ length: size }, (_, i) => ({ peerHex: peer(i) }));
      for (const n of [0, 1, 5, 20]) {
        const picked = pickTargets(peers, n, peer(0), rand);
        assert.equal(picked.length, Math.min(n, size - 1), `size ${size} n ${n}`);
        assert.equal(new Set(picked.map((p) => p.peerHex)).size, picked.length, 'distinct');
        assert.ok(!picked.some((p) => p.peerHex === peer(0)), 'never self');
      }
    }
    // Every peer can be picked (a fair draw over many tries).
    const peers = Array.from({ length: 8 }, (_, i) => ({ peerHex: peer(i) }));
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) for (const p of pickTargets(peers, 2, peer(0), rand)) seen.add(p.peerHex);
    assert.equal(seen.size, 7);
  });

  it('the relay codec round-trips and drops malformed items', () => {
    const offerId = 'o'.repeat(19) + 'ÿ';
    const items = [
      { k: 'o' as const, h: peer(1), p: peer(2), f: peer(3), o: offerId, x: { type: 'offer', sdp: 'v=0' } },
      { k: 'c' as const, h: peer(1), p: peer(2), f: peer(3), o: offerId, c: [{ candidate: 'a' }, { candidate: 'b' }] },
    ];
    assert.deepEqual(decodeRelay(encodeRelay({ n: 'node', i: items })), { n: 'node', i: items });
    const bad = Buffer.from(JSON.stringify({ n: 'node', i: [{ ...items[0], h: 'zz' }, { ...items[0], x: null }, items[1]] }));
    assert.deepEqual(decodeRelay(bad)?.i, [items[1]]);
    assert.equal(decodeRelay(Buffer.from('nope')), null);
  });
});
