import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExport } from '../../../../src/cli/mapCommands.js';
import { mergeAdapter } from '../../../../src/core/export/merge/index.js';
import { decodeValues } from '../../../../src/core/formats/decode.js';
import { isDType } from '../../../../src/core/formats/dtypes.js';
import { openPath } from '../../../../src/core/formats/index.js';

const FIX = join(__dirname, '../../../fixtures/convert');

/** Largest |ours − truth| over every tensor of the truth file (which holds only patched weights). */
async function maxDiff(
  mergedPath: string,
  truthPath: string,
): Promise<{ diff: number; n: number }> {
  const merged = await openPath(mergedPath);
  const truth = await openPath(truthPath);
  try {
    let diff = 0;
    for (const t of truth.tensors) {
      const m = merged.tensor(t.name);
      assert.deepEqual(m.shape, t.shape, t.name);
      assert.ok(isDType(t.dtype) && isDType(m.dtype));
      const a = decodeValues(await truth.readTensorBytes(t), t.dtype);
      const b = decodeValues(await merged.readTensorBytes(m), m.dtype);
      for (let i = 0; i < a.length; i++)
        diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    }
    return { diff, n: truth.tensors.length };
  } finally {
    await merged.close();
    await truth.close();
  }
}

describe('fused ↔ split export, merged against PEFT', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-convert-'));
    await mkdir(join(dir, 'to-phi3'));
    await mkdir(join(dir, 'to-llama'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('split → fused: a Llama LoRA (GQA, k missing in layer 1, rank/alpha patterns) onto Phi-3, within 1e-6', async () => {
    const out = join(dir, 'to-phi3', 'adapter_model.safetensors');
    const r = await runExport(join(FIX, 'llama_lora'), join(FIX, 'phi3'), { out, naming: 'peft' });
    assert.deepEqual(r.skipped, []);
    assert.equal(r.conversions.length, 4);
    const cfg = JSON.parse(await readFile(join(dir, 'to-phi3', 'adapter_config.json'), 'utf8')) as {
      rank_pattern: Record<string, number>;
      target_modules: string[];
    };
    assert.ok(cfg.target_modules.includes('model.layers.1.self_attn.qkv_proj'));
    const merged = join(dir, 'phi3-merged.safetensors');
    await mergeAdapter({
      adapterPath: join(dir, 'to-phi3'),
      basePath: join(FIX, 'phi3'),
      outPath: merged,
    });
    const { diff, n } = await maxDiff(merged, join(FIX, 'truth_phi3_from_llama_lora.safetensors'));
    assert.equal(n, 8);
    assert.ok(diff <= 1e-6, `max |diff| ${diff}`);
  });

  it('fused → split: a Phi-3 LoRA (qkv_proj, gate_up_proj) onto Llama, within 1e-6', async () => {
    const out = join(dir, 'to-llama', 'adapter_model.safetensors');
    const r = await runExport(join(FIX, 'phi3_lora'), join(FIX, 'llama'), { out, naming: 'peft' });
    assert.deepEqual(r.skipped, []);
    assert.equal(r.conversions.length, 4);
    const merged = join(dir, 'llama-merged.safetensors');
    await mergeAdapter({
      adapterPath: join(dir, 'to-llama'),
      basePath: join(FIX, 'llama'),
      outPath: merged,
    });
    const { diff, n } = await maxDiff(merged, join(FIX, 'truth_llama_from_phi3_lora.safetensors'));
    assert.equal(n, 14);
    assert.ok(diff <= 1e-6, `max |diff| ${diff}`);
  });
});
