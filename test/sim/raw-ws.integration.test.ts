/**
 * The simulator's WebSocket client ends its connections at the end of a run with a TCP reset, so
 * no TIME_WAIT socket is left holding its source port (a 100,000-viewer run closed with FINs held
 * every port of its 127.0.0.x addresses for a minute, and the next run's servers could not reach
 * Redis). Checked against the kernel's own table, /proc/net/tcp, over a real loopback connection.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { RawWs } from '../../src/sim/raw-ws.ts';
import { eventually } from '../helpers/eventually.ts';

/** /proc/net/tcp's local_address for an IPv4 address: the four bytes little-endian, in hex. */
function procAddress(ip: string): string {
  return ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
}

/** TCP states (hex, as /proc/net/tcp writes them) of every socket whose local address is `ip`. */
function statesOn(ip: string): string[] {
  const hex = procAddress(ip);
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[1].split(':')[0] === hex)
    .map((f) => f[3]);
}

async function openAndEnd(port: number, localAddress: string, end: (ws: RawWs) => void, serverClosed: Promise<void>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const ws: RawWs = new RawWs({ host: '127.0.0.1', port, path: '/', localAddress }, {
      onOpen: () => { end(ws); resolve(); },
      onMessage: () => {},
      onClose: (reason) => reject(new Error(`closed before open: ${reason}`)),
    });
  });
  await serverClosed;
}

test('reset() leaves no socket behind on the source address; terminate() leaves one in TIME_WAIT or FIN_WAIT', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const { port } = wss.address() as AddressInfo;
  const nextClose = () => new Promise<void>((r) => wss.once('connection', (s) => { s.on('error', () => {}); s.once('close', () => r()); }));
  try {
    // Addresses of their own, so nothing else on the machine shares these rows.
    const resetAddr = `127.0.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
    const finAddr = `127.0.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
    assert.deepEqual(statesOn(resetAddr), []);

    await openAndEnd(port, finAddr, (ws) => ws.terminate(), nextClose());
    // 06 TIME_WAIT, 05 FIN_WAIT2, 04 FIN_WAIT1: the port stays taken after a FIN (for a minute).
    await eventually(() => statesOn(finAddr).some((s) => ['04', '05', '06'].includes(s)),
      { what: () => `a closing socket on ${finAddr} (got ${statesOn(finAddr).join(',') || 'none'})` });

    await openAndEnd(port, resetAddr, (ws) => ws.reset(), nextClose());
    // After a FIN the row stays for a minute (above), far past this wait; after a reset it goes.
    await eventually(() => statesOn(resetAddr).length === 0,
      { what: () => `no socket left on ${resetAddr} after a reset (got ${statesOn(resetAddr).join(',')})` });
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  }
});
