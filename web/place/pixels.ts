/**
 * The canvas's pixels, held twice: as palette indices (what the log means) and as an offscreen
 * canvas of RGBA (what gets drawn). The offscreen canvas has the image's own size, one canvas
 * pixel per image pixel; the view scales it onto the screen.
 */
import type { EditCodec } from '../../src/apps/place/edit-codec.ts';

export class PixelStore {
  /** The offscreen canvas the view draws from. */
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  /** One byte per pixel, row-major: the palette index. */
  private readonly indices: Uint8Array;
  /** Mirror of the offscreen canvas; edits write here, then one putImageData per batch. */
  private readonly image: ImageData;
  /** Palette as [r, g, b] triples. */
  private readonly rgb: [number, number, number][];

  constructor(readonly width: number, readonly height: number, palette: readonly string[]) {
    this.canvas = document.createElement('canvas');
    this.canvas.width = width;
    this.canvas.height = height;
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true })!;
    this.indices = new Uint8Array(width * height);
    this.image = this.ctx.createImageData(width, height);
    this.rgb = palette.map(parseHex);
    this.repaint();
  }

  /** Palette index at (x, y), or -1 outside the canvas. */
  get(x: number, y: number): number {
    if (!this.contains(x, y)) return -1;
    return this.indices[y * this.width + x];
  }

  contains(x: number, y: number): boolean {
    return Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x < this.width && y < this.height;
  }

  /** Loads a decoded snapshot image (the PNG), mapping each colour back to its palette index. */
  loadImage(bitmap: ImageBitmap): void {
    this.ctx.clearRect(0, 0, this.width, this.height);
    this.ctx.drawImage(bitmap, 0, 0);
    const data = this.ctx.getImageData(0, 0, this.width, this.height).data;
    const exact = new Map(this.rgb.map(([r, g, b], i) => [(r << 16) | (g << 8) | b, i]));
    for (let p = 0, i = 0; p < this.indices.length; p++, i += 4) {
      const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      this.indices[p] = exact.get(key) ?? this.nearest(data[i], data[i + 1], data[i + 2]);
    }
    this.repaint();
  }

  /** Replaces every pixel with one-byte-per-pixel indices (a decoded SNAPSHOT frame). */
  loadIndices(pixels: Uint8Array): void {
    this.indices.set(pixels);
    this.repaint();
  }

  /** Applies a batch of encoded edits; returns how many were drawn. */
  applyEdits(events: Uint8Array[], codec: EditCodec): number {
    let minX = this.width, minY = this.height, maxX = -1, maxY = -1, applied = 0;
    for (const event of events) {
      const { x, y, colour } = codec.decode(event);
      if (!this.contains(x, y) || colour >= this.rgb.length) continue; // the server validates; stay safe anyway
      const p = y * this.width + x;
      this.indices[p] = colour;
      this.paint(p, colour);
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      applied++;
    }
    if (applied > 0) this.ctx.putImageData(this.image, 0, 0, minX, minY, maxX - minX + 1, maxY - minY + 1);
    return applied;
  }

  /** Rebuilds the RGBA mirror from the indices and uploads it whole. */
  private repaint(): void {
    for (let p = 0; p < this.indices.length; p++) this.paint(p, this.indices[p]);
    this.ctx.putImageData(this.image, 0, 0);
  }

  private paint(p: number, colour: number): void {
    const [r, g, b] = this.rgb[colour];
    const d = this.image.data;
    const i = p * 4;
    d[i] = r;
    d[i + 1] = g;
    d[i + 2] = b;
    d[i + 3] = 255;
  }

  /** Closest palette colour, for images a browser colour-managed on the way in. */
  private nearest(r: number, g: number, b: number): number {
    let best = 0, bestDistance = Infinity;
    this.rgb.forEach(([pr, pg, pb], i) => {
      const distance = (pr - r) ** 2 + (pg - g) ** 2 + (pb - b) ** 2;
      if (distance < bestDistance) { best = i; bestDistance = distance; }
    });
    return best;
  }
}

function parseHex(colour: string): [number, number, number] {
  const n = parseInt(colour.replace(/^#/, ''), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
