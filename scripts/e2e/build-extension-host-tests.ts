// Bundles the extension-host mocha suite (test/extension-host/) into out/extension-host/:
// index.js (the `extensionTestsPath` entry) and suite/*.test.js. `vscode` comes from the host;
// mocha stays external so that the runner and the test files share one mocha instance.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'test', 'extension-host');
const OUT = path.join(ROOT, 'out', 'extension-host');

async function main(): Promise<void> {
  const started = Date.now();
  const suiteFiles = readdirSync(path.join(SRC, 'suite'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(SRC, 'suite', f));
  rmSync(OUT, { recursive: true, force: true });
  await build({
    entryPoints: [path.join(SRC, 'index.ts'), ...suiteFiles],
    outbase: SRC,
    outdir: OUT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  console.log(
    `extension-host tests: ${suiteFiles.length} suite file(s) -> ${path.relative(ROOT, OUT)} in ${Date.now() - started} ms`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
