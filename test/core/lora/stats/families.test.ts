import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeModuleStats } from '../../../../src/core/lora/stats/index.js';
import {
  assertClose,
  denseLowRankNorm,
  frobenius,
  matmul,
  memAdapter,
  moduleNamed,
  seeded,
  type MemTensor,
} from './statsKit.js';

const t = (name: string, shape: number[], seed: number, dtype?: MemTensor['dtype']): MemTensor => ({
  name,
  shape,
  values: seeded(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ),
  ...(dtype ? { dtype } : {}),
});
const scalar = (name: string, value: number): MemTensor => ({ name, shape: [], values: [value] });

describe('LoRA stats: hand-made families', () => {
  it('kohya conv 3×3 (down [r, in, 3, 3], up [out, r, 1, 1], F16): the matrix view of up·down', async () => {
    const p = 'lora_unet_down_blocks_0_resnets_0_conv1';
    const { ckpt, analysis } = await memAdapter([
      t(`${p}.lora_down.weight`, [4, 8, 3, 3], 1, 'F16'),
      t(`${p}.lora_up.weight`, [6, 4, 1, 1], 2, 'F16'),
      scalar(`${p}.alpha`, 2),
    ]);
    const m = moduleNamed(analysis, p);
    assert.deepEqual(
      [analysis.family, m.kind, m.label, m.scale],
      ['kohya', 'conv', 'conv 3×3', 0.5],
    );
    const s = await computeModuleStats(ckpt, m);
    const slow = await denseLowRankNorm(ckpt, m);
    assertClose(s.normUnscaled, slow, 1e-12, 'unscaled');
    assertClose(s.norm, slow * 0.5, 1e-12, 'scaled');
    assert.equal(s.spectrum?.singularValues.length, 4);
    assert.deepEqual(Object.keys(s.parts).sort(), ['alpha', 'down', 'up']);
    assert.equal(s.maxAbs['alpha'], 2);
  });

  it('kohya / LyCORIS Tucker conv: up · lora_mid[:, :, k] · down per kernel position', async () => {
    const p = 'lora_unet_mid_block_resnets_0_conv2';
    const [r, inF, out, k] = [3, 5, 4, 9];
    const { ckpt, analysis } = await memAdapter([
      t(`${p}.lora_down.weight`, [r, inF, 1, 1], 3),
      t(`${p}.lora_mid.weight`, [r, r, 3, 3], 4),
      t(`${p}.lora_up.weight`, [out, r, 1, 1], 5),
      scalar(`${p}.alpha`, 3),
    ]);
    const m = moduleNamed(analysis, p);
    assert.equal(m.label, 'conv 3×3 (Tucker)');
    const down = seeded(r * inF, 3);
    const mid = seeded(r * r * k, 4);
    const up = seeded(out * r, 5);
    let squared = 0;
    for (let pos = 0; pos < k; pos++) {
      const core = Array.from({ length: r * r }, (_, i) => mid[i * k + pos] as number);
      squared += frobenius(matmul(matmul(up, core, out, r, r), down, out, r, inF)) ** 2;
    }
    const s = await computeModuleStats(ckpt, m);
    assertClose(s.normUnscaled, Math.sqrt(squared), 1e-6, 'Tucker'); // F32 storage of the seeds
    assert.equal(s.spectrum, undefined);
  });

  it('sd-scripts split QKV (lora_down.0 / lora_up.0 …): the stacked outputs’ norms add in squares', async () => {
    const p = 'lora_unet_double_blocks_0_img_attn_qkv';
    const parts = [0, 1, 2].flatMap((i) => [
      t(`${p}.lora_down.${i}.weight`, [2, 6], 10 + i),
      t(`${p}.lora_up.${i}.weight`, [5, 2], 20 + i),
    ]);
    const { ckpt, analysis } = await memAdapter([...parts, scalar(`${p}.alpha`, 2)]);
    const m = moduleNamed(analysis, p);
    const squared = [0, 1, 2].reduce(
      (acc, i) => acc + frobenius(matmul(seeded(10, 20 + i), seeded(12, 10 + i), 5, 2, 6)) ** 2,
      0,
    );
    const s = await computeModuleStats(ckpt, m);
    assertClose(s.normUnscaled, Math.sqrt(squared), 1e-6, 'split');
    assert.equal(s.zeroB, false);
  });

  it('MLX: transposed a [in, r] / b [r, out]; scale from lora_parameters', async () => {
    const p = 'model.layers.0.self_attn.q_proj';
    const { ckpt, analysis } = await memAdapter(
      [t(`${p}.lora_a`, [16, 4], 30), t(`${p}.lora_b`, [4, 12], 31)],
      { configs: { 'adapter_config.json': { lora_parameters: { rank: 4, scale: 20 } } } },
    );
    const m = moduleNamed(analysis, p);
    assert.deepEqual([analysis.family, m.orientation, m.scale], ['mlx', 'transposed', 20]);
    const s = await computeModuleStats(ckpt, m);
    const slow = await denseLowRankNorm(ckpt, m);
    assertClose(s.normUnscaled, slow, 1e-12, 'unscaled');
    assertClose(s.norm, 20 * slow, 1e-12, 'scaled');
    assert.equal(s.spectrum?.singularValues.length, 4);
  });

  it('LyCORIS LoHa: ‖(w1a·w1b) ⊙ (w2a·w2b)‖ formed row by row; null above the size cap', async () => {
    const p = 'lora_unet_up_blocks_1_attentions_0_proj_out';
    const [out, r, inF] = [6, 3, 10];
    const { ckpt, analysis } = await memAdapter([
      t(`${p}.hada_w1_a`, [out, r], 40),
      t(`${p}.hada_w1_b`, [r, inF], 41),
      t(`${p}.hada_w2_a`, [out, r], 42),
      t(`${p}.hada_w2_b`, [r, inF], 43),
      scalar(`${p}.alpha`, 1.5),
    ]);
    const m = moduleNamed(analysis, p);
    assert.deepEqual([m.kind, m.scale], ['loha', 0.5]);
    const w1 = matmul(seeded(out * r, 40), seeded(r * inF, 41), out, r, inF);
    const w2 = matmul(seeded(out * r, 42), seeded(r * inF, 43), out, r, inF);
    const slow = frobenius(w1.map((x, i) => x * (w2[i] as number)));
    const s = await computeModuleStats(ckpt, m);
    assertClose(s.normUnscaled, slow, 1e-6, 'LoHa');
    assertClose(s.norm, 0.5 * (s.normUnscaled ?? NaN), 1e-15, 'scaled');

    const capped = await computeModuleStats(ckpt, m, { maxProductElements: out * inF - 1 });
    assert.equal(capped.norm, null);
    assert.match(capped.normNote ?? '', /LoHa delta has 60 elements, over the 59/);
    assert.equal(Object.keys(capped.parts).length, 5, 'part stats still come');
  });

  it('LyCORIS LoKr: ‖kron(W1, W2)‖ = ‖W1‖·‖W2‖ with W2 a low-rank pair', async () => {
    const p = 'lora_unet_mid_block_attentions_0_proj_in';
    const { ckpt, analysis } = await memAdapter([
      t(`${p}.lokr_w1`, [2, 3], 50),
      t(`${p}.lokr_w2_a`, [4, 2], 51),
      t(`${p}.lokr_w2_b`, [2, 5], 52),
      scalar(`${p}.alpha`, 4),
    ]);
    const m = moduleNamed(analysis, p);
    assert.deepEqual([m.kind, m.rank, m.scale], ['lokr', 2, 2]);
    const w1 = seeded(6, 50);
    const w2 = matmul(seeded(8, 51), seeded(10, 52), 4, 2, 5);
    // kron(W1 [2, 3], W2 [4, 5]) = [8, 15], formed element by element.
    const kron: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let a = 0; a < 4; a++)
        for (let j = 0; j < 3; j++)
          for (let b = 0; b < 5; b++)
            kron.push((w1[i * 3 + j] as number) * (w2[a * 5 + b] as number));
    const s = await computeModuleStats(ckpt, m);
    assertClose(s.normUnscaled, frobenius(kron), 1e-6, 'LoKr');
    assertClose(s.norm, 2 * frobenius(kron), 1e-6, 'LoKr scaled');
  });

  it('AdaLoRA: ΔW = B·(A ⊙ E)', async () => {
    const p = 'base_model.model.model.layers.0.self_attn.q_proj';
    const [r, inF, out] = [3, 8, 5];
    const { ckpt, analysis } = await memAdapter(
      [
        t(`${p}.lora_A`, [r, inF], 60),
        t(`${p}.lora_B`, [out, r], 61),
        t(`${p}.lora_E`, [r, 1], 62),
        scalar(`${p}.ranknum`, r),
      ],
      { configs: { 'adapter_config.json': { peft_type: 'ADALORA', r, lora_alpha: 6 } } },
    );
    const m = moduleNamed(analysis, p);
    assert.equal(m.kind, 'adalora');
    const a = seeded(r * inF, 60);
    const e = seeded(r, 62);
    const ae = a.map((x, i) => x * (e[Math.floor(i / inF)] as number));
    const s = await computeModuleStats(ckpt, m);
    assertClose(
      s.normUnscaled,
      frobenius(matmul(seeded(out * r, 61), ae, out, r, inF)),
      1e-6,
      'AdaLoRA',
    );
    assert.equal(s.spectrum?.singularValues.length, r);
  });

  it('full diff, norm diff: the stored tensor; (IA)³ / OFT: null with the reason', async () => {
    const { ckpt, analysis } = await memAdapter([
      t('lora_unet_a.diff', [6, 5], 70),
      t('lora_unet_a.diff_b', [6], 71),
      t('lora_unet_b.w_norm', [7], 72),
      t('lora_unet_c.weight', [9], 73),
      scalar('lora_unet_c.on_input', 0),
      t('lora_unet_d.oft_blocks', [2, 4, 4], 74),
    ]);
    const stats = await Promise.all(analysis.modules.map((m) => computeModuleStats(ckpt, m)));
    const by = Object.fromEntries(stats.map((s) => [s.module, s]));
    assertClose(by['lora_unet_a']?.norm, frobenius(seeded(30, 70)), 1e-6, 'diff');
    assert.match(by['lora_unet_a']?.normNote ?? '', /bias diff is parts.diff_b/);
    assertClose(by['lora_unet_a']?.parts['diff_b']?.norm, frobenius(seeded(6, 71)), 1e-6, 'diff_b');
    assertClose(by['lora_unet_b']?.norm, frobenius(seeded(7, 72)), 1e-6, 'w_norm');
    assert.deepEqual([by['lora_unet_c']?.kind, by['lora_unet_c']?.norm], ['ia3', null]);
    assert.match(by['lora_unet_c']?.normNote ?? '', /\(IA\)³ rescales the base weight/);
    assert.ok(by['lora_unet_c']?.parts['weight']?.mean !== undefined);
    assert.deepEqual([by['lora_unet_d']?.kind, by['lora_unet_d']?.norm], ['oft', null]);
    assert.match(by['lora_unet_d']?.normNote ?? '', /OFT rotates the base weight/);
  });
});
