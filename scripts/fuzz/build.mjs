// Bundles the fuzzer (main thread + worker) so it runs at shipping speed, not through a TS loader.
import { build } from 'esbuild';
await build({
  entryPoints: { run: 'scripts/fuzz/run.ts', worker: 'scripts/fuzz/worker.ts' },
  outdir: 'out/fuzz',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
});
