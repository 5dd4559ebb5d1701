/**
 * Audio kept by room position for a while: what the page sang and the mix it received, for the
 * page's hooks (window.__choir) that end-to-end tests read. Bounded: chunks older than `keep`
 * samples behind the newest are dropped.
 */
export class PcmLog {
  private readonly chunks: { pos: number; pcm: Float32Array }[] = [];

  constructor(readonly keepSamples: number) {}

  add(pos: number, pcm: Float32Array): void {
    this.chunks.push({ pos, pcm: pcm.slice() });
    const newest = pos + pcm.length;
    while (this.chunks.length > 0 && this.chunks[0].pos + this.chunks[0].pcm.length < newest - this.keepSamples) this.chunks.shift();
  }

  /** Forgets everything (a rejoin into a new room: its positions mean other audio). */
  clear(): void {
    this.chunks.length = 0;
  }

  /** [first, end) of the positions held, or null when empty. */
  range(): [number, number] | null {
    if (this.chunks.length === 0) return null;
    let first = Infinity, end = -Infinity;
    for (const c of this.chunks) { first = Math.min(first, c.pos); end = Math.max(end, c.pos + c.pcm.length); }
    return [first, end];
  }

  /** Positions [from, to) as Int16 numbers, zeros where nothing was logged; a later chunk wins. */
  read(from: number, to: number): number[] {
    const out = new Float32Array(Math.max(0, to - from));
    for (const c of this.chunks) {
      const a = Math.max(from, c.pos), b = Math.min(to, c.pos + c.pcm.length);
      for (let p = a; p < b; p++) out[p - from] = c.pcm[p - c.pos];
    }
    return Array.from(out, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767))));
  }
}
