// Imported into every test file's process by scripts/test.mjs. At exit, a test file that leaves
// handles open (a timer, a socket, a child process, a worker) says which, on stderr, which Node's
// runner passes through as a TAP comment; scripts/test.mjs repeats those lines in its summary.
// With --test-force-exit such a file no longer hangs its lane, so this is how the leak stays seen.
const file = process.argv[1] ?? '';
if (/\.test\.ts$/.test(file)) {
  // The child's own pipes to the runner and the close of one of them are always there.
  const always = new Set(['PipeWrap', 'TTYWrap', 'CloseReq', 'FSReqCallback']);
  process.on('exit', () => {
    const open = process.getActiveResourcesInfo().filter((r) => !always.has(r));
    if (open.length > 0) process.stderr.write(`left open at exit: ${file.replace(process.cwd() + '/', '')}: ${open.join(', ')}\n`);
  });
}
