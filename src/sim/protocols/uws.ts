/**
 * SimProtocol adapter for the uWebSockets.js peer (bench/peers/uws.ts): that peer speaks the subset
 * of Brigade's binary protocol the place workload uses, at the same paths (/ws, POST /api/identity),
 * so its clients are Brigade's own (./brigade.ts), unchanged: the same viewer code, the same frames.
 */
import type { SimProtocol } from '../protocol.ts';
import { protocol as brigade } from './brigade.ts';
import { httpSnapshot, httpStats } from './ws-json.ts';

export const protocol: SimProtocol = { name: 'uws', openViewer: brigade.openViewer, openEditor: brigade.openEditor };

/** GET /snapshot and GET /stats, as the other peers answer them (bench/peers/lib/run.ts). */
export const snapshot = httpSnapshot;
export const stats = httpStats;
