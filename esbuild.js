// Five bundles: the extension host (Node, CommonJS, `vscode` provided by the host), the `lora-lens`
// CLI (Node, with a shebang), the editor webview and the Compare view (browser, no Node APIs), and
// the smoke-test worker (Node, the only bundle that loads onnxruntime-node: the extension and the CLI
// fork it). The extension and the CLI each start from a few lines (src/boot/) that run the bundle
// (extensionMain.js, cliMain.js) through a V8 code cache.
// Static assets the webview loads (CSS, codicons) are copied into dist/, the webview's only resource root.
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const { version } = require('./package.json');

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  minify: production,
  sourcemap: production ? false : 'linked',
  logLevel: 'warning',
  define: { LORA_LENS_VERSION: JSON.stringify(version) },
};

/** @type {import('esbuild').BuildOptions[]} */
const targets = [
  {
    ...common,
    entryPoints: ['src/extension/extension.ts'],
    outfile: 'dist/extensionMain.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
  },
  {
    ...common,
    // The extension's main: a few lines that run extensionMain.js through a V8 code cache.
    entryPoints: ['src/boot/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
  },
  {
    ...common,
    entryPoints: ['src/cli/index.ts'],
    outfile: 'dist/cliMain.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
  },
  {
    ...common,
    // The executable: a few lines that run cliMain.js through a V8 code cache (src/boot/codeCache.ts).
    entryPoints: ['src/boot/cli.ts'],
    outfile: 'dist/cli.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    ...common,
    entryPoints: ['src/core/smoke/host/worker.ts'],
    outfile: 'dist/smokeWorker.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
  },
  {
    ...common,
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview.js',
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
  },
  {
    ...common,
    entryPoints: ['webview/compare.ts'],
    outfile: 'dist/compare.js',
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
  },
];

function copyAssets() {
  const copies = [
    ['media/editor.css', 'dist/editor.css'],
    ['node_modules/@vscode/codicons/dist/codicon.css', 'dist/codicons/codicon.css'],
    ['node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/codicons/codicon.ttf'],
  ];
  for (const [from, to] of copies) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
  }
  fs.chmodSync('dist/cli.js', 0o755);
}

async function main() {
  if (watch) {
    const contexts = await Promise.all(targets.map((t) => esbuild.context(t)));
    await Promise.all(contexts.map((c) => c.rebuild()));
    copyAssets();
    await Promise.all(contexts.map((c) => c.watch()));
    console.log('watching…');
    return;
  }
  const started = Date.now();
  await Promise.all(targets.map((t) => esbuild.build(t)));
  copyAssets();
  const sizes = [
    'dist/extensionMain.js',
    'dist/cli.js',
    'dist/cliMain.js',
    'dist/smokeWorker.js',
    'dist/webview.js',
    'dist/compare.js',
  ]
    .map((f) => `${path.basename(f)} ${(fs.statSync(f).size / 1024).toFixed(0)} KiB`)
    .join(', ');
  console.log(`built in ${Date.now() - started} ms: ${sizes}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
