/**
 * The /choir page's AudioWorklet (dist/web/choir-worklet.js, loaded with audioWorklet.addModule):
 * the one place that sees audio sample by sample, on the audio thread. It imports only the pure
 * framing (web/choir/mic-framer.ts, bundled in: the worklet scope has no TextEncoder and no DOM);
 * the page tells it everything through its port.
 *
 * Positions: `currentFrame` (the context's frame counter, "local frames") is the worklet's clock.
 * The page sends two shifts that map it onto the room's clock (web/choir.ts works them out):
 *   - play shift: the output at local frame f plays the mix at room position f + play;
 *   - capture shift: the microphone sample processed at local frame f goes into the encoder frame
 *     labelled f + capture (a room position less the codec's delay; see docs/choir.md "Clock alignment").
 * Out: `{type: 'frame', label, pcm}` for each whole encoder frame of microphone (label a multiple
 * of the frame size; labels only go forward: MicFramer); `{type: 'recorded', from, pcm}` at the end of a click test.
 * In: `{type: 'shifts', play, capture, fresh, frameSamples}` (`fresh`, or a null capture: positions start afresh, a new room; a new `frameSamples`: the room's frame size, framing starts afresh), `{type: 'mix', pos, pcm}` (mix samples at room positions
 * pos…), `{type: 'clicks', at, click, recordFrom, recordTo}` (a loopback test: play `click` at each
 * local frame in `at`, record the microphone over [recordFrom, recordTo)).
 */

// The AudioWorkletGlobalScope, which TypeScript's DOM library does not describe.
declare const currentFrame: number;
declare function registerProcessor(name: string, ctor: unknown): void;
import { MicFramer } from './choir/mic-framer.ts';

declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: { processorOptions?: unknown });
}

export interface ChoirWorkletOptions {
  /** Samples per encoder frame at start (960: 20 ms at 48 kHz); a `shifts` message may change it (the room's). */
  frameSamples: number;
  /** Length of the playback ring, samples: how far ahead of playing a mix may arrive. */
  ringSamples: number;
}

export type ToWorklet =
  | { type: 'shifts'; play: number | null; capture: number | null; fresh?: boolean; frameSamples?: number }
  | { type: 'mix'; pos: number; pcm: Float32Array }
  | { type: 'clicks'; at: number[]; click: Float32Array; recordFrom: number; recordTo: number };

export type FromWorklet =
  | { type: 'frame'; label: number; pcm: Float32Array<ArrayBuffer> }
  | { type: 'recorded'; from: number; pcm: Float32Array };

class ChoirProcessor extends AudioWorkletProcessor {
  /** The mix, by room position modulo its length; `ringPos` says which position each slot holds. */
  private readonly ring: Float32Array;
  private readonly ringPos: Float64Array;
  private play: number | null = null;
  private capture: number | null = null;
  /** Microphone samples into encoder frames by label. */
  private framer: MicFramer;
  /** The microphone's channels averaged, one render quantum (reused: no garbage on the audio thread). */
  private mono = new Float32Array(128);
  private clicks: { at: number[]; click: Float32Array; recordFrom: number; pcm: Float32Array } | null = null;

  constructor(options: { processorOptions: ChoirWorkletOptions }) {
    super(options);
    const o = options.processorOptions;
    this.framer = this.framerOf(o.frameSamples);
    this.ring = new Float32Array(o.ringSamples);
    this.ringPos = new Float64Array(o.ringSamples).fill(-1);
    this.port.onmessage = (e: MessageEvent<ToWorklet>) => this.receive(e.data);
  }

  private framerOf(frameSamples: number): MicFramer {
    return new MicFramer(frameSamples, (label, pcm) => this.port.postMessage({ type: 'frame', label, pcm } satisfies FromWorklet, [pcm.buffer]));
  }

  private receive(m: ToWorklet): void {
    if (m.type === 'shifts') {
      this.play = m.play;
      this.capture = m.capture;
      // The room's frame (--choir-frame-ms): a framer of another size starts afresh.
      if (m.frameSamples && m.frameSamples !== this.framer.frameSamples) this.framer = this.framerOf(m.frameSamples);
      else if (m.fresh || m.capture === null) this.framer.reset();
    } else if (m.type === 'mix') {
      const L = this.ring.length;
      for (let i = 0; i < m.pcm.length; i++) {
        const p = m.pos + i;
        const at = ((p % L) + L) % L;
        this.ring[at] = m.pcm[i];
        this.ringPos[at] = p;
      }
    } else {
      this.clicks = { at: m.at, click: m.click, recordFrom: m.recordFrom, pcm: new Float32Array(Math.max(0, m.recordTo - m.recordFrom)) };
    }
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const f0 = currentFrame;
    const input = inputs[0] ?? [];
    const out = outputs[0] ?? [];
    const n = out[0]?.length ?? input[0]?.length ?? 128;
    if (this.mono.length !== n) this.mono = new Float32Array(n);
    const mono = this.mono.fill(0);
    for (const ch of input) for (let i = 0; i < n; i++) mono[i] += ch[i] / input.length;

    // Playback: the mix at room position f + play, silence where none arrived in time.
    if (out.length > 0) {
      const o = out[0];
      const L = this.ring.length;
      if (this.play !== null) {
        for (let i = 0; i < n; i++) {
          const p = f0 + i + this.play;
          const at = ((p % L) + L) % L;
          o[i] = this.ringPos[at] === p ? this.ring[at] : 0;
        }
      }
      const c = this.clicks;
      if (c) {
        for (const start of c.at) {
          for (let i = Math.max(0, start - f0); i < n && f0 + i - start < c.click.length; i++) o[i] += c.click[f0 + i - start];
        }
        for (let i = 0; i < n; i++) {
          const k = f0 + i - c.recordFrom;
          if (k >= 0 && k < c.pcm.length) c.pcm[k] = mono[i];
        }
        if (f0 + n >= c.recordFrom + c.pcm.length) {
          this.port.postMessage({ type: 'recorded', from: c.recordFrom, pcm: c.pcm } satisfies FromWorklet, [c.pcm.buffer]);
          this.clicks = null;
        }
      }
      for (let ch = 1; ch < out.length; ch++) out[ch].set(o);
    }

    // Capture: whole encoder frames by label; labels only go forward (a moved shift: MicFramer).
    if (this.capture !== null) this.framer.push(f0 + this.capture, mono, n);
    return true;
  }
}

registerProcessor('choir', ChoirProcessor);
