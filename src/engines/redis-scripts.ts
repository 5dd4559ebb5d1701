/**
 * The Redis engine's Lua scripts as ioredis commands (defineCommand adds them at runtime: EVALSHA,
 * EVAL on NOSCRIPT), and the small values every part of the engine passes them. One script per
 * atomic step; each redis-lua-*.ts documents its KEYS, ARGV and replies.
 */
import { randomInt } from 'node:crypto';
import { APPEND_LUA } from './redis-lua-append.ts';
import { CLAIM_LUA } from './redis-lua-claim.ts';
import { GET_SNAPSHOT_LUA } from './redis-lua-get-snapshot.ts';
import { HOLD_CLAIM_LUA, RELEASE_CLAIM_LUA } from './redis-lua-hold-claim.ts';
import { INFO_LUA } from './redis-lua-info.ts';
import { JOIN_LUA } from './redis-lua-join.ts';
import { PUT_SNAPSHOT_LUA } from './redis-lua-put-snapshot.ts';
import { ROLL_BACK_LUA } from './redis-lua-roll-back.ts';
import type { RedisConn } from './redis-target.ts';

export interface ScriptCommands {
  /** KEYS and ARGV as redis-lua-append.ts describes. */
  /** One array (ioredis flattens it): a tick of tens of thousands of publishes is too many arguments to spread into a call. */
  brigadeAppend(numberOfKeysKeysAndArgs: Array<number | string | Buffer>): Promise<number[]>;
  brigadeInfo(meta: string, log: string, snaps: string, snap: string, epoch: string): Promise<[number, number, number]>;
  brigadePutSnapshot(meta: string, log: string, snaps: string, snap: string, version: string, bytes: Buffer,
    timeMs: string, keepSnapshots: string, retainEvents: string, epoch: string, expectedEpoch: string): Promise<number>;
  brigadeGetSnapshotBuffer(snaps: string, snap: string, atOrBefore: string): Promise<[Buffer, Buffer, Buffer] | null>;
  brigadeJoin(members: string, now: string, expiresAtMs: string, member: string): Promise<number>;
  brigadeClaim(key: string, ttlMs: string): Promise<number>;
  brigadeHoldClaim(key: string, holder: string, ttlMs: string): Promise<[string, number]>;
  brigadeReleaseClaim(key: string, holder: string): Promise<number>;
  brigadeRollBack(meta: string, knownEpoch: string, seenEnd: string, candidate: string): Promise<[number, number]>;
}

/** `conn` (or a pipeline of it) with the scripts defineScripts() gave it. */
export function scripts(conn: unknown): ScriptCommands {
  return conn as ScriptCommands;
}

/** Defines the append script on both connections (they may be one) and the others on `cmd`. */
export function defineScripts(cmd: RedisConn, appendConn: RedisConn): void {
  for (const conn of new Set([cmd, appendConn])) conn.defineCommand('brigadeAppend', { lua: APPEND_LUA });
  cmd.defineCommand('brigadeInfo', { numberOfKeys: 4, lua: INFO_LUA });
  cmd.defineCommand('brigadeRollBack', { numberOfKeys: 1, lua: ROLL_BACK_LUA });
  cmd.defineCommand('brigadePutSnapshot', { numberOfKeys: 4, lua: PUT_SNAPSHOT_LUA });
  cmd.defineCommand('brigadeGetSnapshot', { numberOfKeys: 2, lua: GET_SNAPSHOT_LUA, readOnly: true });
  cmd.defineCommand('brigadeJoin', { numberOfKeys: 1, lua: JOIN_LUA });
  cmd.defineCommand('brigadeClaim', { numberOfKeys: 1, lua: CLAIM_LUA });
  cmd.defineCommand('brigadeHoldClaim', { numberOfKeys: 1, lua: HOLD_CLAIM_LUA });
  cmd.defineCommand('brigadeReleaseClaim', { numberOfKeys: 1, lua: RELEASE_CLAIM_LUA });
}

/** A candidate epoch for a channel whose log is new or lost (the scripts keep an existing one). */
export function newEpoch(): string {
  return String(randomInt(1, 2 ** 32));
}

/** ioredis sends a Buffer as bytes but a plain Uint8Array as its String() ("1,2,3"): wrap, no copy. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
