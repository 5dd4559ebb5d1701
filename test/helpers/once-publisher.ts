/**
 * A client written from docs/PROTOCOL.md alone (no SDK): it publishes with PUBLISH_ONCE, keeps
 * every request's answers, and re-sends a publish with the same producer and seq after every
 * temporary refusal or OUTCOME_UNKNOWN, and after a reconnect every publish still unanswered —
 * the retry rules the protocol promises are safe. Tests check what it saw: one answer per
 * request, one version per publish, and the log holding each publish once.
 */
import { WebSocket } from 'ws';
import { decodeServerFrame, encodeClientFrame, type ServerFrame } from '../../src/protocol/index.ts';

export interface OncePublisherOptions {
  /** ws://host/ws?token=…; several: a reconnect goes to the next. */
  urls: string[];
  channel: string;
  producer: string;
  /** The payload of publish `seq` (must differ per seq, so the log shows each one). */
  payload(seq: number): Uint8Array;
}

export class OncePublisher {
  /** Answers per request id: the frames, to count (exactly one each) and to read. */
  readonly answers = new Map<number, ServerFrame[]>();
  /** The version each seq was acknowledged at (set once; a second ACK with another version is recorded in `conflicts`). */
  readonly acked = new Map<number, number>();
  readonly conflicts: string[] = [];
  /** Refusals that are not temporary (a bug for this workload). */
  readonly finalErrors: string[] = [];
  /** How often each temporary code was seen. */
  readonly temporary = new Map<string, number>();
  /** seq → the request id of its copy in flight (one at a time). */
  private readonly inFlight = new Map<number, number>();
  private readonly requestSeq = new Map<number, number>();
  private nextRequestId = 1;
  private nextSeq = 1;
  private ws: WebSocket | null = null;
  private urlIndex = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Requests whose connection went away before their answer (never answered, by design). */
  private readonly orphaned = new Set<number>();

  constructor(private readonly options: OncePublisherOptions) {}

  /** Connects (or reconnects to the next URL) and re-sends every publish still unanswered. */
  async connect(): Promise<void> {
    const url = this.options.urls[this.urlIndex++ % this.options.urls.length];
    const ws = new WebSocket(url);
    ws.binaryType = 'nodebuffer';
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => {});
    ws.on('message', (data) => this.onFrame(decodeServerFrame(new Uint8Array(data as Buffer))));
    // The copies in flight on the old socket will never be answered there: send them again.
    const unanswered = [...this.inFlight.keys()].sort((a, b) => a - b);
    for (const id of this.inFlight.values()) this.orphaned.add(id);
    this.inFlight.clear();
    for (const seq of unanswered) this.send(seq);
  }

  /** Drops the connection without a close handshake (a network cut); answers on the way are lost. */
  cut(): void {
    this.ws?.terminate();
    this.ws = null;
  }

  /** Publishes the next seq; returns it. */
  publishNext(): number {
    const seq = this.nextSeq++;
    this.send(seq);
    return seq;
  }

  get published(): number {
    return this.nextSeq - 1;
  }

  /** Publishes not yet acknowledged. */
  get outstanding(): number {
    return this.published - this.acked.size;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.ws?.close();
  }

  private send(seq: number): void {
    if (this.closed || this.acked.has(seq)) return;
    const requestId = this.nextRequestId++;
    this.inFlight.set(seq, requestId);
    this.requestSeq.set(requestId, seq);
    this.answers.set(requestId, []);
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return; // re-sent by the next connect()
    ws.send(encodeClientFrame({ kind: 'publish', requestId, channel: this.options.channel, payload: this.options.payload(seq), producer: this.options.producer, seq }));
  }

  private onFrame(f: ServerFrame): void {
    if (f.kind !== 'ack' && f.kind !== 'error') return;
    if (f.requestId === 0) return;
    const list = this.answers.get(f.requestId);
    if (!list) return;
    list.push(f);
    const seq = this.requestSeq.get(f.requestId)!;
    if (this.inFlight.get(seq) === f.requestId) this.inFlight.delete(seq);
    if (f.kind === 'ack') {
      const before = this.acked.get(seq);
      if (before !== undefined && before !== f.version) this.conflicts.push(`seq ${seq} acknowledged at ${before} and at ${f.version}`);
      if (before === undefined) this.acked.set(seq, f.version);
      return;
    }
    const temporary = ['OUTCOME_UNKNOWN', 'UNAVAILABLE', 'RATE_LIMITED', 'SHUTTING_DOWN', 'TIMEOUT'].includes(f.code);
    if (!temporary) {
      this.finalErrors.push(`seq ${seq}: ${f.code} ${f.message}`);
      return;
    }
    this.temporary.set(f.code, (this.temporary.get(f.code) ?? 0) + 1);
    const t = setTimeout(() => { this.timers.delete(t); this.send(seq); }, Math.max(50, Math.min(f.retryAfterMs, 1000)));
    this.timers.add(t);
  }

  /** Request ids answered other than exactly once. */
  badlyAnswered(): string[] {
    const out: string[] = [];
    for (const [id, list] of this.answers) if (list.length !== 1 && !(list.length === 0 && this.orphaned.has(id))) out.push(`request ${id} (seq ${this.requestSeq.get(id)}): ${list.length} answers`);
    return out;
  }
}
