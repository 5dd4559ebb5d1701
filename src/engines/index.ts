export { EmbeddedEngine, SQLITE_SYNCHRONOUS } from './embedded-engine.ts';
export type { EmbeddedEngineOptions, SqliteSynchronous } from './embedded-engine.ts';
export { SQLITE_CHECKPOINT } from './sqlite-checkpointer.ts';
export type { CheckpointStats, SqliteCheckpoint } from './sqlite-checkpointer.ts';
export { RedisEngine } from './redis-engine.ts';
export type { RedisEngineOptions } from './redis-engine.ts';
