/**
 * Group commit for the embedded engine's job steps and claims (plain and held). With `synchronous = FULL` every commit waits for
 * the disk (an fsync of the WAL: ~0.25 ms on an idle disk here, several ms on a busy one), so one
 * transaction per step capped a queue at a few thousand steps a second whatever the CPU. Instead,
 * the steps asked for during one turn of the event loop run, in the order asked, inside ONE
 * transaction committed at the end of that turn (setImmediate: after the turn's I/O callbacks), and
 * each step's promise settles only after that commit. So an acknowledgement still means "on disk",
 * and a crash loses only steps nobody was told about.
 *
 * Guarantees: steps run in call order and see each other's writes. A step that throws is rejected
 * alone: a step wrapped in its own better-sqlite3 transaction runs as a SAVEPOINT inside the group
 * and is rolled back whole; a single statement is atomic by itself. If the commit fails, every step
 * of the group is rejected (none of them is on disk).
 */
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { flushHeldWritesSoon } from '../util/turn-writes.ts';

interface Pending {
  step: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  /** Groups committed (for tests and curiosity). */
  commits = 0;

  constructor(private readonly db: SqliteDatabase) {}

  /** Runs `step` in this turn's group; settles after the group committed. */
  run<T>(step: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ step, resolve: resolve as (v: unknown) => void, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Runs and commits what is pending now (the engine calls it before closing the database). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    const group = this.pending;
    this.pending = [];
    if (group.length === 0) return;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.transaction(() => {
        for (const p of group) {
          try {
            outcomes.push({ ok: true, value: p.step() });
          } catch (err) {
            outcomes.push({ ok: false, value: err });
          }
        }
      })();
      this.commits++;
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    group.forEach((p, i) => (outcomes[i]!.ok ? p.resolve(outcomes[i]!.value) : p.reject(outcomes[i]!.value)));
    // This runs in the check phase: the replies these settle would otherwise be written in the next
    // loop iteration's. They leave in this turn, after every reaction (an offer to a push worker
    // goes in the turn its enqueue committed).
    flushHeldWritesSoon();
  }
}
