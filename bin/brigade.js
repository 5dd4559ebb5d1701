#!/usr/bin/env -S node --max-semi-space-size=4
// Runs the bundled CLI (npm run build writes dist/cli.js).
//
// The node flags above are part of how Brigade ships (`brigade serve`, `npm start`, the bench's
// Brigade servers, which read them from this line): a 4 MB young-generation semi-space instead of
// V8's 16 MB. A node's per-tick garbage is short-lived, so the smaller nursery costs about 2 % CPU
// and saves ~4.5 KB of RSS per connection at 5,000 viewers (docs/BENCHMARKS.md, "Memory").
// `node bin/brigade.js` skips this line: pass the flags yourself there.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('brigade: dist/cli.js is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(cli);
