/**
 * VB-LoRA against PEFT 0.21 (test/fixtures/methods/vblora, vblora-topk): A and B rebuilt from the
 * shared vector bank by the softmax of the top-k logits equal merge_and_unload() and the unmerged
 * forward, in both saved layouts (full logits, and save_only_topk_weights).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { effectOnWeight } from '../../../../src/core/export/merge/effects.js';
import type { Checkpoint } from '../../../../src/core/formats/checkpoint.js';
import { decodeValues } from '../../../../src/core/formats/decode.js';
import type { DType } from '../../../../src/core/formats/dtypes.js';
import { CheckpointError } from '../../../../src/core/formats/errors.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { readFloat64 } from '../../../../src/core/formats/quant/readFloat.js';
import { analyzeLoraSync } from '../../../../src/core/lora/analyze.js';
import { effectInputs } from '../../../../src/core/lora/methods/effectInputs.js';
import { vblora } from '../../../../src/core/lora/methods/vblora.js';
import {
  buildSafetensors,
  f32Bytes,
  type TensorSpec,
} from '../../../helpers/safetensorsBuilder.js';
import { tensorPart } from '../../../../src/core/lora/tensorParts.js';
import {
  analysisOf,
  assertPeftFixture,
  copyWithConfig,
  expectedOf,
  FIX,
  firstEffectError,
  shapeWarning,
  withOpen,
} from './effectFixture.js';

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d += ((a[i] as number) - (b[i] as number)) ** 2;
    s += (b[i] as number) ** 2;
  }
  return Math.sqrt(d) / (Math.sqrt(s) || 1);
}

describe('VB-LoRA (PEFT 0.21 fixtures)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-vblora-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('names the logits and top-k parts, not the global bank', () => {
    const q = 'base_model.model.model.layers.0.self_attn.q_proj';
    for (const s of ['logits_A', 'logits_B', 'logits_A_topk_indices', 'logits_B_topk_weights']) {
      const p = tensorPart(`${q}.vblora_${s}`);
      assert.deepEqual([p?.module, p?.part], [q, `vblora_${s}`]);
    }
    assert.equal(tensorPart('base_model.vblora_vector_bank'), undefined);
  });

  it('vblora: effect = merge_and_unload() and the unmerged forward', async () => {
    await assertPeftFixture('vblora', 'vblora');
  });

  it('reports rank, features, settings and the shared bank', async () => {
    const a = await analysisOf(`${FIX}/vblora`);
    const q = a.modules.find((m) => m.target.endsWith('self_attn.k_proj'));
    assert.equal(q?.rank, 4);
    assert.equal(q?.inFeatures, 64);
    assert.equal(q?.outFeatures, 32);
    assert.equal(q?.scale, 1);
    assert.equal(q?.label, 'VB-LoRA (top-2 of 32 vectors)');
    assert.deepEqual(q?.method?.settings, {
      topk: 2,
      num_vectors: 32,
      vector_length: 16,
      save_only_topk_weights: false,
    });
    assert.deepEqual(q?.method?.shared, { vector_bank: 'base_model.vblora_vector_bank' });
  });

  it('vblora-topk: the saved top-k indices and weights give PEFT merge and forward', async () => {
    const dir = `${FIX}/vblora-topk`;
    const adapter = await openPath(dir);
    const base = await openPath(`${FIX}/base`);
    const merged = await openPath(join(dir, 'merged.safetensors'));
    const forward = await openPath(join(dir, 'forward.safetensors'));
    try {
      const analysis = analyzeLoraSync(adapter);
      assert.equal(analysis.modules.length, expectedOf('vblora-topk').modules);
      assert.ok(
        !analysis.warnings.some((w) => w.startsWith('shape')),
        analysis.warnings.join('\n'),
      );
      for (const m of analysis.modules) {
        assert.equal(m.method?.id, 'vblora');
        assert.equal(m.method?.settings?.['save_only_topk_weights'], true);
        const t = base.tensor(`${m.target}.weight`);
        const [out = 0, inF = 0] = t.shape;
        const effect = await vblora.effect?.(m, effectInputs(adapter, t.shape));
        assert.ok(effect);
        const w = effectOnWeight(effect, await readFloat64(base, t.name), out, inF);
        const truth = await readFloat64(merged, t.name);
        assert.ok(relError(w, truth) <= 1e-5, `${m.target}: merged ${relError(w, truth)}`);
        const x = await readFloat64(forward, `${m.target}.x`);
        const y = await readFloat64(forward, `${m.target}.y`);
        const ours = new Float64Array(y.length);
        for (let r = 0; r < x.length / inF; r++)
          for (let o = 0; o < out; o++) {
            let s = 0;
            for (let i = 0; i < inF; i++)
              s += (x[r * inF + i] as number) * (w[o * inF + i] as number);
            ours[r * out + o] = s;
          }
        assert.ok(relError(ours, y) <= 1e-5, `${m.target}: forward ${relError(ours, y)}`);
      }
    } finally {
      for (const c of [adapter, base, merged, forward]) await c.close();
    }
  });

  it('vblora-topk with float indices: a named error about the index tensor', async () => {
    const dir = copyWithConfig('vblora-topk', join(tmp, 'float-idx'), {});
    const file = join(dir, 'adapter_model.safetensors');
    const specs = await withOpen([file], async ([cp]) => {
      const out: TensorSpec[] = [];
      for (const t of (cp as Checkpoint).tensors) {
        const bytes = await (cp as Checkpoint).readTensorBytes(t);
        const asFloat = t.name.endsWith('_topk_indices');
        out.push({
          name: t.name,
          dtype: asFloat ? 'F32' : t.dtype,
          shape: [...t.shape],
          data: asFloat
            ? f32Bytes([...decodeValues(bytes, t.dtype as DType)])
            : Uint8Array.from(bytes),
        });
      }
      return out;
    });
    writeFileSync(file, buildSafetensors(specs, { format: 'pt' }));
    const e = await firstEffectError(dir);
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, /_topk_indices is F32, not an integer index tensor/);
  });

  it('a config topk beyond the bank is a shape problem and an effect error', async () => {
    const dir = copyWithConfig('vblora', join(tmp, 'k64'), { topk: 64 });
    assert.match(await shapeWarning(dir), /topk 64 does not fit a 32-vector bank/);
    const e = await firstEffectError(dir);
    assert.ok(e instanceof CheckpointError);
    assert.equal(e.code, 'InvalidExport');
  });

  it('a bank that disagrees with the config is a shape problem', async () => {
    const dir = copyWithConfig('vblora', join(tmp, 'len'), { vector_length: 8 });
    assert.match(
      await shapeWarning(dir),
      /vector_length 8 do not match vblora_vector_bank \[32, 16\]/,
    );
  });
});
