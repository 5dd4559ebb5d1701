/**
 * Client → server frames. Every frame is one binary WebSocket message starting with a kind byte.
 * Layouts (little-endian; `channel` = u8 length + UTF-8 name; `version` = u64):
 *
 *   SUBSCRIBE   0x01 u32 requestId, channel, u8 mode, u64 fromVersion, u32 epoch
 *   UNSUBSCRIBE 0x02 u32 requestId, channel
 *   PUBLISH     0x03 u32 requestId, channel, payload (the rest of the frame)
 *   PUBLISH_ONCE 0x05 u32 requestId, channel, u8 producer length + producer (ASCII [A-Za-z0-9_.:-],
 *               1-64), u32 seq (≥ 1), payload (the rest): a PUBLISH stamped for idempotence
 *   REQUEST     0x04 u32 requestId, u8 kind length + kind (ASCII [a-z0-9._-], e.g. `place.canvases`),
 *               u8 encoding (0 bytes, 1 JSON), body (the rest of the frame)
 */
import { BrigadeError } from './errors.ts';
import { ByteReader, ByteWriter, isValidChannelName, utf8Encode } from './bytes.ts';

export const ClientKind = {
  SUBSCRIBE: 0x01,
  UNSUBSCRIBE: 0x02,
  PUBLISH: 0x03,
  REQUEST: 0x04,
  PUBLISH_ONCE: 0x05,
} as const;

const producerPattern = /^[A-Za-z0-9_.:-]{1,64}$/;
/** A producer id of PUBLISH_ONCE: 1-64 bytes of [A-Za-z0-9_.:-]. */
export function isValidProducer(producer: string): boolean {
  return producerPattern.test(producer);
}

/** How a REQUEST or REPLY body is encoded: raw bytes, or UTF-8 JSON. */
export const BodyEncoding = { BYTES: 0, JSON: 1 } as const;
export type BodyEncodingValue = (typeof BodyEncoding)[keyof typeof BodyEncoding];

const requestKindPattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A request kind: 1-64 bytes of [a-z0-9._-], starting with a letter or digit; `app.method` by convention. */
export function isValidRequestKind(kind: string): boolean {
  return requestKindPattern.test(kind);
}

/**
 * How a subscription starts.
 * FROM_VERSION: send every event with version >= fromVersion (or a snapshot when cheaper or the
 *   log no longer holds them), then live. fromVersion = the number of events the client has applied.
 * SNAPSHOT: send the current state as a snapshot, then live.
 * HEAD: send nothing old; live from the head.
 */
export const SubscribeMode = { FROM_VERSION: 0, SNAPSHOT: 1, HEAD: 2 } as const;
export type SubscribeModeValue = (typeof SubscribeMode)[keyof typeof SubscribeMode];

export type ClientFrame =
  | { kind: 'subscribe'; requestId: number; channel: string; mode: SubscribeModeValue; fromVersion: number; epoch: number }
  | { kind: 'unsubscribe'; requestId: number; channel: string }
  /**
   * With `producer` and `seq` (PUBLISH_ONCE): the publish is idempotent: re-sent with the same
   * stamp it is committed once, and answered with its original version (docs/PROTOCOL.md).
   */
  | { kind: 'publish'; requestId: number; channel: string; payload: Uint8Array; producer?: string; seq?: number }
  | { kind: 'request'; requestId: number; requestKind: string; encoding: BodyEncodingValue; body: Uint8Array };

function channelBytes(name: string): Uint8Array {
  if (!isValidChannelName(name)) {
    throw new BrigadeError('INVALID_CHANNEL_NAME', `channel name ${JSON.stringify(name)} must be 1-255 bytes of [A-Za-z0-9_.:/-]`);
  }
  return utf8Encode(name);
}

export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  if (frame.kind === 'request') {
    if (!isValidRequestKind(frame.requestKind)) {
      throw new BrigadeError('MALFORMED_FRAME', `request kind ${JSON.stringify(frame.requestKind)} must be 1-64 bytes of [a-z0-9._-]`);
    }
    const k = utf8Encode(frame.requestKind);
    return new ByteWriter(1 + 4 + 1 + k.length + 1 + frame.body.length)
      .u8(ClientKind.REQUEST).u32(frame.requestId).u8(k.length).bytes(k).u8(frame.encoding).bytes(frame.body).finish();
  }
  const ch = channelBytes(frame.channel);
  switch (frame.kind) {
    case 'subscribe':
      return new ByteWriter(1 + 4 + 1 + ch.length + 1 + 8 + 4)
        .u8(ClientKind.SUBSCRIBE).u32(frame.requestId).channel(ch)
        .u8(frame.mode).u64(frame.fromVersion).u32(frame.epoch).finish();
    case 'unsubscribe':
      return new ByteWriter(1 + 4 + 1 + ch.length)
        .u8(ClientKind.UNSUBSCRIBE).u32(frame.requestId).channel(ch).finish();
    case 'publish': {
      if (frame.producer === undefined) {
        return new ByteWriter(1 + 4 + 1 + ch.length + frame.payload.length)
          .u8(ClientKind.PUBLISH).u32(frame.requestId).channel(ch).bytes(frame.payload).finish();
      }
      const seq = frame.seq ?? 0;
      if (!isValidProducer(frame.producer)) throw new BrigadeError('MALFORMED_FRAME', `producer ${JSON.stringify(frame.producer)} must be 1-64 bytes of [A-Za-z0-9_.:-]`);
      if (!Number.isInteger(seq) || seq < 1 || seq > 0xffffffff) throw new BrigadeError('MALFORMED_FRAME', `seq ${seq} must be a whole number from 1 to 2^32-1`);
      const p = utf8Encode(frame.producer);
      return new ByteWriter(1 + 4 + 1 + ch.length + 1 + p.length + 4 + frame.payload.length)
        .u8(ClientKind.PUBLISH_ONCE).u32(frame.requestId).channel(ch).u8(p.length).bytes(p).u32(seq).bytes(frame.payload).finish();
    }
  }
}

/**
 * Decodes one client frame. Throws BrigadeError (MALFORMED_FRAME, UNKNOWN_FRAME_KIND,
 * INVALID_CHANNEL_NAME) for anything else; never throws anything but BrigadeError.
 * The returned payload is a view into `bytes`: copy it if `bytes` will be reused.
 */
export function decodeClientFrame(bytes: Uint8Array): ClientFrame {
  try {
    return decodeFrame(bytes);
  } catch (err) {
    // Past its request id a frame's refusal answers that request (a bad channel name, a bad kind).
    if (err instanceof BrigadeError && err.requestId === 0 && bytes.length >= 5 && bytes[0] >= ClientKind.SUBSCRIBE && bytes[0] <= ClientKind.PUBLISH_ONCE) {
      const requestId = (bytes[1] | (bytes[2] << 8) | (bytes[3] << 16)) + bytes[4] * 0x1000000;
      throw new BrigadeError(err.code, err.message, err.retryAfterMs, requestId);
    }
    throw err;
  }
}

/**
 * The channel name of the last PUBLISH decoded, with its bytes: publishes come to the same few
 * channels over and over, so a name byte-equal to it (already validated) is neither decoded from
 * UTF-8 nor matched against the pattern again, and decoding the frame needs no reader (issue 21).
 */
let lastPublishChannel = '';
let lastPublishChannelBytes: Uint8Array = new Uint8Array(0);

function publishFast(bytes: Uint8Array): ClientFrame | null {
  const len = bytes.length >= 6 ? bytes[5] : 0;
  if (len === 0 || len !== lastPublishChannelBytes.length || 6 + len > bytes.length) return null;
  for (let i = 0; i < len; i++) if (bytes[6 + i] !== lastPublishChannelBytes[i]) return null;
  const requestId = (bytes[1] | (bytes[2] << 8) | (bytes[3] << 16)) + bytes[4] * 0x1000000;
  return { kind: 'publish', requestId, channel: lastPublishChannel, payload: bytes.subarray(6 + len) };
}

function decodeFrame(bytes: Uint8Array): ClientFrame {
  if (bytes[0] === ClientKind.PUBLISH) {
    const fast = publishFast(bytes);
    if (fast !== null) return fast;
  }
  const r = new ByteReader(bytes);
  const kind = r.u8('frame kind');
  switch (kind) {
    case ClientKind.SUBSCRIBE: {
      const requestId = r.u32('requestId');
      const channel = r.channel();
      const mode = r.u8('mode');
      if (mode > 2) throw new BrigadeError('MALFORMED_FRAME', `subscribe mode ${mode} is unknown; use 0 (from version), 1 (snapshot) or 2 (head)`);
      const fromVersion = r.u64('fromVersion');
      const epoch = r.u32('epoch');
      r.end('subscribe');
      return { kind: 'subscribe', requestId, channel, mode: mode as SubscribeModeValue, fromVersion, epoch };
    }
    case ClientKind.UNSUBSCRIBE: {
      const requestId = r.u32('requestId');
      const channel = r.channel();
      r.end('unsubscribe');
      return { kind: 'unsubscribe', requestId, channel };
    }
    case ClientKind.PUBLISH: {
      const requestId = r.u32('requestId');
      const channel = r.channel();
      lastPublishChannel = channel;
      lastPublishChannelBytes = bytes.slice(6, r.offset);
      return { kind: 'publish', requestId, channel, payload: r.rest() };
    }
    case ClientKind.PUBLISH_ONCE: {
      const requestId = r.u32('requestId');
      const channel = r.channel();
      const producer = r.string(r.u8('producer length'), 'producer');
      if (!isValidProducer(producer)) throw new BrigadeError('MALFORMED_FRAME', `producer ${JSON.stringify(producer.slice(0, 64))} must be 1-64 bytes of [A-Za-z0-9_.:-]`);
      const seq = r.u32('seq');
      if (seq === 0) throw new BrigadeError('MALFORMED_FRAME', 'seq must be at least 1');
      return { kind: 'publish', requestId, channel, payload: r.rest(), producer, seq };
    }
    case ClientKind.REQUEST: {
      const requestId = r.u32('requestId');
      const len = r.u8('request kind length');
      const requestKind = r.string(len, 'request kind');
      if (!isValidRequestKind(requestKind)) {
        throw new BrigadeError('MALFORMED_FRAME', `request kind ${JSON.stringify(requestKind.slice(0, 64))} must be 1-64 bytes of [a-z0-9._-]`);
      }
      const encoding = r.u8('encoding');
      if (encoding > 1) throw new BrigadeError('MALFORMED_FRAME', `request body encoding ${encoding} is unknown; use 0 (bytes) or 1 (JSON)`);
      return { kind: 'request', requestId, requestKind, encoding: encoding as BodyEncodingValue, body: r.rest() };
    }
    default:
      throw new BrigadeError('UNKNOWN_FRAME_KIND', `frame kind 0x${kind.toString(16).padStart(2, '0')} is unknown; client frames are 0x01 subscribe, 0x02 unsubscribe, 0x03 publish, 0x04 request, 0x05 publish once`);
  }
}
