/**
 * Client → server frames. Every frame is one binary WebSocket message starting with a kind byte.
 * Layouts (little-endian; `channel` = u8 length + UTF-8 name; `version` = u64):
 *
 *   SUBSCRIBE   0x01 u32 requestId, channel, u8 mode, u64 fromVersion, u32 epoch
 *   UNSUBSCRIBE 0x02 u32 requestId, channel
 *   PUBLISH     0x03 u32 requestId, channel, payload (the rest of the frame)
 */
import { BrigadeError } from './errors.ts';
import { ByteReader, ByteWriter, isValidChannelName, utf8Encode } from './bytes.ts';

export const ClientKind = {
  SUBSCRIBE: 0x01,
  UNSUBSCRIBE: 0x02,
  PUBLISH: 0x03,
} as const;

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
  | { kind: 'publish'; requestId: number; channel: string; payload: Uint8Array };

function channelBytes(name: string): Uint8Array {
  if (!isValidChannelName(name)) {
    throw new BrigadeError('INVALID_CHANNEL_NAME', `channel name ${JSON.stringify(name)} must be 1-255 bytes of [A-Za-z0-9_.:/-]`);
  }
  return utf8Encode(name);
}

export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  const ch = channelBytes(frame.channel);
  switch (frame.kind) {
    case 'subscribe':
      return new ByteWriter(1 + 4 + 1 + ch.length + 1 + 8 + 4)
        .u8(ClientKind.SUBSCRIBE).u32(frame.requestId).channel(ch)
        .u8(frame.mode).u64(frame.fromVersion).u32(frame.epoch).finish();
    case 'unsubscribe':
      return new ByteWriter(1 + 4 + 1 + ch.length)
        .u8(ClientKind.UNSUBSCRIBE).u32(frame.requestId).channel(ch).finish();
    case 'publish':
      return new ByteWriter(1 + 4 + 1 + ch.length + frame.payload.length)
        .u8(ClientKind.PUBLISH).u32(frame.requestId).channel(ch).bytes(frame.payload).finish();
  }
}

/**
 * Decodes one client frame. Throws BrigadeError (MALFORMED_FRAME, UNKNOWN_FRAME_KIND,
 * INVALID_CHANNEL_NAME) for anything else; never throws anything but BrigadeError.
 * The returned payload is a view into `bytes`: copy it if `bytes` will be reused.
 */
export function decodeClientFrame(bytes: Uint8Array): ClientFrame {
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
      return { kind: 'publish', requestId, channel, payload: r.rest() };
    }
    default:
      throw new BrigadeError('UNKNOWN_FRAME_KIND', `frame kind 0x${kind.toString(16).padStart(2, '0')} is unknown; client frames are 0x01 subscribe, 0x02 unsubscribe, 0x03 publish`);
  }
}
