/**
 * The checks both engines make on an append's publish stamps (core/engine.ts PublishStamp) before
 * writing anything: a bad stamp refuses the whole call.
 */
import type { AppendRequest, LogEvent } from '../core/engine.ts';
import { BrigadeError } from '../protocol/index.ts';

const producerPattern = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Throws (the whole call commits nothing) on stamps that do not describe the request's events. */
export function validateStamps(channel: string, events: LogEvent[], publishes: AppendRequest['publishes']): void {
  if (!publishes) return;
  let total = 0;
  // A call's publishes mostly share one producer (the node's own): its id is checked once per run of it.
  let checked: string | null = null;
  for (const p of publishes) {
    if (p.producer !== checked && !producerPattern.test(p.producer)) throw new BrigadeError('INVALID_EVENT', `${channel}: producer id ${JSON.stringify(p.producer)} must be 1-64 bytes of [A-Za-z0-9_.:-]`);
    checked = p.producer;
    if (!Number.isSafeInteger(p.seq) || p.seq < 1) throw new BrigadeError('INVALID_EVENT', `${channel}: sequence ${p.seq} must be a whole number ≥ 1`);
    if (!Number.isInteger(p.count) || p.count < 0) throw new BrigadeError('INVALID_EVENT', `${channel}: publish count ${p.count} must be a whole number ≥ 0`);
    total += p.count;
  }
  if (total !== events.length) throw new BrigadeError('INVALID_EVENT', `${channel}: the publishes hold ${total} events but the request has ${events.length}`);
}
