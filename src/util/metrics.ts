/**
 * Metrics helpers any layer may use (apps included): counters read at scrape time, and per-second
 * rates over a short window. prom-client is the metrics library; these keep the hot paths to
 * plain field increments.
 */
import client from 'prom-client';

/**
 * A prom-client Counter that reads a plain, monotonically growing number at scrape time, so the
 * hot path only increments a field and never touches the metrics library.
 */
export function pollingCounter(registry: client.Registry, name: string, help: string, read: () => number): void {
  let last = 0;
  new client.Counter({
    name, help, registers: [registry],
    collect() {
      const v = read();
      if (v > last) this.inc(v - last);
      last = v;
    },
  });
}

/**
 * Per-second rates of monotonically growing counters over the last `seconds` seconds: one sample
 * a second in a ring (timer unref'd, so it never keeps a process alive).
 */
export class RateWindow<K extends string> {
  private readonly samples: { at: number; values: Record<K, number> }[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly seconds: number, private readonly readers: Record<K, () => number>) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  private read(): Record<K, number> {
    const values = {} as Record<K, number>;
    for (const k of Object.keys(this.readers) as K[]) values[k] = this.readers[k]();
    return values;
  }

  private sample(): void {
    this.samples.push({ at: Date.now(), values: this.read() });
    if (this.samples.length > this.seconds + 1) this.samples.shift();
  }

  /** Mean rate from the oldest sample in the window to now. */
  perSecond(key: K): number {
    const oldest = this.samples[0];
    const elapsed = Date.now() - oldest.at;
    if (elapsed <= 0) return 0;
    return ((this.readers[key]() - oldest.values[key]) * 1000) / elapsed;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
