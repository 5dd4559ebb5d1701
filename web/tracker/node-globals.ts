/**
 * The one Node global `bittorrent-tracker/client` reads in a browser: `process.browser` (its
 * constructor asks `!process.browser && !opts.port`). Bundlers such as browserify used to inject
 * a `process` shim; esbuild does not, so this module defines the minimum before the client's
 * modules run. It must be the first import of any page that imports the client (ES module
 * evaluation follows import order, and esbuild keeps that order when it bundles).
 */
const g = globalThis as { process?: { browser?: boolean; env?: Record<string, string> } };
g.process ??= { browser: true, env: {} };
g.process.browser = true;

export {};
