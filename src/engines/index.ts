export { EmbeddedEngine, SQLITE_SYNCHRONOUS } from './embedded-engine.ts';
export type { EmbeddedEngineOptions, SqliteSynchronous } from './embedded-engine.ts';
export { RedisEngine } from './redis-engine.ts';
export type { RedisEngineOptions } from './redis-engine.ts';
