/**
 * fused ↔ split export across GPT-2 (Conv1D c_attn), GPT-NeoX (query_key_value grouped per head) and
 * Flux (diffusers to_q/k/v/proj_mlp ↔ BFL linear1 and qkv), against truths recorded by
 * scripts/fixtures/convert/generate_architectures.py (float64 numpy, layouts as the models' own code
 * reads them) and check_architectures_with_peft.py (PEFT's merge_and_unload of our export).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExport, type ExportJson } from '../../../../src/cli/mapCommands.js';
import { runMerge } from '../../../../src/cli/mergeCommand.js';
import type { ExportNaming } from '../../../../src/core/mapping/export/index.js';
import { decodeValues } from '../../../../src/core/formats/decode.js';
import { isDType } from '../../../../src/core/formats/dtypes.js';
import { openPath, type Checkpoint } from '../../../../src/core/formats/index.js';

const FIX = join(__dirname, '../../../fixtures/convert');
const BASE_FILE: Readonly<Record<string, string>> = {
  flux_bfl: 'flux_bfl/model.safetensors',
  flux_diffusers: 'flux_diffusers/diffusion_pytorch_model.safetensors',
};

async function values(c: Checkpoint, name: string): Promise<Float64Array> {
  const t = c.tensor(name);
  assert.ok(isDType(t.dtype), `${name} ${t.dtype}`);
  return decodeValues(await c.readTensorBytes(t), t.dtype);
}

/**
 * Largest |got − truth| over the truth file's tensors, where got is the merged weight, or with
 * `delta` the merged weight less the base's.
 */
async function maxDiff(
  mergedPath: string,
  truthName: string,
  basePath?: string,
): Promise<{ diff: number; n: number }> {
  const merged = await openPath(mergedPath);
  const truth = await openPath(join(FIX, truthName));
  const base = basePath ? await openPath(basePath) : null;
  try {
    let diff = 0;
    for (const t of truth.tensors) {
      assert.deepEqual(merged.tensor(t.name).shape, t.shape, t.name);
      const want = await values(truth, t.name);
      const got = await values(merged, t.name);
      const sub = base ? await values(base, t.name) : null;
      for (let i = 0; i < want.length; i++) {
        const g = (got[i] as number) - (sub ? (sub[i] as number) : 0);
        diff = Math.max(diff, Math.abs(g - (want[i] as number)));
      }
    }
    return { diff, n: truth.tensors.length };
  } finally {
    await merged.close();
    await truth.close();
    await base?.close();
  }
}

describe('fused ↔ split export across architectures, against PEFT and float64 truths', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-convert-arch-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Exports `adapter` onto `base` in `naming`, then merges the export into the base (F32). */
  async function exportAndMerge(
    adapter: string,
    base: string,
    naming: ExportNaming,
  ): Promise<{ j: ExportJson; merged: string }> {
    const out = join(dir, `${adapter}-${naming}`);
    await mkdir(out);
    const j = await runExport(join(FIX, adapter), join(FIX, base), {
      out: join(out, 'adapter_model.safetensors'),
      naming,
    });
    assert.deepEqual(j.skipped, []);
    const merged = join(dir, `${adapter}-${naming}-merged.safetensors`);
    const r = await runMerge(naming === 'peft' ? out : j.out, join(FIX, base), {
      out: merged,
      dtype: 'F32',
    });
    assert.ok(r.patched.length > 0);
    return { j, merged };
  }

  const layouts = (j: ExportJson) => j.conversions.map((c) => `${c.kind} ${c.layout}`);

  it('GPT-2: a split Llama q/k/v LoRA fused onto Conv1D c_attn ([in, out]) equals PEFT and numpy within 1e-6', async () => {
    const { j, merged } = await exportAndMerge('gpt2_split_lora', 'gpt2', 'peft');
    assert.deepEqual(layouts(j), [
      'fuse contiguous rows of 96',
      'fuse contiguous rows of 96; k not adapted (zero rows)',
    ]);
    assert.ok(j.conversions[0]?.rescaled.length === 2);
    for (const truth of [
      'truth_gpt2_from_split.safetensors',
      'truth_peft_gpt2_split_lora.safetensors',
    ]) {
      const { diff, n } = await maxDiff(merged, truth);
      assert.equal(n, 2);
      assert.ok(diff <= 1e-6, `${truth}: max |diff| ${diff}`);
    }
  });

  it('GPT-2: a PEFT c_attn LoRA (fan_in_fan_out) split onto Llama q/k/v within 1e-6', async () => {
    const { j, merged } = await exportAndMerge('gpt2_fused_lora', 'llama32', 'peft');
    assert.deepEqual(layouts(j), [
      'split q 32 + k 32 + v 32, contiguous',
      'split q 32 + k 32 + v 32, contiguous',
    ]);
    for (const truth of [
      'truth_llama32_from_fused.safetensors',
      'truth_peft_gpt2_fused_lora.safetensors',
    ]) {
      const { diff, n } = await maxDiff(merged, truth);
      assert.equal(n, 6);
      assert.ok(diff <= 1e-6, `${truth}: max |diff| ${diff}`);
    }
  });

  it('GPT-NeoX: q/k/v_proj fused onto query_key_value by the per-head permutation within 1e-6', async () => {
    const { j, merged } = await exportAndMerge('neox_split_lora', 'neox', 'peft');
    const grouped = 'q 32 + k 32 + v 32, grouped per KV head (4 groups × head_dim 8)';
    assert.deepEqual(layouts(j), [`fuse ${grouped}`, `fuse ${grouped}; k not adapted (zero rows)`]);
    for (const truth of [
      'truth_neox_from_split.safetensors',
      'truth_peft_neox_split_lora.safetensors',
    ]) {
      const { diff, n } = await maxDiff(merged, truth);
      assert.equal(n, 2);
      assert.ok(diff <= 1e-6, `${truth}: max |diff| ${diff}`);
    }
  });

  it('GPT-NeoX: a PEFT query_key_value LoRA split per head onto q/k/v_proj within 1e-6', async () => {
    const { j, merged } = await exportAndMerge('neox_fused_lora', 'neox_split', 'peft');
    const grouped = 'split q 32 + k 32 + v 32, grouped per KV head (4 groups × head_dim 8)';
    assert.deepEqual(layouts(j), [grouped, grouped]);
    for (const truth of [
      'truth_neox_split_from_fused.safetensors',
      'truth_peft_neox_fused_lora.safetensors',
    ]) {
      const { diff, n } = await maxDiff(merged, truth);
      assert.equal(n, 6);
      assert.ok(diff <= 1e-6, `${truth}: max |diff| ${diff}`);
    }
  });

  for (const naming of ['kohya', 'peft'] as const)
    it(`Flux: a diffusers LoRA fused onto BFL linear1 [q;k;v;mlp] and img/txt qkv (${naming}): ΔW equals s·B·A within 1e-6`, async () => {
      const { j, merged } = await exportAndMerge('flux_diffusers_lora', 'flux_bfl', naming);
      assert.equal(j.conversions.length, 6);
      assert.ok(
        j.conversions.some(
          (c) => c.fused === 'single_blocks.1.linear1.weight' && /v not adapted/.test(c.layout),
        ),
      );
      const { diff, n } = await maxDiff(
        merged,
        'truth_flux_bfl_delta.safetensors',
        join(FIX, BASE_FILE.flux_bfl ?? ''),
      );
      assert.equal(n, 6);
      assert.ok(diff <= 1e-6, `max |diff| ${diff}`);
    });

  for (const naming of ['diffusers', 'peft'] as const)
    it(`Flux: a kohya BFL linear1 / qkv LoRA split onto diffusers to_q/k/v/proj_mlp (${naming}): ΔW within 1e-6`, async () => {
      const { j, merged } = await exportAndMerge('flux_bfl_lora', 'flux_diffusers', naming);
      assert.equal(j.conversions.length, 6);
      assert.ok(j.conversions.every((c) => c.kind === 'split'));
      const { diff, n } = await maxDiff(
        merged,
        'truth_flux_diffusers_delta.safetensors',
        join(FIX, BASE_FILE.flux_diffusers ?? ''),
      );
      assert.equal(n, 20);
      assert.ok(diff <= 1e-6, `max |diff| ${diff}`);
    });
});
