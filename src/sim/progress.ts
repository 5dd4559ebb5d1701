/**
 * The one-line progress display of `brigade bench` on stderr: redrawn in place with \r on a
 * terminal, and printed as a plain line every few seconds otherwise (CI logs, tests), so a
 * long run always shows where it is. No dependency: a line of text is all it draws.
 */
export class Progress {
  private last = '';
  private lastPrintAt = 0;
  private readonly tty: boolean;

  constructor(private readonly enabled: boolean, private readonly out: NodeJS.WriteStream = process.stderr, private readonly plainEveryMs = 5000) {
    this.tty = Boolean(out.isTTY);
  }

  /** A bar of `width` cells for done/total. */
  static bar(done: number, total: number, width = 20): string {
    const f = total > 0 ? Math.max(0, Math.min(1, done / total)) : 0;
    const full = Math.round(f * width);
    return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
  }

  update(line: string): void {
    if (!this.enabled) return;
    if (this.tty) {
      const cols = this.out.columns || 120;
      const shown = line.length > cols - 1 ? line.slice(0, cols - 1) : line;
      this.out.write(`\r${shown}${' '.repeat(Math.max(0, this.last.length - shown.length))}`);
      this.last = shown;
    } else if (Date.now() - this.lastPrintAt >= this.plainEveryMs) {
      this.out.write(`${line}\n`);
      this.lastPrintAt = Date.now();
    }
  }

  /** Ends the current line and prints `line` (always shown, also when not a terminal). */
  done(line: string): void {
    if (!this.enabled) return;
    if (this.tty && this.last) this.out.write(`\r${' '.repeat(this.last.length)}\r`);
    this.out.write(`${line}\n`);
    this.last = '';
    this.lastPrintAt = 0;
  }
}
