/**
 * Cuts the microphone into 20 ms encoder frames by label (a room position less the codec's delay,
 * docs/choir.md "Clock alignment"), for the worklet (web/choir-worklet.ts); pure, so Node tests it.
 *
 * Labels only go forward. The page's clock estimate may move (a better round trip came back): a
 * jump forward leaves a gap (the frame in progress goes out with silence where nothing was
 * captured), and a jump backward drops the samples whose labels were already written until the
 * labels pass what was written, so no position is ever labelled twice and the same audio is never
 * sent at two stamps (before, the frame before was sent again, its start silent).
 */
export class MicFramer {
  /** The label of the frame being filled (NaN: none) and its samples. */
  private frameLabel = Number.NaN;
  private frame: Float32Array<ArrayBuffer>;
  /** Labels below this were written already (exclusive end of what was captured). */
  private writtenTo = -Infinity;

  constructor(readonly frameSamples: number, private readonly emit: (label: number, pcm: Float32Array<ArrayBuffer>) => void) {
    this.frame = new Float32Array(frameSamples);
  }

  /** `n` samples of `mono`, the first labelled `firstLabel`, the next ones each one more. */
  push(firstLabel: number, mono: Float32Array, n = mono.length): void {
    const F = this.frameSamples;
    for (let i = 0; i < n; i++) {
      const label = firstLabel + i;
      if (label < this.writtenTo) continue; // labelled already: a backward jump drops the overlap
      const start = Math.floor(label / F) * F;
      if (start !== this.frameLabel) {
        if (!Number.isNaN(this.frameLabel)) this.flush();
        this.frameLabel = start;
      }
      this.frame[label - start] = mono[i];
      this.writtenTo = label + 1;
      if (label - start === F - 1) this.flush();
    }
  }

  /** Positions start afresh (a new room, or no room): any label is new again; the frame in progress is dropped. */
  reset(): void {
    this.frameLabel = Number.NaN;
    this.frame = new Float32Array(this.frameSamples);
    this.writtenTo = -Infinity;
  }

  private flush(): void {
    const pcm = this.frame;
    this.frame = new Float32Array(this.frameSamples);
    const label = this.frameLabel;
    this.frameLabel = Number.NaN;
    this.emit(label, pcm);
  }
}
