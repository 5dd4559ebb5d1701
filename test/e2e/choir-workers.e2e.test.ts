/**
 * The /choir page behind a `brigade serve --workers 2` cluster (a real redis-server holds the
 * rooms' claims) rejoins by itself when the worker that holds its room is killed (docs/choir.md
 * "Many nodes", "Rejoining"), in real Chromium: two pages singing in one room (A: bursts of 440 Hz
 * at slot 0; B: silence at slot 1, muted), both on the worker that holds it; that worker killed
 * with SIGKILL (by its PID, from its listening line). Without a reload, each page goes back to the
 * entry URL (the cluster's shared port), is told `elsewhere` (the dead worker's URL, while its
 * claim lasts) and follows it, and once the claim runs out both pages are joined again at a live
 * worker, in one room: the leader starts a new song, A's tone is in B's mix at about the level sung
 * and not in A's own. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startRedis, type RedisServer } from '../helpers/redis-server.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { eventually } from '../helpers/eventually.ts';
import { MAX_GAIN, PERIOD_MS, choirHooks, ms, openSinger, singSong, toneBursts, wav, notReloaded } from './choir-pages.ts';

const SONG_MS = 3000;
/**
 * A dead worker's room moves after its claim runs out (renewed every third of it: 2/3 to all of
 * it left at the kill): the default, 5 s. The pages' first rejoin comes at once, while the claim
 * lasts, so each is told `elsewhere` (the dead worker), is refused there and waits the claim's time
 * left (`retryAfterMs`), the path this test is about.
 */
const CLAIM_MS = 5000;

describe('choir page: behind a --workers cluster, rejoins after the worker holding its room is killed', () => {
  let redis: RedisServer;
  let cluster: ServerProcess;
  let dir: string;
  const browsers: Browser[] = [];
  const errors: string[] = [];
  const listening = () => cluster.logs.map((l) => JSON.parse(l) as { msg?: string; pid: number; nodePort: number }).filter((r) => r.msg === 'brigade listening');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'brigade-choir-workers-'));
    writeFileSync(join(dir, 'tone.wav'), wav(toneBursts()));
    writeFileSync(join(dir, 'silence.wav'), wav(new Int16Array(ms(PERIOD_MS))));
    redis = await startRedis();
    cluster = await startServer(['--apps', 'choir', '--redis', redis.url, '--redis-prefix', `choir-workers-${process.pid}:`, '--workers', '2',
      '--public-url', 'http://127.0.0.1:{port}', '--choir-shards', '1', '--choir-claim-ms', String(CLAIM_MS)]);
    await eventually(() => listening().length >= 2, { what: 'both workers listen' });
  });

  after(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    await cluster?.stop();
    cluster?.cleanup();
    await redis?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function singer(wavFile: string, name: string, slot: number): Promise<Page> {
    return openSinger({ url: cluster.url, room: 'workers', wavPath: join(dir, wavFile), name, slot, browsers, errors });
  }

  test('both pages rejoin through the entry URL and elsewhere, without a reload, and A\'s tone is in B\'s mix again', async () => {
    const pageA = await singer('tone.wav', 'A', 0);
    const pageB = await singer('silence.wav', 'B', 1);
    await pageB.check('#mute');
    const a = choirHooks(pageA), b = choirHooks(pageB);
    const entry = cluster.wsUrl;
    const [joinedA, joinedB] = [await a.state(), await b.state()];
    assert.ok(joinedA.nodeUrl && joinedA.nodeUrl === joinedB.nodeUrl, `one room, one worker: ${joinedA.nodeUrl}, ${joinedB.nodeUrl}`);
    assert.equal(joinedA.linkTrail[0], `connecting ${entry}`, 'the first join goes through the entry URL');

    const first = await singSong([pageA, pageB], pageB, pageA, SONG_MS);
    assert.ok(first.sungA > 0.3 && first.heardB > first.sungA / 2, `before: B hears A's tone (${JSON.stringify(first)})`);
    assert.ok(first.heardB < first.sungA * MAX_GAIN, `before: no louder than sung (${JSON.stringify(first)})`);

    // SIGKILL the worker that holds the room, by its PID (its listening line names its own port).
    const victimUrl = joinedA.nodeUrl!;
    const victim = listening().find((r) => `http://127.0.0.1:${r.nodePort}` === victimUrl);
    assert.ok(victim, `the room's worker (${victimUrl}) logged its node port`);
    const victimWs = `ws://127.0.0.1:${victim.nodePort}/ws`;
    const trailBefore = [joinedA.linkTrail.length, joinedB.linkTrail.length];
    process.kill(victim.pid, 'SIGKILL');
    await eventually(async () => (await a.state()).link !== 'joined' && (await b.state()).link !== 'joined', { what: 'both pages to see the connection lost', intervalMs: 50 });
    assert.equal((await a.state()).joined, true, 'the session lives on while the link is down');

    const rejoined = async (h: typeof a) => { const s = await h.state(); return s.link === 'joined' && s.rejoins === 1 && s.offsetSamples !== null && s.mixesReceived > 0; };
    await eventually(async () => (await rejoined(a)) && (await rejoined(b)), { what: 'both pages to join again', timeoutMs: 40_000, intervalMs: 100 });
    const [againA, againB] = [await a.state(), await b.state()];
    assert.ok(againA.nodeUrl !== null && againA.nodeUrl === againB.nodeUrl, `one room again, on one worker: ${againA.nodeUrl}, ${againB.nodeUrl}`);
    assert.notEqual(againA.nodeUrl, victimUrl, 'on a live worker');
    assert.ok(againA.singer !== againB.singer, 'two singers');
    assert.equal(againA.song, null, 'a new room: no song yet');
    assert.equal(againB.delaySamples! - againA.delaySamples!, ms(1000), 'the same delay slots');
    for (const [name, s, from] of [['A', againA, trailBefore[0]], ['B', againB, trailBefore[1]]] as const) {
      const trail = s.linkTrail.slice(from).filter((t) => !t.startsWith('waiting'));
      console.log(`# ${name}'s link after the kill: ${s.linkTrail.slice(from).join(' | ')}`);
      // From the entry URL; told `elsewhere` (the dead worker, while its claim lasted) and followed
      // there; in the end joined through the entry URL or a hop from it at the room's live worker.
      assert.equal(trail[0], `connecting ${entry}`, `${name} rejoins through the entry URL first: ${trail.join(' | ')}`);
      assert.ok(trail.includes(`connecting ${victimWs}`), `${name} followed elsewhere to the dead worker while its claim lasted: ${trail.join(' | ')}`);
      const last = trail[trail.length - 1];
      assert.ok(last.startsWith('joined ') && last !== `joined ${victimWs}`, `${name} joined at a live worker: ${trail.join(' | ')}`);
    }
    for (const p of [pageA, pageB]) assert.ok(await notReloaded(p), 'no reload');
    const mixesThen = againB.mixesReceived;
    await eventually(async () => (await b.state()).mixesReceived > mixesThen + 25, { what: 'B to hear mixes again', intervalMs: 100 });

    const second = await singSong([pageA, pageB], pageB, pageA, SONG_MS);
    console.log(`# 440 Hz levels before: ${JSON.stringify(first)}; after the worker was killed: ${JSON.stringify(second)}`);
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
