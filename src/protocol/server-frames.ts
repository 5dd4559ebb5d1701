/**
 * Server → client frames. Layouts (little-endian; `channel` = u8 length + UTF-8; `version` = u64):
 *
 *   BATCH        0x81 channel, u64 firstVersion, u32 count, u16 eventSize, events
 *                eventSize > 0: `count` events of exactly eventSize bytes, packed back to back;
 *                eventSize = 0: each event is u32 length + bytes.
 *   SUBSCRIBED   0x82 u32 requestId, channel, u32 epoch, u64 headVersion
 *   SNAPSHOT     0x83 channel, u32 epoch, u64 version, state bytes (the rest)
 *   ACK          0x84 u32 requestId, u64 version
 *   ERROR        0x85 u32 requestId (0 = not tied to a request), u16 code, u32 retryAfterMs, channel (may be empty), UTF-8 message (the rest)
 *   BEHIND       0x86 channel, u64 version — the server stopped sending this channel; resume from `version`
 *   UNSUBSCRIBED 0x87 u32 requestId, channel
 *   REPLY        0x88 u32 requestId, u8 encoding (0 bytes, 1 JSON), body (the rest) — the answer to a REQUEST
 *   PUSH         0x89 topic (u8 length + UTF-8, e.g. "inbox"), body (the rest) — an app's message for
 *                this connection, tied to no channel or request; nothing in it names the connection,
 *                so an app builds it once and the same bytes go to every connection it is for
 *
 * A BATCH is encoded once per tick and the same bytes go to every subscriber.
 */
import { BrigadeError, errorCodeFromWire, type ErrorCode } from './errors.ts';
import { ByteReader, ByteWriter, utf8Encode } from './bytes.ts';
import type { BodyEncodingValue } from './client-frames.ts';

export const ServerKind = {
  BATCH: 0x81,
  SUBSCRIBED: 0x82,
  SNAPSHOT: 0x83,
  ACK: 0x84,
  ERROR: 0x85,
  BEHIND: 0x86,
  UNSUBSCRIBED: 0x87,
  REPLY: 0x88,
  PUSH: 0x89,
} as const;

export type ServerFrame =
  | { kind: 'batch'; channel: string; firstVersion: number; events: Uint8Array[] }
  | { kind: 'subscribed'; requestId: number; channel: string; epoch: number; headVersion: number }
  | { kind: 'snapshot'; channel: string; epoch: number; version: number; state: Uint8Array }
  | { kind: 'ack'; requestId: number; version: number }
  | { kind: 'error'; requestId: number; code: ErrorCode; retryAfterMs: number; channel: string; message: string }
  | { kind: 'behind'; channel: string; version: number }
  | { kind: 'unsubscribed'; requestId: number; channel: string }
  | { kind: 'reply'; requestId: number; encoding: BodyEncodingValue; body: Uint8Array }
  | { kind: 'push'; topic: string; body: Uint8Array };

/** Channel names are validated where they enter (decodeClientFrame, subscribe); encoders trust them. */
const channelCache = new Map<string, Uint8Array>();
function ch(name: string): Uint8Array {
  let b = channelCache.get(name);
  if (b === undefined) {
    b = utf8Encode(name);
    if (channelCache.size > 10_000) channelCache.clear();
    channelCache.set(name, b);
  }
  return b;
}

/**
 * Encodes a batch of events. When every event has the same length (fixed-size events such as a
 * place edit) they are packed with no per-event prefix.
 */
export function encodeBatch(channel: string, firstVersion: number, events: readonly Uint8Array[], eventSize = detectFixedSize(events)): Uint8Array {
  const c = ch(channel);
  let body = 0;
  for (const e of events) body += e.length;
  if (eventSize === 0) body += 4 * events.length;
  const w = new ByteWriter(1 + 1 + c.length + 8 + 4 + 2 + body, true)
    .u8(ServerKind.BATCH).channel(c).u64(firstVersion).u32(events.length).u16(eventSize);
  if (eventSize === 0) for (const e of events) w.u32(e.length).bytes(e);
  else for (const e of events) w.bytes(e);
  return w.finish();
}

function detectFixedSize(events: readonly Uint8Array[]): number {
  if (events.length === 0) return 0;
  const n = events[0].length;
  if (n === 0 || n > 0xffff) return 0;
  for (const e of events) if (e.length !== n) return 0;
  return n;
}

export function encodeSubscribed(requestId: number, channel: string, epoch: number, headVersion: number): Uint8Array {
  const c = ch(channel);
  return new ByteWriter(1 + 4 + 1 + c.length + 4 + 8)
    .u8(ServerKind.SUBSCRIBED).u32(requestId).channel(c).u32(epoch).u64(headVersion).finish();
}

export function encodeSnapshot(channel: string, epoch: number, version: number, state: Uint8Array): Uint8Array {
  const c = ch(channel);
  return new ByteWriter(1 + 1 + c.length + 4 + 8 + state.length, true)
    .u8(ServerKind.SNAPSHOT).channel(c).u32(epoch).u64(version).bytes(state).finish();
}

export function encodeAck(requestId: number, version: number): Uint8Array {
  return new ByteWriter(13).u8(ServerKind.ACK).u32(requestId).u64(version).finish();
}

export function encodeError(requestId: number, err: BrigadeError, channel = ''): Uint8Array {
  const c = ch(channel);
  const msg = utf8Encode(err.message.slice(0, 1000));
  return new ByteWriter(1 + 4 + 2 + 4 + 1 + c.length + msg.length)
    .u8(ServerKind.ERROR).u32(requestId).u16(err.wireCode).u32(Math.min(err.retryAfterMs, 0xffffffff))
    .channel(c).bytes(msg).finish();
}

export function encodeBehind(channel: string, version: number): Uint8Array {
  const c = ch(channel);
  return new ByteWriter(1 + 1 + c.length + 8).u8(ServerKind.BEHIND).channel(c).u64(version).finish();
}

export function encodeUnsubscribed(requestId: number, channel: string): Uint8Array {
  const c = ch(channel);
  return new ByteWriter(1 + 4 + 1 + c.length).u8(ServerKind.UNSUBSCRIBED).u32(requestId).channel(c).finish();
}

export function encodeReply(requestId: number, encoding: BodyEncodingValue, body: Uint8Array): Uint8Array {
  return new ByteWriter(1 + 4 + 1 + body.length).u8(ServerKind.REPLY).u32(requestId).u8(encoding).bytes(body).finish();
}

/**
 * A PUSH frame: `topic` names what the body is for (an app's name); the body is the app's. Built
 * once per message and written unchanged to every connection it goes to.
 */
export function encodePush(topic: string, body: Uint8Array): Uint8Array {
  const t = ch(topic);
  return new ByteWriter(1 + 1 + t.length + body.length, true).u8(ServerKind.PUSH).channel(t).bytes(body).finish();
}

function readChannelAllowEmpty(r: ByteReader): string {
  const len = r.u8('channel length');
  return len === 0 ? '' : r.string(len, 'channel name');
}

/** Decodes one server frame; throws BrigadeError('MALFORMED_FRAME' | 'UNKNOWN_FRAME_KIND'). Event views alias `bytes`. */
export function decodeServerFrame(bytes: Uint8Array): ServerFrame {
  const r = new ByteReader(bytes);
  const kind = r.u8('frame kind');
  switch (kind) {
    case ServerKind.BATCH: {
      const channel = r.channel();
      const firstVersion = r.u64('firstVersion');
      const count = r.u32('count');
      const eventSize = r.u16('eventSize');
      if (eventSize > 0 && count * eventSize !== r.remaining) {
        throw new BrigadeError('MALFORMED_FRAME', `batch of ${count} x ${eventSize} bytes has ${r.remaining} bytes of events`);
      }
      if (eventSize === 0 && count * 4 > r.remaining) {
        throw new BrigadeError('MALFORMED_FRAME', `batch claims ${count} events in ${r.remaining} bytes`);
      }
      const events = new Array<Uint8Array>(count);
      for (let i = 0; i < count; i++) {
        events[i] = r.bytes(eventSize > 0 ? eventSize : r.u32('event length'), 'event');
      }
      r.end('batch');
      return { kind: 'batch', channel, firstVersion, events };
    }
    case ServerKind.SUBSCRIBED: {
      const requestId = r.u32('requestId');
      const channel = r.channel();
      const epoch = r.u32('epoch');
      const headVersion = r.u64('headVersion');
      r.end('subscribed');
      return { kind: 'subscribed', requestId, channel, epoch, headVersion };
    }
    case ServerKind.SNAPSHOT: {
      const channel = r.channel();
      const epoch = r.u32('epoch');
      const version = r.u64('version');
      return { kind: 'snapshot', channel, epoch, version, state: r.rest() };
    }
    case ServerKind.ACK: {
      const requestId = r.u32('requestId');
      const version = r.u64('version');
      r.end('ack');
      return { kind: 'ack', requestId, version };
    }
    case ServerKind.ERROR: {
      const requestId = r.u32('requestId');
      const code = errorCodeFromWire(r.u16('code'));
      const retryAfterMs = r.u32('retryAfterMs');
      const channel = readChannelAllowEmpty(r);
      const message = r.string(r.remaining, 'message');
      return { kind: 'error', requestId, code, retryAfterMs, channel, message };
    }
    case ServerKind.BEHIND: {
      const channel = r.channel();
      const version = r.u64('version');
      r.end('behind');
      return { kind: 'behind', channel, version };
    }
    case ServerKind.UNSUBSCRIBED: {
      const requestId = r.u32('requestId');
      const channel = r.channel();
      r.end('unsubscribed');
      return { kind: 'unsubscribed', requestId, channel };
    }
    case ServerKind.REPLY: {
      const requestId = r.u32('requestId');
      const encoding = r.u8('encoding');
      if (encoding > 1) throw new BrigadeError('MALFORMED_FRAME', `reply body encoding ${encoding} is unknown`);
      return { kind: 'reply', requestId, encoding: encoding as BodyEncodingValue, body: r.rest() };
    }
    case ServerKind.PUSH: {
      const topic = r.channel();
      return { kind: 'push', topic, body: r.rest() };
    }
    default:
      throw new BrigadeError('UNKNOWN_FRAME_KIND', `server frame kind 0x${kind.toString(16).padStart(2, '0')} is unknown`);
  }
}
