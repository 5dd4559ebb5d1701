export { EmbeddedEngine } from './embedded-engine.ts';
export type { EmbeddedEngineOptions } from './embedded-engine.ts';
export { RedisEngine } from './redis-engine.ts';
export type { RedisEngineOptions } from './redis-engine.ts';
