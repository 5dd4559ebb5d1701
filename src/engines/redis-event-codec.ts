/**
 * The packed form of one batch's events inside a Redis stream entry. Per event, little-endian:
 *   [u32 payload length][payload][u32 publisher length][publisher, UTF-8][f64 timeMs]
 * One Buffer per batch keeps the append script's argument count constant however many events a
 * tick carries, and every node decodes the same bytes.
 */
import type { LogEvent } from '../core/engine.ts';

const FIXED_BYTES_PER_EVENT = 4 + 4 + 8;

/** Throws TypeError on an event that cannot be stored (a payload that is not bytes). */
export function packEvents(events: LogEvent[]): Buffer {
  let size = 0;
  for (let i = 0; i < events.length; i++) {
    const { payload, publisher } = events[i];
    if (!(payload instanceof Uint8Array)) throw new TypeError(`event ${i}: payload must be a Uint8Array`);
    if (typeof publisher !== 'string') throw new TypeError(`event ${i}: publisher must be a string`);
    size += FIXED_BYTES_PER_EVENT + payload.byteLength + Buffer.byteLength(publisher);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const { payload, publisher, timeMs } of events) {
    at = out.writeUInt32LE(payload.byteLength, at);
    out.set(payload, at);
    at += payload.byteLength;
    const publisherBytes = out.write(publisher, at + 4, 'utf8');
    out.writeUInt32LE(publisherBytes, at);
    at += 4 + publisherBytes;
    at = out.writeDoubleLE(timeMs, at);
  }
  return out;
}

/**
 * Decodes events [skip, skip + take) of a packed batch. Skipped events are stepped over without
 * allocating. Payloads are views into `packed` (no copy). Throws RangeError on truncated input.
 */
export function unpackEvents(packed: Buffer, skip = 0, take = Number.POSITIVE_INFINITY): LogEvent[] {
  const events: LogEvent[] = [];
  let at = 0;
  let index = 0;
  while (at < packed.length && events.length < take) {
    const payloadLength = packed.readUInt32LE(at);
    const payloadAt = at + 4;
    const publisherAt = payloadAt + payloadLength;
    const publisherLength = packed.readUInt32LE(publisherAt);
    const timeAt = publisherAt + 4 + publisherLength;
    if (timeAt + 8 > packed.length) throw new RangeError('truncated packed events');
    if (index >= skip) {
      events.push({
        payload: packed.subarray(payloadAt, publisherAt),
        publisher: packed.toString('utf8', publisherAt + 4, timeAt),
        timeMs: packed.readDoubleLE(timeAt),
      });
    }
    at = timeAt + 8;
    index++;
  }
  return events;
}
