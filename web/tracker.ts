/**
 * The /tracker page: the tracker's swarms, peers and messages per second per node, live. It polls
 * GET /api/tracker about once a second while the tab is visible (a hidden tab costs the server
 * nothing), keeps a minute of messages/s per node for a sparkline, and shows the announce URL a
 * WebTorrent client needs. Errors keep the last good figures on screen, marked as an error, and
 * polling goes on so the page recovers by itself.
 */
import { parseSummary, type TrackerNode, type TrackerSummary } from './tracker/api.ts';
import { Series, sparkline } from './tracker/sparkline.ts';

const POLL_MS = 1000;
/** A request that takes longer is abandoned and counted as an error. */
const REQUEST_TIMEOUT_MS = 5000;
/** Sparkline samples kept per node: a minute at one poll a second. */
const HISTORY = 60;
/** A node whose figures are this much older than the newest node's is shown greyed out. */
const STALE_MS = 5000;
const SPARK_WIDTH = 120;
const SPARK_HEIGHT = 24;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const ui = {
  connection: $('connection'),
  announce: $('announce-url'),
  copy: $<HTMLButtonElement>('copy-announce'),
  totalSwarms: $('total-swarms'),
  totalPeers: $('total-peers'),
  totalNodes: $('total-nodes'),
  totalMessages: $('total-messages'),
  error: $('error'),
  nodes: $<HTMLTableElement>('nodes').tBodies[0],
  swarms: $<HTMLTableElement>('swarms').tBodies[0],
  swarmsNote: $('swarms-note'),
  status: $('status'),
  updated: $('updated'),
};

type ConnectionState = 'connecting' | 'connected' | 'paused' | 'error';

function setConnection(state: ConnectionState): void {
  ui.connection.dataset.state = state;
  ui.connection.textContent = { connecting: 'connecting…', connected: 'live', paused: 'paused (tab hidden)', error: 'error' }[state];
}

const count = (n: number): string => Math.round(n).toLocaleString('en');
const rate = (n: number): string => (n < 10 ? n.toFixed(1) : count(n));

function cell(text: string, className?: string, field?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  if (field) td.dataset.field = field;
  return td;
}

function emptyRow(colspan: number, text: string): HTMLTableRowElement {
  const tr = document.createElement('tr');
  const td = cell(text, 'empty');
  td.colSpan = colspan;
  tr.append(td);
  return tr;
}

const history = new Map<string, Series>();

/** Adds this poll's messages/s of every node to its history; forgets nodes that are gone. */
function record(nodes: TrackerNode[]): void {
  const seen = new Set<string>();
  for (const n of nodes) {
    seen.add(n.nodeId);
    let s = history.get(n.nodeId);
    if (!s) history.set(n.nodeId, (s = new Series(HISTORY)));
    s.push(n.messagesInPerSecond + n.messagesOutPerSecond);
  }
  for (const id of history.keys()) if (!seen.has(id)) history.delete(id);
}

function renderNodes(summary: TrackerSummary): void {
  if (summary.nodes.length === 0) {
    ui.nodes.replaceChildren(emptyRow(8, 'no node has reported figures yet'));
    return;
  }
  const newest = Math.max(...summary.nodes.map((n) => n.at));
  const rows = [...summary.nodes].sort((a, b) => a.nodeId.localeCompare(b.nodeId)).map((n) => {
    const tr = document.createElement('tr');
    tr.dataset.nodeId = n.nodeId;
    if (n.nodeId === summary.nodeId) tr.classList.add('self');
    if (newest - n.at > STALE_MS) {
      tr.classList.add('stale');
      tr.title = `last report ${Math.round((newest - n.at) / 1000)} s before the newest`;
    }
    const spark = cell('', 'spark-cell');
    const label = `${n.nodeId}: ${rate(n.messagesInPerSecond + n.messagesOutPerSecond)} messages/s now`;
    spark.append(sparkline(history.get(n.nodeId) ?? new Series(HISTORY), SPARK_WIDTH, SPARK_HEIGHT, label));
    tr.append(
      cell(n.nodeId, 'node', 'nodeId'),
      cell(count(n.connections), 'num', 'connections'),
      cell(count(n.peers), 'num', 'peers'),
      cell(count(n.swarms), 'num', 'swarms'),
      cell(rate(n.connectsPerSecond), 'num', 'connectsPerSecond'),
      cell(rate(n.messagesInPerSecond), 'num', 'messagesInPerSecond'),
      cell(rate(n.messagesOutPerSecond), 'num', 'messagesOutPerSecond'),
      spark,
    );
    return tr;
  });
  ui.nodes.replaceChildren(...rows);
}

function renderSwarms(summary: TrackerSummary): void {
  if (summary.swarms.length === 0) {
    ui.swarms.replaceChildren(emptyRow(5, 'no swarms yet: add the announce URL to a WebTorrent client, or open the demo in two tabs'));
    ui.swarmsNote.textContent = '';
    return;
  }
  ui.swarmsNote.textContent = summary.totals.swarms > summary.swarms.length
    ? `(the ${summary.swarms.length} largest of ${count(summary.totals.swarms)})` : '';
  ui.swarms.replaceChildren(...summary.swarms.map((s) => {
    const tr = document.createElement('tr');
    tr.dataset.infoHash = s.infoHash;
    const hash = cell('', 'hash', 'infoHash');
    const code = document.createElement('code');
    code.textContent = s.infoHash;
    hash.append(code);
    const join = document.createElement('td');
    const link = document.createElement('a');
    link.href = `/tracker-demo.html?infoHash=${s.infoHash}`;
    link.textContent = 'join in the demo';
    join.append(link);
    tr.append(hash, cell(count(s.peers), 'num', 'peers'), cell(count(s.complete), 'num', 'complete'),
      cell(count(s.incomplete), 'num', 'incomplete'), join);
    return tr;
  }));
}

function render(summary: TrackerSummary): void {
  record(summary.nodes);
  ui.totalSwarms.textContent = count(summary.totals.swarms);
  ui.totalPeers.textContent = count(summary.totals.peers);
  ui.totalNodes.textContent = count(summary.nodes.length);
  ui.totalMessages.textContent = rate(summary.nodes.reduce((t, n) => t + n.messagesInPerSecond + n.messagesOutPerSecond, 0));
  renderNodes(summary);
  renderSwarms(summary);
  ui.status.textContent = `answered by node ${summary.nodeId}`;
  ui.updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function fetchSummary(): Promise<TrackerSummary> {
  const res = await fetch('/api/tracker', { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), cache: 'no-store' });
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const e = body as { code?: string; message?: string } | null;
    throw new Error(e?.message ? `${e.code ?? res.status}: ${e.message}` : `HTTP ${res.status}`);
  }
  return parseSummary(body);
}

let timer: ReturnType<typeof setTimeout> | undefined;
let inFlight = false;
let polls = 0;

async function poll(): Promise<void> {
  if (inFlight) return;
  inFlight = true;
  try {
    render(await fetchSummary());
    ui.error.hidden = true;
    setConnection('connected');
  } catch (err) {
    const why = err instanceof Error ? (err.name === 'TimeoutError' ? `no answer in ${REQUEST_TIMEOUT_MS / 1000} s` : err.message) : String(err);
    ui.error.textContent = `Cannot read /api/tracker (${why}). Retrying every second; the figures below are from the last good answer.`;
    ui.error.hidden = false;
    setConnection('error');
  } finally {
    inFlight = false;
    polls++;
    document.body.dataset.polls = String(polls);
    schedule();
  }
}

/** The next poll in POLL_MS, unless the tab is hidden (visibilitychange restarts it). */
function schedule(): void {
  clearTimeout(timer);
  timer = undefined;
  if (document.hidden) {
    setConnection('paused');
    return;
  }
  timer = setTimeout(() => void poll(), POLL_MS);
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    clearTimeout(timer);
    timer = undefined;
    setConnection('paused');
  } else {
    void poll(); // at once: the figures on screen are as old as the time the tab was hidden
  }
});

const announceUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/announce`;
ui.announce.textContent = announceUrl;
ui.copy.addEventListener('click', () => {
  navigator.clipboard?.writeText(announceUrl).then(
    () => { ui.copy.textContent = 'copied'; setTimeout(() => { ui.copy.textContent = 'copy'; }, 1500); },
    () => { ui.copy.textContent = 'select and copy'; },
  );
});
setConnection('connecting');
void poll();
