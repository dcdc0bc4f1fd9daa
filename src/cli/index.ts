import { onStaleTempsRemoved, removeLiveTempsSync } from '../core/export/tempFiles.js';
import { main } from './main.js';

// A write interrupted by Ctrl-C or a kill request leaves no temp file behind (SIGKILL cannot be
// caught: the next write into that folder removes what it left).
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.on(signal, () => {
    removeLiveTempsSync();
    process.exit(code);
  });
onStaleTempsRemoved((removed) => {
  for (const p of removed)
    process.stderr.write(`lora-lens: removed ${p}, left by an interrupted write\n`);
});

// stdout may be a pipe that closes early (`lora-lens inspect x | head`); that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(
      `lora-lens: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exitCode = 70;
  },
);
