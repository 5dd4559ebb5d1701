/** Small signal helpers for choir's tests and simulated singers: a tone, and Goertzel's power at one frequency. */
import { SAMPLE_RATE } from './room.ts';

/** `n` samples of a sine at `hz`, amplitude `amp` (0..1), starting at absolute sample `from` (phase continuous across frames). */
export function tone(hz: number, n: number, amp = 0.5, from = 0): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * 32767 * Math.sin((2 * Math.PI * hz * (from + i)) / SAMPLE_RATE));
  return out;
}

/** The RMS amplitude (0..1 of full scale) of the component at `hz` in `pcm` (Goertzel). */
export function goertzel(pcm: Int16Array, hz: number): number {
  const n = pcm.length;
  const w = (2 * Math.PI * hz) / SAMPLE_RATE;
  const c = 2 * Math.cos(w);
  let s1 = 0, s2 = 0;
  for (let i = 0; i < n; i++) {
    const s0 = pcm[i] / 32768 + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / n; // a full-scale sine → ~1
}
