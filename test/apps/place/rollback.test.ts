import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrigadeError } from '../../../src/protocol/index.ts';
import type { LogEvent } from '../../../src/core/engine.ts';
import {
  DEFAULT_PALETTE, PlaceChannelType, computeRollback, findRollbackBase, planRollback, type CanvasState,
} from '../../../src/apps/place/index.ts';
import { createRealCore } from '../../helpers/real-core.ts';

const type = new PlaceChannelType({ canvases: { t: { width: 4, height: 4, palette: [...DEFAULT_PALETTE] } }, cooldownMs: 0 });
const ch = 'place:t';
const codec = type.canvas(ch)!.codec;
const ev = (x: number, y: number, c: number, publisher: string, timeMs: number): LogEvent =>
  ({ payload: codec.encode(x, y, c), publisher, timeMs });

function fold(base: CanvasState, events: LogEvent[]): CanvasState {
  const s = { ...base, pixels: base.pixels.slice() };
  events.forEach((e, i) => type.apply(s, e.payload, base.version + i));
  return s;
}

const decoded = (edits: Uint8Array[]) => edits.map((e) => codec.decode(e));

test('computeRollback restores what the user overwrote and keeps later edits by others', () => {
  const base = type.init(ch);
  const log: LogEvent[] = [
    ev(0, 0, 5, 'bob', 100), // (0,0) bob red
    ev(1, 0, 6, 'bob', 100), // (1,0) bob orange
    ev(2, 0, 7, 'vandal', 150), // before sinceMs: kept
    ev(0, 0, 3, 'vandal', 200), // vandal over bob's red -> restore red
    ev(1, 0, 3, 'vandal', 210), // vandal over bob's orange...
    ev(1, 0, 9, 'carol', 220), // ...then carol draws over it: keep carol's
    ev(3, 3, 3, 'vandal', 230), // vandal on blank -> back to 0
    ev(3, 3, 3, 'vandal', 240), // twice: still one edit
    ev(2, 2, 4, 'vandal', 250), // vandal, then the vandal's pixel was overwritten by dan...
    ev(2, 2, 4, 'dan', 260), // ...with the same colour: the fold already equals live, no edit
  ];
  const live = fold(base, log);
  const edits = computeRollback(base, log, 'vandal', 200, live);
  assert.deepEqual(decoded(edits), [{ x: 0, y: 0, colour: 5 }, { x: 3, y: 3, colour: 0 }]);

  const after = fold(live, edits.map((payload) => ({ payload, publisher: 'admin', timeMs: 300 })));
  const expected = fold(base, log.filter((e) => !(e.publisher === 'vandal' && e.timeMs >= 200)));
  assert.deepEqual(after.pixels, expected.pixels);
  assert.equal(after.pixels[2], 7); // the vandal's edit before sinceMs stays
  assert.equal(after.pixels[1], 9); // carol's later overwrite stays
});

test('computeRollback starts from a snapshot base and compares with the live canvas', () => {
  const base = fold(type.init(ch), [ev(0, 0, 5, 'bob', 1)]);
  assert.equal(base.version, 1);
  const tail = [ev(0, 0, 2, 'vandal', 10)];
  const live = fold(base, tail);
  assert.deepEqual(decoded(computeRollback(base, tail, 'vandal', 10, live)), [{ x: 0, y: 0, colour: 5 }]);
  assert.deepEqual(computeRollback(base, tail, 'vandal', 11, live), []);
  assert.deepEqual(computeRollback(base, tail, 'someone', 0, live), []);
});

test('findRollbackBase picks the newest snapshot stored before sinceMs', async (t) => {
  // Two snapshots kept, no events behind the newest: the log starts at the oldest kept snapshot.
  const core = await createRealCore(type, { retention: { retainEvents: 0, keepSnapshots: 2 } });
  t.after(() => core.close());
  await core.append(ch, [codec.encode(0, 0, 1)], 'a', 100);
  await core.snapshot(ch, 150); // version 1; trims version 0
  await core.append(ch, [codec.encode(0, 0, 2)], 'a', 200);
  await core.snapshot(ch, 250); // version 2; version 1 stays (the oldest kept snapshot)
  await core.append(ch, [codec.encode(0, 0, 3)], 'a', 300);
  assert.equal(await core.hub.oldestVersion(ch), 1);

  assert.equal((await findRollbackBase(core.hub, type, ch, 260)).version, 2);
  const base = await findRollbackBase(core.hub, type, ch, 250);
  assert.equal(base.version, 1);
  assert.equal(base.pixels[0], 1);

  await assert.rejects(findRollbackBase(core.hub, type, ch, 150), (e: unknown) => {
    assert.ok(e instanceof BrigadeError);
    assert.equal(e.code, 'PLACE_ROLLBACK_TOO_OLD');
    assert.match(e.message, /rollback is possible for sinceMs >= 151/);
    return true;
  });
});

test('with an untrimmed log and no snapshot, the base is the empty canvas', async (t) => {
  const core = await createRealCore(type);
  t.after(() => core.close());
  await core.append(ch, [codec.encode(0, 0, 1)], 'a', 100);
  assert.equal(await core.hub.oldestVersion(ch), 0);
  assert.equal(await core.hub.getSnapshot(ch), null);
  assert.equal((await findRollbackBase(core.hub, type, ch, 0)).version, 0);
});

test('planRollback reads the log in pages from the base to the live version', async (t) => {
  const core = await createRealCore(type);
  t.after(() => core.close());
  await core.append(ch, [codec.encode(1, 1, 4)], 'bob', 100);
  await core.snapshot(ch, 110);
  // 25,000 bot edits (several read pages), in batches of 5,000 stamped 200, 5200, ...: all after
  // sinceMs. The hub also stores its own snapshots along the way (every snapshotEvery events).
  const batch = 5_000;
  for (let b = 0; b < 25_000; b += batch) {
    const payloads = Array.from({ length: batch }, (_, j) => codec.encode((b + j) % 4, 0, 1 + ((b + j) % 3)));
    await core.append(ch, payloads, 'bot', 200 + b);
  }
  await core.append(ch, [codec.encode(1, 1, 8)], 'bot', 30_000);
  assert.equal((await core.hub.view(ch)).version, 25_002);
  const edits = await planRollback(core.hub, type, ch, 'bot', 150);
  const byPixel = new Map(decoded(edits).map((e) => [`${e.x},${e.y}`, e.colour]));
  assert.deepEqual(Object.fromEntries(byPixel), { '0,0': 0, '1,0': 0, '2,0': 0, '3,0': 0, '1,1': 4 });
});
