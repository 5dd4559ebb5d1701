/**
 * The inbox benchmark's first peer: the design seed 001 started from and left. Everything is in a
 * relational database (SQLite through better-sqlite3, WAL, one file), each device has an inbox of
 * rows, and a message's recipients are computed when it is published, by one SQL `WHERE` that the
 * recipient expression is translated into ("a horrendous yet correct SQL WHERE clause"), over
 * every registered device. The inbox rows of the connected recipients are then delivered over a
 * plain WebSocket (`ws`) and marked delivered; a device that connects later gets its undelivered
 * rows. Same devices, groups and attributes as Brigade (bench/inbox/population.ts), seeded here
 * from the seed (the peer's bulk path), same expression semantics (a missing attribute or one of
 * the other type makes a comparison false, as the inbox's evaluation does).
 *
 *   node --import tsx bench/peers/inbox-sql.ts --port 0 --host 127.0.0.1 --db FILE --devices N --seed S
 *
 * Prints `{"seeded": N, "reused": bool, "seconds": s}` then `{"listening": port}`. HTTP: `POST /publish {id, to,
 * title, body}` → `{recipients, delivered, ms}`. WebSocket: `/?device=<index>`; the server sends
 * `{"ready": true}` once the device's undelivered rows are sent, then each message as JSON text.
 */
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { WebSocketServer, type WebSocket } from 'ws';
import { parseExpression, type Expr } from '../../src/apps/inbox/expression.ts';
import { profileOf } from '../inbox/population.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const file = arg('db', '/tmp/inbox-sql.db');
const devices = Number(arg('devices', '1000'));
const seed = Number(arg('seed', '1'));

/**
 * Seeding a million devices (14 million rows) takes minutes, so a database file seeded with the
 * same devices and seed is reused: its messages and inbox rows are emptied, its devices kept.
 */
function open(): { db: Database.Database; reused: boolean } {
  try {
    const db = new Database(file, { fileMustExist: true });
    const meta = db.prepare('SELECT devices, seed FROM meta').get() as { devices: number; seed: number } | undefined;
    if (meta?.devices === devices && meta.seed === seed) {
      db.exec('DELETE FROM inbox; DELETE FROM messages;');
      return { db, reused: true };
    }
    db.close();
  } catch { /* missing or not ours: seed it */ }
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  return { db: new Database(file), reused: false };
}
const { db, reused } = open();
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const t0 = performance.now();
if (!reused) {
  db.exec(`
    CREATE TABLE devices (id INTEGER PRIMARY KEY);
    CREATE TABLE device_groups (grp TEXT NOT NULL, device INTEGER NOT NULL, PRIMARY KEY (grp, device)) WITHOUT ROWID;
    CREATE TABLE device_attrs (name TEXT NOT NULL, value NOT NULL, device INTEGER NOT NULL, PRIMARY KEY (name, value, device)) WITHOUT ROWID;
    CREATE TABLE messages (id TEXT PRIMARY KEY, title TEXT, body TEXT, expr TEXT);
    CREATE TABLE inbox (message TEXT NOT NULL, device INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (message, device)) WITHOUT ROWID;
    CREATE INDEX inbox_by_device ON inbox (device, delivered);
    CREATE TABLE meta (devices INTEGER, seed INTEGER);
  `);
  const addDevice = db.prepare('INSERT INTO devices (id) VALUES (?)');
  const addGroup = db.prepare('INSERT INTO device_groups (grp, device) VALUES (?, ?)');
  const addAttr = db.prepare('INSERT INTO device_attrs (name, value, device) VALUES (?, ?, ?)');
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const p = profileOf(seed, i);
      addDevice.run(i);
      for (const g of p.groups) addGroup.run(g, i);
      for (const [k, v] of Object.entries(p.attributes)) addAttr.run(k, v, i);
    }
  });
  for (let i = 0; i < devices; i += 20_000) batch(i, Math.min(devices, i + 20_000));
  db.exec('ANALYZE');
  db.prepare('INSERT INTO meta (devices, seed) VALUES (?, ?)').run(devices, seed);
}
console.log(JSON.stringify({ seeded: devices, reused, seconds: Math.round((performance.now() - t0) / 10) / 100 }));

/** The expression as a WHERE over `d` (devices), with its parameters. */
function where(e: Expr, params: unknown[]): string {
  const attr = (name: string, cond: string, ...values: unknown[]) => {
    params.push(name, ...values);
    return `d.id IN (SELECT device FROM device_attrs WHERE name = ? AND ${cond})`;
  };
  switch (e.op) {
    case 'all': return '1';
    case 'group': params.push(e.name); return 'd.id IN (SELECT device FROM device_groups WHERE grp = ?)';
    case 'device': return '0'; // the benchmark's expressions name no device ids
    case 'in': return attr(e.attr, `value IN (${e.values.map(() => '?').join(', ')})`, ...e.values);
    case 'cmp': {
      // value has no declared type, so SQLite compares by storage class: guard the type so a
      // string never compares with a number (the inbox's rule).
      const type = typeof e.value === 'string' ? "typeof(value) = 'text'" : "typeof(value) IN ('integer', 'real')";
      return attr(e.attr, `${type} AND value ${e.cmp === '=' ? '=' : e.cmp} ?`, e.value);
    }
    case 'not': return `NOT (${where(e.arg, params)})`;
    case 'and': return `(${e.args.map((a) => where(a, params)).join(' AND ')})`;
    case 'or': return `(${e.args.map((a) => where(a, params)).join(' OR ')})`;
  }
}

const connected = new Map<number, WebSocket>();
const addMessage = db.prepare('INSERT INTO messages (id, title, body, expr) VALUES (?, ?, ?, ?)');
const undeliveredOf = db.prepare('SELECT m.id, m.title, m.body FROM inbox i JOIN messages m ON m.id = i.message WHERE i.device = ? AND i.delivered = 0');
const recipientsOf = db.prepare('SELECT device FROM inbox WHERE message = ? AND delivered = 0').pluck();
const markDelivered = db.prepare('UPDATE inbox SET delivered = 1 WHERE message = ? AND device = ?');

const publish = db.transaction((m: { id: string; to: string; title: string; body: string }) => {
  const params: unknown[] = [m.id];
  const sql = `INSERT INTO inbox (message, device) SELECT ?, d.id FROM devices d WHERE ${where(parseExpression(m.to), params)}`;
  addMessage.run(m.id, m.title, m.body, m.to);
  const recipients = db.prepare(sql).run(...params).changes;
  const payload = JSON.stringify({ id: m.id, title: m.title, body: m.body });
  let delivered = 0;
  for (const device of recipientsOf.all(m.id) as number[]) {
    const ws = connected.get(device);
    if (!ws) continue;
    ws.send(payload);
    markDelivered.run(m.id, device);
    delivered++;
  }
  return { recipients, delivered };
});

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') { res.writeHead(404).end(); return; }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      const t = performance.now();
      const out = publish(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...out, ms: Math.round(performance.now() - t) }));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
    }
  });
});

const wss = new WebSocketServer({ server, perMessageDeflate: false });
const deliverOnConnect = db.transaction((device: number, ws: WebSocket) => {
  for (const m of undeliveredOf.all(device) as { id: string; title: string; body: string }[]) {
    ws.send(JSON.stringify(m));
    markDelivered.run(m.id, device);
  }
});
wss.on('connection', (ws, req) => {
  const device = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('device'));
  if (!Number.isInteger(device) || device < 0 || device >= devices) { ws.close(4400, 'unknown device'); return; }
  connected.set(device, ws);
  deliverOnConnect(device, ws);
  ws.send('{"ready":true}');
  ws.on('close', () => { if (connected.get(device) === ws) connected.delete(device); });
  ws.on('error', () => {});
});

server.listen(Number(arg('port', '0')), arg('host', '127.0.0.1'), () => {
  const a = server.address();
  console.log(JSON.stringify({ listening: typeof a === 'object' && a ? a.port : 0 }));
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { db.close(); process.exit(0); });
