import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { mergeAdapter } from '../../../../src/core/export/merge/index.js';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { decodeValues } from '../../../../src/core/formats/decode.js';

const ADAPTER = 'samples/tiny-llama-lora';
const BASE = 'samples/tiny-llama-onnx/model.onnx';
const REFERENCE = 'samples/tiny-llama-onnx/reference.safetensors';
const EXTERNAL = 'test/fixtures/smoke/tiny-llama-external';
const VARIANTS = 'test/fixtures/smoke/peft-variants.safetensors';

interface Reference {
  feeds: Record<string, ort.Tensor>;
  merged: Float32Array;
  base: Float32Array;
}

async function loadReference(): Promise<Reference> {
  const ckpt = await openPath(REFERENCE);
  try {
    const feeds: Record<string, ort.Tensor> = {};
    const floats: Record<string, Float32Array> = {};
    for (const t of ckpt.tensors) {
      const bytes = (await ckpt.readTensorBytes(t)).slice();
      if (t.name.startsWith('input.'))
        feeds[t.name.slice(6)] = new ort.Tensor('int64', new BigInt64Array(bytes.buffer), [
          ...t.shape,
        ]);
      else floats[t.name] = Float32Array.from(decodeValues(bytes, 'F32'));
    }
    return {
      feeds,
      merged: floats['output.logits'] as Float32Array,
      base: floats['base.logits'] as Float32Array,
    };
  } finally {
    await ckpt.close();
  }
}

async function logits(model: string, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model);
  try {
    return (await s.run(feeds))['logits']?.data as Float32Array;
  } finally {
    await s.release();
  }
}

/** PEFT's merge tolerance: |a − b| ≤ 1e-4 + 1e-4·|b| everywhere. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string): number {
  assert.equal(actual.length, expected.length, what);
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs((actual[i] as number) - (expected[i] as number));
    max = Math.max(max, err);
    assert.ok(
      err <= 1e-4 + 1e-4 * Math.abs(expected[i] as number),
      `${what}: element ${i} off by ${err}`,
    );
  }
  return max;
}

const sha256 = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

describe('mergeAdapter', () => {
  let dir = '';
  let ref: Reference;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-merge-'));
    ref = await loadReference();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('bakes the PEFT adapter in: logits match merge_and_unload within 1e-4', async () => {
    const out = join(dir, 'merged.onnx');
    const report = await mergeAdapter({
      adapterPath: ADAPTER,
      basePath: BASE,
      outPath: out,
    });
    assert.equal(report.out, resolve(out));
    assert.deepEqual(report.files, [resolve(out)]);
    assert.equal(report.patched.length, 8);
    assert.ok(
      report.patched.every((p) => p.transposed && p.initializer.startsWith('onnx::MatMul_')),
    );
    assert.deepEqual(report.warnings, []);
    // The base model reproduces torch, and the adapter moves the logits well past the tolerance.
    assertClose(await logits(BASE, ref.feeds), ref.base, 'base vs base.logits');
    const merged = await logits(out, ref.feeds);
    assertClose(merged, ref.merged, 'merged vs PEFT merge_and_unload');
    const moved = merged.reduce((m, v, i) => Math.max(m, Math.abs(v - (ref.base[i] as number))), 0);
    assert.ok(moved > 1e-2, `the adapter changes the logits (max ${moved})`);
  });

  it('bakes DoRA and embedding LoRA in like PEFT (test/fixtures/lora adapters)', async () => {
    const variants = await openPath(VARIANTS);
    const expected = async (name: string) =>
      Float32Array.from(decodeValues(await variants.readTensorBytes(variants.tensor(name)), 'F32'));
    try {
      const dora = await mergeAdapter({
        adapterPath: 'test/fixtures/lora/peft-dora',
        basePath: BASE,
        outPath: join(dir, 'dora.onnx'),
      });
      assert.equal(dora.patched.length, 4);
      assert.deepEqual(dora.warnings, []);
      assertClose(
        await logits(join(dir, 'dora.onnx'), ref.feeds),
        await expected('dora.logits'),
        'DoRA',
      );

      const emb = await mergeAdapter({
        adapterPath: 'test/fixtures/lora/peft-embedding',
        basePath: BASE,
        outPath: join(dir, 'embedding.onnx'),
      });
      assert.deepEqual(
        emb.patched.find((p) => p.initializer === 'model.embed_tokens.weight'),
        {
          initializer: 'model.embed_tokens.weight',
          module: 'base_model.model.model.embed_tokens',
          transposed: false,
        },
      );
      // The trained lm_head copy (modules_to_save) is named, not silently dropped.
      assert.ok(
        emb.warnings.some((w) => w.startsWith('base_model.model.lm_head.weight is not merged')),
        emb.warnings.join('\n'),
      );
      assertClose(
        await logits(join(dir, 'embedding.onnx'), ref.feeds),
        await expected('embedding.logits'),
        'embedding LoRA',
      );
    } finally {
      await variants.close();
    }
  });

  it('rewrites only the patched initializers; every other byte is the source', async () => {
    const out = join(dir, 'bytes.onnx');
    const report = await mergeAdapter({
      adapterPath: ADAPTER,
      basePath: BASE,
      outPath: out,
    });
    const source = await readFile(BASE);
    const merged = await readFile(out);
    assert.equal(merged.length, source.length);
    const base = await openPath(BASE);
    const ranges = report.patched.map((p) => {
      const t = base.tensor(p.initializer);
      return [t.offset, t.offset + t.byteLength] as const;
    });
    await base.close();
    let inside = 0;
    for (let i = 0; i < source.length; i++) {
      if (source[i] === merged[i]) continue;
      assert.ok(
        ranges.some(([a, b]) => i >= a && i < b),
        `byte ${i} changed outside a patched range`,
      );
      inside++;
    }
    // Most bytes of the 8 patched weights change (a few may round to the same float).
    const patchedBytes = ranges.reduce((n, [a, b]) => n + b - a, 0);
    assert.ok(inside > patchedBytes / 2, `${inside} of ${patchedBytes} patched bytes changed`);
  });

  it('merges an external-data model into merged.onnx + merged.onnx.data, source data untouched', async () => {
    const before = await sha256(join(EXTERNAL, 'weights.bin'));
    const beforeModel = await sha256(join(EXTERNAL, 'model.onnx'));
    const out = join(dir, 'ext', 'merged.onnx');
    await mkdir(join(dir, 'ext'));
    const report = await mergeAdapter({
      adapterPath: ADAPTER,
      basePath: join(EXTERNAL, 'model.onnx'),
      outPath: out,
    });
    assert.deepEqual(report.files, [resolve(out), resolve(out) + '.data']);
    assert.deepEqual((await readdir(join(dir, 'ext'))).sort(), ['merged.onnx', 'merged.onnx.data']);
    const reopened = await openPath(out);
    const files = new Set(reopened.tensors.flatMap((t) => (t.file ? [t.file] : [])));
    assert.deepEqual([...files], ['merged.onnx.data']);
    assert.deepEqual(reopened.warnings ?? [], []);
    await reopened.close();
    assertClose(await logits(out, ref.feeds), ref.merged, 'external merged vs PEFT');
    assert.equal(await sha256(join(EXTERNAL, 'weights.bin')), before);
    assert.equal(await sha256(join(EXTERNAL, 'model.onnx')), beforeModel);
  });

  it('refuses to write over the base (WouldOverwriteSource) and leaves nothing behind', async () => {
    const folder = join(dir, 'refuse');
    await cp('samples/tiny-llama-onnx', folder, { recursive: true });
    const listing = (await readdir(folder)).sort();
    const model = join(folder, 'model.onnx');
    const hash = await sha256(model);
    await assert.rejects(
      mergeAdapter({ adapterPath: ADAPTER, basePath: model, outPath: model }),
      (e: unknown) => e instanceof CheckpointError && e.code === 'WouldOverwriteSource',
    );
    // The adapter is a source too.
    await assert.rejects(
      mergeAdapter({
        adapterPath: ADAPTER,
        basePath: model,
        outPath: join(ADAPTER, 'adapter_model.safetensors'),
      }),
      (e: unknown) => e instanceof CheckpointError && e.code === 'WouldOverwriteSource',
    );
    assert.deepEqual((await readdir(folder)).sort(), listing);
    assert.equal(await sha256(model), hash);
  });

  it("refuses to write over an external-data base's data file", async () => {
    const folder = join(dir, 'refuse-ext');
    await cp(EXTERNAL, folder, { recursive: true });
    const listing = (await readdir(folder)).sort();
    await assert.rejects(
      mergeAdapter({
        adapterPath: ADAPTER,
        basePath: join(folder, 'model.onnx'),
        outPath: join(folder, 'weights.bin'),
      }),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'WouldOverwriteSource' &&
        e.message.includes('weights.bin'),
    );
    assert.deepEqual((await readdir(folder)).sort(), listing);
  });

  it('refuses a non-finite merge (safe_merge) and leaves no output and no temp file', async () => {
    const adapter = join(dir, 'huge-alpha');
    await cp(ADAPTER, adapter, { recursive: true });
    const config = JSON.parse(await readFile(join(adapter, 'adapter_config.json'), 'utf8')) as {
      lora_alpha: number;
    };
    config.lora_alpha = 1e300;
    await writeFile(join(adapter, 'adapter_config.json'), JSON.stringify(config));
    const folder = join(dir, 'fail');
    await mkdir(folder);
    for (const base of [BASE, join(EXTERNAL, 'model.onnx')]) {
      await assert.rejects(
        mergeAdapter({
          adapterPath: adapter,
          basePath: base,
          outPath: join(folder, 'm.onnx'),
        }),
        (e: unknown) =>
          e instanceof CheckpointError &&
          e.code === 'InvalidExport' &&
          /non-finite F32 value/.test(e.message),
      );
      assert.deepEqual(await readdir(folder), []);
    }
  });
});
