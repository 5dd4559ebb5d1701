/**
 * The visible canvas: draws the offscreen image scaled and panned, pixelated, at most once per
 * animation frame however often draw() is called (and not at all in a background tab). Drag pans,
 * the wheel zooms about the cursor, and a press released without dragging is a click on a pixel.
 */

export interface ViewHandlers {
  /** A click (no drag) on image pixel (x, y). */
  onPixelClick(x: number, y: number): void;
  /** The pointer is over image pixel (x, y), or over no pixel (null). */
  onHover(pixel: { x: number; y: number } | null): void;
}

/** A press that moves less than this far (CSS px) is a click, not a drag. */
const CLICK_SLOP_PX = 4;
const MAX_SCALE = 64;
const BACKGROUND = '#d6d6d6';

export class View {
  /** Screen (CSS) pixels per image pixel. */
  scale = 1;
  /** Where image pixel (0, 0)'s top-left corner is, in CSS px from the canvas element's top-left. */
  offsetX = 0;
  offsetY = 0;
  private readonly ctx: CanvasRenderingContext2D;
  private framePending = false;
  private fitted = false;
  private hover: { x: number; y: number } | null = null;
  private press: { id: number; startX: number; startY: number; lastX: number; lastY: number; dragging: boolean } | null = null;

  constructor(
    private readonly screen: HTMLCanvasElement,
    private readonly image: HTMLCanvasElement,
    private readonly handlers: ViewHandlers,
  ) {
    this.ctx = screen.getContext('2d')!;
    new ResizeObserver(() => this.resize()).observe(screen);
    this.resize();
    screen.addEventListener('pointerdown', (e) => this.pointerDown(e));
    screen.addEventListener('pointermove', (e) => this.pointerMove(e));
    screen.addEventListener('pointerup', (e) => this.pointerUp(e));
    screen.addEventListener('pointercancel', () => { this.press = null; });
    screen.addEventListener('pointerleave', () => this.setHover(null));
    screen.addEventListener('wheel', (e) => {
      e.preventDefault();
      const { x, y } = this.local(e);
      this.zoomAt(Math.exp(-e.deltaY * 0.0015), x, y);
    }, { passive: false });
  }

  /** Asks for a redraw on the next animation frame; calls before it coalesce into one. */
  draw(): void {
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      this.framePending = false;
      this.render();
    });
  }

  /** Scales the whole image to fit the view, centred. */
  fit(): void {
    const { width, height } = this.screen.getBoundingClientRect();
    this.scale = this.fitScale();
    this.offsetX = (width - this.image.width * this.scale) / 2;
    this.offsetY = (height - this.image.height * this.scale) / 2;
    this.draw();
  }

  /** Zooms by `factor`, keeping the point (x, y) (CSS px in the canvas element) still; default: the centre. */
  zoomAt(factor: number, x?: number, y?: number): void {
    const rect = this.screen.getBoundingClientRect();
    const cx = x ?? rect.width / 2;
    const cy = y ?? rect.height / 2;
    const minScale = Math.min(0.5, this.fitScale() / 2);
    const scale = Math.min(MAX_SCALE, Math.max(minScale, this.scale * factor));
    this.offsetX = cx - ((cx - this.offsetX) * scale) / this.scale;
    this.offsetY = cy - ((cy - this.offsetY) * scale) / this.scale;
    this.scale = scale;
    this.draw();
  }

  /** Image pixel under a viewport (client) point, or null outside the image. */
  pixelAt(clientX: number, clientY: number): { x: number; y: number } | null {
    const rect = this.screen.getBoundingClientRect();
    const x = Math.floor((clientX - rect.left - this.offsetX) / this.scale);
    const y = Math.floor((clientY - rect.top - this.offsetY) / this.scale);
    return x >= 0 && y >= 0 && x < this.image.width && y < this.image.height ? { x, y } : null;
  }

  /** Viewport (client) coordinates of the centre of image pixel (x, y). */
  screenPoint(x: number, y: number): { x: number; y: number } {
    const rect = this.screen.getBoundingClientRect();
    return {
      x: rect.left + this.offsetX + (x + 0.5) * this.scale,
      y: rect.top + this.offsetY + (y + 0.5) * this.scale,
    };
  }

  private render(): void {
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, this.screen.width / dpr, this.screen.height / dpr);
    const w = this.image.width * this.scale;
    const h = this.image.height * this.scale;
    ctx.drawImage(this.image, this.offsetX, this.offsetY, w, h);
    if (this.hover && this.scale >= 4) {
      ctx.strokeStyle = 'rgba(0, 0, 0, 0.6)';
      ctx.lineWidth = 1;
      ctx.strokeRect(this.offsetX + this.hover.x * this.scale + 0.5, this.offsetY + this.hover.y * this.scale + 0.5, this.scale - 1, this.scale - 1);
    }
  }

  private fitScale(): number {
    const { width, height } = this.screen.getBoundingClientRect();
    return Math.max(Number.MIN_VALUE, Math.min(width / this.image.width, height / this.image.height) * 0.95);
  }

  private resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const rect = this.screen.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) return;
    this.screen.width = Math.round(rect.width * dpr);
    this.screen.height = Math.round(rect.height * dpr);
    if (this.fitted) this.draw();
    else {
      this.fitted = true;
      this.fit();
    }
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const rect = this.screen.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  private setHover(pixel: { x: number; y: number } | null): void {
    if (pixel?.x === this.hover?.x && pixel?.y === this.hover?.y) return;
    this.hover = pixel;
    this.handlers.onHover(pixel);
    this.draw();
  }

  private pointerDown(e: PointerEvent): void {
    if (e.button !== 0 || this.press) return;
    this.screen.setPointerCapture(e.pointerId);
    this.press = { id: e.pointerId, startX: e.clientX, startY: e.clientY, lastX: e.clientX, lastY: e.clientY, dragging: false };
  }

  private pointerMove(e: PointerEvent): void {
    const press = this.press;
    if (press && press.id === e.pointerId) {
      if (!press.dragging && Math.hypot(e.clientX - press.startX, e.clientY - press.startY) >= CLICK_SLOP_PX) {
        press.dragging = true;
        this.screen.classList.add('dragging');
      }
      if (press.dragging) {
        this.offsetX += e.clientX - press.lastX;
        this.offsetY += e.clientY - press.lastY;
        this.draw();
      }
      press.lastX = e.clientX;
      press.lastY = e.clientY;
    }
    this.setHover(this.pixelAt(e.clientX, e.clientY));
  }

  private pointerUp(e: PointerEvent): void {
    const press = this.press;
    if (!press || press.id !== e.pointerId) return;
    this.press = null;
    this.screen.classList.remove('dragging');
    if (press.dragging) return;
    const pixel = this.pixelAt(e.clientX, e.clientY);
    if (pixel) this.handlers.onPixelClick(pixel.x, pixel.y);
  }
}
