#!/usr/bin/env node
// Runs the bundled CLI (npm run build writes dist/cli.js).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('brigade: dist/cli.js is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(cli);
