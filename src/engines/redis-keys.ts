/**
 * Key layout of the Redis engine. Every key of a channel carries the hash tag `{channel}`, so all of
 * them live in one cluster slot and one Lua script may touch them together.
 *
 *   <prefix>{<channel>}:meta    hash    epoch, head, oldest (see ChannelInfo)
 *   <prefix>{<channel>}:log     stream  one entry per append request (per node per tick):
 *                                       id "<firstVersion>-1", fields n (event count), d (packed events),
 *                                       e (epoch), and t, o (tick interval, appending engine) when said
 *   <prefix>{<channel>}:snaps   zset    member and score: the version of each kept snapshot
 *   <prefix>{<channel>}:snap    hash    "<version>" → snapshot bytes, "<version>:t" → timeMs
 *   <prefix>{<channel>}:p:<producer>  hash  seq → "<first version>:<epoch>": a producer's newest
 *                                publishes on the channel (idempotent publishing; expires)
 *
 * Optional abilities (see DirectMessages and Membership in core/engine.ts):
 *
 *   <prefix>{<set>}:members     zset    member → expiresAtMs; the key expires with its last member
 *   <prefix>dm:<address>        pub/sub channel of direct messages to an address (not a key)
 *
 * Cluster shape only (sharded pub/sub channels, not keys; their hash tag puts each on the shard
 * that holds the slot it names):
 *
 *   <prefix>{<channel>}:live    each batch the append script adds to the channel's log
 *   <prefix>dm:{<address>}      direct messages to an address
 *   <prefix>claim:{<key>}       string  held while it exists (PX = the claim's TTL)
 *   <prefix>held:{<key>}        string  a held claim: the holder (PX = the claim's TTL)
 *
 * Stream ids are versions: the first version of a batch is the id's millisecond part (the sequence
 * part is always 1, as Redis refuses the id 0-0). Versions only grow, so ids do too, and XREAD,
 * XRANGE, XREVRANGE and XTRIM MINID address versions directly: no separate index is needed.
 */

export interface ChannelKeys {
  meta: string;
  log: string;
  snaps: string;
  snap: string;
}

export function channelKeys(prefix: string, channel: string): ChannelKeys {
  const base = `${prefix}{${channel}}:`;
  return { meta: `${base}meta`, log: `${base}log`, snaps: `${base}snaps`, snap: `${base}snap` };
}

/** A producer's window on a channel (PublishStamp; redis-lua-append.ts). Same slot as the channel's keys. */
export function producerKey(prefix: string, channel: string, producer: string): string {
  return `${prefix}{${channel}}:p:${producer}`;
}

export function membersKey(prefix: string, set: string): string {
  return `${prefix}{${set}}:members`;
}

export function claimKey(prefix: string, key: string): string {
  return `${prefix}claim:{${key}}`;
}

export function heldClaimKey(prefix: string, key: string): string {
  return `${prefix}held:{${key}}`;
}

/** Where direct messages to `address` are published: sharded (hash-tagged) on a cluster. */
export function directChannel(prefix: string, address: string, sharded = false): string {
  return sharded ? `${prefix}dm:{${address}}` : `${prefix}dm:${address}`;
}

/** The shard channel a cluster's append script publishes the channel's new batches to. */
export function liveChannel(prefix: string, channel: string): string {
  return `${prefix}{${channel}}:live`;
}

/** The stream id of the batch whose first version is `version`. */
export function batchId(version: number): string {
  return `${version}-1`;
}

/** A stream position just before the batch starting at `version`: XREAD after it yields that batch. */
export function positionBefore(version: number): string {
  return `${version}-0`;
}

/** The first version of the batch with stream id `id`. */
export function versionOfId(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Hash tags end at the first '}' and a prefix with braces would move the tag: refuse it. */
export function checkPrefix(prefix: string): void {
  if (/[{}]/.test(prefix)) throw new RangeError(`redis prefix must not contain braces: ${JSON.stringify(prefix)}`);
}

/** One log entry as XRANGE/XREAD return it with Buffer replies: [id, [field, value, …]]. */
export type RawStreamEntry = [Buffer, Buffer[]];

export interface BatchEntry {
  id: string;
  firstVersion: number;
  count: number;
  /** The events, packed by redis-event-codec.ts. */
  packed: Buffer;
  /** The epoch of the log it was appended to; 0 when the entry does not say (written before epochs were). */
  epoch: number;
}

/**
 * Null for an entry lacking its fields (not written by the append script). Other fields are
 * ignored: entries written by earlier versions also hold 't' and 'o' (the appending node's tick
 * need and id, which now travel through membership: core/tick-needs.ts).
 */
export function parseBatchEntry([rawId, fields]: RawStreamEntry): BatchEntry | null {
  let count = -1;
  let packed: Buffer | null = null;
  let epoch = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i].toString();
    if (name === 'n') count = Number(fields[i + 1].toString());
    else if (name === 'd') packed = fields[i + 1];
    else if (name === 'e') epoch = Number(fields[i + 1].toString()) || 0;
  }
  if (count < 0 || packed === null) return null;
  const id = rawId.toString();
  return { id, firstVersion: versionOfId(id), count, packed, epoch };
}
