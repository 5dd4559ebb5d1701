/**
 * The conformance suite of the optional engine abilities DirectMessages, Membership, Claims and HeldClaims
 * (core/engine.ts), run by each engine that has them.
 *
 * `make` returns a fresh, unopened engine (the suite opens and closes it). `options.makePair`, for
 * engines shared between processes, returns two fresh, unopened engines over ONE storage; the
 * cross-instance cases are only registered with it (an engine that cannot be shared has no such case). `options.cleanup` runs once, after every case.
 *
 * A shared engine starts delivering a little after receive() returns, so before counting messages
 * the cases send probes until every receiver has seen one ("settle"); probes are filtered out, and
 * as order holds per sender→address, no probe can arrive after the messages sent behind it.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import {
  hasClaims, hasDirectMessages, hasHeldClaims, hasMembership, type Claims, type DirectMessages, type Engine, type HeldClaims, type Membership,
} from '../../src/core/engine.ts';
import { BrigadeError } from '../../src/protocol/index.ts';
import { eventually } from '../helpers/eventually.ts';

type Able = Engine & DirectMessages & Membership;

export interface AbilitiesOptions {
  makePair?: () => Promise<[Engine, Engine]>;
  cleanup?: () => Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PROBE = encoder.encode('\u0000brigade-conformance-probe\u0000');

let counter = 0;
function unique(label: string): string {
  return `abil-${process.pid}-${Date.now().toString(36)}-${counter++}-${label}`;
}

function isProbe(bytes: Uint8Array): boolean {
  return bytes.length === PROBE.length && bytes.every((b, i) => b === PROBE[i]);
}

// A marker: a one-off message that tells a receiver everything sent before it has arrived.
const MARKER = '\u0000brigade-conformance-marker ';
let markers = 0;
function markerOf(bytes: Uint8Array): string | null {
  const text = bytes.length > MARKER.length && bytes.length < 64 ? decoder.decode(bytes) : '';
  return text.startsWith(MARKER) ? text : null;
}

interface Inbox {
  got: number[][];
  probes: number;
  /** Markers received (drained() sends them); never in `got`. */
  markers: Set<string>;
  stop: () => void;
}

function inbox(engine: Able, address: string): Inbox {
  const box: Inbox = { got: [], probes: 0, markers: new Set(), stop: () => undefined };
  box.stop = engine.receive(address, (bytes) => {
    assert.ok(bytes instanceof Uint8Array, 'delivered as bytes');
    const marker = markerOf(bytes);
    if (isProbe(bytes)) box.probes++;
    else if (marker) box.markers.add(marker);
    else box.got.push(Array.from(bytes));
  });
  return box;
}

/** Sends probes until every inbox has seen one: from then on, their subscriptions are in place. */
async function settle(sender: Able, address: string, boxes: Inbox[]): Promise<void> {
  await eventually(async () => {
    if (boxes.every((box) => box.probes > 0)) return true;
    await sender.sendTo(address, PROBE);
    return false;
  }, { what: `receivers of ${address} in place` });
}

/**
 * Sends a marker to `address` after whatever was sent before and waits for `box` to get it:
 * messages to one address arrive in order, so everything sent earlier has arrived by then, and
 * anything that has not will not (the positive signal a test of "nothing else arrives" needs).
 */
async function drained(sender: Able, address: string, box: Inbox): Promise<void> {
  const marker = `${MARKER}${markers++}`;
  await sender.sendTo(address, encoder.encode(marker));
  await eventually(() => box.markers.has(marker), { what: `the marker to reach ${address}` });
}

function isUnavailable(err: unknown): boolean {
  assert.ok(err instanceof BrigadeError, `expected a BrigadeError, got ${String(err)}`);
  assert.equal(err.code, 'UNAVAILABLE');
  return true;
}

export function runAbilitiesConformance(
  name: string,
  make: () => Promise<Engine>,
  options: AbilitiesOptions = {},
): void {
  describe(`engine abilities conformance: ${name}`, () => {
    const opened: Engine[] = [];
    const open = async (engine: Engine): Promise<Able> => {
      assert.ok(hasDirectMessages(engine), 'has DirectMessages');
      assert.ok(hasMembership(engine), 'has Membership');
      opened.push(engine);
      await engine.open();
      return engine;
    };
    const fresh = async (): Promise<Able> => open(await make());

    afterEach(async () => {
      for (const e of opened.splice(0)) await e.close().catch(() => undefined);
    });
    after(async () => {
      await options.cleanup?.();
    });

    describe('direct messages', () => {
      it('delivers identical bytes to the receiver, zeros included', async () => {
        const engine = await fresh();
        const address = unique('bytes');
        const box = inbox(engine, address);
        await settle(engine, address, [box]);
        const payloads = [
          new Uint8Array([0, 0, 255, 0, 10, 13, 0]),
          new Uint8Array(0),
          Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256),
          encoder.encode('ünïcødé 👋'),
        ];
        // A view into a larger buffer: only its own bytes go out.
        const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
        const view = backing.subarray(2, 5);
        for (const bytes of [...payloads, view]) await engine.sendTo(address, bytes);
        await drained(engine, address, box);
        assert.deepEqual(box.got, [...payloads.map((p) => Array.from(p)), [1, 2, 3]]);
      });

      it('never runs a handler inside sendTo', async () => {
        const engine = await fresh();
        const address = unique('reentry');
        let inside = false;
        let reentered = false;
        const stop = engine.receive(address, () => {
          if (inside) reentered = true;
        });
        const box = inbox(engine, address);
        await settle(engine, address, [box]);
        inside = true;
        const sent = engine.sendTo(address, new Uint8Array([1]));
        inside = false;
        await sent;
        await eventually(() => box.got.length === 1, { what: 'delivered' });
        assert.equal(reentered, false);
        stop();
      });

      it('stops delivering to an unsubscribed handler and keeps the others', async () => {
        const engine = await fresh();
        const address = unique('unsub');
        const stays = inbox(engine, address);
        const leaves = inbox(engine, address);
        await settle(engine, address, [stays, leaves]);
        await engine.sendTo(address, new Uint8Array([1]));
        await eventually(() => stays.got.length === 1 && leaves.got.length === 1, { what: 'both get the first' });
        leaves.stop();
        leaves.stop(); // idempotent
        await engine.sendTo(address, new Uint8Array([2]));
        await drained(engine, address, stays);
        assert.deepEqual(leaves.got, [[1]]);
        assert.deepEqual(stays.got, [[1], [2]]);

        // The last receiver gone and a new one added: the address works again.
        stays.stop();
        const again = inbox(engine, address);
        await settle(engine, address, [again]);
        await engine.sendTo(address, new Uint8Array([3]));
        await eventually(() => again.got.length === 1, { what: 'the new receiver gets the third' });
        assert.deepEqual(stays.got, [[1], [2]]);
      });

      it('resolves a send to an address nobody receives and drops the message', async () => {
        const engine = await fresh();
        const address = unique('nobody');
        await engine.sendTo(address, new Uint8Array([42]));
        const box = inbox(engine, address);
        await settle(engine, address, [box]);
        await engine.sendTo(address, new Uint8Array([43]));
        await eventually(() => box.got.length === 1, { what: 'the later message delivered' });
        assert.deepEqual(box.got, [[43]], 'the earlier message was not kept for a later receiver');
      });

      it('keeps the order of 100 messages from one sender to one address', async () => {
        const engine = await fresh();
        const address = unique('order');
        const box = inbox(engine, address);
        await settle(engine, address, [box]);
        // Issued back to back without waiting: the order of the calls is the order promised.
        await Promise.all(Array.from({ length: 100 }, (_, i) => engine.sendTo(address, new Uint8Array([i, 0, i]))));
        await eventually(() => box.got.length >= 100, { what: '100 delivered' });
        assert.deepEqual(box.got, Array.from({ length: 100 }, (_, i) => [i, 0, i]));
      });

      it('keeps addresses apart', async () => {
        const engine = await fresh();
        const [x, y] = [unique('x'), unique('y')];
        const boxX = inbox(engine, x);
        const boxY = inbox(engine, y);
        await settle(engine, x, [boxX]);
        await settle(engine, y, [boxY]);
        await engine.sendTo(x, new Uint8Array([1]));
        await engine.sendTo(y, new Uint8Array([2]));
        await drained(engine, x, boxX);
        await drained(engine, y, boxY);
        assert.deepEqual(boxX.got, [[1]]);
        assert.deepEqual(boxY.got, [[2]]);
      });

      if (options.makePair) it('delivers to receivers on two engines sharing the storage', async () => {
        const [a, b] = await Promise.all((await options.makePair!()).map(open));
        const address = unique('pair');
        const onA = inbox(a, address);
        const onB = inbox(b, address);
        await settle(a, address, [onA, onB]);
        await a.sendTo(address, new Uint8Array([0, 1, 0]));
        await b.sendTo(address, new Uint8Array([2]));
        await eventually(() => onA.got.length === 2 && onB.got.length === 2, { what: 'both engines get both' });
        for (const box of [onA, onB]) {
          assert.deepEqual([...box.got].sort((p, q) => p.length - q.length), [[2], [0, 1, 0]]);
        }
      });

      it('rejects with UNAVAILABLE after close', async () => {
        const engine = await fresh();
        await engine.close();
        await assert.rejects(engine.sendTo(unique('closed'), new Uint8Array([1])), isUnavailable);
        assert.throws(() => engine.receive(unique('closed'), () => undefined), isUnavailable);
      });
    });

    describe('membership', () => {
      it('lists members sorted and counts them', async () => {
        const engine = await fresh();
        const set = unique('set');
        assert.deepEqual(await engine.members(set), []);
        assert.equal(await engine.count(set), 0);
        for (const member of ['carol', 'alice', 'bob', 'Zed', 'ünï']) await engine.join(set, member, 60_000);
        await engine.join(set, 'alice', 60_000); // twice is once
        assert.deepEqual(await engine.members(set), ['Zed', 'alice', 'bob', 'carol', 'ünï']);
        assert.equal(await engine.count(set), 5);
      });

      it('expires a member not re-joined within its TTL, and keeps the others', async () => {
        const engine = await fresh();
        const set = unique('ttl');
        // Present after join (with a TTL no stall of a loaded machine outlasts), then re-joined with
        // a short TTL, which a re-join may do: checking presence right after a 150 ms join would be
        // a timing assertion.
        await engine.join(set, 'short', 60_000);
        await engine.join(set, 'long', 60_000);
        assert.deepEqual(await engine.members(set), ['long', 'short'], 'present after join');
        await engine.join(set, 'short', 150);
        await eventually(async () => (await engine.count(set)) === 1, { what: 'the short one expires' });
        assert.deepEqual(await engine.members(set), ['long']);
      });

      it('refreshes the TTL on re-join', async () => {
        const engine = await fresh();
        const set = unique('rejoin');
        await engine.join(set, 'm', 150);
        await engine.join(set, 'm', 60_000);
        await engine.join(set, 'gone', 150);
        await eventually(async () => (await engine.count(set)) === 1, { what: 'the other short one expires' });
        assert.deepEqual(await engine.members(set), ['m'], 're-joined member outlives its first TTL');
        // And a re-join may shorten it again.
        await engine.join(set, 'm', 150);
        await eventually(async () => (await engine.count(set)) === 0, { what: 'the re-joined member expires' });
        assert.deepEqual(await engine.members(set), []);
      });

      it('removes a member on leave; leaving twice or from an unknown set is fine', async () => {
        const engine = await fresh();
        const set = unique('leave');
        await engine.join(set, 'a', 60_000);
        await engine.join(set, 'b', 60_000);
        await engine.leave(set, 'a');
        assert.deepEqual(await engine.members(set), ['b']);
        assert.equal(await engine.count(set), 1);
        await engine.leave(set, 'a');
        await engine.leave(unique('unknown'), 'a');
        await engine.leave(set, 'b');
        assert.deepEqual(await engine.members(set), []);
        assert.equal(await engine.count(set), 0);
        await engine.join(set, 'a', 60_000);
        assert.deepEqual(await engine.members(set), ['a'], 'a member may come back');
      });

      it('reads every change after a read (refresh, join, leave, expiry), and never changes a list it handed out', async () => {
        const engine = await fresh();
        const set = unique('reread');
        await engine.join(set, 'b', 60_000);
        await engine.join(set, 'x', 60_000); // shortened below, once the reads are done
        const first = await engine.members(set);
        assert.deepEqual(first, ['b', 'x']);
        await engine.join(set, 'b', 60_000); // a refresh changes nothing listed
        assert.deepEqual(await engine.members(set), ['b', 'x']);
        await engine.join(set, 'a', 60_000);
        const second = await engine.members(set);
        assert.deepEqual(second, ['a', 'b', 'x'], 'a member joined after a read is listed');
        await engine.leave(set, 'b');
        assert.deepEqual(await engine.members(set), ['a', 'x'], 'a member that left after a read is gone');
        await engine.join(set, 'x', 150);
        await eventually(async () => (await engine.count(set)) === 1, { what: 'x expires after the reads' });
        assert.deepEqual(await engine.members(set), ['a']);
        assert.deepEqual(first, ['b', 'x'], 'the lists read earlier are as they were');
        assert.deepEqual(second, ['a', 'b', 'x']);
      });

      it('keeps sets independent', async () => {
        const engine = await fresh();
        const [s1, s2] = [unique('s1'), unique('s2')];
        await engine.join(s1, 'a', 60_000);
        await engine.join(s2, 'b', 60_000);
        await engine.join(s2, 'a', 60_000);
        await engine.leave(s1, 'a');
        assert.deepEqual(await engine.members(s1), []);
        assert.deepEqual(await engine.members(s2), ['a', 'b']);
        await engine.join(s2, 'a', 150);
        await eventually(async () => (await engine.count(s2)) === 1, { what: 'a expires in s2' });
        assert.deepEqual(await engine.members(s2), ['b']);
      });

      if (options.makePair) it('shares sets between two engines on one storage', async () => {
        const [a, b] = await Promise.all((await options.makePair!()).map(open));
        const set = unique('shared');
        await a.join(set, 'from-a', 60_000);
        await b.join(set, 'from-b', 60_000);
        assert.deepEqual(await a.members(set), ['from-a', 'from-b']);
        assert.equal(await b.count(set), 2);
        await b.leave(set, 'from-a');
        assert.deepEqual(await a.members(set), ['from-b']);
      });

      it('rejects with UNAVAILABLE after close', async () => {
        const engine = await fresh();
        await engine.close();
        const set = unique('closed');
        await assert.rejects(engine.join(set, 'a', 1000), isUnavailable);
        await assert.rejects(engine.leave(set, 'a'), isUnavailable);
        await assert.rejects(engine.members(set), isUnavailable);
        await assert.rejects(engine.count(set), isUnavailable);
      });
    });

    describe('claims', () => {
      const claimer = async (): Promise<Able & Claims> => {
        const engine = await fresh();
        assert.ok(hasClaims(engine), 'has Claims');
        return engine;
      };

      it('takes a key once until its ttl is up, and says how long is left', async () => {
        const engine = await claimer();
        const key = unique('cooldown');
        assert.equal(await engine.claim(key, 60_000), 0, 'free: taken');
        const left = await engine.claim(key, 60_000);
        assert.ok(left > 0 && left <= 60_000, `held: ${left} ms left`);
        assert.equal(await engine.claim(unique('other'), 60_000), 0, 'another key is free');
        const short = unique('short');
        // A second is a liveness margin on a loaded machine, not a timing assertion: held, then free.
        assert.equal(await engine.claim(short, 1000), 0);
        assert.ok((await engine.claim(short, 1000)) > 0, 'held until it expires');
        await eventually(async () => (await engine.claim(short, 60_000)) === 0, { what: 'the short claim expires' });
        assert.ok((await engine.claim(short, 40)) > 0, 'taken again, for the new ttl');
      });

      it('gives a key to exactly one of many claims made at once', async () => {
        const engine = await claimer();
        const key = unique('race');
        const results = await Promise.all(Array.from({ length: 20 }, () => engine.claim(key, 60_000)));
        assert.equal(results.filter((r) => r === 0).length, 1, `one taken: ${results.join(',')}`);
      });

      it('refuses a ttl that is not a positive number', async () => {
        const engine = await claimer();
        await assert.rejects(engine.claim(unique('x'), 0), RangeError);
        await assert.rejects(engine.claim(unique('x'), Number.NaN), RangeError);
      });

      if (options.makePair) it('shares claims between two engines on one storage', async () => {
        const [a, b] = await Promise.all((await options.makePair!()).map(open)) as (Able & Claims)[];
        const key = unique('shared-claim');
        assert.equal(await a.claim(key, 60_000), 0);
        assert.ok((await b.claim(key, 60_000)) > 0, 'held by the other engine');
      });

      it('rejects with UNAVAILABLE after close', async () => {
        const engine = await claimer();
        await engine.close();
        await assert.rejects(engine.claim(unique('closed'), 1000), isUnavailable);
      });
    });

    describe('held claims', () => {
      const holderOf = async (): Promise<Able & HeldClaims> => {
        const engine = await fresh();
        assert.ok(hasHeldClaims(engine), 'has HeldClaims');
        return engine;
      };

      it('is held by one holder, renewed by it, refused to another until it ends', async () => {
        const engine = await holderOf();
        const key = unique('room');
        assert.deepEqual(await engine.holdClaim(key, 'node-a', 60_000), { holder: 'node-a', ttlMs: 60_000 }, 'free: taken');
        assert.deepEqual(await engine.holdClaim(key, 'node-a', 30_000), { holder: 'node-a', ttlMs: 30_000 }, 'renewed by its holder');
        const other = await engine.holdClaim(key, 'node-b', 60_000);
        assert.equal(other.holder, 'node-a', 'another holder is told who holds it');
        assert.ok(other.ttlMs > 0 && other.ttlMs <= 30_000, `and for how long: ${other.ttlMs}`);
        assert.equal(await engine.releaseClaim(key, 'node-b'), false, 'not node-b\'s to release');
        assert.equal((await engine.holdClaim(key, 'node-b', 60_000)).holder, 'node-a', 'still node-a\'s');
        assert.equal(await engine.releaseClaim(key, 'node-a'), true);
        assert.equal((await engine.holdClaim(key, 'node-b', 60_000)).holder, 'node-b', 'free after release');
      });

      it('is free for another holder once its holder stops renewing', async () => {
        const engine = await holderOf();
        const key = unique('expiring');
        assert.equal((await engine.holdClaim(key, 'dead-node', 300)).holder, 'dead-node');
        await eventually(async () => (await engine.holdClaim(key, 'next-node', 60_000)).holder === 'next-node', { what: 'the claim expires' });
        assert.equal((await engine.holdClaim(key, 'dead-node', 60_000)).holder, 'next-node', 'the old holder does not get it back');
      });

      it('gives a key to exactly one of many holders at once', async () => {
        const engine = await holderOf();
        const key = unique('race');
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.holdClaim(key, `node-${i}`, 60_000)));
        const winners = new Set(results.map((r) => r.holder));
        assert.equal(winners.size, 1, `every answer names one holder: ${[...winners].join(',')}`);
      });

      it('refuses a bad ttl or holder', async () => {
        const engine = await holderOf();
        await assert.rejects(engine.holdClaim(unique('x'), 'a', 0), RangeError);
        await assert.rejects(engine.holdClaim(unique('x'), '', 1000), RangeError);
      });

      if (options.makePair) it('shares held claims between two engines on one storage', async () => {
        const [a, b] = await Promise.all((await options.makePair!()).map(open)) as (Able & HeldClaims)[];
        const key = unique('shared-held');
        assert.equal((await a.holdClaim(key, 'node-a', 60_000)).holder, 'node-a');
        assert.equal((await b.holdClaim(key, 'node-b', 60_000)).holder, 'node-a', 'held through the other engine');
      });

      it('rejects with UNAVAILABLE after close', async () => {
        const engine = await holderOf();
        await engine.close();
        await assert.rejects(engine.holdClaim(unique('closed'), 'a', 1000), isUnavailable);
      });
    });
  });
}
