/**
 * The per-connection frame-rate limit (--max-frames-per-second, src/gateway/frame-rate.ts) against a
 * real server process, with a raw client written from docs/PROTOCOL.md (no SDK): every frame gets
 * exactly one answer with its own request id, those over the limit RATE_LIMITED with retryAfterMs;
 * and frames that queued in the kernel while the node was stopped (SIGSTOP) are not the client's
 * burst: none refused, no 4429.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import {
  BodyEncoding, SubscribeMode, decodeServerFrame, encodeClientFrame, type ClientFrame, type ServerFrame,
} from '../../src/protocol/index.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { identity, prng, randomEdit } from '../helpers/place-client.ts';

/** A raw protocol client: sends frames, files every answer by request id. */
class RawProtocolClient {
  readonly answers = new Map<number, ServerFrame[]>();
  readonly untied: ServerFrame[] = [];
  closeCode: number | null = null;
  private nextId = 1;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const frame = decodeServerFrame(new Uint8Array(data));
      const id = 'requestId' in frame ? frame.requestId : 0;
      if (id === 0) this.untied.push(frame);
      else {
        const list = this.answers.get(id) ?? [];
        list.push(frame);
        this.answers.set(id, list);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(url: string): Promise<RawProtocolClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return new RawProtocolClient(ws);
  }

  /** Sends the i-th frame of a mix of every kind: publish, subscribe, unsubscribe, request. */
  sendMixed(i: number, edit: () => Uint8Array): number {
    const requestId = this.nextId++;
    const frames: ClientFrame[] = [
      { kind: 'publish', requestId, channel: 'place:main', payload: edit() },
      { kind: 'subscribe', requestId, channel: 'place:main', mode: SubscribeMode.HEAD, fromVersion: 0, epoch: 0 },
      { kind: 'unsubscribe', requestId, channel: `nobody:${i}` },
      { kind: 'request', requestId, requestKind: 'place.canvases', encoding: BodyEncoding.JSON, body: new Uint8Array() },
    ];
    this.ws.send(encodeClientFrame(frames[i % frames.length]));
    return requestId;
  }

  get sent(): number {
    return this.nextId - 1;
  }

  /**
   * Resolves once every request sent has an answer, the connection closed, or nothing new came for
   * `quietMs` (a frame dropped without an answer: the checks that follow then say which).
   */
  async allAnswered(quietMs = 10_000): Promise<void> {
    while (this.answers.size < this.sent && this.closeCode === null) {
      const heard = await new Promise<boolean>((r) => {
        const timer = setTimeout(() => r(false), quietMs);
        this.waiters.push(() => { clearTimeout(timer); r(true); });
      });
      if (!heard) return;
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** Answers that are one request's own (BATCH and SNAPSHOT carry no request id). */
function checkEveryRequestAnsweredOnce(client: RawProtocolClient): ServerFrame[] {
  const answers: ServerFrame[] = [];
  for (let id = 1; id <= client.sent; id++) {
    const got = client.answers.get(id) ?? [];
    assert.equal(got.length, 1, `request ${id} has exactly one answer: ${JSON.stringify(got.map((f) => f.kind))}`);
    assert.ok(['ack', 'subscribed', 'unsubscribed', 'reply', 'error'].includes(got[0].kind), `request ${id}: ${got[0].kind}`);
    answers.push(got[0]);
  }
  assert.equal(client.answers.size, client.sent, 'no answer to an id that was never sent');
  const untiedErrors = client.untied.filter((f) => f.kind === 'error');
  assert.deepEqual(untiedErrors, [], 'no error with request id 0');
  return answers;
}

async function stopped(server: ServerProcess): Promise<void> {
  await server.stop();
  server.cleanup();
}

describe('the frame-rate limit answers every frame', () => {
  it('300 frames in one burst at 100 frames/s: each answered once by its own id, the excess RATE_LIMITED with retryAfterMs', async () => {
    const server = await startServer(['--max-frames-per-second', '100', '--publish-per-second-per-ip', '0', '--tick-ms', '20']);
    try {
      const client = await RawProtocolClient.open(`${server.wsUrl}?token=${encodeURIComponent(await identity(server.url))}`);
      const rand = prng(20);
      for (let i = 0; i < 300; i++) client.sendMixed(i, () => randomEdit(rand));
      await client.allAnswered();
      assert.equal(client.closeCode, null, 'not closed');
      const answers = checkEveryRequestAnsweredOnce(client);
      const limited = answers.filter((f) => f.kind === 'error' && f.code === 'RATE_LIMITED');
      assert.ok(limited.length > 0, 'frames past the limit are refused');
      for (const f of limited) assert.ok(f.kind === 'error' && f.retryAfterMs > 0, 'with the time to wait');
      const others = answers.filter((f) => !(f.kind === 'error' && f.code === 'RATE_LIMITED'));
      assert.ok(others.length >= 100, `a second's worth handled: ${others.length}`);
      for (const f of others) {
        assert.ok(f.kind !== 'error' || f.code === 'NOT_SUBSCRIBED', `handled frames get their own answers: ${JSON.stringify(f)}`);
      }
      client.close();
    } finally {
      await stopped(server);
    }
  });

  it('a node stopped for 10 s under a client sending 50 frames/s: every frame answered once, none refused, no 4429', async () => {
    const server = await startServer(['--max-frames-per-second', '100', '--publish-per-second-per-ip', '0', '--tick-ms', '20']);
    const pid = server.proc.pid!;
    let resumed = false;
    try {
      const client = await RawProtocolClient.open(`${server.wsUrl}?token=${encodeURIComponent(await identity(server.url))}`);
      const rand = prng(21);
      let i = 0;
      const sender = setInterval(() => client.sendMixed(i++, () => randomEdit(rand)), 20);
      try {
        // Wait for answers (not for time) so the client has been sending to a live node first.
        while ((client.answers.size) < 25) await new Promise((r) => setTimeout(r, 20));
        process.kill(pid, 'SIGSTOP');
        const stoppedAt = client.sent;
        // 10 s of the client's frames queue in the kernel: 500 at 50/s, 5 × the limit.
        while (client.sent < stoppedAt + 500) await new Promise((r) => setTimeout(r, 20));
        process.kill(pid, 'SIGCONT');
        resumed = true;
        const resumedAt = client.sent;
        while (client.sent < resumedAt + 25) await new Promise((r) => setTimeout(r, 20));
      } finally {
        clearInterval(sender);
      }
      await client.allAnswered();
      assert.equal(client.closeCode, null, 'not closed (no 4429)');
      const answers = checkEveryRequestAnsweredOnce(client);
      const limited = answers.filter((f) => f.kind === 'error' && f.code === 'RATE_LIMITED');
      assert.equal(limited.length, 0, `none refused: ${limited.length} RATE_LIMITED of ${answers.length}`);
      for (const f of answers) {
        assert.ok(f.kind !== 'error' || f.code === 'NOT_SUBSCRIBED', `every frame handled: ${JSON.stringify(f)}`);
      }
      client.close();
    } finally {
      if (!resumed) process.kill(pid, 'SIGCONT');
      await stopped(server);
    }
  });
});
