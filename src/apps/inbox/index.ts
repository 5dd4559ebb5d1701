/**
 * inbox — targeted messages to devices chosen by a boolean expression over their groups and
 * attributes; scheduled, edited and recalled, reaching the devices that hold them (seed 001).
 *
 * The world-view is two logged core channels folded on every node (world.ts): `inbox:registry`
 * (devices, kept compactly: devices.ts) and `inbox:messages` (publish, edit, deliver, recall,
 * expire, counts). Recipient expressions: expression.ts. HTTP API: routes.ts. Delivery to
 * connected devices over /ws as PUSH frames of topic `inbox` (built once per change of a message,
 * the same bytes for every device) after the requests inbox.hello / inbox.sync, acked by
 * inbox.ack: delivery.ts. docs/inbox.md is the guide.
 */
export { inboxApp, parseDuration } from './app.ts';
export type { InboxOptions } from './app.ts';
export { INBOX_ERRORS } from './errors.ts';
export {
  parseExpression, evaluate, formatExpression, ExpressionError, MAX_EXPRESSION_BYTES, MAX_EXPRESSION_DEPTH,
} from './expression.ts';
export type { Expr, Recipient, Value, Comparison } from './expression.ts';
export { DeviceStore, idToHex, hexToId } from './devices.ts';
export type { DeviceProfile } from './devices.ts';
export { MessagesChannelType, RegistryChannelType, REGISTRY_CHANNEL, MESSAGES_CHANNEL, publicMessage } from './world.ts';
export type { MessagesState, RegistryState, StoredMessage, MessageEvent, RegistryEvent } from './world.ts';
export { Delivery, PUSH_TOPIC, DEFAULT_LEASE_MS } from './delivery.ts';
export type { DeviceItem } from './delivery.ts';
export { DeviceTokens } from './tokens.ts';
