// Builds one VSIX per platform (`vsce package --target …`). Each holds only its own platform's
// onnxruntime-node binaries: the npm package carries every OS (≈300 MB), one platform is 25–85 MB.
// onnxruntime-node and onnxruntime-common are staged into dist/node_modules/, where the smoke-test
// worker (dist/smokeWorker.js) finds them by plain Node resolution, and removed afterwards.
//
//   node scripts/package/package.mjs [--target linux-x64 ...] [--out DIR | --file X.vsix] [--no-build]
//   --target host: the platform this machine is (the e2e harness installs that one).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STAGE = path.join(ROOT, 'dist', 'node_modules');

/** vsce target → onnxruntime-node's bin/napi-v6/<platform>/<arch>. No darwin-x64: ORT ships none. */
export const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
};

function parseArgs(argv) {
  const targets = [];
  let out = path.join(ROOT, 'vsix');
  let build = true;
  let file = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target') targets.push(argv[++i] === 'host' ? hostTarget() : argv[i]);
    else if (a === '--file') file = path.resolve(argv[++i]);
    else if (a === '--out') out = path.resolve(argv[++i]);
    else if (a === '--no-build') build = false;
    else throw new Error(`unknown argument ${a}`);
  }
  for (const t of targets) {
    if (!(t in TARGETS))
      throw new Error(`unknown target ${t}; one of ${Object.keys(TARGETS).join(', ')}`);
  }
  if (file && targets.length !== 1) throw new Error('--file needs exactly one --target');
  return { targets: targets.length ? targets : Object.keys(TARGETS), out, build, file };
}

export function hostTarget() {
  const t = `${process.platform}-${process.arch}`;
  if (!(t in TARGETS)) throw new Error(`no VSIX target for this machine (${t})`);
  return t;
}

function copy(from, to) {
  mkdirSync(path.dirname(to), { recursive: true });
  cpSync(from, to, {
    recursive: true,
    // Type declarations and source maps are of no use at run time.
    filter: (src) => !/\.(d\.ts|map)$/.test(src),
  });
}

/** Puts the runtime files of onnxruntime-node (one platform) and onnxruntime-common under dist/. */
export function stageOrt(target) {
  rmSync(STAGE, { recursive: true, force: true });
  const nodePkg = path.join(ROOT, 'node_modules', 'onnxruntime-node');
  const commonPkg = path.join(ROOT, 'node_modules', 'onnxruntime-common');
  const bin = path.join(nodePkg, 'bin', 'napi-v6', ...TARGETS[target].split('/'));
  if (!existsSync(bin)) throw new Error(`onnxruntime-node has no binaries for ${target} (${bin})`);
  for (const f of ['package.json', 'README.md', 'dist']) {
    copy(path.join(nodePkg, f), path.join(STAGE, 'onnxruntime-node', f));
  }
  copy(bin, path.join(STAGE, 'onnxruntime-node', 'bin', 'napi-v6', ...TARGETS[target].split('/')));
  for (const f of ['package.json', 'README.md', path.join('dist', 'cjs')]) {
    copy(path.join(commonPkg, f), path.join(STAGE, 'onnxruntime-common', f));
  }
}

export function unstageOrt() {
  rmSync(STAGE, { recursive: true, force: true });
}

export function packageTarget(target, outDir, file = null) {
  const { version } = JSON.parse(
    execFileSync(process.execPath, ['-p', 'JSON.stringify(require("./package.json"))'], {
      cwd: ROOT,
      encoding: 'utf8',
    }),
  );
  const out = file ?? path.join(outDir, `lora-lens-${target}-${version}.vsix`);
  mkdirSync(path.dirname(out), { recursive: true });
  stageOrt(target);
  try {
    // dist/ is self-contained (bundles plus the staged runtime), so --no-dependencies is right.
    // stdin is closed so that a vsce prompt fails fast instead of hanging.
    execFileSync(
      'npx',
      [
        '--no-install',
        'vsce',
        'package',
        '--target',
        target,
        '--no-dependencies',
        '--allow-missing-repository',
        '--skip-license',
        // The README's screenshots ship in docs/images/ and VS Code shows them from the installed
        // extension; there is no public repository to rewrite them against.
        '--no-rewrite-relative-links',
        '-o',
        out,
      ],
      { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
    );
  } finally {
    unstageOrt();
  }
  return { target, out, bytes: statSync(out).size };
}

function main() {
  const { targets, out, build, file } = parseArgs(process.argv.slice(2));
  if (build) {
    execFileSync(process.execPath, ['esbuild.js', '--production'], { cwd: ROOT, stdio: 'inherit' });
  }
  const results = targets.map((t) => packageTarget(t, out, file));
  console.log('\nVSIX sizes:');
  for (const r of results) {
    console.log(
      `  ${r.target.padEnd(13)} ${(r.bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${path.relative(ROOT, r.out)}`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
