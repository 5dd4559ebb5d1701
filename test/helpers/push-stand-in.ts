/**
 * web-push-testing as its own process: a local stand-in for a browser push service (not a real
 * one). It issues subscriptions for a VAPID key as a browser's push service would, checks each
 * push request's VAPID JWT, decrypts the payload (RFC 8291) and keeps the text for the test to
 * read, and answers 410 for a subscription it was told to expire.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { freePort } from './free-port.ts';

/** A subscription as the stand-in issues it: a browser's PushSubscription JSON plus the stand-in's handle. */
export interface StandInSubscription { endpoint: string; keys: { p256dh: string; auth: string }; clientHash: string }

export interface PushStandIn {
  url: string;
  /** A subscription for `applicationServerKey` (base64url), as `pushManager.subscribe` would make one. */
  subscribe(applicationServerKey: string): Promise<StandInSubscription>;
  /** The payloads pushed to a subscription, decrypted: the text the browser's worker would read (`event.data.text()`). */
  receivedText(sub: StandInSubscription): Promise<string[]>;
  /** The same, parsed as JSON. */
  received(sub: StandInSubscription): Promise<any[]>;
  /** From now on the stand-in answers 410 Gone for this subscription. */
  expire(sub: StandInSubscription): Promise<void>;
  stop(): void;
}

export async function startPushStandIn(): Promise<PushStandIn> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const bin = fileURLToPath(new URL('../../node_modules/web-push-testing/src/bin/server.js', import.meta.url));
  const proc = spawn(process.execPath, [bin, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('Server running')) resolve(); });
    proc.once('exit', (code) => reject(new Error(`web-push-testing exited with ${code}`)));
  });
  async function call(path: string, body: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text.startsWith('{') ? JSON.parse(text) : text };
  }
  const receivedText = async (sub: StandInSubscription): Promise<string[]> => (await call('/get-notifications', { clientHash: sub.clientHash })).json.data.messages;
  return {
    url,
    async subscribe(applicationServerKey) {
      const r = await call('/subscribe', { applicationServerKey, userVisibleOnly: 'true' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json.data;
    },
    receivedText,
    received: async (sub) => (await receivedText(sub)).map((m) => JSON.parse(m)),
    async expire(sub) {
      assert.equal((await call(`/expire-subscription/${sub.clientHash}`, {})).status, 200);
    },
    stop: () => { proc.kill('SIGTERM'); },
  };
}
