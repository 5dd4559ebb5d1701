/**
 * How a cluster append is cut and waited for: the requests grouped by slot (one script per slot:
 * a cluster refuses a script over keys of several slots), and how long the shards are waited for
 * (settleOrLeaveStragglers: one shard in a failover does not set the pace of the others).
 */
import type { AppendRequest } from '../core/engine.ts';
import { channelKeys } from './redis-keys.ts';
import { keySlot } from './redis-slot.ts';

/**
 * The outcomes of `calls` (each sent to the shard `shards[i]`; null: not sent, already settled),
 * waiting for all of them, except that once every call to some shard has settled, the calls to the
 * other shards get `straggleMs` more plus twice as long as that took (a loaded cluster's shards
 * differ by about that much); those still running then are 'straggling'. So one shard with no primary, or with a replica that does not
 * answer WAIT, does not set the pace of the others, and a cluster slow all over (every shard
 * alike) is still waited for.
 */
export async function settleOrLeaveStragglers<T>(calls: Array<Promise<T>>, shards: Array<string | null>, straggleMs: number):
Promise<Array<PromiseSettledResult<T> | 'straggling'>> {
  const outcomes: Array<PromiseSettledResult<T> | 'straggling' | undefined> = new Array(calls.length).fill(undefined);
  const started = performance.now();
  const left = new Map<string, number>();
  for (const shard of shards) if (shard !== null) left.set(shard, (left.get(shard) ?? 0) + 1);
  let pending = calls.length;
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      resolve();
    };
    calls.forEach((call, i) => {
      const settle = (outcome: PromiseSettledResult<T>): void => {
        if (outcomes[i] !== undefined) return;
        outcomes[i] = outcome;
        if (--pending === 0) return finish();
        const shard = shards[i];
        if (shard === null) return;
        const shardLeft = left.get(shard)! - 1;
        left.set(shard, shardLeft);
        if (shardLeft === 0 && timer === undefined && left.size > 1) {
          // The first shard done: the others have a bound from now on.
          timer = setTimeout(finish, straggleMs + 2 * (performance.now() - started));
        }
      };
      call.then((value) => settle({ status: 'fulfilled', value }), (reason: unknown) => settle({ status: 'rejected', reason }));
    });
  });
  return outcomes.map((o) => o ?? 'straggling');
}

/** The indexes of `requests`, grouped by the cluster slot of their channel (first-seen order). */
export function groupBySlot(prefix: string, requests: AppendRequest[]): number[][] {
  const bySlot = new Map<number, number[]>();
  requests.forEach((request, i) => {
    const slot = keySlot(channelKeys(prefix, request.channel).meta);
    const group = bySlot.get(slot);
    if (group) group.push(i);
    else bySlot.set(slot, [i]);
  });
  return [...bySlot.values()];
}
