import { WebSocket } from 'ws';
import { BrigadeClient } from '../../../src/sdk/index.ts';

/** The inbox's HTTP API as its tests call it: JSON in and out, the publisher key by default. */
export type InboxCall = (method: string, path: string, body?: unknown, auth?: string | null) => Promise<{ status: number; json: any }>;

/** A caller against the server `baseUrl()` names (read at each call: the server starts in `before`). */
export function inboxApi(baseUrl: () => string, key: string): InboxCall {
  return async (method, path, body, auth = key) => {
    const res = await fetch(baseUrl() + path, {
      method,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  };
}

/** A connected SDK client with a fresh identity from `node` (`POST /api/identity`), ready. */
export async function identifiedClient(node: { url: string; wsUrl: string }): Promise<BrigadeClient> {
  const token = ((await (await fetch(node.url + '/api/identity', { method: 'POST' })).json()) as { token: string }).token;
  const c = new BrigadeClient(node.wsUrl, { WebSocket: WebSocket as never, token });
  await c.ready();
  return c;
}
