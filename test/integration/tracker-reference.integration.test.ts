/**
 * Wire compatibility with the reference: the same scripted session of bittorrent-tracker client
 * messages is played against bittorrent-tracker's own server (npm, v11, in this process) and
 * against a `brigade serve` process, and the transcripts of what each client received must be
 * the same (Brigade adds only a `failure code` beside `failure reason`, and its scrape `flags`
 * carry its own interval).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { startServer } from '../helpers/server-process.ts';
import { WireClient, WirePeer, binaryId, sdp, type Json } from '../apps/tracker/wire-client.ts';

/** The parts of bittorrent-tracker's (untyped) server used here. */
interface ReferenceServer {
  listen(port: number, host: string, onListening: () => void): void;
  close(cb: () => void): void;
  ws: { address(): AddressInfo };
}
type ReferenceServerCtor = new (opts: Record<string, unknown>) => ReferenceServer;

const hashes = [binaryId(), binaryId()];
const ids = { a: binaryId(), b: binaryId(), c: binaryId() };

/** A message with its random parts (offer SDP and offer_id, made fresh per run) named, not shown. */
function normal(m: Json): Json {
  const out: Json = { ...m };
  if ('offer' in out) out.offer = '<offer>';
  if ('offer_id' in out) out.offer_id = '<offer_id>';
  return out;
}

/** Plays the session against a tracker URL; returns, per step, what the clients received. */
async function session(url: string): Promise<Json[]> {
  const transcript: Json[] = [];
  const [ca, cb, cc] = [await WireClient.connect(url), await WireClient.connect(url), await WireClient.connect(url)];
  try {
    const a = new WirePeer(ca, hashes[0], ids.a);
    const b = new WirePeer(cb, hashes[0], ids.b);
    const c = new WirePeer(cc, hashes[1], ids.c);
    a.announce({ event: 'started', offers: 0 });
    transcript.push({ step: 'A started', reply: await a.reply() });
    const offers = b.announce({ event: 'started', numwant: 1, left: 0 });
    transcript.push({ step: 'B started as seeder', reply: await b.reply() });
    const offer = await a.offer();
    transcript.push({ step: 'A got B\'s offer', offer: normal(offer), sameAsSent: offer.offer_id === offers[0].offer_id && JSON.stringify(offer.offer) === JSON.stringify(offers[0].offer) });
    a.sendAnswer(offer, sdp('answer', 'fixed'));
    const answer = await b.answer();
    transcript.push({ step: 'B got A\'s answer', answer: normal(answer), sameOfferId: answer.offer_id === offer.offer_id });
    c.announce({ event: 'started', offers: 0 });
    transcript.push({ step: 'C started (other torrent)', reply: await c.reply() });
    a.announce({ event: 'completed', left: 0 });
    transcript.push({ step: 'A completed', reply: await a.reply() });
    a.announce({});
    transcript.push({ step: 'A update', reply: await a.reply() });
    b.announce({ event: 'stopped' });
    transcript.push({ step: 'B stopped', reply: await b.reply() });
    for (const [name, infoHash] of [['one', hashes[0]], ['array', hashes], ['all', undefined]] as const) {
      ca.send(infoHash === undefined ? { action: 'scrape' } : { action: 'scrape', info_hash: infoHash });
      const s = await ca.next((m) => m.action === 'scrape');
      transcript.push({ step: `scrape ${name}`, files: s.files });
    }
    ca.send({ action: 'announce', info_hash: 'short', peer_id: ids.a });
    const f1 = await ca.next((m) => m['failure reason'] !== undefined);
    transcript.push({ step: 'bad info_hash', failed: typeof f1['failure reason'] === 'string' });
    ca.send({ action: 'nope' });
    const f2 = await ca.next((m) => m['failure reason'] !== undefined);
    transcript.push({ step: 'unknown action', failed: typeof f2['failure reason'] === 'string', action: f2.action });
    transcript.push({ step: 'nothing else arrived', a: ca.received.map(normal), b: cb.received.map(normal), c: cc.received.map(normal) });
  } finally {
    for (const c of [ca, cb, cc]) c.close();
  }
  return transcript;
}

describe('wire compatibility with bittorrent-tracker\'s server', () => {
  it('the same session gives the same transcript', async () => {
    // @ts-expect-error: the package ships no type declarations
    const Server = (await import('bittorrent-tracker/server')).default as ReferenceServerCtor;
    const reference = new Server({ udp: false, http: false, ws: true, stats: false, trustProxy: false });
    await new Promise<void>((resolve) => reference.listen(0, '127.0.0.1', () => resolve()));
    const refPort = reference.ws.address().port;
    let expected: Json[];
    try {
      expected = await session(`ws://127.0.0.1:${refPort}`);
    } finally {
      await new Promise<void>((resolve) => reference.close(() => resolve()));
    }
    const brigade = await startServer(['--tracker-tick-ms', '5']);
    try {
      const actual = await session(`ws://127.0.0.1:${brigade.port}/announce`);
      assert.deepEqual(actual, expected);
    } finally {
      await brigade.stop();
      brigade.cleanup();
    }
  });
});
