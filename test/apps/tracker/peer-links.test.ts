/**
 * PeerLinks (src/apps/tracker/peer.ts): the offers and answers a peer was sent, bounded, oldest
 * forgotten first, found by offer_id and the other peer together. Checked against a plain model
 * (an array of links) through thousands of random operations, so the hash table's growth and
 * deletions cannot lose or invent a link.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PeerLinks } from '../../../src/apps/tracker/peer.ts';
import { prng } from '../../helpers/prng.ts';

const rand = prng(11);
const binary = () => String.fromCharCode(...Array.from({ length: 20 }, () => Math.floor(rand() * 256)));

describe('tracker PeerLinks', () => {
  it('finds what it remembers, by offer id and other peer together; forgets the oldest past max', () => {
    const links = new PeerLinks(3);
    const [a, b, c, d] = [binary(), binary(), binary(), binary()];
    links.remember('p1', a, 'n1', false);
    links.remember('p2', a, 'n2', false); // the same offer_id from another peer is another link
    links.remember('p1', b, 'n1', false);
    assert.equal(links.nodeId(links.find('p1', a)), 'n1');
    assert.equal(links.nodeId(links.find('p2', a)), 'n2');
    assert.equal(links.find('p3', a), -1);
    assert.equal(links.find('p1', c), -1);
    links.markAnswered(links.find('p1', b));
    assert.equal(links.answered(links.find('p1', b)), true);
    assert.equal(links.answered(links.find('p1', a)), false);
    links.remember('p1', c, 'n3', false); // full: p1/a, the oldest, goes
    assert.equal(links.find('p1', a), -1);
    assert.ok(links.find('p2', a) >= 0);
    assert.equal(links.knows('p1'), true);
    links.remember('p4', d, 'n1', false);
    links.remember('p4', binary(), 'n1', false);
    assert.equal(links.knows('p2'), false);
    // Refreshing a link keeps its slot and takes the new node and flag.
    const slot = links.find('p4', d);
    links.remember('p4', d, 'n9', true);
    assert.equal(links.find('p4', d), slot);
    assert.equal(links.nodeId(slot), 'n9');
    assert.equal(links.answered(slot), true);
  });

  it('agrees with a plain model through random remembers, refreshes and evictions', () => {
    for (const max of [1, 2, 7, 8, 9, 64, 256]) {
      const links = new PeerLinks(max);
      const model: { from: string; id: string; node: string }[] = [];
      // Few distinct ids and peers, so refreshes and shared offer_ids happen often; ids sharing
      // their first 8 bytes (one hash) exercise long probe chains.
      const ids = Array.from({ length: 3 * max + 5 }, (_, i) => (i % 4 === 0 ? 'SAMEHASH' + binary().slice(8) : binary()));
      const peers = ['a', 'b', 'c'];
      for (let op = 0; op < 4000; op++) {
        const from = peers[Math.floor(rand() * peers.length)];
        const id = ids[Math.floor(rand() * ids.length)];
        const node = `n${op}`;
        links.remember(from, id, node, false);
        const hit = model.find((l) => l.from === from && l.id === id);
        if (hit) hit.node = node;
        else {
          if (model.length === max) model.shift();
          model.push({ from, id, node });
        }
        if (op % 97 === 0 || op > 3900) {
          for (const p of peers) for (const i of ids) {
            const m = model.find((l) => l.from === p && l.id === i);
            const slot = links.find(p, i);
            assert.equal(slot >= 0, m !== undefined, `max ${max} op ${op}: ${p} ${m ? 'lost' : 'invented'} a link`);
            if (m) assert.equal(links.nodeId(slot), m.node);
          }
        }
      }
    }
  });

  it('remembers nothing with max 0, and ignores ids that are not 20 characters', () => {
    const none = new PeerLinks(0);
    none.remember('p', binary(), 'n', false);
    assert.equal(none.knows('p'), false);
    const links = new PeerLinks(4);
    links.remember('p', 'short', 'n', false);
    assert.equal(links.find('p', 'short'), -1);
    assert.equal(links.knows('p'), false);
  });
});
