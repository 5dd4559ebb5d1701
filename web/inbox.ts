/**
 * The /inbox page (docs/inbox.md "The page"): a publisher console and a device pane.
 *
 * Publisher console: with the publisher key (kept in this tab's sessionStorage), compose a message
 * to a recipient expression checked as you type (POST /api/inbox/expressions/check, debounced;
 * a bad one shows a caret under its error position, a good one the count of matching active
 * devices), schedule it, edit and recall sent ones; the table polls GET /api/inbox/messages about
 * once a second while the tab is visible, so delivered and read counts update live.
 *
 * Device pane: register this browser as a device with groups and attributes (POST
 * /api/inbox/devices), then watch its inbox through the SDK's `client.inbox(deviceToken)`:
 * messages arrive, change and disappear live; the SDK keeps the cursor in localStorage and the page
 * keeps the messages it holds, so a reload or a reconnect resumes where it was.
 *
 * Tests read state through window.__inbox (InboxHooks), never from pixels.
 */
import '../src/apps/inbox/errors.ts'; // inbox's error codes, decoded by name
import { BrigadeClient, BrigadeError, type Inbox, type InboxMessage } from '../src/sdk/index.ts';
import { ApiError, api } from './inbox/api.ts';
import { pushPane, type PushHooks } from './inbox/push-pane.ts';

/** A message as GET /api/inbox/messages[/:id] shows it. */
export interface SentMessage {
  id: string;
  to: string;
  title: string;
  body: string;
  data: unknown;
  deliverAt: number | null;
  expiresAt: number | null;
  status: 'scheduled' | 'live' | 'recalled' | 'expired';
  seq: number;
  delivered: number;
  read: number;
}

/** The result of the last expression check the console shows. */
export type CheckState =
  | { state: 'idle' | 'checking'; to: string }
  | { state: 'ok'; to: string; expression: string; matching: number }
  | { state: 'error'; to: string; message: string; position?: number; expected?: string };

/** A message the device holds. */
export interface HeldMessage { id: string; title: string; body: string; data: unknown; seq: number; read: boolean; edits: number }

/** What end-to-end tests read from the page. */
export interface InboxHooks {
  publisher: {
    /** True once the key was accepted. */
    ready(): boolean;
    check(): CheckState;
    /** The table's rows: live and scheduled ones, then those this tab saw recalled or expired. */
    messages(): SentMessage[];
    /** The id of the message the form is editing, or null. */
    editing(): string | null;
  };
  device: {
    id(): string | null;
    connected(): boolean;
    /** Held messages, newest first. */
    messages(): HeldMessage[];
    /** Every inbox item this page handled, oldest first: "message:<id>", "edit:<id>", "recall:<id>", "expire:<id>". */
    events(): string[];
    cursor(): { epoch: number; seq: number } | null;
    lastError(): string | null;
    /** Web Push: the service worker and the *notify me when offline* control. */
    push: PushHooks;
  };
}

declare global {
  interface Window { __inbox?: InboxHooks }
}

const KEY_STORE = 'brigade.inbox.key';
const DEVICE_STORE = 'brigade.inbox.device';
const IDENTITY_STORE = 'brigade.inbox.identity';
const HELD_STORE = (id: string) => `brigade.inbox.held:${id}`;
const POLL_MS = 1000;
const CHECK_DEBOUNCE_MS = 200;
const MAX_EVENTS = 50;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function describeError(err: unknown): string {
  if (err instanceof BrigadeError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function text(tag: string, content: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

/** ms since the epoch → the value of an <input type="datetime-local"> (local time, seconds). */
function toLocalInput(ms: number | null): string {
  if (!ms) return '';
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

function fromLocalInput(v: string): number | undefined {
  if (!v) return undefined;
  const t = new Date(v).getTime();
  return Number.isFinite(t) ? t : undefined;
}

const time = (ms: number | null): string => (ms ? new Date(ms).toLocaleString() : '');

// ---- publisher console ------------------------------------------------------------------------

function publisherConsole(): InboxHooks['publisher'] {
  const ui = {
    keyForm: $<HTMLFormElement>('key-form'),
    key: $<HTMLInputElement>('key'),
    keyStatus: $('key-status'),
    console: $('console'),
    compose: $<HTMLFormElement>('compose'),
    to: $<HTMLInputElement>('to'),
    caret: $('to-caret'),
    toStatus: $('to-status'),
    title: $<HTMLInputElement>('title'),
    body: $<HTMLTextAreaElement>('body'),
    data: $<HTMLTextAreaElement>('data'),
    deliverAt: $<HTMLInputElement>('deliver-at'),
    expiresAt: $<HTMLInputElement>('expires-at'),
    send: $<HTMLButtonElement>('send'),
    cancelEdit: $<HTMLButtonElement>('cancel-edit'),
    composeStatus: $('compose-status'),
    sent: $<HTMLTableElement>('sent').tBodies[0],
    sentNote: $('sent-note'),
  };
  let key: string | null = null;
  let check: CheckState = { state: 'idle', to: '' };
  let rows: SentMessage[] = [];
  /** Messages this tab saw leave the live list, with their final state (GET /:id once). */
  const gone = new Map<string, SentMessage>();
  let editing: SentMessage | null = null;
  /** The table's rows by message id (rowOf). */
  const rowEls = new Map<string, SentRow>();

  function setStatus(el: HTMLElement, msg: string, error = false): void {
    el.textContent = msg;
    el.classList.toggle('error', error);
  }

  // -- the expression, checked as you type --
  let checkSeq = 0;
  let checkTimer: ReturnType<typeof setTimeout> | undefined;

  function showCheck(c: CheckState): void {
    check = c;
    ui.toStatus.dataset.state = c.state;
    ui.to.setAttribute('aria-invalid', String(c.state === 'error'));
    ui.caret.hidden = c.state !== 'error' || c.position === undefined;
    if (c.state === 'ok') {
      ui.toStatus.textContent = `✓ matches ${c.matching.toLocaleString('en')} active device${c.matching === 1 ? '' : 's'} · ${c.expression}`;
    } else if (c.state === 'error') {
      ui.toStatus.textContent = c.position === undefined ? c.message : `position ${c.position}: ${c.message}`;
      if (c.position !== undefined) {
        // The expression, then a caret under the offending character (positions are UTF-16 units, as here).
        const mark = text('span', '^ ' + (c.expected ? `expected ${c.expected}` : 'here'), 'mark');
        ui.caret.replaceChildren(c.to + '\n' + ' '.repeat(c.position), mark);
      }
    } else {
      ui.toStatus.textContent = c.state === 'checking' ? 'checking…' : '';
    }
  }

  async function runCheck(): Promise<void> {
    if (!key) return;
    const to = ui.to.value;
    const seq = ++checkSeq;
    showCheck({ state: 'checking', to });
    try {
      const r = await api<{ expression: string; matching: number }>('POST', '/api/inbox/expressions/check', key, { to });
      if (seq === checkSeq) showCheck({ state: 'ok', to, expression: r.expression, matching: r.matching });
    } catch (err) {
      if (seq !== checkSeq) return;
      if (err instanceof ApiError && err.code === 'RATE_LIMITED') {
        checkTimer = setTimeout(() => void runCheck(), 500);
        return;
      }
      if (err instanceof ApiError && err.code === 'INBOX_BAD_EXPRESSION') {
        const b = err.body as { message: string; position?: number; expected?: string };
        // The server's message starts "bad recipient expression at position N: "; the page shows the position itself.
        const message = String(b.message).replace(/^bad recipient expression at position \d+: /, '');
        showCheck({ state: 'error', to, message, position: b.position, expected: b.expected });
      } else {
        showCheck({ state: 'error', to, message: describeError(err) });
      }
    }
  }

  function scheduleCheck(): void {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => void runCheck(), CHECK_DEBOUNCE_MS);
  }
  ui.to.addEventListener('input', scheduleCheck);

  // -- compose, edit, recall --
  function readForm(): Record<string, unknown> {
    const out: Record<string, unknown> = { to: ui.to.value, title: ui.title.value, body: ui.body.value };
    const raw = ui.data.value.trim();
    if (raw) {
      try {
        out.data = JSON.parse(raw);
      } catch (err) {
        throw new Error(`data is not JSON: ${(err as Error).message}`);
      }
    } else if (editing) {
      out.data = null;
    }
    const deliverAt = fromLocalInput(ui.deliverAt.value);
    const expiresAt = fromLocalInput(ui.expiresAt.value);
    if (deliverAt !== undefined && !editing) out.deliverAt = deliverAt;
    if (expiresAt !== undefined) out.expiresAt = expiresAt;
    return out;
  }

  function stopEditing(): void {
    editing = null;
    ui.compose.classList.remove('editing');
    ui.send.textContent = 'publish';
    ui.cancelEdit.hidden = true;
    ui.deliverAt.disabled = false;
  }

  function startEditing(m: SentMessage): void {
    editing = m;
    ui.compose.classList.add('editing');
    ui.to.value = m.to;
    ui.title.value = m.title;
    ui.body.value = m.body;
    ui.data.value = m.data === null || m.data === undefined ? '' : JSON.stringify(m.data);
    ui.deliverAt.value = toLocalInput(m.deliverAt);
    ui.deliverAt.disabled = true; // the API edits to, title, body, data and expiresAt
    ui.expiresAt.value = toLocalInput(m.expiresAt);
    ui.send.textContent = 'save edit';
    ui.cancelEdit.hidden = false;
    setStatus(ui.composeStatus, `editing ${m.id}`);
    scheduleCheck();
    ui.title.focus();
  }

  ui.cancelEdit.addEventListener('click', () => { stopEditing(); setStatus(ui.composeStatus, ''); });

  ui.compose.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      if (!key) return;
      ui.send.disabled = true;
      try {
        const body = readForm();
        if (editing) {
          const r = await api<{ id: string; seq: number }>('PATCH', `/api/inbox/messages/${editing.id}`, key, body);
          setStatus(ui.composeStatus, `edited ${r.id} (seq ${r.seq})`);
          stopEditing();
        } else {
          const r = await api<{ id: string; seq: number; status: string }>('POST', '/api/inbox/messages', key, body);
          setStatus(ui.composeStatus, `published ${r.id} (seq ${r.seq}, ${r.status})`);
        }
        await poll();
      } catch (err) {
        setStatus(ui.composeStatus, describeError(err), true);
        if (err instanceof ApiError && err.code === 'INBOX_BAD_EXPRESSION') void runCheck();
      } finally {
        ui.send.disabled = false;
      }
    })();
  });

  async function recall(m: SentMessage): Promise<void> {
    if (!key) return;
    try {
      const r = await api<{ id: string; seq: number }>('DELETE', `/api/inbox/messages/${m.id}`, key);
      setStatus(ui.composeStatus, `recalled ${r.id} (seq ${r.seq})`);
      if (editing?.id === m.id) stopEditing();
      await poll();
    } catch (err) {
      setStatus(ui.composeStatus, describeError(err), true);
    }
  }

  // -- the table, polled --
  function render(): void {
    const all = [...rows, ...[...gone.values()].reverse()];
    ui.sentNote.textContent = `${rows.length} live or scheduled${gone.size ? `, ${gone.size} recalled or expired` : ''}`;
    if (all.length === 0) {
      const tr = document.createElement('tr');
      const td = text('td', 'no messages yet', 'empty') as HTMLTableCellElement;
      td.colSpan = 6;
      tr.append(td);
      ui.sent.replaceChildren(tr);
      rowEls.clear();
      return;
    }
    const trs = all.map((m) => rowOf(m).tr);
    // The same rows in the same order: the table is left as it is (a row taken out and put back
    // would lose a press on its buttons too).
    const same = trs.length === ui.sent.children.length && trs.every((tr, i) => ui.sent.children[i] === tr);
    if (!same) ui.sent.replaceChildren(...trs);
    const ids = new Set(all.map((m) => m.id));
    for (const id of [...rowEls.keys()]) if (!ids.has(id)) rowEls.delete(id);
  }

  /**
   * Each message's row, kept across polls (the table is rendered every POLL_MS): a row is rebuilt
   * only when what it shows changed, and its buttons are made once, acting on the message as it is
   * now. Rebuilt every second, a button could be replaced between a press and its release, and the
   * click was lost (the browser fires none when the two land on different elements).
   */
  function rowOf(m: SentMessage): SentRow {
    const shows = JSON.stringify([m.title, m.to, m.status, m.deliverAt, m.expiresAt, m.delivered, m.read]);
    let row = rowEls.get(m.id);
    if (!row) {
      const tr = document.createElement('tr');
      tr.dataset.id = m.id;
      const edit = text('button', 'edit', 'small edit') as HTMLButtonElement;
      edit.type = 'button';
      edit.addEventListener('click', () => startEditing(row!.m));
      const del = text('button', 'recall', 'small danger recall') as HTMLButtonElement;
      del.type = 'button';
      del.addEventListener('click', () => void recall(row!.m));
      const actions = document.createElement('td');
      actions.className = 'actions';
      const cells = Array.from({ length: 5 }, () => document.createElement('td'));
      tr.append(...cells, actions);
      row = { tr, m, shows: '', cells, actions, buttons: [edit, ' ', del] };
      rowEls.set(m.id, row);
    }
    row.m = m;
    if (row.shows === shows) return row;
    row.shows = shows;
    const live = m.status === 'live' || m.status === 'scheduled';
    row.tr.className = live ? '' : 'gone';
    const title = document.createElement('td');
    title.append(text('div', m.title || '(no title)'), text('div', m.id, 'muted mono'));
    const status = document.createElement('td');
    const badge = text('span', m.status, 'status');
    badge.dataset.status = m.status;
    status.append(badge);
    if (m.status === 'scheduled' && m.deliverAt) status.append(text('div', time(m.deliverAt), 'muted'));
    else if (m.expiresAt && live) status.append(text('div', `until ${time(m.expiresAt)}`, 'muted'));
    const delivered = text('td', String(m.delivered), 'num');
    delivered.dataset.field = 'delivered';
    const read = text('td', String(m.read), 'num');
    read.dataset.field = 'read';
    // The other cells are replaced one by one; the actions cell and its buttons stay the same
    // elements, only whether the buttons are there changes.
    const cells = [title, text('td', m.to, 'to mono') as HTMLTableCellElement, status, delivered as HTMLTableCellElement, read as HTMLTableCellElement];
    cells.forEach((c, i) => row!.cells[i].replaceWith(c));
    row.cells = cells;
    if (live && row.actions.childNodes.length === 0) row.actions.append(...row.buttons);
    if (!live) row.actions.replaceChildren();
    return row;
  }

  let polling = false;
  async function poll(): Promise<void> {
    if (!key || polling) return;
    polling = true;
    try {
      const list = await api<SentMessage[]>('GET', '/api/inbox/messages', key);
      list.sort((a, b) => b.seq - a.seq);
      // A message that left the live list was recalled or expired: read its final state once.
      const now = new Set(list.map((m) => m.id));
      for (const m of rows) {
        if (now.has(m.id) || gone.has(m.id)) continue;
        try {
          gone.set(m.id, await api<SentMessage>('GET', `/api/inbox/messages/${m.id}`, key));
        } catch {
          gone.set(m.id, { ...m, status: 'recalled' });
        }
      }
      rows = list;
      render();
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'RATE_LIMITED')) setStatus(ui.composeStatus, `cannot read messages: ${describeError(err)}`, true);
    } finally {
      polling = false;
    }
  }

  setInterval(() => { if (document.visibilityState === 'visible') void poll(); }, POLL_MS);

  // -- the key --
  async function useKey(k: string): Promise<void> {
    try {
      await api('GET', '/api/inbox/messages', k);
    } catch (err) {
      setStatus(ui.keyStatus, err instanceof ApiError && err.code === 'INBOX_BAD_KEY' ? 'that is not the publisher key' : describeError(err), true);
      ui.console.hidden = true;
      key = null;
      return;
    }
    key = k;
    sessionStorage.setItem(KEY_STORE, k);
    setStatus(ui.keyStatus, 'key accepted; it stays in this tab (sessionStorage)');
    ui.console.hidden = false;
    void runCheck();
    void poll();
  }

  ui.keyForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void useKey(ui.key.value.trim());
  });
  const stored = sessionStorage.getItem(KEY_STORE);
  if (stored) {
    ui.key.value = stored;
    void useKey(stored);
  }

  return {
    ready: () => key !== null,
    check: () => check,
    messages: () => [...rows, ...[...gone.values()].reverse()],
    editing: () => editing?.id ?? null,
  };
}

/** A message's row in the console's table: its element, the message it shows, and its buttons (made once). */
interface SentRow { tr: HTMLTableRowElement; m: SentMessage; shows: string; cells: HTMLTableCellElement[]; actions: HTMLTableCellElement; buttons: (HTMLButtonElement | string)[] }

// ---- device pane -----------------------------------------------------------------------------

interface StoredDevice { id: string; token: string; groups: string[]; attributes: Record<string, string | number> }

function parseGroups(v: string): string[] {
  return v.split(/[\s,]+/).filter(Boolean);
}

/** "name = value" per line (or `;`-separated); a value that is a number is a number, quotes make a string. */
function parseAttributes(v: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const line of v.split(/[\n;]+/)) {
    if (!line.trim()) continue;
    const m = /^\s*([^=\s]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) throw new Error(`attribute ${JSON.stringify(line.trim())}: write name = value`);
    const raw = m[2];
    if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) out[m[1]] = Number(raw);
    else out[m[1]] = /^".*"$/.test(raw) ? JSON.parse(raw) as string : raw;
  }
  return out;
}

function formatAttributes(a: Record<string, string | number>): string {
  return Object.entries(a).map(([k, v]) => `${k} = ${typeof v === 'number' ? v : /^-?\d/.test(v) ? JSON.stringify(v) : v}`).join('\n');
}

function devicePane(): InboxHooks['device'] {
  const ui = {
    state: $('device-state'),
    form: $<HTMLFormElement>('device-form'),
    groups: $<HTMLInputElement>('groups'),
    attributes: $<HTMLTextAreaElement>('attributes'),
    register: $<HTMLButtonElement>('register'),
    forget: $<HTMLButtonElement>('forget'),
    status: $('device-status'),
    id: $('device-id'),
    inbox: $('inbox'),
    count: $('inbox-count'),
    events: $('events'),
    push: { box: $('push'), toggle: $<HTMLButtonElement>('push-toggle'), status: $('push-status') },
  };
  let device: StoredDevice | null = JSON.parse(localStorage.getItem(DEVICE_STORE) ?? 'null') as StoredDevice | null;
  let client: BrigadeClient | null = null;
  let inbox: Inbox | null = null;
  let held = new Map<string, HeldMessage>();
  const events: string[] = [];
  const synced = () => (client?.connected ?? false) && inbox !== null && inbox.cursor.epoch !== 0;
  const push = pushPane(ui.push, {
    token: () => device?.token ?? null,
    holds: (id) => held.has(id),
    syncedSeq: () => (synced() ? inbox!.cursor.seq : null),
  });

  function setStatus(msg: string, error = false): void {
    ui.status.textContent = msg;
    ui.status.classList.toggle('error', error);
  }

  function setState(state: 'none' | 'connecting' | 'connected' | 'reconnecting' | 'error', label?: string): void {
    ui.state.dataset.state = state;
    ui.state.textContent = label ?? { none: 'not registered', connecting: 'connecting…', connected: 'live', reconnecting: 'offline, reconnecting…', error: 'error' }[state];
  }

  function saveHeld(): void {
    if (device) localStorage.setItem(HELD_STORE(device.id), JSON.stringify([...held.values()]));
  }

  function render(flash?: string): void {
    const list = [...held.values()].sort((a, b) => b.seq - a.seq);
    ui.count.textContent = device ? `${list.length} message${list.length === 1 ? '' : 's'}` : '';
    if (list.length === 0) {
      ui.inbox.replaceChildren(text('li', device ? 'no messages for this device' : 'register to receive messages', 'empty'));
      return;
    }
    ui.inbox.replaceChildren(...list.map((m) => {
      const li = document.createElement('li');
      li.dataset.id = m.id;
      if (m.read) li.classList.add('read');
      if (m.id === flash) li.classList.add('flash');
      li.append(text('div', m.title || '(no title)', 'title'));
      if (m.body) li.append(text('div', m.body, 'body'));
      if (m.data !== null && m.data !== undefined) li.append(text('pre', JSON.stringify(m.data)));
      const meta = document.createElement('div');
      meta.className = 'meta';
      meta.append(text('span', m.id, 'mono'));
      if (m.edits > 0) meta.append(text('span', `edited${m.edits > 1 ? ` ×${m.edits}` : ''}`));
      if (m.read) meta.append(text('span', 'read'));
      else {
        const b = text('button', 'mark read', 'small mark-read') as HTMLButtonElement;
        b.type = 'button';
        b.addEventListener('click', () => {
          inbox?.markRead(m.id);
          m.read = true;
          saveHeld();
          render();
        });
        meta.append(b);
      }
      li.append(meta);
      return li;
    }));
  }

  function logEvent(kind: string, m: InboxMessage): void {
    events.push(`${kind}:${m.id}`);
    const li = document.createElement('li');
    li.append(text('span', new Date().toLocaleTimeString() + ' '), text('span', kind, 'kind'), ` ${m.id}${m.title ? ` “${m.title}”` : ''}`);
    ui.events.prepend(li);
    while (ui.events.children.length > MAX_EVENTS) ui.events.lastElementChild!.remove();
  }

  async function identity(renew = false): Promise<string> {
    const stored = localStorage.getItem(IDENTITY_STORE);
    if (stored && !renew) return stored;
    const { token } = await api<{ token: string }>('POST', '/api/identity', null, {});
    localStorage.setItem(IDENTITY_STORE, token);
    return token;
  }

  function disconnect(): void {
    inbox?.close();
    client?.close();
    inbox = null;
    client = null;
  }

  async function connect(d: StoredDevice): Promise<void> {
    disconnect();
    held = new Map((JSON.parse(localStorage.getItem(HELD_STORE(d.id)) ?? '[]') as HeldMessage[]).map((m) => [m.id, m]));
    render();
    const token = await identity();
    const c = new BrigadeClient(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, { token });
    client = c;
    setState('connecting');
    c.on('open', () => { if (c === client) setState('connected'); });
    c.on('reconnecting', () => { if (c === client) setState('reconnecting'); });
    c.on('close', (closed) => { if (c === client && closed.willReconnect) setState('reconnecting'); });
    c.on('error', (err) => {
      if (c !== client) return;
      if (err.code === 'INVALID_TOKEN') {
        // An identity from another server (or an old secret): take a new one and start again.
        void identity(true).then(() => connect(d));
      } else if (err.code !== 'DISCONNECTED') {
        setStatus(describeError(err), true);
      }
    });
    const ib = c.inbox(d.token);
    inbox = ib;
    for await (const item of ib) {
      if (ib !== inbox) break;
      const m = item.message;
      logEvent(item.kind, m);
      if (item.kind === 'message' || item.kind === 'edit') {
        const had = held.get(m.id);
        held.set(m.id, {
          id: m.id, title: String(m.title ?? ''), body: String(m.body ?? ''), data: m.data ?? null,
          seq: Number(m.seq ?? had?.seq ?? 0), read: had?.read ?? false, edits: (had?.edits ?? 0) + (had ? 1 : 0),
        });
        saveHeld();
        render(m.id);
      } else {
        held.delete(m.id);
        saveHeld();
        render();
        push.messageGone(m.id);
      }
    }
  }

  function showDevice(): void {
    ui.id.textContent = device ? `device ${device.id} · groups: ${device.groups.join(', ') || '(none)'} · attributes: ${Object.keys(device.attributes).length ? JSON.stringify(device.attributes) : '(none)'}` : '';
    ui.register.textContent = device ? 'update groups and attributes' : 'register this device';
    ui.forget.hidden = !device;
    if (!device) setState('none');
    push.deviceChanged();
  }

  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      ui.register.disabled = true;
      try {
        const body = { groups: parseGroups(ui.groups.value), attributes: parseAttributes(ui.attributes.value) };
        if (device) {
          const r = await api<{ groups: string[]; attributes: Record<string, string | number> }>('PATCH', '/api/inbox/devices/me', device.token, body);
          device = { ...device, groups: r.groups, attributes: r.attributes };
          setStatus('updated: what this device holds follows its new groups and attributes');
        } else {
          const r = await api<{ id: string; token: string }>('POST', '/api/inbox/devices', null, body);
          device = { id: r.id, token: r.token, ...body };
          setStatus(`registered as ${r.id}`);
          void connect(device).catch((err) => { setState('error'); setStatus(describeError(err), true); });
        }
        localStorage.setItem(DEVICE_STORE, JSON.stringify(device));
        showDevice();
      } catch (err) {
        setStatus(describeError(err), true);
      } finally {
        ui.register.disabled = false;
      }
    })();
  });

  ui.forget.addEventListener('click', () => {
    disconnect();
    if (device) {
      void push.forget(device.token);
      localStorage.removeItem(HELD_STORE(device.id));
      localStorage.removeItem(`brigade-inbox:${device.id}`); // the SDK's cursor
    }
    localStorage.removeItem(DEVICE_STORE);
    device = null;
    held = new Map();
    ui.events.replaceChildren();
    events.length = 0;
    setStatus('forgotten on this browser (the server forgets it after --inbox-device-ttl)');
    showDevice();
    render();
  });

  // The SDK retries hello/sync at each reconnect; a device the server no longer knows shows here.
  // Notifications of messages recalled or expired while the page was away close once it synced.
  setInterval(() => {
    push.reconcile();
    const err = inbox?.lastError;
    if (err && (err.code === 'INBOX_UNKNOWN_DEVICE' || err.code === 'INBOX_BAD_DEVICE_TOKEN')) {
      setState('error', 'unknown device');
      setStatus(`${describeError(err)}; forget it and register again`, true);
    }
  }, 1000);

  // A browser that knows it is offline drops its socket (a half-dead one can linger for minutes on
  // a lost network) and reconnects as soon as it is back, resuming from the cursor.
  window.addEventListener('offline', () => {
    if (!device || !client) return;
    disconnect();
    setState('reconnecting', 'offline: waiting for the network');
  });
  window.addEventListener('online', () => {
    if (device && !client) void connect(device).catch((err) => { setState('error'); setStatus(describeError(err), true); });
  });

  showDevice();
  if (device) {
    ui.groups.value = device.groups.join(', ');
    ui.attributes.value = formatAttributes(device.attributes);
    void connect(device).catch((err) => { setState('error'); setStatus(describeError(err), true); });
  }
  render();

  return {
    id: () => device?.id ?? null,
    connected: synced,
    messages: () => [...held.values()].sort((a, b) => b.seq - a.seq),
    events: () => [...events],
    cursor: () => (inbox ? { epoch: inbox.cursor.epoch, seq: inbox.cursor.seq } : null),
    lastError: () => (inbox?.lastError ? describeError(inbox.lastError) : null),
    push: push.hooks,
  };
}

window.__inbox = { publisher: publisherConsole(), device: devicePane() };
