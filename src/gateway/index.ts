export { Gateway, json } from './server.ts';
export type { GatewayOptions, GatewayDeps } from './server.ts';
export { LeanFrameSocket, wsFraming } from './frame-socket.ts';
export { IdentityIssuer } from './identity.ts';
export type { TokenCheck } from './identity.ts';
export { createMetrics, RateWindow } from './metrics.ts';
export type { GatewayMetrics } from './metrics.ts';
