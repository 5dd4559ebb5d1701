/**
 * Finds a target's adapter (src/sim/protocols/<name>.ts, bundled to dist/sim/protocols/<name>.js)
 * by name at run time. Each adapter is its own module so a worker loads only the client library
 * it drives (socket.io-client, ws, net), and a missing one is a clear error, not a broken build.
 */
import type { SimProtocol } from './protocol.ts';

export const TARGETS = ['brigade', 'socketio', 'ws-json', 'net', 'uws'] as const;
export type Target = (typeof TARGETS)[number];

export async function loadProtocol(name: string): Promise<SimProtocol> {
  if (!(TARGETS as readonly string[]).includes(name)) throw new Error(`unknown target ${JSON.stringify(name)}; targets: ${TARGETS.join(', ')}`);
  // Same layout in src/sim and dist/sim; only the extension differs.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const url = new URL(`./protocols/${name}${ext}`, import.meta.url);
  let mod: { protocol?: SimProtocol };
  try {
    mod = (await import(url.href)) as { protocol?: SimProtocol };
  } catch (err) {
    throw new Error(`cannot load the ${name} adapter (${url.pathname}): ${(err as Error).message}`);
  }
  if (!mod.protocol || typeof mod.protocol.openViewer !== 'function') throw new Error(`${url.pathname} exports no \`protocol: SimProtocol\``);
  return mod.protocol;
}
