/**
 * The contract of GET /api/tracker (the tracker app's live summary) and a strict reader for it:
 * the page draws only what it has checked, and a response of the wrong shape becomes a clear
 * error on screen instead of NaN in a table.
 */

import type { NodeStats, SwarmSummary, TrackerStatus } from '../../src/apps/tracker/index.ts';

// The server's own types for GET /api/tracker (src/apps/tracker/status.ts), under the page's names.
export type TrackerNode = NodeStats;
export type TrackerSwarm = SwarmSummary;
export type TrackerSummary = TrackerStatus;

export class ApiShapeError extends Error {
  readonly code = 'BAD_RESPONSE';
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiShapeError(`${where} is not an object`);
  return v as Record<string, unknown>;
}

function num(o: Record<string, unknown>, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ApiShapeError(`${where}.${key} is not a non-negative number`);
  return v;
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new ApiShapeError(`${where}.${key} is not a string`);
  return v;
}

function arr(o: Record<string, unknown>, key: string, where: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new ApiShapeError(`${where}.${key} is not an array`);
  return v;
}

/** A timestamp as ms since the epoch; ISO strings are accepted too. */
function time(o: Record<string, unknown>, key: string, where: string): number {
  const v = o[key];
  const ms = typeof v === 'string' ? Date.parse(v) : v;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new ApiShapeError(`${where}.${key} is not a time`);
  return ms;
}

export function parseSummary(body: unknown): TrackerSummary {
  const o = obj(body, 'response');
  const nodes = arr(o, 'nodes', 'response').map((n, i): TrackerNode => {
    const w = `nodes[${i}]`;
    const r = obj(n, w);
    return {
      nodeId: str(r, 'nodeId', w),
      connections: num(r, 'connections', w),
      peers: num(r, 'peers', w),
      swarms: num(r, 'swarms', w),
      connectsPerSecond: num(r, 'connectsPerSecond', w),
      messagesInPerSecond: num(r, 'messagesInPerSecond', w),
      messagesOutPerSecond: num(r, 'messagesOutPerSecond', w),
      at: time(r, 'at', w),
    };
  });
  const swarms = arr(o, 'swarms', 'response').map((s, i): TrackerSwarm => {
    const w = `swarms[${i}]`;
    const r = obj(s, w);
    const infoHash = str(r, 'infoHash', w);
    if (!/^[0-9a-fA-F]{40}$/.test(infoHash)) throw new ApiShapeError(`${w}.infoHash is not 40 hex digits`);
    return { infoHash: infoHash.toLowerCase(), peers: num(r, 'peers', w), complete: num(r, 'complete', w), incomplete: num(r, 'incomplete', w) };
  });
  const totals = obj(o.totals, 'response.totals');
  return {
    nodeId: str(o, 'nodeId', 'response'),
    nodes,
    swarms,
    totals: { swarms: num(totals, 'swarms', 'totals'), peers: num(totals, 'peers', 'totals') },
  };
}
