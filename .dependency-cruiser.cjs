/**
 * The layers of src/, checked by dependency-cruiser (`npm run lint:layers`, run by `npm test`).
 * docs/LAYERS.md says the same in prose, with the debts we still owe.
 *
 * A layer may import only the layers below it, so each can be understood, tested and replaced
 * with only what it names in mind:
 *
 *   protocol   the wire format; what server, SDK and simulator share, so it can lean on nothing
 *   util       small pure helpers (PRNG); nothing of ours
 *   core       hub, channels, ticks, the Engine and App contracts: protocol + util
 *   engines    storage behind core/engine.ts: core + protocol + util (never a socket, never an app)
 *   gateway    HTTP + WebSocket for the core: core + protocol + util (never an engine or an app)
 *   apps/<a>   an app is a plug-in on the core: core + protocol + util + its own folder,
 *              never gateway, engines, cli, sim, autoscale or another app
 *   sdk        the client, shipped to browsers: protocol + util only
 *   sim        `brigade bench`, a client-side load generator that starts servers as processes:
 *              protocol, util, sdk, the apps' wire codecs, gateway/ws-mask.ts (frame masking);
 *              never the server's insides (core, engines, the rest of gateway, cli, autoscale)
 *   autoscale  an operator tool that scrapes /metrics and supervises node processes: protocol,
 *              util and sim/listening.ts (reads a child's "listening" line); nothing else
 *   cli        wires everything together: may import anything in src
 *
 * Everywhere: nothing in src/ imports bench/ or test/, and no import circle (type-only imports
 * count: a circle of types still ties the files together for every reader).
 *
 * Violations that existed when this check came in are listed in
 * .dependency-cruiser-known-violations.json and tolerated (`npm run lint:layers -- --update-baseline`
 * rewrites it; only ever to shrink it). Anything new fails.
 */

/** A rule that lets files under `from` import only src paths matching `allowed`. */
function onlyImports(name, comment, from, allowed) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: { path: '^src/', pathNot: allowed },
  };
}

module.exports = {
  forbidden: [
    onlyImports('protocol-imports-nothing',
      'protocol/ is the wire format shared by server, SDK and simulator: it imports nothing else of src.',
      '^src/protocol/', '^src/protocol/'),
    onlyImports('util-imports-nothing',
      'util/ holds small pure helpers that any layer may use: it imports nothing else of src.',
      '^src/util/', '^src/util/'),
    onlyImports('core-only-protocol-util',
      'core/ is what apps, engines and the gateway plug into: it may use only protocol/ and util/.',
      '^src/core/', '^src/(core|protocol|util)/'),
    onlyImports('engines-only-core-protocol-util',
      'engines/ implement the Engine contract of core/: core, protocol and util only (never a socket or an app).',
      '^src/engines/', '^src/(engines|core|protocol|util)/'),
    onlyImports('gateway-only-core-protocol-util',
      'gateway/ serves the core over HTTP and WebSocket: core, protocol and util only (never an engine or an app).',
      '^src/gateway/', '^src/(gateway|core|protocol|util)/'),
    {
      name: 'app-only-core-protocol-util-own-folder',
      comment: 'An app is a plug-in on the core: core, protocol, util and its own folder; never gateway, engines, cli, sim, autoscale or another app.',
      severity: 'error',
      from: { path: '^src/apps/([^/]+)/' },
      to: { path: '^src/', pathNot: ['^src/apps/$1/', '^src/(core|protocol|util)/'] },
    },
    onlyImports('sdk-only-protocol-util',
      'sdk/ is the client that ships to browsers: protocol and util only, no server code.',
      '^src/sdk/', '^src/(sdk|protocol|util)/'),
    onlyImports('sim-client-side-only',
      'sim/ drives servers it starts as processes, like any client: protocol, util, sdk, the apps\' wire codecs and gateway/ws-mask.ts; never core, engines, the rest of gateway, cli or autoscale.',
      '^src/sim/', '^src/(sim|protocol|util|sdk|apps)/|^src/gateway/ws-mask[.]ts$'),
    onlyImports('autoscale-protocol-util-listening',
      'autoscale/ scrapes /metrics and supervises node processes: protocol, util and sim/listening.ts only.',
      '^src/autoscale/', '^src/(autoscale|protocol|util)/|^src/sim/listening[.]ts$'),
    {
      name: 'src-outside-a-layer',
      comment: 'Every file in src/ belongs to a layer folder with its own rule above; a new folder needs a rule (and a line in docs/LAYERS.md).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(protocol|util|core|engines|gateway|apps/[^/]+|sdk|sim|autoscale|cli)/' },
      to: {},
    },
    {
      name: 'src-not-bench-or-test',
      comment: 'What ships (src/) never imports benchmarks or tests; move what both need into src/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(bench|test)/' },
    },
    {
      name: 'no-circular',
      comment: 'No import circle anywhere in src/: a circle means neither file can be understood or tested alone.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing is a typo or a missing file.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    // Type-only imports are dependencies too (`import type` from another layer couples the two).
    tsPreCompilationDeps: true,
    // Resolve packages through their "exports" (fast-png has nothing else), as Node does.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
