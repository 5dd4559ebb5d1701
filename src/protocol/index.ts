export { BrigadeError, ErrorCodes, CoreErrorCodes, CloseCodes, errorCodeFromWire, httpStatusFor, registerErrorCodes } from './errors.ts';
export type { ErrorCode, CoreErrorCode, ErrorBlock, AppErrorCode } from './errors.ts';
export { isValidChannelName, MAX_CHANNEL_BYTES } from './bytes.ts';
export { ClientKind, SubscribeMode, BodyEncoding, encodeClientFrame, decodeClientFrame, isValidRequestKind, isValidProducer } from './client-frames.ts';
export type { ClientFrame, SubscribeModeValue, BodyEncodingValue } from './client-frames.ts';
export {
  ServerKind, encodeBatch, encodeSubscribed, encodeSnapshot, encodeAck, encodeError, encodeBehind,
  encodeUnsubscribed, encodeReply, encodePush, decodeServerFrame,
} from './server-frames.ts';
export type { ServerFrame } from './server-frames.ts';
