// Activation cost of the extension bundle, outside VS Code: in fresh Node processes, the time to
// load dist/extension.js and to run activate() against a stand-in `vscode` module that accepts any
// call. It measures our own work (bundle parse, registrations), not VS Code's. Prints medians and
// the bundle's size. Run `npm run build:prod` first for release figures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// What VS Code loads (src/boot/extension.ts: a few lines that run the bundle through a V8 code cache)
// and the bundle itself.
const MAIN = path.join(ROOT, 'dist', 'extension.js');
const BUNDLE = path.join(ROOT, 'dist', 'extensionMain.js');
const RUNS = Number(process.argv[2] ?? 15);

// Runs in the child: a `vscode` stand-in where every property is a callable proxy, so whatever the
// extension registers at activation succeeds without a host.
const child = `
const Module = require('node:module');
const anything = () => new Proxy(function () {}, {
  get: (_t, p) => (p === Symbol.toPrimitive ? () => '' : p === 'then' ? undefined : anything()),
  set: () => true,
  apply: () => anything(),
  construct: () => anything(),
});
// esbuild's ESM interop copies the module's own property names, so the top level is a plain object.
const api = {};
for (const name of ['Uri', 'window', 'workspace', 'commands', 'env', 'l10n', 'extensions', 'languages',
  'EventEmitter', 'Disposable', 'RelativePattern', 'StatusBarAlignment', 'ProgressLocation',
  'ViewColumn', 'ThemeIcon', 'ThemeColor', 'CancellationTokenSource', 'FileType', 'ConfigurationTarget'])
  api[name] = anything();
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'vscode' ? api : load.call(this, request, ...rest);
};
const t0 = performance.now();
const ext = require(${JSON.stringify(MAIN)});
const t1 = performance.now();
const context = { subscriptions: [], extensionUri: anything(), globalState: anything(),
  workspaceState: anything(), secrets: anything(), globalStorageUri: anything(), extensionPath: ${JSON.stringify(ROOT)} };
ext.activate(context);
const t2 = performance.now();
process.stdout.write(JSON.stringify({ load: t1 - t0, activate: t2 - t1 }));
`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Without the code cache (a first load after installing), and with the one the first run wrote at
// its exit (every later load), interleaved.
const cacheDir = mkdtempSync(path.join(tmpdir(), 'lora-lens-activation-'));
const envs = {
  'no code cache': { ...process.env, LORA_LENS_NO_CODE_CACHE: '1' },
  'code cache': { ...process.env, LORA_LENS_NO_CODE_CACHE: '', LORA_LENS_CACHE_DIR: cacheDir },
};
const runs = Object.fromEntries(Object.keys(envs).map((k) => [k, { loads: [], activations: [] }]));
try {
  for (let i = 0; i < RUNS + 1; i++) {
    for (const [name, env] of Object.entries(envs)) {
      const r = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8', env });
      if (r.status !== 0) {
        console.error(r.stderr);
        process.exit(1);
      }
      if (i === 0) continue; // the first run writes the cache
      const { load, activate } = JSON.parse(r.stdout);
      runs[name].loads.push(load);
      runs[name].activations.push(activate);
    }
  }
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}
const bytes = statSync(BUNDLE).size;
const gz = gzipSync(readFileSync(BUNDLE)).length;
console.log(
  `extension bundle: ${(bytes / 1024).toFixed(0)} KiB (${(gz / 1024).toFixed(0)} KiB gzipped); ` +
    Object.entries(runs)
      .map(
        ([name, r]) =>
          `${name}: load ${median(r.loads).toFixed(1)} ms, activate ${median(r.activations).toFixed(1)} ms`,
      )
      .join('; ') +
    ` (medians of ${RUNS} fresh processes)`,
);
