/**
 * The place page: a snapshot PNG for a fast first paint, then live edits from the version that
 * image includes. Everything after the PNG is the SDK's job: ordered batches, catch-up after a
 * reconnect (it resubscribes from its version), and a full snapshot when the server prefers one.
 */
import '../src/apps/place/errors.ts'; // place's error codes, decoded by name
import { makeEditCodec, type EditCodec } from '../src/apps/place/edit-codec.ts';
import { decodePixels } from '../src/apps/place/snapshot-codec.ts';
import { PLACE_PREFIX } from '../src/apps/place/constants.ts';
import { BrigadeClient, BrigadeError, type Subscription } from '../src/sdk/index.ts';
import type { CanvasDescription } from '../src/apps/place/routes.ts';
import { PixelStore } from './place/pixels.ts';
import { View } from './place/view.ts';

/** One entry of GET /api/place/canvases. */
type CanvasInfo = Pick<CanvasDescription, 'name' | 'width' | 'height' | 'palette' | 'cooldownMs' | 'eventSize'>;

/** What end-to-end tests read from the page. */
export interface PlaceHooks {
  /** Events applied so far (the version the picture shows). */
  version(): number;
  /** Palette index of pixel (x, y); -1 outside the canvas. */
  pixel(x: number, y: number): number;
  connected(): boolean;
  /** Viewport coordinates of the centre of pixel (x, y), for real mouse clicks. */
  screenPoint(x: number, y: number): { x: number; y: number };
  /** The pixel under viewport point (clientX, clientY), or null. */
  pixelAt(clientX: number, clientY: number): { x: number; y: number } | null;
}

declare global {
  interface Window { __place?: PlaceHooks }
}

const TOKEN_KEY = 'brigade.place.token';
const ZOOM_STEP = 2;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const ui = {
  title: $('canvas-name'),
  screen: $<HTMLCanvasElement>('screen'),
  palette: $('palette'),
  zoomIn: $<HTMLButtonElement>('zoom-in'),
  zoomOut: $<HTMLButtonElement>('zoom-out'),
  cooldown: $('cooldown'),
  connection: $('connection'),
  status: $('status'),
  position: $('position'),
};

function setStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

function setConnection(state: 'connecting' | 'connected' | 'reconnecting'): void {
  ui.connection.dataset.state = state;
  ui.connection.textContent = state === 'reconnecting' ? 'reconnecting…' : state === 'connecting' ? 'connecting…' : 'connected';
}

function describeError(err: unknown): string {
  if (err instanceof BrigadeError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) {
    const body = await res.json().catch(() => null) as { code?: string; message?: string } | null;
    throw new Error(body?.message ? `${body.code}: ${body.message}` : `${url}: HTTP ${res.status}`);
  }
  return await res.json() as T;
}

/** This browser's identity token (one per browser, kept in localStorage); undefined = read-only. */
async function identity(renew = false): Promise<string | undefined> {
  const stored = localStorage.getItem(TOKEN_KEY);
  if (stored && !renew) return stored;
  try {
    const { token } = await getJson<{ userId: string; token: string }>('/api/identity', { method: 'POST' });
    localStorage.setItem(TOKEN_KEY, token);
    return token;
  } catch (err) {
    setStatus(`no identity (${describeError(err)}); watching read-only`, true);
    return undefined;
  }
}

/** The snapshot image and the log position it includes. */
async function loadSnapshot(name: string): Promise<{ bitmap: ImageBitmap; version: number; epoch: number }> {
  const res = await fetch(`/api/place/${encodeURIComponent(name)}/snapshot.png`);
  if (!res.ok) throw new Error(`snapshot of ${name}: HTTP ${res.status}`);
  const version = Number(res.headers.get('X-Brigade-Version'));
  const epoch = Number(res.headers.get('X-Brigade-Epoch') ?? 0);
  if (!Number.isSafeInteger(version) || !Number.isInteger(epoch)) throw new Error(`snapshot of ${name} has no version headers`);
  // No colour management: the pixels must stay exactly the palette's colours.
  const bitmap = await createImageBitmap(await res.blob(), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  return { bitmap, version, epoch };
}

/** Counts down to the next allowed pixel. */
class Cooldown {
  private until = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  remainingMs(): number {
    return Math.max(0, this.until - Date.now());
  }

  start(ms: number): void {
    if (ms <= 0) return;
    this.until = Math.max(this.until, Date.now() + ms);
    this.timer ??= setInterval(() => this.show(), 250);
    this.show();
  }

  show(): void {
    const left = this.remainingMs();
    document.body.classList.toggle('cooling', left > 0);
    ui.cooldown.textContent = left > 0 ? `next pixel in ${formatDuration(left)}` : 'ready to place';
    if (left === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

function formatDuration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function buildPalette(palette: string[], onSelect: (colour: number) => void): void {
  const buttons = palette.map((colour, i) => {
    const b = document.createElement('button');
    b.className = 'swatch';
    b.style.background = colour;
    b.title = `${i}: ${colour}`;
    b.dataset.colour = String(i);
    b.setAttribute('aria-label', `colour ${i} ${colour}`);
    b.addEventListener('click', () => select(i));
    return b;
  });
  function select(colour: number): void {
    buttons.forEach((b, i) => b.setAttribute('aria-pressed', String(i === colour)));
    onSelect(colour);
  }
  ui.palette.replaceChildren(...buttons);
  select(Math.min(3, palette.length - 1)); // dark grey in the r/place palette
}

async function main(): Promise<void> {
  const name = new URLSearchParams(location.search).get('canvas') ?? 'main';
  const canvases = await getJson<CanvasInfo[]>('/api/place/canvases');
  const found = canvases.find((c) => c.name === name);
  if (!found) throw new Error(`no canvas named ${JSON.stringify(name)}; canvases: ${canvases.map((c) => c.name).join(', ') || '(none)'}`);
  const info: CanvasInfo = found;
  const channel = PLACE_PREFIX + info.name;
  const codec: EditCodec = makeEditCodec(info.width, info.height, info.palette.length);
  document.title = `${info.name} · Brigade place`;
  ui.title.textContent = `${info.name} ${info.width}×${info.height}`;

  const pixels = new PixelStore(info.width, info.height, info.palette);
  const cooldown = new Cooldown();
  cooldown.show();
  let colour = 0;
  buildPalette(info.palette, (c) => { colour = c; });

  let client: BrigadeClient | null = null;
  let sub: Subscription | null = null;
  const showPosition = (pixel: { x: number; y: number } | null): void => {
    const version = sub?.version ?? 0;
    ui.position.textContent = `${pixel ? `(${pixel.x}, ${pixel.y}) · ` : ''}v${version}`;
  };
  let hover: { x: number; y: number } | null = null;

  const view = new View(ui.screen, pixels.canvas, {
    onHover(pixel) { hover = pixel; showPosition(pixel); },
    onPixelClick: (x, y) => void place(x, y),
  });
  ui.zoomIn.addEventListener('click', () => view.zoomAt(ZOOM_STEP));
  ui.zoomOut.addEventListener('click', () => view.zoomAt(1 / ZOOM_STEP));
  window.addEventListener('keydown', (e) => {
    if (e.key === '+' || e.key === '=') view.zoomAt(ZOOM_STEP);
    else if (e.key === '-') view.zoomAt(1 / ZOOM_STEP);
  });

  async function place(x: number, y: number): Promise<void> {
    const waitMs = cooldown.remainingMs();
    if (waitMs > 0) {
      setStatus(`cooldown: the next pixel is allowed in ${formatDuration(waitMs)}`, true);
      return;
    }
    if (!client) return;
    try {
      const version = await client.publish(channel, codec.encode(x, y, colour));
      setStatus(`placed colour ${colour} at (${x}, ${y}) as event ${version}`);
      cooldown.start(info.cooldownMs);
    } catch (err) {
      setStatus(describeError(err), true);
      if (err instanceof BrigadeError && err.code === 'COOLDOWN') cooldown.start(err.retryAfterMs);
    }
  }

  setStatus(`loading ${info.name}…`);
  const snapshot = await loadSnapshot(info.name);
  pixels.loadImage(snapshot.bitmap);
  snapshot.bitmap.close();
  view.draw();

  /** Connects a client and subscribes from `from` (the SDK keeps it exact across reconnects). */
  function connect(token: string | undefined, from: { version: number; epoch: number }): void {
    const c = new BrigadeClient(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, { token });
    client = c;
    setConnection('connecting');
    c.on('open', () => { if (c === client) setConnection('connected'); });
    c.on('reconnecting', () => { if (c === client) setConnection('reconnecting'); });
    c.on('close', (closed) => { if (c === client && closed.willReconnect) setConnection('reconnecting'); });
    c.on('error', (err) => {
      if (c !== client) return;
      if (err.code === 'INVALID_TOKEN' && token !== undefined) {
        // Issued by another server (or its secret changed): get a new identity and start over from here.
        const at = { version: sub!.version, epoch: sub!.epoch };
        c.close();
        void identity(true).then((fresh) => connect(fresh, at));
      } else if (err.code !== 'DISCONNECTED') {
        setStatus(describeError(err), true); // drops show in the connection indicator instead
      }
    });
    sub = c.subscribe(channel, {
      onBatch(_firstVersion, events) {
        pixels.applyEdits(events, codec);
        view.draw();
        showPosition(hover);
      },
      onSnapshot(_version, state) {
        pixels.loadIndices(decodePixels(state, info.width, info.height, info.palette.length, channel));
        view.draw();
        showPosition(hover);
      },
      onError: (err) => setStatus(describeError(err), true),
    }, { mode: 'version', version: from.version, epoch: from.epoch });
    showPosition(hover);
  }

  connect(await identity(), snapshot);
  setStatus(`click a pixel to place colour; drag to pan, wheel or +/- to zoom`);

  window.__place = {
    version: () => sub?.version ?? snapshot.version,
    pixel: (x, y) => pixels.get(x, y),
    connected: () => client?.connected ?? false,
    screenPoint: (x, y) => view.screenPoint(x, y),
    pixelAt: (clientX, clientY) => view.pixelAt(clientX, clientY),
  };
}

main().catch((err: unknown) => {
  setStatus(describeError(err), true);
  console.error(err);
});
