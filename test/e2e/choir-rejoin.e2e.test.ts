/**
 * The /choir page rejoins by itself (docs/choir.md "Rejoining"), in real Chromium: two pages
 * singing in one room (A: bursts of 440 Hz at slot 0; B: silence at slot 1, muted), the server
 * process killed with SIGKILL (by its PID) and started again on the same port and data directory.
 * Without a reload, both pages see the connection lost (their state and the page's link line),
 * join the room again (the restarted node first answers `elsewhere` with its own URL until its
 * predecessor's claim runs out), realign their clocks to the new room's, and carry on: the leader
 * starts a new song and A's tone is found again in B's mix, not in A's own. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { MAX_GAIN, PERIOD_MS, choirHooks, ms, openSinger, singSong, toneBursts, wav, notReloaded } from './choir-pages.ts';

const SONG_MS = 3000;
/** The restarted node refuses the room while the dead one's claim lasts: short here. */
const SERVER_ARGS = ['--apps', 'choir', '--choir-shards', '1', '--choir-claim-ms', '1500'];

describe('choir page: rejoins after its server process is killed and restarted', () => {
  let server: ServerProcess;
  let dir: string;
  let dataDir: string;
  const browsers: Browser[] = [];
  const errors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'brigade-choir-rejoin-'));
    dataDir = join(dir, 'data');
    writeFileSync(join(dir, 'tone.wav'), wav(toneBursts()));
    writeFileSync(join(dir, 'silence.wav'), wav(new Int16Array(ms(PERIOD_MS))));
    server = await startServer(SERVER_ARGS, { dataDir });
  });

  after(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function singer(wavFile: string, name: string, slot: number): Promise<Page> {
    return openSinger({ url: server.url, room: 'again', wavPath: join(dir, wavFile), name, slot, browsers, errors });
  }

  test('both pages rejoin without a reload, and A\'s tone is in B\'s mix again', async () => {
    const pageA = await singer('tone.wav', 'A', 0);
    const pageB = await singer('silence.wav', 'B', 1);
    await pageB.check('#mute');
    const a = choirHooks(pageA), b = choirHooks(pageB);
    assert.equal((await a.state()).link, 'joined');
    assert.match(await pageA.textContent('#link') ?? '', /^connected/);

    const first = await singSong([pageA, pageB], pageB, pageA, SONG_MS);
    assert.ok(first.sungA > 0.3 && first.heardB > first.sungA / 2, `before: B hears A's tone (${JSON.stringify(first)})`);
    assert.ok(first.heardB < first.sungA * MAX_GAIN, `before: no louder than sung (${JSON.stringify(first)})`);
    const [singerA, singerB] = [(await a.state()).singer, (await b.state()).singer];

    // kill -9 of the server process, by its PID.
    const port = server.port;
    await server.kill();
    await eventually(async () => (await a.state()).link !== 'joined' && (await b.state()).link !== 'joined', { what: 'both pages to see the connection lost', intervalMs: 50 });
    await eventually(async () => /connection lost/.test(await pageA.textContent('#link') ?? ''), { what: 'A\'s page to say it is rejoining', intervalMs: 50 });
    const whileDown = await a.state();
    assert.equal(whileDown.joined, true, 'the session lives on while the link is down');

    server = await startServer([...SERVER_ARGS, '--port', String(port)], { dataDir });
    const rejoined = async (h: typeof a) => { const s = await h.state(); return s.link === 'joined' && s.rejoins === 1 && s.offsetSamples !== null && s.mixesReceived > 0; };
    await eventually(async () => (await rejoined(a)) && (await rejoined(b)), { what: 'both pages to join again', timeoutMs: 20_000, intervalMs: 100 });
    const [againA, againB] = [await a.state(), await b.state()];
    // A new room (the process that held the old one is gone): no song yet, where the old room's had stopped.
    assert.ok(againA.singer !== null && againB.singer !== null && againA.singer !== againB.singer, `two singers: ${againA.singer}, ${againB.singer} (before: ${singerA}, ${singerB})`);
    assert.equal(againA.song, null, 'a new room: no song yet');
    assert.equal(againB.song, null);
    assert.equal(againB.delaySamples! - againA.delaySamples!, ms(1000), 'the same delay slots');
    assert.match(await pageB.textContent('#link') ?? '', /rejoined 1/);
    for (const p of [pageA, pageB]) assert.ok(await notReloaded(p), 'no reload');
    const mixesThen = againB.mixesReceived;
    await eventually(async () => (await b.state()).mixesReceived > mixesThen + 25, { what: 'B to hear mixes again', intervalMs: 100 });

    const second = await singSong([pageA, pageB], pageB, pageA, SONG_MS);
    console.log(`# 440 Hz levels before: ${JSON.stringify(first)}; after the rejoin: ${JSON.stringify(second)}`);
    assert.ok(second.sungA > 0.3, `A sings the tone (${JSON.stringify(second)})`);
    assert.ok(second.heardB > second.sungA / 2, `after the rejoin, B hears A's tone again (${JSON.stringify(second)})`);
    assert.ok(second.heardB < second.sungA * MAX_GAIN, `after the rejoin, no louder than sung (${JSON.stringify(second)})`);
    assert.ok(second.heardA < 0.02, `and A does not hear itself (${JSON.stringify(second)})`);
    const refusals = (e: Record<string, number>) => Object.keys(e).filter((code) => code !== 'TIMEOUT' && code !== 'DISCONNECTED');
    assert.deepEqual(refusals((await a.state()).errors), []);
    assert.deepEqual(refusals((await b.state()).errors), []);
    assert.deepEqual(errors, []);
  });
});
