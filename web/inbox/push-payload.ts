/**
 * What the inbox node pushes to a device that is not connected (src/apps/inbox/push.ts), and what
 * the /inbox service worker keeps on each notification it shows: shared by the worker
 * (web/inbox-sw.ts) and the page (web/inbox/push-pane.ts).
 */

/** The push's JSON: the title only (cut to 100 characters), never the body or data. */
export interface InboxPushPayload {
  kind: 'message' | 'edit';
  id: string;
  seq: number;
  title: string;
}

/** `notification.data` of a message's notification: the page reads it to close stale ones. */
export interface InboxNotificationData {
  id: string;
  seq: number;
  kind: 'message' | 'edit';
}

/** A message's notification tag: one per message, so an edit's push replaces its notification. */
export const notificationTag = (id: string): string => `inbox:${id}`;

/** The tag of a notification for a push whose payload was not the inbox's. */
export const UNKNOWN_TAG = 'inbox:unknown';

const HEX16 = /^[0-9a-f]{16}$/;

/** The payload, or null when the text is not what the inbox pushes. */
export function parsePushPayload(text: string): InboxPushPayload | null {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    return null;
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
  const o = p as Partial<InboxPushPayload>;
  if ((o.kind !== 'message' && o.kind !== 'edit') || typeof o.id !== 'string' || !HEX16.test(o.id)) return null;
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 1 || typeof o.title !== 'string') return null;
  return { kind: o.kind, id: o.id, seq: o.seq, title: o.title };
}

/** The notification data of one of ours (a message's), or null for anything else. */
export function notificationData(data: unknown): InboxNotificationData | null {
  const d = data as Partial<InboxNotificationData> | null;
  if (d === null || typeof d !== 'object' || typeof d.id !== 'string' || !HEX16.test(d.id) || typeof d.seq !== 'number') return null;
  return { id: d.id, seq: d.seq, kind: d.kind === 'edit' ? 'edit' : 'message' };
}
