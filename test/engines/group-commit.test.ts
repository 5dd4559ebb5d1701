/**
 * GroupCommit (src/engines/group-commit.ts) on a real SQLite file: the steps of one turn commit in
 * one transaction, in call order, each settling only after the commit; a throwing step is rejected
 * alone, its own transaction (a savepoint) rolled back, the others committed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { GroupCommit } from '../../src/engines/group-commit.ts';
import { setHeldWritesFlusher } from '../../src/util/turn-writes.ts';

const dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function open(name: string) {
  const db = new Database(join(dir, name));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  return db;
}

describe('GroupCommit', () => {
  it('runs one turn\'s steps in call order in one transaction, and settles each after the commit', async () => {
    const db = open('order.db');
    const group = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const read = db.prepare('SELECT v FROM t WHERE k = ?');
    const seenInTx: boolean[] = [];
    const steps = Array.from({ length: 50 }, (_, i) => group.run(() => {
      seenInTx.push(db.inTransaction);
      insert.run(`k${i}`, i);
      // Each step sees the writes of the steps before it in the group.
      return i === 0 ? null : (read.get(`k${i - 1}`) as { v: number }).v;
    }));
    const settledInTx: boolean[] = [];
    for (const s of steps) void s.then(() => settledInTx.push(db.inTransaction));
    const values = await Promise.all(steps);
    assert.deepEqual(values, [null, ...Array.from({ length: 49 }, (_, i) => i)]);
    assert.ok(seenInTx.every(Boolean), 'every step ran inside the transaction');
    assert.equal(group.commits, 1, 'one commit for the turn');
    assert.equal(settledInTx.length, 50);
    assert.ok(settledInTx.every((t) => !t), 'no step settled before the commit');
    // Committed: another connection reads them.
    const other = new Database(join(dir, 'order.db'), { readonly: true });
    assert.equal((other.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 50);
    other.close();
    // A later turn is a new group.
    await group.run(() => insert.run('later', 1));
    assert.equal(group.commits, 2);
    db.close();
  });

  it('rejects a throwing step alone: its savepoint is rolled back, the others commit', async () => {
    const db = open('throw.db');
    const group = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const twoRows = db.transaction((k: string) => {
      insert.run(`${k}-a`, 1);
      insert.run(k, 2); // a duplicate key throws after the first row was written
    });
    const ok1 = group.run(() => insert.run('x', 1));
    const bad = group.run(() => twoRows('x'));
    const ok2 = group.run(() => insert.run('y', 1));
    await ok1;
    await assert.rejects(bad, /UNIQUE/);
    await ok2;
    const keys = (db.prepare('SELECT k FROM t ORDER BY k').all() as { k: string }[]).map((r) => r.k);
    assert.deepEqual(keys, ['x', 'y'], 'the failed step left nothing (x-a rolled back)');
    db.close();
  });

  it('flush() commits what is pending at once (the engine closing)', async () => {
    const db = open('flush.db');
    const group = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const p = group.run(() => insert.run('now', 1));
    group.flush();
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 1);
    await p;
    db.close();
  });
  it('flushes held writes once, in the commit\'s turn, after every reaction the commit settles (not in the next iteration)', async () => {
    const db = open('turn.db');
    const group = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const order: string[] = [];
    setHeldWritesFlusher(() => order.push('flush'));
    try {
      const a = group.run(() => insert.run('a', 1));
      const b = group.run(() => insert.run('b', 2));
      // A reply made three reactions after the commit (engine → app → core), as the offer's is.
      void a.then(() => undefined).then(() => undefined).then(() => order.push('reply a'));
      void b.then(() => order.push('reply b'));
      // Scheduled by the first reaction, inside the commit's check phase: it runs in the next iteration.
      void a.then(() => setImmediate(() => order.push('next iteration')));
      await Promise.all([a, b]);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(order, ['reply b', 'reply a', 'flush', 'next iteration']);
    } finally {
      setHeldWritesFlusher(null);
      db.close();
    }
  });
});
