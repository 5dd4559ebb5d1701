export { BrigadeError, ErrorCodes, CloseCodes, errorCodeFromWire } from './errors.ts';
export type { ErrorCode } from './errors.ts';
export { isValidChannelName, MAX_CHANNEL_BYTES } from './bytes.ts';
export { ClientKind, SubscribeMode, encodeClientFrame, decodeClientFrame } from './client-frames.ts';
export type { ClientFrame, SubscribeModeValue } from './client-frames.ts';
export {
  ServerKind, encodeBatch, encodeSubscribed, encodeSnapshot, encodeAck, encodeError, encodeBehind,
  encodeUnsubscribed, decodeServerFrame,
} from './server-frames.ts';
export type { ServerFrame } from './server-frames.ts';
