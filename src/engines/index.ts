export { EmbeddedEngine } from './embedded-engine.ts';
export type { EmbeddedEngineOptions } from './embedded-engine.ts';
export { RedisEngine } from './redis-engine.ts';
