/**
 * `lora-lens smoke` and `lora-lens merge` end to end: the CLI forks the real worker bundle, which
 * loads onnxruntime-node and runs the sample adapter on its sample base.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { main } from '../../src/cli/main.js';
import { runMap } from '../../src/cli/mapCommands.js';
import { smokeText } from '../../src/cli/smokeCommand.js';
import { runSmokeInChild } from '../../src/core/smoke/host/client.js';
import { readMappingFile, writeMappingFile } from '../../src/core/mapping/export/mappingFile.js';
import { SmokeError, type SmokeReport } from '../../src/core/smoke/types.js';
import { skipWithoutWebgpu } from '../helpers/webgpu.js';

const ADAPTER = 'samples/tiny-llama-lora';
const BASE = 'samples/tiny-llama/model.safetensors';
const ONNX = 'samples/tiny-llama-onnx/model.onnx';
const REFERENCE = 'samples/tiny-llama-onnx/reference.safetensors';
const LAYER0 = 'base_model.model.model.layers.0.self_attn';
/** Inside the repository, so the bundle resolves onnxruntime-node from node_modules. */
const WORKER = resolve('out/test-smoke/smokeWorker.js');

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

/** The CLI's `--json` contract, in this order. */
const KEYS = [
  'ok',
  'ep',
  'epTried',
  'modules',
  'model',
  'switching',
  'placement',
  'timings',
  'verdict',
  'warnings',
];

describe('lora-lens smoke / merge', () => {
  let dir = '';
  const previous = process.env.LORA_LENS_SMOKE_WORKER;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-smokecli-'));
    // The same bundle options as esbuild.js's worker target.
    await build({
      entryPoints: ['src/core/smoke/host/worker.ts'],
      outfile: WORKER,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['onnxruntime-node'],
      logLevel: 'error',
    });
    process.env.LORA_LENS_SMOKE_WORKER = WORKER;
  });
  after(async () => {
    if (previous === undefined) delete process.env.LORA_LENS_SMOKE_WORKER;
    else process.env.LORA_LENS_SMOKE_WORKER = previous;
    await rm(dir, { recursive: true, force: true });
  });

  it('--ep cpu: every module passes, exit 0, exactly the JSON contract keys', async () => {
    const { code, out, err } = await run('smoke', ADAPTER, '--base', BASE, '--ep', 'cpu', '--json');
    const j = JSON.parse(out);
    assert.equal(code, 0, out);
    assert.equal(err, '', 'no progress on stderr in --json mode');
    assert.deepEqual(Object.keys(j), KEYS);
    assert.equal(j.ok, true);
    assert.equal(j.ep, 'cpu');
    assert.deepEqual(j.epTried, [{ ep: 'cpu', error: null }]);
    assert.equal(j.modules.length, 8);
    for (const m of j.modules) {
      assert.deepEqual(Object.keys(m).slice(0, 5), [
        'module',
        'ok',
        'maxAbsErr',
        'deltaRatio',
        'ms',
      ]);
      assert.equal(m.ok, true, m.module);
      assert.ok(m.maxAbsErr < 1e-4, `${m.module}: ${m.maxAbsErr}`);
      assert.ok(m.deltaRatio > 0, `${m.module}: the adapter changes the output`);
    }
    assert.equal(j.model, null, 'a safetensors base has no whole-model check');
    assert.match(j.verdict, /8\/8/);
    // The text form of the same report: a table row per module, the EP and the verdict.
    const text = smokeText(j as SmokeReport);
    assert.match(text, /^module\s+target\s+status\s+max err\s+delta\s+ms$/m);
    assert.match(
      text,
      new RegExp(
        `^${LAYER0.replace(/\./g, '\\.')}\\.q_proj\\s+model\\.layers\\.0\\.self_attn\\.q_proj\\.weight\\s+pass`,
        'm',
      ),
    );
    assert.match(text, /^EP: cpu/m);
    assert.match(text, /^PASS: /m);
  });

  it('text mode streams progress to stderr and prints the table on stdout', async () => {
    const { code, out, err } = await run('smoke', ADAPTER, '--base', BASE, '--ep', 'cpu');
    assert.equal(code, 0, err);
    assert.match(err, /\[8\/8\]/);
    assert.match(out, /^PASS: /m);
  });

  it('--ep webgpu runs on WebGPU where a Vulkan adapter exists', async (t) => {
    const { code, out } = await run('smoke', ADAPTER, '--base', BASE, '--ep', 'webgpu', '--json');
    const j = JSON.parse(out);
    const why = j.error?.message ?? j.epTried?.[0]?.error;
    if (j.ep !== 'webgpu' && why) {
      skipWithoutWebgpu(t, String(why));
      return;
    }
    assert.equal(code, 0, out);
    assert.equal(j.ep, 'webgpu');
    assert.equal(j.modules.length, 8);
    assert.ok(j.modules.every((m: { ok: boolean }) => m.ok));
  });

  it('a mapping file that swaps q_proj and v_proj of layer 0: exit 1, the module named', async () => {
    const saved = join(dir, 'map.json');
    await runMap(ADAPTER, BASE, { savePath: saved });
    const file = await readMappingFile(saved);
    const swap: Record<string, string> = {
      [`${LAYER0}.q_proj`]: 'model.layers.0.self_attn.v_proj.weight',
      [`${LAYER0}.v_proj`]: 'model.layers.0.self_attn.q_proj.weight',
    };
    const swapped = join(dir, 'swapped.json');
    await writeMappingFile(swapped, {
      ...file,
      mappings: file.mappings.map((m) => {
        const target = swap[m.module];
        return target ? { module: m.module, source: 'user' as const, target } : m;
      }),
    });
    const { code, out } = await run(
      'smoke',
      ADAPTER,
      '--base',
      BASE,
      '--mapping',
      swapped,
      '--ep',
      'cpu',
      '--json',
    );
    assert.equal(code, 1, out);
    const j = JSON.parse(out);
    assert.equal(j.ok, false);
    const failing = j.modules
      .filter((m: { ok: boolean }) => !m.ok)
      .map((m: { module: string }) => m.module);
    assert.ok(failing.includes(`${LAYER0}.q_proj`), failing.join(', '));
    const q = j.modules.find((m: { module: string }) => m.module === `${LAYER0}.q_proj`);
    assert.equal(q.target, 'model.layers.0.self_attn.v_proj.weight');
    assert.equal(q.status, 'fail');
  });

  it('bad input: exit 2 with {error:{code}}; usage errors too', async () => {
    const missing = await run('smoke', join(dir, 'nope'), '--base', BASE, '--json');
    assert.equal(missing.code, 2, missing.out);
    assert.equal(JSON.parse(missing.out).error.code, 'FileNotFound');
    const ep = await run('smoke', ADAPTER, '--base', BASE, '--ep', 'tpu', '--json');
    assert.equal(ep.code, 2);
    assert.match(JSON.parse(ep.out).error.message, /--ep must be one of auto, cuda, webgpu, cpu/);
    const timeout = await run('smoke', ADAPTER, '--base', BASE, '--timeout', '0', '--json');
    assert.equal(timeout.code, 2);
    assert.equal((await run('smoke', ADAPTER, '--json')).code, 2);
    assert.equal((await run('merge', ADAPTER, '--base', ONNX, '--json')).code, 2);
  });

  it('a worker that cannot load onnxruntime-node answers OrtUnavailable with the reason', async () => {
    // A copy outside the repository finds no node_modules to load onnxruntime-node from.
    const lonely = join(dir, 'smokeWorker.js');
    copyFileSync(WORKER, lonely);
    let ortError: string | null = null;
    const e = await runSmokeInChild(
      { adapterPath: ADAPTER, basePath: BASE, eps: ['cpu'] },
      { workerPath: lonely, timeoutMs: 10_000, onReady: (r) => (ortError = r.ortError) },
    ).then(
      () => assert.fail('expected OrtUnavailable'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof SmokeError);
    assert.equal(e.code, 'OrtUnavailable');
    assert.match(e.message, /Cannot find module 'onnxruntime-node'/);
    assert.match(String(ortError), /Cannot find module/);
  });

  it(
    'an ONNX base with reference outputs: the whole model passes',
    { skip: !existsSync(REFERENCE) },
    async () => {
      const { code, out } = await run(
        'smoke',
        ADAPTER,
        '--base',
        ONNX,
        '--reference',
        REFERENCE,
        '--ep',
        'cpu',
        '--json',
      );
      const j = JSON.parse(out);
      assert.equal(code, 0, out);
      assert.equal(j.model.ok, true, JSON.stringify(j.model));
      assert.equal(j.model.inputs, 'reference');
      assert.equal(j.model.patched, 8);
    },
  );

  it(
    'merge writes the merged model and lists what it patched',
    { skip: !existsSync(ONNX) },
    async () => {
      const outDir = join(dir, 'merged');
      await mkdir(outDir);
      const outPath = join(outDir, 'merged.onnx');
      const { code, out } = await run('merge', ADAPTER, '--base', ONNX, '--out', outPath, '--json');
      assert.equal(code, 0, out);
      const j = JSON.parse(out);
      assert.equal(j.patched.length, 8);
      assert.ok(statSync(outPath).size > 0);
      assert.ok(j.files.includes(outPath) || j.files.includes(resolve(outPath)));
      // The merged model is a different model: its bytes differ from the base.
      assert.notDeepEqual(await readFile(outPath), await readFile(ONNX));
    },
  );
});
