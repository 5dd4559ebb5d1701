import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceStore, idToHex } from '../../../src/apps/inbox/devices.ts';
import { evaluate, parseExpression } from '../../../src/apps/inbox/expression.ts';
import {
  MessagesChannelType, RegistryChannelType, encodeEvent, inboxEpoch, type MessageEvent, type RegistryEvent,
} from '../../../src/apps/inbox/world.ts';

const hex = (n: number) => idToHex(0x9000_0000 + n, (n * 2654435761) >>> 0);

test('device store: register, find, profiles round-trip, update, forget, reuse, sweep', () => {
  const s = new DeviceStore();
  for (let i = 0; i < 1000; i++) {
    s.register(hex(i), { groups: [`g${i % 7}`, 'all-users'], attributes: { n: i, half: i / 2, country: i % 2 ? 'FR' : 'BE' } }, 1_000_000 + i * 1000, i);
  }
  assert.equal(s.size, 1000);
  const i5 = s.findHex(hex(5));
  assert.ok(i5 >= 0);
  assert.deepEqual(s.profile(i5), { groups: ['g5', 'all-users'], attributes: { n: 5, half: 2.5, country: 'FR' } });
  assert.equal(s.findHex('0000000000000000'), -1);
  s.update(i5, ['x'], undefined, 5_000_000, 2000);
  assert.deepEqual(s.profile(i5), { groups: ['x'], attributes: { n: 5, half: 2.5, country: 'FR' } });
  s.update(i5, undefined, { big: 2 ** 40, neg: -7 }, 5_000_000, 2001);
  assert.deepEqual(s.profile(i5), { groups: ['x'], attributes: { big: 2 ** 40, neg: -7 } });
  // Evaluation through the Recipient view.
  const r = s.recipient();
  const e = parseExpression('group:g3 and country = "FR" and n >= 100');
  let matched = 0;
  for (const i of s.indexes()) {
    r.at(i);
    if (evaluate(e, r)) matched++;
  }
  const expected = Array.from({ length: 1000 }, (_, i) => i).filter((i) => i % 7 === 3 && i % 2 === 1 && i >= 100).length;
  assert.equal(matched, expected);
  r.at(s.findHex(hex(10)));
  assert.equal(r.id, hex(10));
  // Forget and reuse.
  s.forget(s.findHex(hex(10)));
  assert.equal(s.findHex(hex(10)), -1);
  assert.equal(s.size, 999);
  s.register(hex(5000), { groups: [], attributes: {} }, 9_000_000, 3000);
  assert.ok(s.findHex(hex(5000)) >= 0);
  // Every other device is still found (tombstones do not break probing).
  for (let i = 0; i < 1000; i++) if (i !== 10) assert.ok(s.findHex(hex(i)) >= 0, `device ${i}`);
  // Sweep: seen before 1,500,000 ms = the first 500 (seen at 1,000,000 + i s... in ms: i*1000).
  const gone = s.sweep(1_000_000 + 500 * 1000);
  assert.equal(gone, 498, 'devices 0..499 but 5 (updated later) and 10 (forgotten)');
  assert.equal(s.findHex(hex(0)), -1);
  assert.ok(s.findHex(hex(5)) >= 0);
  assert.ok(s.findHex(hex(700)) >= 0);
  // Snapshot round-trip.
  const copy = DeviceStore.decode(s.encode());
  assert.equal(copy.size, s.size);
  for (const i of s.indexes()) {
    const id = idToHex(s.idHi[i], s.idLo[i]);
    const j = copy.findHex(id);
    assert.ok(j >= 0, id);
    assert.deepEqual(copy.profile(j), s.profile(i));
    assert.equal(copy.seenSec[j], s.seenSec[i]);
  }
  copy.register(hex(6000), { groups: ['late'], attributes: {} }, 9_000_000, 1);
  assert.deepEqual(copy.profile(copy.findHex(hex(6000))).groups, ['late']);
});

test('registry fold: register, update, seen, sweep; a bad payload is skipped', () => {
  const t = new RegistryChannelType();
  const st = t.init();
  const ev = (e: RegistryEvent) => encodeEvent(e);
  t.apply(st, ev({ t: 'reg', id: hex(1), g: ['a'], a: { age: 20 }, at: 1000_000 }), 0);
  t.apply(st, ev({ t: 'reg', id: hex(2), g: ['b'], a: {}, at: 1000_000 }), 1);
  t.apply(st, new TextEncoder().encode('not json'), 2);
  t.apply(st, ev({ t: 'upd', id: hex(1), g: ['a', 'c'], at: 2000_000 }), 3);
  t.apply(st, ev({ t: 'seen', ids: [hex(2)], at: 5000_000 }), 4);
  t.apply(st, ev({ t: 'sweep', before: 3000_000 }), 5);
  assert.equal(st.head, 6);
  assert.equal(st.devices.findHex(hex(1)), -1, 'device 1 last seen at 2000 s, swept');
  assert.ok(st.devices.findHex(hex(2)) >= 0);
  assert.equal(st.devices.rev[st.devices.findHex(hex(2))], 2);
  assert.equal(t.validate('inbox:registry')?.code, 'FORBIDDEN');
  assert.equal(t.authorizeSubscribe('inbox:registry')?.code, 'FORBIDDEN');
});

test('messages fold: publish, scheduled deliver (once), edit, recall, expire, counts, snapshot', () => {
  const t = new MessagesChannelType(2);
  const st = t.init();
  let v = 0;
  const ev = (e: MessageEvent) => t.apply(st, encodeEvent(e), v++);
  ev({ t: 'pub', id: 'm1', to: 'group:a', title: 'T', body: 'B', deliverAt: 0, expiresAt: 0, at: 1000 });
  ev({ t: 'pub', id: 'm2', to: 'all', title: 'S', body: 'later', deliverAt: 5000, expiresAt: 9000, at: 1000 });
  assert.equal(st.live.get('m1')!.status, 'live');
  assert.equal(st.live.get('m1')!.seq, 1);
  assert.equal(st.live.get('m2')!.status, 'scheduled');
  ev({ t: 'deliver', id: 'm2' });
  ev({ t: 'deliver', id: 'm2' }); // a second node's deliver: no change
  assert.equal(st.live.get('m2')!.status, 'live');
  assert.equal(st.live.get('m2')!.seq, 3);
  ev({ t: 'edit', id: 'm1', at: 2000, title: 'T2', to: 'group:b' });
  assert.equal(st.live.get('m1')!.title, 'T2');
  assert.deepEqual(st.live.get('m1')!.expr, { op: 'group', name: 'b' });
  assert.equal(st.live.get('m1')!.seq, 5);
  ev({ t: 'counts', c: { m1: [3, 1], nope: [1, 1] } });
  assert.equal(st.live.get('m1')!.delivered, 3);
  ev({ t: 'recall', id: 'm1', at: 3000 });
  ev({ t: 'edit', id: 'm1', at: 3000, title: 'too late' });
  assert.equal(st.live.has('m1'), false);
  assert.equal(st.gone.get('m1')!.status, 'recalled');
  assert.equal(st.gone.get('m1')!.title, 'T2');
  ev({ t: 'expire', id: 'm2' });
  assert.equal(st.gone.get('m2')!.status, 'expired');
  assert.deepEqual(st.changeSeqs, [1, 2, 3, 5, 7, 9]);
  assert.deepEqual(st.changeIds, ['m1', 'm2', 'm2', 'm1', 'm1', 'm2']);
  ev({ t: 'pub', id: 'm3', to: 'all', title: '', body: '', deliverAt: 0, expiresAt: 0, at: 1 });
  ev({ t: 'recall', id: 'm3', at: 3000 });
  assert.equal(st.gone.size, 2, 'at most 2 tombstones kept');
  assert.equal(st.gone.has('m1'), false);
  ev({ t: 'pub', id: 'm4', to: 'group:x', title: 't', body: 'b', data: { k: [1] }, deliverAt: 0, expiresAt: 0, at: 1 });
  const copy = t.decodeSnapshot('inbox:messages', t.encodeSnapshot(st));
  assert.deepEqual(copy.live.get('m4'), st.live.get('m4'));
  assert.deepEqual([...copy.gone.keys()], [...st.gone.keys()]);
});

test('matcher: compiled over interned ids, it decides as evaluate() does, on every device and expression', () => {
  const s = new DeviceStore();
  const groups = ['a', 'b', 'c', 'd'];
  const values: (string | number)[] = ['FR', 'DE', 'x', 0, 1, 2.5, -3, 2 ** 40];
  let seed = 7;
  const pick = <T>(xs: T[]): T => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return xs[(seed >>> 8) % xs.length];
  };
  for (let i = 0; i < 300; i++) {
    const attributes: Record<string, string | number> = {};
    for (const name of ['k', 'n', 'm']) if (pick([true, false, true])) attributes[name] = pick(values);
    s.register(hex(i), { groups: groups.filter(() => pick([true, false])), attributes }, 1_000_000, i);
  }
  const sources = [
    'all', 'group:a', 'group:zz', `device:${hex(7)}`, 'k = "FR"', 'k != "FR"', 'k = "nowhere"', 'k != "nowhere"', 'k < "G"', 'k >= "x"',
    'n = 1', 'n != 1', 'n > 0', 'n <= 2.5', 'n < 0', 'm >= 1099511627776', 'k in ["FR", "x", "nowhere"]', 'n in [0, 2.5, 7]', 'k in [1, "DE"]',
    'missing = 1', 'missing != "a"', 'not k = "FR"', 'group:a and (k = "DE" or n >= 1) and not group:b', 'group:c or group:d or m = -3',
    'not (group:a or not n in [1, 2.5])',
  ];
  const r = s.recipient();
  for (const src of sources) {
    const e = parseExpression(src);
    const matches = s.matcher(e);
    let n = 0;
    for (const i of s.indexes()) {
      r.at(i);
      assert.equal(matches(i), evaluate(e, r), `${src} on device ${i}`);
      if (matches(i)) n++;
    }
    if (src === 'all') assert.equal(n, 300);
  }
});

test('device store snapshots: the first format still loads; the registry snapshot carries push subscriptions', () => {
  // The first format: per device hi, lo, seen, rev, profile length; profiles [nGroups, g…, nAttrs, (tag, value…)…].
  const strings = ['g1', 'country', 'FR', 'age', 'ratio'];
  const profiles = [
    { hi: 1, lo: 2, seen: 1000, rev: 3, words: [1, 0, 3, 1 * 4 + 0, 2, 3 * 4 + 1, 42, 4 * 4 + 2, 0, 0x3ff80000] },
    { hi: 5, lo: 6, seen: 2000, rev: 4, words: [0, 0] },
  ];
  const header = new TextEncoder().encode(JSON.stringify({ n: 2, strings, poolWords: 12 }));
  const bytes = new Uint8Array(4 + header.length + 2 * 20 + 12 * 4);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, header.length, true);
  bytes.set(header, 4);
  let at = 4 + header.length;
  let pool = at + 40;
  for (const p of profiles) {
    [p.hi, p.lo, p.seen, p.rev, p.words.length].forEach((v, k) => dv.setUint32(at + k * 4, v, true));
    at += 20;
    for (const w of p.words) { dv.setInt32(pool, w, true); pool += 4; }
  }
  const s = DeviceStore.decode(bytes);
  assert.equal(s.size, 2);
  const i = s.findHex(idToHex(1, 2));
  assert.deepEqual(s.profile(i), { groups: ['g1'], attributes: { country: 'FR', age: 42, ratio: 1.5 } });
  assert.equal(s.rev[i], 3);
  assert.equal(s.seenSec[i], 1000);
  assert.deepEqual(s.profile(s.findHex(idToHex(5, 6))), { groups: [], attributes: {} });
  // Registry snapshots with push subscriptions round-trip; a sweep forgets a forgotten device's.
  const t = new RegistryChannelType();
  const st = t.init();
  t.apply(st, encodeEvent({ t: 'reg', id: hex(1), g: ['a'], a: { n: 1 }, at: 5_000_000 }), 0);
  t.apply(st, encodeEvent({ t: 'reg', id: hex(2), g: [], a: {}, at: 1_000_000 }), 1);
  const sub = (n: number) => ({ endpoint: `https://push.example/${n}`, keys: { p256dh: 'p', auth: 'a' } });
  t.apply(st, encodeEvent({ t: 'push', id: hex(1), sub: sub(1) }), 2);
  t.apply(st, encodeEvent({ t: 'push', id: hex(2), sub: sub(2) }), 3);
  t.apply(st, encodeEvent({ t: 'push', id: hex(9), sub: sub(9) }), 4);
  assert.deepEqual([...st.push.keys()], [hex(1), hex(2)], 'an unknown device gets no subscription');
  const copy = t.decodeSnapshot('inbox:registry', t.encodeSnapshot(st));
  assert.deepEqual(copy.push, st.push);
  assert.deepEqual(copy.devices.profile(copy.devices.findHex(hex(1))), { groups: ['a'], attributes: { n: 1 } });
  t.apply(st, encodeEvent({ t: 'push', id: hex(1), sub: null, endpoint: 'https://push.example/old' }), 5);
  assert.ok(st.push.has(hex(1)), 'a 410 for an older endpoint keeps the newer subscription');
  t.apply(st, encodeEvent({ t: 'push', id: hex(1), sub: null, endpoint: 'https://push.example/1' }), 6);
  assert.ok(!st.push.has(hex(1)));
  t.apply(st, encodeEvent({ t: 'sweep', before: 2_000_000 }), 7);
  assert.equal(st.push.size, 0, 'swept with its device');
});

test('messages fold: an operator epoch event changes the inbox epoch, and snapshots keep it', () => {
  const t = new MessagesChannelType();
  const st = t.init();
  assert.equal(inboxEpoch(77, st.generation), 77);
  t.apply(st, encodeEvent({ t: 'epoch', n: 12345, at: 1 }), 0);
  assert.equal(st.generation, 12345);
  assert.notEqual(inboxEpoch(77, st.generation), 77);
  assert.equal(t.decodeSnapshot('inbox:messages', t.encodeSnapshot(st)).generation, 12345);
  assert.equal(inboxEpoch(5, 5), 1, 'never 0');
});
