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
