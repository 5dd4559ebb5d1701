/** The inbox's HTTP API as the /inbox page calls it: JSON in and out, refusals as ApiError. */

/** A refusal of the HTTP API, as its body says it. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly body: Record<string, unknown>) {
    super(`${code}: ${message}`);
  }
}

/** `key`: the publisher key or a device token (sent as a bearer token), or null. */
export async function api<T>(method: string, path: string, key: string | null, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const out = await res.json().catch(() => null) as Record<string, unknown> | null;
  if (!res.ok) {
    throw new ApiError(res.status, String(out?.code ?? `HTTP ${res.status}`), String(out?.message ?? `${method} ${path} failed`), out ?? {});
  }
  return out as T;
}
