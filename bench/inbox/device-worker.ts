/**
 * One device process of the inbox benchmark (forked by bench/inbox/run.ts through the
 * simulator's startWorker): up to ~18,000 devices from its own 127.0.0.x source address, against
 * Brigade (the core WebSocket with the simulator's minimal client, src/sim/raw-ws.ts: hello,
 * sync from a cursor, items as PUSH frames, acks every 40 s as the SDK does), the SQLite peer (plain JSON over
 * WebSocket) or mosquitto (the `mqtt` npm client, QoS 1, persistent sessions, one topic per group).
 *
 * It records when each device first receives each message (absolute ms on the shared clock), and,
 * in a storm, the time from a device's connect to its first message. It knows each device's profile
 * (bench/inbox/population.ts), so it says for every message how many of its devices should have had
 * it, how many did, and whether any had it that should not.
 */
import { createHmac } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { MqttClient } from 'mqtt';
import { decodeServerFrame, encodeClientFrame, BodyEncoding } from '../../src/protocol/index.ts';
import { Histogram, type HistogramJson } from '../../src/sim/histogram.ts';
import { nowMs } from '../../src/sim/proc.ts';
import { RawWs, nextLocalPort } from '../../src/sim/raw-ws.ts';
import { matcher, profileOf, topicOf } from './population.ts';

export type DeviceKind = 'brigade' | 'sql' | 'mqtt';

export interface ConnectSpec {
  t: 'connect';
  kind: DeviceKind;
  seed: number;
  /** Population index of devices[0]. */
  first: number;
  /** Brigade: the device ids and tokens the bulk registration returned; others: ids only. */
  devices: { id: string; token?: string }[];
  /** Device k connects to urls[(first + k) % urls.length] (ws://host:port or mqtt://host:port). */
  urls: string[];
  localAddress: string;
  identitySecret: string;
  /** Connections started per second by this process (0: as fast as `concurrency` allows). */
  ratePerSecond: number;
  /** Handshakes in flight at most. */
  concurrency: number;
  /** Brigade: the cursor each device syncs from (null: from nothing). */
  cursor: { epoch: number; seq: number } | null;
  /**
   * The liveness window, ms, the same for every kind: a Brigade device acks every two thirds of it (the
   * node's --inbox-device-lease-ms is this), an MQTT client's keepalive is lease / 1.5 (a broker
   * drops a client silent for 1.5 x keepalive).
   */
  leaseMs: number;
}

export type ToDeviceWorker =
  | ConnectSpec
  | { t: 'report'; messages: { id: string; to: string }[] }
  | { t: 'disconnect' }
  | { t: 'exit' };

export interface MessageReport {
  id: string;
  /** Devices of this process the message should reach (connected ones). */
  expected: number;
  received: number;
  /** Devices that got it and should not have. */
  unexpected: number;
  duplicates: number;
  /** Receive times (ms on the shared clock) of the expected devices that got it. */
  times: Float64Array;
}

export type FromDeviceWorker =
  | { t: 'connected'; ok: number; failed: number; retries: number; errors: string[]; seconds: number; epoch: number; head: number; handshake: HistogramJson }
  /** firstMessage: per device, its connect → its first message, ms (a storm's figure). */
  | { t: 'report'; messages: MessageReport[]; firstMessage: HistogramJson; otherMessages: number; closed: number; errors: string[] }
  | { t: 'disconnected' }
  | { t: 'error'; message: string };

const send = (m: FromDeviceWorker) => process.send!(m);
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Device {
  k: number;
  /** First receipt time of each message id. */
  got: Map<string, number>;
  duplicates: number;
  startedMs: number;
  firstMessageMs: number;
  open: boolean;
  close(): void;
}

let devices: Device[] = [];
let spec: ConnectSpec | null = null;
let closed = 0;
/** Connections tried again after a refusal before they were open. */
let retries = 0;
const errors: string[] = [];
const noteError = (e: string) => { if (errors.length < 10) errors.push(e); };
let ackTimer: NodeJS.Timeout | null = null;

/** A device keeps its identity token across reconnects, as a browser or app does (minted on its first connect). */
const identityTokens = new Map<string, string>();
function identityToken(secret: string, userId: string): string {
  let token = identityTokens.get(userId);
  if (token === undefined) {
    const body = `${userId}.${Date.now()}`;
    token = `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
    identityTokens.set(userId, token);
  }
  return token;
}

function received(d: Device, id: string, at: number): void {
  if (d.got.has(id)) { d.duplicates++; return; }
  d.got.set(id, at);
  if (d.firstMessageMs === 0) d.firstMessageMs = at;
}

/** One Brigade device: hello → sync, then its items as PUSH frames (topic `inbox`, a JSON item each). */
function brigadeDevice(s: ConnectSpec, k: number, done: (err: string | null, head?: [number, number]) => void): Device {
  const { id, token } = s.devices[k];
  const u = new URL(s.urls[(s.first + k) % s.urls.length]);
  const hello = enc.encode(JSON.stringify({ token }));
  let settled = false;
  let lastSeq = 0;
  const d: Device = { k, got: new Map(), duplicates: 0, startedMs: nowMs(), firstMessageMs: 0, open: false, close: () => ws.reset() };
  const settle = (err: string | null, head?: [number, number]) => { if (!settled) { settled = true; done(err, head); } };
  const request = (requestId: number, kind: string, body: unknown) =>
    ws.send(encodeClientFrame({ kind: 'request', requestId, requestKind: kind, encoding: BodyEncoding.JSON, body: enc.encode(JSON.stringify(body)) }));
  (d as Device & { ack(): void }).ack = () => { if (d.open) request(4, 'inbox.ack', { token, seq: lastSeq }); };
  const ws = new RawWs({ host: u.hostname, port: Number(u.port), path: `/ws?token=${encodeURIComponent(identityToken(s.identitySecret, `d${s.first + k}`))}`, localAddress: s.localAddress }, {
    onOpen: () => ws.send(encodeClientFrame({ kind: 'request', requestId: 1, requestKind: 'inbox.hello', encoding: BodyEncoding.JSON, body: hello })),
    onMessage: (data) => {
      const at = nowMs();
      let f;
      try { f = decodeServerFrame(data); } catch (err) { noteError(`device ${id}: ${(err as Error).message}`); return; }
      if (f.kind === 'push') {
        const item = JSON.parse(dec.decode(f.body)) as { kind: string; seq?: number; message?: { id: string } };
        if (item.kind === 'message' && item.message) received(d, item.message.id, at);
        if (item.seq !== undefined && item.kind !== 'sync') lastSeq = Math.max(lastSeq, item.seq);
        if (item.kind === 'sync') lastSeq = item.seq!;
      } else if (f.kind === 'reply' && f.requestId === 1) {
        request(3, 'inbox.sync', { token, epoch: s.cursor?.epoch ?? 0, seq: s.cursor?.seq ?? 0 });
      } else if (f.kind === 'reply' && f.requestId === 3) {
        const r = JSON.parse(dec.decode(f.body)) as { epoch: number; head: number };
        d.open = true;
        settle(null, [r.epoch, r.head]);
      } else if (f.kind === 'error') {
        noteError(`device ${id}: ${f.code}: ${f.message}`);
        if (!settled) { ws.reset(); settle(`${f.code}: ${f.message}`); }
      }
    },
    onClose: (reason) => {
      if (d.open) { closed++; noteError(`device ${id} closed: ${reason}`); }
      d.open = false;
      settle(reason);
    },
  });
  return d;
}

/** One device of the SQLite peer: connects with its index; the server says `ready`, then pushes messages. */
function sqlDevice(s: ConnectSpec, k: number, done: (err: string | null) => void): Device {
  const u = new URL(s.urls[(s.first + k) % s.urls.length]);
  let settled = false;
  const d: Device = { k, got: new Map(), duplicates: 0, startedMs: nowMs(), firstMessageMs: 0, open: false, close: () => ws.reset() };
  const ws = new RawWs({ host: u.hostname, port: Number(u.port), path: `/?device=${s.first + k}`, localAddress: s.localAddress }, {
    onOpen: () => {},
    onMessage: (data) => {
      const at = nowMs();
      const m = JSON.parse(data.toString('utf8')) as { ready?: boolean; id?: string };
      if (m.ready) { d.open = true; if (!settled) { settled = true; done(null); } return; }
      if (m.id) received(d, m.id, at);
    },
    onClose: (reason) => {
      if (d.open) { closed++; noteError(`sql device ${s.first + k} closed: ${reason}`); }
      d.open = false;
      if (!settled) { settled = true; done(reason); }
    },
  });
  return d;
}

/** One MQTT device: persistent session (clean: false, its own client id), QoS 1 subscriptions to its groups' topics. */
function mqttDevice(s: ConnectSpec, k: number, done: (err: string | null) => void): Device {
  const u = new URL(s.urls[0]);
  const i = s.first + k;
  let settled = false;
  const d: Device = { k, got: new Map(), duplicates: 0, startedMs: nowMs(), firstMessageMs: 0, open: false, close: () => client.end(true) };
  const client = new MqttClient(
    () => netConnect({ host: u.hostname, port: Number(u.port), localAddress: s.localAddress, localPort: nextLocalPort(s.localAddress), noDelay: true }),
    { clientId: `dev${i}`, clean: false, protocolVersion: 4, reconnectPeriod: 0, keepalive: Math.max(1, Math.round(s.leaseMs / 1500)), connectTimeout: 60_000 },
  );
  const fail = (reason: string) => {
    if (d.open) { closed++; noteError(`mqtt device ${i}: ${reason}`); }
    d.open = false;
    if (!settled) { settled = true; done(reason); }
  };
  client.on('connect', () => {
    const topics = Object.fromEntries(profileOf(s.seed, i).groups.map((g) => [topicOf(g), { qos: 1 as const }]));
    client.subscribe(topics, (err) => {
      if (err) { fail(err.message); return; }
      d.open = true;
      if (!settled) { settled = true; done(null); }
    });
  });
  client.on('message', (_topic, payload) => {
    const at = nowMs();
    const m = JSON.parse(payload.toString('utf8')) as { id: string };
    received(d, m.id, at);
  });
  client.on('error', (err) => fail(err.message));
  client.on('close', () => fail('connection closed'));
  return d;
}

async function connectAll(s: ConnectSpec): Promise<void> {
  spec = s;
  selected.clear();
  const t0 = nowMs();
  const handshake = new Histogram();
  let ok = 0, failed = 0, started = 0, inFlight = 0;
  retries = 0;
  let epoch = 0, head = 0;
  const n = s.devices.length;
  devices = new Array(n);
  if (s.kind === 'brigade' && ackTimer === null) {
    // Each device acks every two thirds of its lease (as the SDK does; an MQTT client pings every
    // keep-alive, lease / 1.5, below), an equal share of them each second, from the start: a connect
    // phase can outlast a lease.
    const every = Math.max(1, Math.floor((s.leaseMs * 2) / 3000));
    let round = 0;
    ackTimer = setInterval(() => {
      round = (round + 1) % every;
      for (let k = round; k < devices.length; k += every) (devices[k] as (Device & { ack?(): void }) | undefined)?.ack?.();
    }, 1000);
  }
  await new Promise<void>((resolve) => {
    if (n === 0) { resolve(); return; }
    const finish = (k: number) => (err: string | null, pos?: [number, number]) => {
      inFlight--;
      if (err) { failed++; noteError(`device ${s.first + k}: ${err}`); } else {
        ok++;
        handshake.record(nowMs() - devices[k].startedMs);
        if (pos) { epoch = pos[0]; head = Math.max(head, pos[1]); }
      }
      if (ok + failed === n) resolve();
      else if (s.ratePerSecond === 0) startSome();
    };
    const open = (k: number, done: (err: string | null, pos?: [number, number]) => void): Device =>
      (s.kind === 'brigade' ? brigadeDevice(s, k, done) : s.kind === 'sql' ? sqlDevice(s, k, done) : mqttDevice(s, k, done));
    const startOne = () => {
      const k = started++;
      inFlight++;
      const startedMs = nowMs();
      let tries = 0;
      // A connection refused or reset before it was open (a full accept queue, a source port still
      // in use), or a handshake not done in 30 s (a machine busier than the servers can keep up
      // with), is tried again, as a device would, up to 3 times; its time counts from the first try.
      const attempt = (err: string | null, pos?: [number, number]) => {
        if (err && !devices[k].open && tries < 3 && /ECONNRESET|ECONNREFUSED|EADDRINUSE|closed before the handshake|handshake timed out/.test(err)) {
          tries++;
          retries++;
          setTimeout(() => { devices[k] = open(k, attempt); devices[k].startedMs = startedMs; }, 50 * tries);
          return;
        }
        finish(k)(err, pos);
      };
      devices[k] = open(k, attempt);
    };
    function startSome(): void {
      while (started < n && inFlight < s.concurrency) startOne();
    }
    if (s.ratePerSecond === 0) { startSome(); return; }
    // Paced: every 5 ms, as many as the rate allows since the start (bounded by `concurrency` in flight).
    const timer = setInterval(() => {
      const due = Math.min(n, Math.floor(((nowMs() - t0) / 1000) * s.ratePerSecond));
      while (started < due && inFlight < s.concurrency) startOne();
      if (started >= n) clearInterval(timer);
    }, 5);
  });
  send({ t: 'connected', ok, failed, retries, errors: errors.splice(0), seconds: (nowMs() - t0) / 1000, epoch, head, handshake: handshake.toJSON() });
}

/** Per expression, which of this process's devices it selects (the report is polled while a message spreads). */
const selected = new Map<string, Uint8Array>();

function report(messages: { id: string; to: string }[]): void {
  const s = spec!;
  const out: MessageReport[] = messages.map(({ id, to }) => {
    let sel = selected.get(to);
    if (!sel) {
      const match = matcher(to);
      sel = Uint8Array.from(s.devices, (_d, k) => (match(profileOf(s.seed, s.first + k)) ? 1 : 0));
      selected.set(to, sel);
    }
    let expected = 0, got = 0, unexpected = 0, duplicates = 0;
    const times: number[] = [];
    for (const d of devices) {
      duplicates += d.duplicates;
      const at = d.got.get(id);
      if (sel[d.k]) {
        expected++;
        if (at !== undefined) { got++; times.push(at); }
      } else if (at !== undefined) unexpected++;
    }
    return { id, expected, received: got, unexpected, duplicates, times: Float64Array.from(times) };
  });
  const firstMessage = new Histogram();
  for (const d of devices) if (d.firstMessageMs > 0) firstMessage.record(d.firstMessageMs - d.startedMs);
  // Devices (since their last connect) that hold a message not asked about: in a storm, one at or
  // before the cursor they reconnected with (each reconnect starts a fresh record).
  const asked = new Set(messages.map((m) => m.id));
  let otherMessages = 0;
  for (const d of devices) for (const id of d.got.keys()) if (!asked.has(id)) { otherMessages++; break; }
  send({ t: 'report', messages: out, firstMessage: firstMessage.toJSON(), otherMessages, closed, errors: errors.splice(0) });
}

process.on('message', (m: ToDeviceWorker) => {
  try {
    if (m.t === 'connect') void connectAll(m).catch((err) => send({ t: 'error', message: String(err?.stack ?? err) }));
    else if (m.t === 'report') report(m.messages);
    else if (m.t === 'disconnect') {
      for (const d of devices) { d.open = false; d.close(); }
      devices = [];
      send({ t: 'disconnected' });
    } else if (m.t === 'exit') {
      for (const d of devices) { d.open = false; d.close(); }
      process.exit(0);
    }
  } catch (err) {
    send({ t: 'error', message: String((err as Error)?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
