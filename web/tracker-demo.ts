/**
 * The tracker demo page: the real, unmodified `bittorrent-tracker` client (as WebTorrent uses it)
 * joins a swarm through this node's `/announce`, and every other page in the swarm becomes a
 * WebRTC data channel you can type into. Open it in two tabs (or on two nodes of a deployment)
 * and they connect peer to peer; the tracker only brokers the offer and the answer.
 *
 * Query parameters: `announce` (tracker URL; default this host's /announce), `swarm` (a name whose
 * SHA-1 is the info_hash; default "brigade-demo") or `infoHash` (40 hex digits), and `stun`
 * (comma-separated STUN/TURN URLs; default none, which connects peers on one host or LAN only).
 * End-to-end tests drive it through window.__trackerDemo.
 */
import './tracker/node-globals.ts'; // first: the client reads process.browser when it is constructed
import Client, { type TrackerPeer } from 'bittorrent-tracker/client';

export type DemoState = 'starting' | 'announcing' | 'joined' | 'error';

/** What end-to-end tests read from and do to the page. */
export interface TrackerDemoHooks {
  /** This page's peer_id, hex (40 digits). */
  peerId: string;
  /** The swarm's info_hash, hex. */
  infoHash: string;
  announce: string;
  state(): DemoState;
  /** Remote peer ids (hex) with an open data channel, each once. */
  connectedPeers(): string[];
  /** Every text message received, in order. */
  received(): { from: string; text: string }[];
  /** Sends `text` once to every connected peer; returns how many peers it went to. */
  send(text: string): number;
  /** The tracker's last announce reply counts, or null before the first. */
  swarm(): { complete: number; incomplete: number } | null;
  /** Tracker warnings and failure reasons, in order. */
  warnings(): string[];
}

declare global {
  interface Window { __trackerDemo?: TrackerDemoHooks }
}

/** Messages kept on screen; older ones scroll away (the hooks keep them all for tests). */
const MAX_SHOWN_MESSAGES = 200;
/** Longest message typed into the box; a data channel takes far more, but this is a chat line. */
const MAX_MESSAGE_CHARS = 2000;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const ui = {
  state: $('state'),
  announce: $('announce-url'),
  infoHash: $('info-hash'),
  peerId: $('peer-id'),
  swarm: $('swarm-counts'),
  peers: $<HTMLUListElement>('peers'),
  messages: $<HTMLOListElement>('messages'),
  form: $<HTMLFormElement>('send-form'),
  input: $<HTMLInputElement>('message'),
  sendButton: $<HTMLButtonElement>('send'),
  status: $('status'),
};

function setStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

let state: DemoState = 'starting';
function setState(next: DemoState, label: string): void {
  state = next;
  ui.state.dataset.state = next;
  ui.state.textContent = label;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A peer id in the Azureus style WebTorrent uses: "-BG0001-" then 12 random bytes. */
function newPeerId(): string {
  const random = crypto.getRandomValues(new Uint8Array(12));
  return hex(new TextEncoder().encode('-BG0001-')) + hex(random);
}

async function infoHashOf(params: URLSearchParams): Promise<string> {
  const given = params.get('infoHash');
  if (given !== null) {
    if (!/^[0-9a-fA-F]{40}$/.test(given)) throw new Error(`infoHash must be 40 hex digits, got "${given}"`);
    return given.toLowerCase();
  }
  const name = params.get('swarm') ?? 'brigade-demo';
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(name))));
}

function announceUrlOf(params: URLSearchParams): string {
  const given = params.get('announce');
  if (given !== null) {
    const url = new URL(given); // throws a clear TypeError on garbage
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`announce must be a ws:// or wss:// URL, got "${given}"`);
    return url.href;
  }
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/announce`;
}

/**
 * No STUN unless asked for: this page is for peers that can reach each other directly (one host,
 * one LAN), and a default public STUN server would make every test and every offline demo wait on
 * the network. Across NATs, pass ?stun=stun:your.stun.server:3478.
 */
function rtcConfigOf(params: URLSearchParams): RTCConfiguration {
  const urls = (params.get('stun') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  return { iceServers: urls.length > 0 ? [{ urls }] : [] };
}

const short = (peerId: string): string => peerId.slice(16, 24); // past the "-BG0001-" prefix

/** The page's peers: every connection the client made, several per remote id at times. */
class Peers {
  private readonly all = new Set<TrackerPeer>();
  private shown = 0;

  add(peer: TrackerPeer, onData: (from: string, text: string) => void): void {
    if (this.all.has(peer)) return;
    this.all.add(peer);
    const decoder = new TextDecoder();
    peer.on('connect', () => this.render());
    peer.on('data', (data) => onData(peer.id, typeof data === 'string' ? data : decoder.decode(data)));
    peer.on('close', () => { this.all.delete(peer); this.render(); });
    // A failed connection is normal in a swarm (the other tab closed, ICE failed): show it, go on.
    peer.on('error', (err) => setStatus(`peer ${short(peer.id ?? '')}: ${err.message}`, true));
    this.render();
  }

  /**
   * One open connection per remote peer. Two pages can hold two connections to each other (each
   * answered the other's offer); a message goes over one of them so it arrives once.
   */
  connected(): Map<string, TrackerPeer> {
    const byId = new Map<string, TrackerPeer>();
    for (const p of this.all) if (p.connected && !p.destroyed && p.id && !byId.has(p.id)) byId.set(p.id, p);
    return byId;
  }

  destroyAll(): void {
    for (const p of this.all) p.destroy();
    this.all.clear();
  }

  render(): void {
    const connected = this.connected();
    const pending = new Set<string>();
    for (const p of this.all) if (p.id && !connected.has(p.id)) pending.add(p.id);
    const items = [...connected.keys()].map((id) => item(id, 'connected'))
      .concat([...pending].map((id) => item(id, 'connecting')));
    if (items.length === 0) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = 'no peers yet: open this page in another tab, browser or node';
      items.push(li);
    }
    ui.peers.replaceChildren(...items);
    ui.sendButton.disabled = connected.size === 0;
    if (connected.size !== this.shown) {
      this.shown = connected.size;
      if (connected.size > 0) setStatus(`peer to peer with ${connected.size} peer${connected.size === 1 ? '' : 's'}; the tracker is no longer involved`);
    }
  }
}

function item(peerId: string, peerState: 'connected' | 'connecting'): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.peerId = peerId;
  li.dataset.state = peerState;
  const code = document.createElement('code');
  code.textContent = short(peerId);
  code.title = peerId;
  li.append(code, ` ${peerState}`);
  return li;
}

function showMessage(who: string, text: string, mine: boolean): void {
  const li = document.createElement('li');
  li.className = mine ? 'mine' : 'theirs';
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = who;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(from, body);
  ui.messages.append(li);
  while (ui.messages.childElementCount > MAX_SHOWN_MESSAGES) ui.messages.firstElementChild!.remove();
  li.scrollIntoView({ block: 'nearest' });
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const announce = announceUrlOf(params);
  const infoHash = await infoHashOf(params);
  const peerId = newPeerId();
  ui.announce.textContent = announce;
  ui.infoHash.textContent = infoHash;
  ui.peerId.textContent = peerId;

  const received: { from: string; text: string }[] = [];
  const warnings: string[] = [];
  let swarm: { complete: number; incomplete: number } | null = null;
  const peers = new Peers();
  peers.render();

  const client = new Client({ infoHash, peerId, announce, rtcConfig: rtcConfigOf(params) });
  client.on('peer', (peer) => peers.add(peer, (from, text) => {
    received.push({ from, text });
    showMessage(`peer ${short(from)}`, text, false);
  }));
  client.on('update', (data) => {
    swarm = { complete: data.complete, incomplete: data.incomplete };
    ui.swarm.textContent = `${data.complete + data.incomplete} in the swarm at the last announce (${data.complete} seeding, ${data.incomplete} leeching)`;
    setState('joined', 'joined');
    if (peers.connected().size === 0) setStatus('announced; waiting for peers to connect');
  });
  client.on('warning', (err) => {
    warnings.push(err.message);
    setStatus(`tracker: ${err.message}`, true);
  });
  client.on('error', (err) => {
    warnings.push(err.message);
    setState('error', 'error');
    setStatus(`tracker error: ${err.message}`, true);
  });

  const send = (text: string): number => {
    const open = peers.connected();
    for (const p of open.values()) p.send(text);
    if (open.size > 0) showMessage(`you → ${open.size} peer${open.size === 1 ? '' : 's'}`, text, true);
    return open.size;
  };
  ui.input.maxLength = MAX_MESSAGE_CHARS;
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.input.value.trim();
    if (text === '') return;
    if (send(text) === 0) setStatus('no connected peer to send to', true);
    else ui.input.value = '';
  });

  // Leave the swarm on the way out ('stopped'), so the tracker forgets this peer now rather than
  // at its TTL, and the /tracker page's counts drop at once.
  addEventListener('pagehide', () => {
    client.stop();
    peers.destroyAll();
  });

  window.__trackerDemo = {
    peerId, infoHash, announce,
    state: () => state,
    connectedPeers: () => [...peers.connected().keys()],
    received: () => received.slice(),
    send,
    swarm: () => swarm,
    warnings: () => warnings.slice(),
  };

  setState('announcing', 'announcing…');
  setStatus(`announcing to ${announce}`);
  client.start();
}

main().catch((err: unknown) => {
  setState('error', 'error');
  setStatus(err instanceof Error ? err.message : String(err), true);
});
