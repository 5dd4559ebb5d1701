/**
 * The /jobs dashboard in real Chromium against a real `brigade serve`: a job enqueued from the page
 * is taken by a push worker (the SDK, in this process) and the page shows it completed; a dead job
 * retried from the page runs again. Needs `npm run build` (the node serves dist/web). Screenshot in
 * test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { BrigadeClient } from '../../src/sdk/index.ts';
import { JobsClient } from '../../src/sdk/jobs.ts';
import { eventually } from '../helpers/eventually.ts';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { launchChromium } from './browser.ts';

const WORKER = 'worker-key-for-tests';
const PRODUCER = 'producer-key-for-tests';

describe('jobs dashboard in Chromium', () => {
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let client: BrigadeClient;
  const errors: string[] = [];

  before(async () => {
    server = await startServer(['--apps', 'jobs', '--jobs-worker-key', WORKER, '--jobs-producer-key', PRODUCER, '--jobs-tick-ms', '50']);
    client = new BrigadeClient(server.wsUrl, { WebSocket: WebSocket as never });
    await client.ready();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 1300 } });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/jobs`);
    await page.fill('#token', server.adminToken);
  });
  after(async () => {
    await browser?.close();
    client?.close();
    await server?.stop();
    server?.cleanup();
  });

  const cell = (queue: string, field: string): Promise<string | null> =>
    page.evaluate(([q, f]) => document.querySelector(`#queues tr[data-queue="${q}"] td[data-field="${f}"]`)?.textContent ?? null, [queue, field] as const);

  it('enqueues from the page; a worker takes it; the page shows it completed', async () => {
    const seen: unknown[] = [];
    const worker = new JobsClient(client, { workerKey: WORKER }).worker('mail', ({ payload }) => { seen.push(payload); return 'sent'; },
      { mode: 'push', concurrency: 2 });
    await page.fill('#enqueue-queue', 'mail');
    await page.fill('#enqueue-payload', '{"to":"a@b.c"}');
    await page.click('#enqueue');
    await eventually(() => page.textContent('#enqueued').then((t) => t?.includes('enqueued job 1')));
    await eventually(() => seen.length === 1);
    assert.deepEqual(seen, [{ to: 'a@b.c' }]);
    await eventually(async () => (await cell('mail', 'completed')) === '1', { what: 'the page to show 1 completed' });
    await worker.stop();
  });

  it('retries a dead job from the page, and it runs again', async () => {
    const jobs = new JobsClient(client, { producerKey: PRODUCER, workerKey: WORKER });
    const { id } = await jobs.enqueue('flaky', { n: 1 }, { maxAttempts: 1 });
    let runs = 0;
    const worker = jobs.worker('flaky', ({ attempt }) => {
      runs++;
      if (attempt === 1) throw new Error('first attempt fails');
      return 'ok';
    }, { mode: 'push' });
    try {
      await eventually(async () => (await cell('flaky', 'dead')) === '1', { what: 'the page to show the dead job' });
      const button = `#dead button[data-action="retry"][data-queue="flaky"][data-id="${id}"]`;
      await page.waitForSelector(button);
      mkdirSync('test-artifacts', { recursive: true });
      await page.screenshot({ path: 'test-artifacts/jobs-dashboard.png', fullPage: true });
      // Pressed and held past two of the page's refreshes (every second), then released: the click
      // reaches the button (a table rebuilt under the press lost it).
      const box = (await page.locator(button).boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await page.waitForTimeout(2500);
      await page.mouse.up();
      await eventually(() => runs === 2, { what: 'the retried job to run again' });
      await eventually(async () => (await cell('flaky', 'completed')) === '1' && (await cell('flaky', 'dead')) === '0');
      const record = await (await fetch(`${server.url}/api/jobs/flaky/${id}`)).json() as { state: string; attempt: number };
      assert.deepEqual([record.state, record.attempt], ['completed', 2]);
    } finally {
      await worker.stop(); // a failure above must not leave the worker keeping the file's process alive
    }
    assert.deepEqual(errors, []);
  });
});
