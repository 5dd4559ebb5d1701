/**
 * The reference the tracker benchmark measures Brigade against: the `bittorrent-tracker` npm
 * package's server, WebSocket tracker only (no HTTP announce, no UDP, no /stats), exactly as its
 * `bittorrent-tracker --ws` command runs it, in one Node process.
 *
 *   node --import tsx bench/tracker/reference-server.ts --port 0 [--host 127.0.0.1]
 *
 * Prints `{"listening": PORT}` on stdout once it accepts connections; on SIGUSR2 prints
 * `{"warnings": N, "byReason": {...}}` (the server's 'warning' events so far: bad requests, answers
 * to peers no longer in the swarm, writes to closed sockets) on stdout; stops on SIGTERM/SIGINT,
 * printing the same counts on stderr.
 */

interface TrackerServer {
  listen(port: number, host: string, onListening: () => void): void;
  close(cb: () => void): void;
  on(event: 'error' | 'warning', cb: (err: Error) => void): void;
  ws: { address(): { port: number } };
}
type TrackerServerCtor = new (opts: Record<string, unknown>) => TrackerServer;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  const inline = process.argv.find((a) => a.startsWith(`--${name}=`));
  return inline ? inline.slice(name.length + 3) : fallback;
}

const port = Number(arg('port', '0'));
const host = arg('host', '127.0.0.1');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be 0..65535, got ${arg('port', '')}`);
  process.exit(2);
}

// The package ships no types; the module name is a variable so TypeScript does not look for them.
const moduleName = 'bittorrent-tracker/server';
const { default: Server } = (await import(moduleName)) as { default: TrackerServerCtor };

const server = new Server({ udp: false, http: false, ws: true, stats: false });
let warnings = 0;
const byReason: Record<string, number> = {};
// 'warning' is the server's word for a client's bad request (or a write to a closed socket); count
// them by message, never log each one (that would cost more than the request).
server.on('warning', (err) => {
  warnings++;
  const key = Object.keys(byReason).length < 20 || err.message in byReason ? err.message : 'other';
  byReason[key] = (byReason[key] ?? 0) + 1;
});
// SIGUSR2: print the counts so far, so the bench can take them at the edges of its window.
process.on('SIGUSR2', () => console.log(JSON.stringify({ warnings, byReason })));
server.on('error', (err) => {
  console.error(`reference tracker error: ${err.stack ?? err.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  console.log(JSON.stringify({ listening: server.ws.address().port }));
});

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(JSON.stringify({ warnings, byReason }));
    // close() waits for open sockets; the bench closes its peers first, and this bounds the wait.
    setTimeout(() => process.exit(0), 2000).unref();
    server.close(() => process.exit(0));
  });
}
