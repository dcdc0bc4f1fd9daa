// `npm run demo`: the CLI's whole journey on the bundled samples, as a user would type it:
// inspect → map → export → smoke test → merge into ONNX → smoke test of the ONNX model.
// Outputs go to out/demo/ (ignored by git); the samples are only read.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const OUT = path.join(ROOT, 'out', 'demo');
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

const steps = [
  ['What is in the adapter?', ['inspect', 'samples/tiny-llama-lora']],
  [
    'Which base parameter does each module patch?',
    [
      'map',
      'samples/tiny-llama-lora',
      '--base',
      'samples/tiny-llama',
      '--save-mapping',
      'out/demo/mapping.json',
    ],
  ],
  [
    'Export it under kohya names (weights only)',
    [
      'export',
      'samples/tiny-llama-lora',
      '--base',
      'samples/tiny-llama',
      '--naming',
      'kohya',
      '--out',
      'out/demo/tiny-llama-kohya.safetensors',
    ],
  ],
  [
    'Does it work? Per-module smoke test (best EP available)',
    [
      'smoke',
      'samples/tiny-llama-lora',
      '--base',
      'samples/tiny-llama',
      '--mapping',
      'out/demo/mapping.json',
    ],
  ],
  [
    'Bake it into the ONNX export of the base',
    [
      'merge',
      'samples/tiny-llama-lora',
      '--base',
      'samples/tiny-llama-onnx/model.onnx',
      '--out',
      'out/demo/tiny-llama-merged.onnx',
    ],
  ],
  [
    "Whole-model check against PEFT's merge_and_unload() logits",
    [
      'smoke',
      'samples/tiny-llama-lora',
      '--base',
      'samples/tiny-llama-onnx/model.onnx',
      '--reference',
      'samples/tiny-llama-onnx/reference.safetensors',
    ],
  ],
];

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const failed = [];
for (const [i, [title, args]] of steps.entries()) {
  console.log(`\n${bold(`── ${i + 1}/${steps.length} ${title}`)}`);
  console.log(`$ lora-lens ${args.join(' ')}\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: 'inherit' });
  console.log(`\n(${((Date.now() - started) / 1000).toFixed(1)} s, exit ${r.status})`);
  if (r.status !== 0) failed.push(`${i + 1} ${title} (exit ${r.status})`);
}
console.log(`\n${bold('── Summary')}`);
if (failed.length === 0) {
  console.log(`All ${steps.length} steps passed. Outputs are in ${path.relative(ROOT, OUT)}/.`);
} else {
  console.log(`${failed.length} step(s) failed:\n  ${failed.join('\n  ')}`);
  process.exitCode = 1;
}
