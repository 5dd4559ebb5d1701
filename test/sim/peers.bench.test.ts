/**
 * The benchmark's peer servers (bench/peers: socket.io, naive ws + JSON, raw net, uWS), each as a real
 * process, driven through its SimProtocol adapter (src/sim/protocols) over loopback: every viewer
 * gets every edit exactly once, in position order, with the bytes the editors sent; every editor
 * message is acknowledged with positions that tile the log; the server's snapshot is the fold of
 * the edits. Bad input (on the raw wire, below the adapters) gets a typed refusal or a clear close,
 * changes nothing, and leaves the server serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { io as ioClient } from 'socket.io-client';
import { makeEditCodec } from '../../src/apps/place/edit-codec.ts';
import type { SimEditor, SimProtocol, SimConnection } from '../../src/sim/protocol.ts';
import type { PeerStats } from '../../bench/peers/lib/stats.ts';
import * as socketio from '../../src/sim/protocols/socketio.ts';
import * as wsJson from '../../src/sim/protocols/ws-json.ts';
import * as netPeer from '../../src/sim/protocols/net.ts';
import * as uwsPeer from '../../src/sim/protocols/uws.ts';
import { decodeServerFrame, encodeClientFrame } from '../../src/protocol/index.ts';
import { prng } from '../helpers/prng.ts';
import { eventually } from '../helpers/eventually.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
// 60x30 with 10 colours packs into 6+5+4 bits = 2 bytes, and leaves encodable values that are
// off the canvas (x 60..63, y 30..31, colour 10..15) for the bad-input tests.
const W = 60;
const H = 30;
const COLOURS = 10;
const codec = makeEditCodec(W, H, COLOURS);
const SIZE = codec.eventSize;

interface Adapter {
  protocol: SimProtocol;
  snapshot(url: string): Promise<{ position: number; canvas: Uint8Array }>;
  stats(url: string): Promise<PeerStats>;
}
const adapters: Record<string, Adapter> = { socketio, 'ws-json': wsJson, net: netPeer, uws: uwsPeer };

interface Peer { proc: ChildProcess; port: number; url: string; stderr: () => string; stop(): Promise<number | null> }

async function startPeer(name: string, extra: string[] = []): Promise<Peer> {
  const proc = spawn(process.execPath, ['--import', 'tsx', `bench/peers/${name}.ts`, '--host', '127.0.0.1', '--port', '0',
    '--tick-ms', '40', '--width', String(W), '--height', String(H), '--colours', String(COLOURS), ...extra], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve((JSON.parse(out.slice(0, nl)) as { listening: number }).listening);
    });
    void exited.then((code) => reject(new Error(`${name} exited (${code}) before listening: ${stderr}`)));
  });
  // The URL `brigade bench` passes to every target (src/sim/servers.ts); the net adapter uses its host and port.
  const url = `ws://127.0.0.1:${port}`;
  return {
    proc, port, url, stderr: () => stderr,
    stop: () => { proc.kill('SIGTERM'); return exited; },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fold(edits: Map<number, Uint8Array>, total: number): Uint8Array {
  const canvas = new Uint8Array(W * H);
  for (let p = 0; p < total; p++) {
    const e = codec.decode(edits.get(p)!, 0);
    canvas[e.y * W + e.x] = e.colour;
  }
  return canvas;
}

for (const name of ['socketio', 'ws-json', 'net', 'uws']) {
  const adapter = adapters[name];

  describe(`peer ${name}`, () => {
    let peer: Peer;
    before(async () => { peer = await startPeer(name); });
    after(async () => { if (peer.proc.exitCode === null) await peer.stop(); });

    it('delivers every edit once, in order, to every viewer; acks tile the log; the snapshot is the fold', async () => {
      const closes: string[] = [];
      // The uWS peer speaks Brigade's protocol, with the channel the bench uses.
      const base = { url: peer.url, localAddress: '127.0.0.1', codec, channel: name === 'uws' ? 'place:main' : 'main', onClose: (r: string) => closes.push(r) };

      const views: { first: number; count: number; bytes: Buffer; wire: number }[][] = [[], [], []];
      const viewers: SimConnection[] = [];
      for (const got of views) {
        viewers.push(await adapter.protocol.openViewer({
          ...base, from: 0,
          onEdits: (first, count, edits, _at, wire) => got.push({ first, count, bytes: Buffer.from(edits), wire }),
        }));
      }
      const sent: Buffer[][] = [[], []];
      const acks: { first: number; count: number }[][] = [[], []];
      const editors: SimEditor[] = [];
      for (const list of acks) {
        editors.push(await adapter.protocol.openEditor({ ...base, onAck: (first, count) => list.push({ first, count }) }));
      }

      // A few hundred random edits over about two seconds, in messages of 1-6 edits.
      const rand = prng(0x5eed + name.length);
      for (let round = 0; round < 40; round++) {
        for (let e = 0; e < editors.length; e++) {
          const n = 1 + Math.floor(rand() * 6);
          const msg = Buffer.concat(Array.from({ length: n }, () =>
            codec.encode(Math.floor(rand() * W), Math.floor(rand() * H), Math.floor(rand() * COLOURS))));
          sent[e].push(msg);
          editors[e].send(msg);
        }
        await sleep(50);
      }
      const total = sent.flat().reduce((s, m) => s + m.length / SIZE, 0);
      const received = (v: number) => views[v].reduce((s, r) => s + r.count, 0);
      await eventually(() => acks.every((a, e) => a.length === sent[e].length) && views.every((_, v) => received(v) >= total), { what: () => `acks ${acks.map((a) => a.length)} of ${sent.map((s) => s.length)}, viewers have ${views.map((_, v) => received(v))} of ${total}` });

      // Acks: one per message, in send order, with its count; together they tile [0, total).
      const atPosition = new Map<number, Uint8Array>();
      for (let e = 0; e < editors.length; e++) {
        assert.equal(acks[e].length, sent[e].length);
        for (let i = 0; i < sent[e].length; i++) {
          const { first, count } = acks[e][i];
          assert.equal(count, sent[e][i].length / SIZE, `editor ${e} message ${i}: ack count`);
          if (i > 0) assert.ok(first >= acks[e][i - 1].first + acks[e][i - 1].count, `editor ${e}: acks in send order`);
          for (let k = 0; k < count; k++) {
            assert.ok(!atPosition.has(first + k), `position ${first + k} acknowledged twice`);
            atPosition.set(first + k, sent[e][i].subarray(k * SIZE, (k + 1) * SIZE));
          }
        }
      }
      assert.equal(atPosition.size, total);
      for (let p = 0; p < total; p++) assert.ok(atPosition.has(p), `position ${p} never acknowledged`);

      // Viewers: contiguous runs from 0, exactly the acknowledged bytes, nothing more.
      for (let v = 0; v < views.length; v++) {
        let next = 0;
        for (const run of views[v]) {
          assert.equal(run.first, next, `viewer ${v}: run starts at ${run.first}, expected ${next} (gap or duplicate)`);
          assert.ok(run.count > 0 && run.wire > run.count * SIZE - 1, `viewer ${v}: run of ${run.count} edits in ${run.wire} wire bytes`);
          for (let k = 0; k < run.count; k++) {
            assert.deepEqual(run.bytes.subarray(k * SIZE, (k + 1) * SIZE), Buffer.from(atPosition.get(next + k)!), `viewer ${v}: bytes at ${next + k}`);
          }
          next += run.count;
        }
        assert.equal(next, total, `viewer ${v} ends at ${next}`);
      }

      const snap = await adapter.snapshot(peer.url);
      assert.equal(snap.position, total);
      assert.deepEqual(Buffer.from(snap.canvas), Buffer.from(fold(atPosition, total)));

      const st = await adapter.stats(peer.url);
      assert.equal(st.server, name);
      assert.equal(st.pid, peer.proc.pid);
      assert.equal(st.position, total);
      assert.equal(st.viewers, 3);
      assert.equal(st.editors, 2);
      assert.ok(st.viewerMessages >= 3 * st.fanouts && st.fanouts > 0);
      assert.ok(st.bufferedBytes >= 0 && st.peakBufferedBytes >= st.bufferedBytes);

      // A peer keeps no history: a viewer cannot start from 0 any more, and is told why.
      await assert.rejects(adapter.protocol.openViewer({ ...base, from: 0, onEdits: () => {} }), /keeps no history: asked to start at 0, it is at \d+/);

      assert.deepEqual(closes, []);
      for (const c of [...viewers, ...editors]) c.close();
      // The positive signal that every close has happened on both ends: the peer counts none left
      // (our sockets were gone before it saw them go, so an onClose would have been called by now).
      await eventually(async () => {
        const now = await adapter.stats(peer.url);
        return now.viewers === 0 && now.editors === 0;
      }, { what: 'the peer to see every connection closed' });
      assert.deepEqual(closes, [], 'our own close() is not reported as a failure');
      assert.equal(await peer.stop(), 0, `SIGTERM exits 0; stderr: ${peer.stderr()}`);
    });
  });

  // The uWS peer speaks Brigade's frames, so its bad input is Brigade's: tested below.
  if (name !== 'uws') describe(`peer ${name}: bad input`, () => {
    let peer: Peer;
    before(async () => { peer = await startPeer(name, ['--max-message-bytes', '1024']); });
    after(async () => { if (peer.proc.exitCode === null) await peer.stop(); });

    it('refuses malformed editor messages with a typed error or a clear close, changes nothing, keeps serving', async () => {
      const refusals = await sendBadInput(name, peer);
      for (const [what, got] of Object.entries(refusals)) assert.match(got, expectedRefusal[what], `${name}: ${what}`);

      const snap = await adapter.snapshot(peer.url);
      assert.equal(snap.position, 0, 'no bad message was applied');
      assert.ok(snap.canvas.every((b) => b === 0), 'canvas unchanged');

      // Still serving: a viewer and an editor through the adapter see a good edit go through.
      const base = { url: peer.url, localAddress: '127.0.0.1', codec, channel: 'main', onClose: () => {} };
      const got: number[] = [];
      const viewer = await adapter.protocol.openViewer({ ...base, from: 0, onEdits: (first, count) => got.push(first, count) });
      const acked: number[] = [];
      const editor = await adapter.protocol.openEditor({ ...base, onAck: (first, count) => acked.push(first, count) });
      editor.send(codec.encode(59, 29, 9));
      await eventually(() => acked.length === 2 && got.length === 2, { what: () => `acked ${acked}, got ${got}` });
      assert.deepEqual(acked, [0, 1]);
      assert.deepEqual(got, [0, 1]);
      const after1 = await adapter.snapshot(peer.url);
      assert.equal(after1.position, 1);
      assert.equal(after1.canvas[29 * W + 59], 9);
      viewer.close();
      editor.close();
      assert.equal(peer.proc.exitCode, null, 'the server is still running');
    });

    it('an editor adapter reports a refusal through onClose', async () => {
      const closed: string[] = [];
      const editor = await adapter.protocol.openEditor({
        url: peer.url, localAddress: '127.0.0.1', codec, channel: 'main',
        onClose: (r) => closed.push(r), onAck: () => assert.fail('a refused edit must not be acknowledged'),
      });
      editor.send(codec.encode(60, 0, 1)); // x 60 is off the 60-wide canvas
      await eventually(() => closed.length > 0, { what: () => 'no onClose after a refused edit' });
      assert.match(closed[0], /server refused edits: OUT_OF_RANGE: edit 0: pixel \(60, 0\) is outside the 60x30 canvas/);
      assert.equal((await adapter.snapshot(peer.url)).position, 1, 'unchanged by the refused edit');
      editor.close();
    });

    if (name === 'net') {
      it('replies in request order: an ERROR waits behind the ACK of an earlier EDITS in the same tick', async () => {
        const sock = net.connect({ host: '127.0.0.1', port: peer.port });
        await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
        const reader = new netPeer.FrameReader(1 << 20);
        const kinds: number[] = [];
        sock.on('data', (chunk: Buffer) => reader.push(chunk, (buf, start) => kinds.push(buf[start])));
        sock.write(Buffer.concat([
          netPeer.encodeNetRequest(netPeer.NetKind.EDITS, codec.encode(4, 4, 4)),
          netPeer.encodeNetRequest(netPeer.NetKind.EDITS, codec.encode(4, 4, 14)),
          netPeer.encodeNetRequest(netPeer.NetKind.STATS),
        ]));
        await eventually(() => kinds.length === 3, { what: () => `replies so far: ${kinds}` });
        assert.deepEqual(kinds, [netPeer.NetReply.ACK, netPeer.NetReply.ERROR, netPeer.NetReply.STATS]);
        sock.destroy();
      });
    }
  });

  it(`peer ${name}: bad flags stop it with exit code 2 and the reason`, async () => {
    for (const [args, reason] of [
      [['--tick-ms', '0'], /--tick-ms must be an integer 1\.\.60000, got "0"/],
      [['--width', 'wide'], /--width must be an integer 1\.\.16384, got "wide"/],
      [['--frobnicate', '1'], /Unknown option '--frobnicate'/],
    ] as const) {
      const proc = spawn(process.execPath, ['--import', 'tsx', `bench/peers/${name}.ts`, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout!.on('data', (d) => { out += d; });
      proc.stderr!.on('data', (d) => { err += d; });
      const code = await new Promise((r) => proc.once('exit', r));
      assert.equal(code, 2, `${args.join(' ')}: ${err}`);
      assert.match(err, reason);
      assert.equal(out, '', 'nothing on stdout: it never listened');
    }
  });
}

describe('peer uws: bad input', () => {
  let peer: Peer;
  before(async () => { peer = await startPeer('uws', ['--max-message-bytes', '1024']); });
  after(async () => { if (peer.proc.exitCode === null) await peer.stop(); });

  it('refuses frames it does not serve with an ERROR frame, changes nothing, keeps serving', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/ws`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const replies: Buffer[] = [];
    ws.on('message', (d: Buffer) => replies.push(d));
    const ask = async (frame: Uint8Array) => {
      const n = replies.length;
      ws.send(frame);
      await eventually(() => replies.length > n, { what: 'a reply' });
      return decodeServerFrame(replies[n]);
    };
    const offCanvas = await ask(encodeClientFrame({ kind: 'publish', requestId: 7, channel: 'place:main', payload: codec.encode(60, 0, 1) }));
    assert.equal(offCanvas.kind, 'error');
    assert.equal(offCanvas.kind === 'error' && offCanvas.requestId, 7);
    assert.match(offCanvas.kind === 'error' ? offCanvas.message : '', /OUT_OF_RANGE|outside the 60x30 canvas/);
    const otherChannel = await ask(encodeClientFrame({ kind: 'publish', requestId: 8, channel: 'place:other', payload: codec.encode(1, 1, 1) }));
    assert.match(otherChannel.kind === 'error' ? otherChannel.message : '', /serves channel place:main only/);
    const unsub = await ask(encodeClientFrame({ kind: 'unsubscribe', requestId: 9, channel: 'place:main' }));
    assert.match(unsub.kind === 'error' ? unsub.message : '', /frame kind 2 is not served/);
    ws.close();
    const snap = await uwsPeer.snapshot(peer.url);
    assert.equal(snap.position, 0, 'no bad frame was applied');
    assert.ok(snap.canvas.every((b) => b === 0), 'canvas unchanged');

    const closed: string[] = [];
    const editor = await uwsPeer.protocol.openEditor({ url: peer.url, localAddress: '127.0.0.1', codec, channel: 'place:main', onClose: (r) => closed.push(r), onAck: () => {} });
    editor.send(codec.encode(3, 30, 1));
    await eventually(() => closed.length > 0, { what: 'onClose after a refused edit' });
    assert.match(closed[0], /publish refused: .*outside the 60x30 canvas/);
    assert.equal(peer.proc.exitCode, null, 'the server is still running');
  });
});

const expectedRefusal: Record<string, RegExp> = {
  notBinary: /MALFORMED/,
  notJson: /MALFORMED: not JSON/,
  wrongShape: /MALFORMED: edit 0: expected \[x, y, c\]/,
  noEdits: /MALFORMED: expected \{"edits"/,
  binaryToJson: /MALFORMED: editor messages are JSON text/,
  wrongLength: /MALFORMED: edits must be a non-empty multiple of 2 bytes/,
  offCanvas: /OUT_OF_RANGE: edit 1: pixel \(3, 30\) is outside the 60x30 canvas/,
  badColour: /OUT_OF_RANGE: edit 0: colour 12 is outside the palette 0\.\.9/,
  noAck: /MALFORMED: edits must be emitted with an ack callback/,
  emptyMessage: /MALFORMED: empty message/,
  unknownKind: /UNKNOWN_KIND: unknown message kind 9/,
  viewWithBody: /MALFORMED: kind 1 takes no body/,
  tooLarge: /TOO_LARGE|closed|1009/,
  wrongPath: /404/,
};

/** Sends each kind of bad message on the raw wire; returns what came back for each, as text. */
async function sendBadInput(name: string, peer: Peer): Promise<Record<string, string>> {
  const good = codec.encode(1, 1, 1);
  const offCanvas = Buffer.concat([good, codec.encode(3, 30, 1)]);
  const badColour = codec.encode(2, 2, 12);
  const out: Record<string, string> = {};
  /** A JSON { error: { code, message } } reply as "CODE: message"; anything else as its JSON. */
  const asText = (r: unknown): string => {
    const e = (r as { error?: { code: string; message: string } } | null)?.error;
    return e ? `${e.code}: ${e.message}` : JSON.stringify(r);
  };

  if (name === 'socketio') {
    const s = ioClient(`http://127.0.0.1:${peer.port}/editor`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
    const ask = (data: unknown) => new Promise<string>((resolve) => s.emit('edits', data, (r: unknown) => resolve(asText(r))));
    out.notBinary = await ask('1,1,1');
    out.wrongLength = await ask(Buffer.from([1, 2, 3]));
    out.offCanvas = await ask(offCanvas);
    out.badColour = await ask(badColour);
    out.noAck = await new Promise<string>((resolve) => { s.once('refused', (r: unknown) => resolve(asText(r))); s.emit('edits', good); });
    out.tooLarge = await new Promise<string>((resolve) => { s.once('disconnect', (r) => resolve(`closed: ${r}`)); s.emit('edits', Buffer.alloc(4096), () => resolve('acked!')); });
    s.close();
  } else if (name === 'ws-json') {
    const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/editor`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const ask = (data: string | Buffer) => new Promise<string>((resolve) => { ws.once('message', (d) => resolve(asText(JSON.parse(d.toString())))); ws.send(data); });
    out.notJson = await ask('{"edits": [[1, 1, 1]');
    out.noEdits = await ask('{"edits": []}');
    out.wrongShape = await ask('{"edits": [[1, 1]]}');
    out.offCanvas = await ask('{"edits": [[1, 1, 1], [3, 30, 1]]}');
    out.badColour = await ask('{"edits": [[2, 2, 12]]}');
    out.binaryToJson = await ask(Buffer.from('{"edits": [[1, 1, 1]]}'));
    out.tooLarge = await new Promise<string>((resolve) => { ws.once('close', (code) => resolve(`closed ${code}`)); ws.send(JSON.stringify({ edits: Array(400).fill([1, 1, 1]) })); });
    out.wrongPath = await new Promise<string>((resolve) => {
      const bad = new WebSocket(`ws://127.0.0.1:${peer.port}/nowhere`);
      bad.once('unexpected-response', (_req, res) => { resolve(`status ${res.statusCode}`); bad.terminate(); });
      bad.once('error', (e) => resolve(e.message));
    });
  } else {
    const sock = net.connect({ host: '127.0.0.1', port: peer.port });
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const reader = new netPeer.FrameReader(1 << 20);
    const replies: string[] = [];
    let closed = false;
    sock.on('data', (chunk: Buffer) => reader.push(chunk, (buf, start, len) => {
      replies.push(buf[start] === netPeer.NetReply.ERROR ? (() => { const e = JSON.parse(buf.subarray(start + 1, start + len).toString()); return `${e.code}: ${e.message}`; })() : `kind ${buf[start]}`);
    }));
    sock.on('close', () => { closed = true; });
    const ask = async (bytes: Buffer) => {
      const n = replies.length;
      sock.write(bytes);
      await eventually(() => replies.length > n || closed, { what: () => 'no reply' });
      return replies[n] ?? 'closed';
    };
    out.emptyMessage = await ask(Buffer.from([0, 0, 0, 0]));
    out.unknownKind = await ask(netPeer.encodeNetRequest(9));
    out.viewWithBody = await ask(netPeer.encodeNetRequest(netPeer.NetKind.VIEW, Buffer.from([1])));
    out.wrongLength = await ask(netPeer.encodeNetRequest(netPeer.NetKind.EDITS, Buffer.from([1, 2, 3])));
    out.offCanvas = await ask(netPeer.encodeNetRequest(netPeer.NetKind.EDITS, offCanvas));
    out.badColour = await ask(netPeer.encodeNetRequest(netPeer.NetKind.EDITS, badColour));
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(1_000_000, 0);
    out.tooLarge = await ask(huge);
    await eventually(() => closed, { what: () => 'the server should close a connection whose framing is lost' });
  }
  return out;
}
