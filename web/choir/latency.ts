/**
 * The click loopback test (as bucket-brigade calibrates): the page plays a few clicks through the
 * speakers and records the microphone; the delay from a click's output frame to its arrival in
 * the input is this device's audio latency (output + input, in samples), which the page subtracts
 * from the position it stamps on what the singer sings (docs/choir.md "Clock alignment").
 *
 * A click is found where the recording best matches its shape (normalised cross-correlation), in
 * the `maxLatencyMs` after it was played. The clicks are spaced unevenly, so a periodic sound in
 * the room (or a test tone) cannot pass for them: the test counts only when most clicks agree.
 */

/** When each click is played, ms after the first: uneven on purpose. */
export const CLICK_TIMES_MS = [0, 450, 1000, 1350, 1900];

/** One click: 3 ms of a 2 kHz tone under a Hann window. */
export function clickShape(sampleRate: number, amplitude = 0.8): Float32Array {
  const n = Math.round(sampleRate * 0.003);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amplitude * Math.sin((2 * Math.PI * 2000 * i) / sampleRate) * 0.5 * (1 - Math.cos((2 * Math.PI * i) / (n - 1)));
  return out;
}

export type LoopbackResult =
  | { heard: true; latencySamples: number; clicksHeard: number; spreadSamples: number }
  | { heard: false; clicksHeard: number; reason: string };

export interface LoopbackOptions {
  sampleRate: number;
  /** Longest latency looked for, ms. */
  maxLatencyMs?: number;
  /** The least normalised correlation that counts as a click (0..1). */
  minCorrelation?: number;
  /** How far from the median a click may be and still agree, ms. */
  agreeMs?: number;
}

/**
 * Finds the clicks played at local frames `clickFrames` (shape `click`) in `recorded`, the
 * microphone from local frame `recordedFrom` on. Heard when at least 3 clicks (and more than half)
 * agree within `agreeMs` of their median; the latency is that median.
 */
export function measureLoopback(recorded: Float32Array, recordedFrom: number, clickFrames: number[], click: Float32Array, o: LoopbackOptions): LoopbackResult {
  const maxLag = Math.round(((o.maxLatencyMs ?? 500) * o.sampleRate) / 1000);
  const minCorrelation = o.minCorrelation ?? 0.5;
  const agree = Math.round(((o.agreeMs ?? 2) * o.sampleRate) / 1000);
  const n = click.length;
  let clickEnergy = 0;
  for (const v of click) clickEnergy += v * v;
  // Running sums of squares, for each window's energy in O(1).
  const sq = new Float64Array(recorded.length + 1);
  for (let i = 0; i < recorded.length; i++) sq[i + 1] = sq[i] + recorded[i] * recorded[i];

  const lags: number[] = [];
  for (const c of clickFrames) {
    let best = 0;
    let bestLag = -1;
    for (let lag = 0; lag <= maxLag; lag++) {
      const at = c + lag - recordedFrom;
      if (at < 0) continue;
      if (at + n > recorded.length) break;
      const energy = sq[at + n] - sq[at];
      if (energy <= 1e-9) continue;
      let dot = 0;
      for (let j = 0; j < n; j++) dot += click[j] * recorded[at + j];
      const r = dot / Math.sqrt(clickEnergy * energy);
      if (r > best) { best = r; bestLag = lag; }
    }
    if (best >= minCorrelation) lags.push(bestLag);
  }
  if (lags.length < 3) return { heard: false, clicksHeard: lags.length, reason: `${lags.length} of ${clickFrames.length} clicks heard; at least 3 needed` };
  const sorted = [...lags].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const agreeing = sorted.filter((l) => Math.abs(l - median) <= agree);
  if (agreeing.length < 3 || agreeing.length * 2 <= clickFrames.length) {
    return { heard: false, clicksHeard: agreeing.length, reason: `only ${agreeing.length} of ${clickFrames.length} clicks agree within ${o.agreeMs ?? 2} ms` };
  }
  return { heard: true, latencySamples: median, clicksHeard: agreeing.length, spreadSamples: agreeing[agreeing.length - 1] - agreeing[0] };
}
