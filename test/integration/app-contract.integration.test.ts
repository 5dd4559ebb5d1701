/**
 * The App contract end to end, in one process over loopback: a small app registered through
 * AppHost gets its channel type (ephemeral, with its own tick and read authorisation), requests,
 * a WebSocket path of its own, a grid tick and its error block; a real Gateway serves it and real
 * clients (the SDK, a plain `ws`) use it. Bad input gets typed errors and the connection stays open.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { AppHost, Hub, type App, type ChannelType } from '../../src/core/index.ts';
import { EmbeddedEngine } from '../../src/engines/index.ts';
import { Gateway, IdentityIssuer, createMetrics } from '../../src/gateway/index.ts';
import { BrigadeError, decodeServerFrame } from '../../src/protocol/index.ts';
import { BrigadeClient, registerErrorCodes } from '../../src/sdk/index.ts';
import { eventually } from '../helpers/eventually.ts';

interface EchoState { count: number }

const echoType: ChannelType<EchoState> = {
  prefix: 'echo:',
  eventSize: 0,
  maxEventBytes: 64,
  ephemeral: true,
  tickMs: 5,
  exists: (ch) => ch.length > 5,
  init: () => ({ count: 0 }),
  apply: (s) => { s.count++; },
  encodeSnapshot: (s) => new Uint8Array([s.count]),
  decodeSnapshot: (_ch, b) => ({ count: b[0] ?? 0 }),
  validate: () => null,
  // Anyone may read echo:open; echo:u-<id> only its user.
  authorizeSubscribe: (ch, who) => (ch === 'echo:open' || ch === `echo:u-${who.userId}`
    ? null
    : new BrigadeError('FORBIDDEN', `only its user may read ${ch}`)),
};

const ECHO_ERRORS = { owner: 'echo', first: 800, codes: { ECHO_REFUSED: { wire: 800, http: 409 } } };
let ticks = 0;
let stopped = false; // set by the app's stop(), checked after the host stops

const echoApp: App<{ greeting: string }> = {
  name: 'echo',
  description: 'echoes',
  page: '/echo',
  errors: ECHO_ERRORS,
  options: { greeting: { default: 'hi', help: 'what it says' } },
  start(core) {
    core.channelType(echoType);
    core.request('echo.say', (req) => ({ greeting: core.options.greeting, body: req.json(), user: req.publisher.userId }));
    core.request('echo.bytes', (req) => new Uint8Array([...req.body].reverse()));
    core.request('echo.later', async (req) => {
      await new Promise((r) => setTimeout(r, 5));
      return [...req.body];
    });
    core.request('echo.refuse', () => { throw new BrigadeError('ECHO_REFUSED', 'refused on purpose'); });
    core.request('echo.crash', () => { throw new Error('a bug'); });
    core.socket('/echo', (socket) => {
      socket.handler = {
        onMessage: (data, isBinary) => socket.send(new Uint8Array([...data, 33]), !isBinary),
        onClose() {},
      };
    });
    core.tick(5, () => { ticks++; });
    return { async stop() { stopped = true; } };
  },
};

describe('App contract', () => {
  const dir = mkdtempSync(join(tmpdir(), 'brigade-app-contract-'));
  const engine = new EmbeddedEngine({ path: join(dir, 'b.sqlite'), retention: { retainEvents: 1000, keepSnapshots: 2 } });
  let hub: Hub;
  let host: AppHost;
  let gateway: Gateway;
  let url = '';
  let wsUrl = '';
  const identity = new IdentityIssuer('test-secret-test-secret');
  const clients: BrigadeClient[] = [];
  const client = async (token?: string) => {
    const c = new BrigadeClient(wsUrl, { token, WebSocket: WebSocket as never, reconnect: { minDelayMs: 50, maxDelayMs: 100 } });
    clients.push(c);
    await c.ready();
    return c;
  };

  before(async () => {
    await engine.open();
    hub = new Hub({ engine, types: [] });
    const metrics = createMetrics(hub.stats);
    host = new AppHost({
      hub, engine, logger: hub.logger, metricsRegistry: metrics.registry,
      limits: { maxBufferedBytes: 1 << 20, maxFrameBytes: 65536 }, secret: (_n, given) => given || 's',
    });
    await host.start([{ app: echoApp, options: { greeting: 'bonjour' } }], ['echo', 'jobs']);
    gateway = new Gateway(
      { host: '127.0.0.1', port: 0, maxFrameBytes: 65536, maxFramesPerSecond: 1000, trustProxy: false, webRoot: '', maxConnections: 0, maxConnectionsPerIp: 0 },
      { hub, identity, metrics, logger: hub.logger, routes: host.httpRoutes, sockets: host.socketRoutes, apps: host.listing },
    );
    hub.start();
    const address = await gateway.listen();
    url = `http://127.0.0.1:${address.port}`;
    wsUrl = `ws://127.0.0.1:${address.port}/ws`;
    registerErrorCodes(ECHO_ERRORS); // as a client of the app would, to name its codes
  });

  after(async () => {
    for (const c of clients) c.close();
    gateway.stopAccepting();
    await hub.stop();
    await gateway.closeClients(500);
    await host.stop();
    assert.equal(stopped, true, "the host called the app's stop()");
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the running apps at /api/apps', async () => {
    const apps = await (await fetch(`${url}/api/apps`)).json();
    assert.deepEqual(apps, [{ name: 'echo', description: 'echoes', path: '/echo' }]);
  });

  it('answers requests with JSON, bytes and async replies, with the app options and the caller', async () => {
    const { token, userId } = identity.issue();
    const c = await client(token);
    assert.deepEqual(await c.request('echo.say', { n: 1 }), { greeting: 'bonjour', body: { n: 1 }, user: userId });
    assert.deepEqual([...await c.request<Uint8Array>('echo.bytes', new Uint8Array([1, 2, 3]))], [3, 2, 1]);
    assert.deepEqual(await c.request('echo.later', new Uint8Array([7, 8])), [7, 8]);
  });

  it('refuses bad requests with typed errors from the right block, and the connection stays open', async () => {
    const c = await client();
    const code = async (kind: string, body?: unknown) => {
      try {
        await c.request(kind, body);
      } catch (err) {
        assert.ok(err instanceof BrigadeError);
        return err.code;
      }
      return 'answered';
    };
    assert.equal(await code('echo.nothing'), 'UNKNOWN_REQUEST');
    assert.equal(await code('nobody.here'), 'UNKNOWN_REQUEST');
    assert.equal(await code('jobs.enqueue', {}), 'APP_NOT_RUNNING');
    assert.equal(await code('echo.say', new Uint8Array([0x7b, 0xff])), 'INVALID_REQUEST');
    assert.equal(await code('echo.refuse'), 'ECHO_REFUSED');
    assert.equal(await code('echo.crash'), 'INTERNAL');
    await assert.rejects(c.request('Bad Kind'), (e: unknown) => e instanceof BrigadeError && e.code === 'MALFORMED_FRAME');
    // Still connected and answering.
    assert.equal((await c.request<{ greeting: string }>('echo.say', 1)).greeting, 'bonjour');
  });

  it('an ephemeral channel fans out at its own tick, acknowledges with versions, and logs nothing', async () => {
    const publisher = await client();
    const reader = await client();
    const got: number[] = [];
    const three = new Promise<void>((resolve) => {
      reader.subscribe('echo:open', {
        onBatch(first, events) {
          for (let i = 0; i < events.length; i++) got.push(first + i);
          if (got.length >= 3) resolve();
        },
      }, { mode: 'head' });
    });
    // The subscription is live once its SUBSCRIBED arrived: a request after it is answered after it.
    await reader.request('echo.say', null);
    const versions = await Promise.all([1, 2, 3].map((n) => publisher.publish('echo:open', new Uint8Array([n]))));
    assert.deepEqual(versions, [0, 1, 2]);
    await three;
    assert.deepEqual(got, [0, 1, 2]);
    assert.equal((await engine.info('echo:open')).head, 0, 'nothing was appended to the engine');
    assert.equal((await hub.view<EchoState>('echo:open')).state.count, 3);
  });

  it('a channel type refuses a subscribe it does not authorise, and the connection stays open', async () => {
    const { token, userId } = identity.issue();
    const c = await client(token);
    const refused = new Promise<BrigadeError>((resolve) => {
      c.subscribe('echo:u-someone-else', { onBatch() {}, onError: resolve });
    });
    const err = await refused;
    assert.equal(err.code, 'FORBIDDEN');
    const mine = new Promise<number>((resolve) => {
      c.subscribe(`echo:u-${userId}`, { onBatch() {}, onSnapshot: (v) => resolve(v) }, { mode: 'snapshot' });
    });
    assert.equal(await mine, 0);
  });

  it('a well-formed frame with a bad channel name is answered with its own id and is not a protocol error', async () => {
    const ws = new WebSocket(wsUrl);
    const answers: { requestId: number; code: string }[] = [];
    const count = 25; // past maxProtocolErrors (20): protocol errors would close the connection
    const all = new Promise<void>((resolve) => ws.on('message', (d) => {
      const f = decodeServerFrame(new Uint8Array(d as Buffer));
      if (f.kind === 'error') answers.push({ requestId: f.requestId, code: f.code });
      if (answers.length === count) resolve();
    }));
    await new Promise((r) => ws.once('open', r));
    for (let id = 1; id <= count; id++) {
      // PUBLISH, requestId id, channel "a b" (3 bytes), payload 0x01
      ws.send(Buffer.from([0x03, id, 0, 0, 0, 3, 0x61, 0x20, 0x62, 0x01]));
    }
    await all;
    assert.deepEqual(answers.map((a) => a.requestId), Array.from({ length: count }, (_, i) => i + 1));
    assert.ok(answers.every((a) => a.code === 'INVALID_CHANNEL_NAME'));
    assert.equal(ws.readyState, WebSocket.OPEN, 'not closed for protocol errors');
    ws.close();
  });

  it('serves the app its own WebSocket path through FrameSocket', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${new URL(url).port}/echo`);
    const replies: string[] = [];
    const two = new Promise<void>((resolve) => ws.on('message', (d, isBinary) => {
      replies.push(`${isBinary ? 'b' : 't'}:${Buffer.from(d as Buffer).toString()}`);
      if (replies.length === 2) resolve();
    }));
    await new Promise((r) => ws.once('open', r));
    ws.send('hey');
    ws.send(Buffer.from('yo'), { binary: true });
    await two;
    assert.deepEqual(replies, ['t:hey!', 'b:yo!']);
    ws.close();
  });

  it('runs the app tick on the grid', async () => {
    const seen = ticks;
    await eventually(() => ticks >= seen + 2, { what: 'two more app ticks' });
  });

  it('refuses an app whose abilities, name or socket path clash', async () => {
    const second = new AppHost({
      hub, engine, logger: hub.logger, metricsRegistry: null,
      limits: { maxBufferedBytes: 1, maxFrameBytes: 1 }, secret: () => '',
    });
    const needy: App = { name: 'needy', description: '', options: {}, needs: ['claims'], start() {} };
    await assert.rejects(second.start([{ app: needy, options: {} }]), /needs the engine's claims ability/);
    const twice: App = { name: 'twice', description: '', options: {}, start() {} };
    await assert.rejects(second.start([{ app: twice, options: {} }, { app: twice, options: {} }]), /listed twice/);
    const wsThief: App = { name: 'thief', description: '', options: {}, start(core) { core.socket('/ws', () => {}); } };
    await assert.rejects(second.start([{ app: wsThief, options: {} }]), /reserved/);
    const badKind: App = { name: 'kinds', description: '', options: {}, start(core) { core.request('other.x', () => 1); } };
    await assert.rejects(second.start([{ app: badKind, options: {} }]), /must be kinds\.<name>/);
    const overlap: App = { name: 'overlap', description: '', options: {}, start(core) { core.channelType({ ...echoType, prefix: 'echo:x' }); } };
    await assert.rejects(second.start([{ app: overlap, options: {} }]), /overlaps/);
  });
});
