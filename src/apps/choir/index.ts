/**
 * choir — bucket-brigade group singing (seed 000, docs/choir.md).
 *
 * Singers join a room at increasing delays behind the leader; each hears the mix of everyone
 * ahead of them and sings along, and their voice is added into the room's one circular buffer at
 * the position they heard. The room (buffer, clock, leader, song, singers) lives in the main
 * thread; Opus encode/decode, stateful per singer, runs in codec shards (worker threads), each
 * singer pinned to one, called over a SharedArrayBuffer RPC per shard.
 */
export { choirApp } from './app.ts';
export type { ChoirOptions } from './app.ts';
export { CHOIR_ERRORS } from './errors.ts';
export { Room, FRAME_SAMPLES, SAMPLE_RATE } from './room.ts';
export { encodeFrame, decodeFrame, encodeReply, decodeReply } from './wire.ts';
