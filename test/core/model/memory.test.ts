import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultLoraParameters,
  estimateMemory,
  QLORA_BITS_PER_PARAM,
  type MemoryEstimate,
  type MemoryFigure,
  type MemoryFigureId,
} from '../../../src/core/model/memory.js';
import { EMPTY_DIMS, type ModelDims } from '../../../src/core/model/types.js';

// Llama-3.1-8B config.json: hidden 4096, 32 layers, 32 heads, 8 KV heads, head dim 128, MLP 14336,
// vocab 128256, untied. 8,030,261,248 = 2 × 128256·4096 + 32 × (2·4096² + 2·4096·1024 + 3·4096·14336
// + 2·4096) + 4096.
const LLAMA_8B: ModelDims = {
  hiddenSize: 4096,
  numLayers: 32,
  numAttentionHeads: 32,
  numKeyValueHeads: 8,
  headDim: 128,
  intermediateSize: 14336,
  vocabSize: 128256,
  numExperts: 0,
  tiedEmbeddings: false,
};
const P_8B = 8_030_261_248;

function fig(e: MemoryEstimate, id: MemoryFigureId): MemoryFigure {
  const f = e.figures.find((x) => x.id === id);
  assert.ok(f, id);
  return f;
}

describe('estimateMemory', () => {
  it('the parameter count of Llama-3.1-8B follows from its dims', () => {
    const perLayer = 2 * 4096 ** 2 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096;
    assert.equal(2 * 128256 * 4096 + 32 * perLayer + 4096, P_8B);
  });

  it('Llama-3.1-8B: weights at fp32 / bf16 / int8 / int4', () => {
    const e = estimateMemory({ parameterCount: P_8B, dims: LLAMA_8B });
    assert.equal(fig(e, 'weights-bf16').bytes, 16_060_522_496);
    assert.equal(fig(e, 'weights-fp32').bytes, 32_121_044_992);
    assert.equal(fig(e, 'weights-int8').bytes, 8_030_261_248);
    assert.equal(fig(e, 'weights-int4').bytes, 4_015_130_624);
    assert.equal(
      fig(e, 'weights-bf16').formula,
      '8,030,261,248 params × 2 B = 16,060,522,496 B (14.96 GiB)',
    );
    assert.match(fig(e, 'weights-int4').note ?? '', /scales/);
  });

  it('Llama-3.1-8B KV cache: 32 × 8 × 128 × 2 × 2 = 131,072 B = 128 KiB per token', () => {
    const e = estimateMemory({ parameterCount: P_8B, dims: LLAMA_8B });
    const perToken = fig(e, 'kv-cache-per-token');
    assert.equal(perToken.bytes, 131_072);
    assert.equal(
      perToken.formula,
      '32 layers × 8 KV heads × 128 head dim × 2 (K and V) × 2 bytes = 131,072 B (128 KiB)',
    );
    const k = fig(e, 'kv-cache-1k');
    assert.equal(k.bytes, 131_072_000);
    assert.equal(
      k.formula,
      '32 layers × 8 KV heads × 128 head dim × 2 (K and V) × 2 bytes × 1,000 tokens = 131,072,000 B (125 MiB)',
    );
  });

  it('head dim from hidden / heads when the file does not give it', () => {
    const e = estimateMemory({ parameterCount: P_8B, dims: { ...LLAMA_8B, headDim: null } });
    const k = fig(e, 'kv-cache-1k');
    assert.equal(k.bytes, 131_072_000);
    assert.match(k.formula, /128 head dim \(4,096 hidden ÷ 32 heads\)/);
  });

  it('KV cache is null, with a reason, when a dimension is missing', () => {
    const e = estimateMemory({
      parameterCount: P_8B,
      dims: { ...LLAMA_8B, numKeyValueHeads: null },
    });
    const k = fig(e, 'kv-cache-1k');
    assert.equal(k.bytes, null);
    assert.equal(k.reason, 'number of KV heads not determined');
    const none = estimateMemory({ parameterCount: 10, dims: EMPTY_DIMS });
    assert.equal(fig(none, 'kv-cache-per-token').reason, 'number of layers not determined');
  });

  it('full fine-tune: 16 B per parameter, activations excluded', () => {
    const f = fig(estimateMemory({ parameterCount: P_8B, dims: LLAMA_8B }), 'train-full');
    assert.equal(f.bytes, P_8B * 16);
    assert.equal(f.bytes, 128_484_179_968);
    assert.match(f.note ?? '', /activations excluded/);
  });

  it('default LoRA: rank 16 on q, k, v, o, gate, up, down = 41,943,040 trainable (as PEFT prints for Llama-3-8B)', () => {
    // per layer 16 × (7·4096 + 2·4096 + 2·1024 + 3·14336) = 16 × 81,920 = 1,310,720; × 32 layers.
    assert.equal(defaultLoraParameters(LLAMA_8B), 41_943_040);
    const e = estimateMemory({ parameterCount: P_8B, dims: LLAMA_8B });
    assert.equal(e.trainableSource, 'default');
    assert.equal(e.trainableParameters, 41_943_040);
    const lora = fig(e, 'train-lora');
    assert.match(lora.label, /default: rank 16/);
    assert.equal(lora.bytes, 16_060_522_496 + 41_943_040 * 16);
  });

  it('QLoRA: NF4 + double quant ≈ 4.127 bit on the linears, embedding and lm_head at bf16', () => {
    assert.equal(QLORA_BITS_PER_PARAM, 4 + 8 / 64 + 32 / (64 * 256));
    const q = fig(estimateMemory({ parameterCount: P_8B, dims: LLAMA_8B }), 'train-qlora');
    const kept = 128256 * 4096 * 2;
    // (8,030,261,248 − 1,050,673,152) × 2113/4096 B = 3,600,554,113 B (rounded up).
    assert.equal(q.bytes, 3_600_554_113 + kept * 2 + 41_943_040 * 16);
    assert.match(q.formula, /6,979,588,096 params × 4\.127 bit/);
  });

  it('an adapter replaces the default: its trainable count and rank', () => {
    const e = estimateMemory({
      parameterCount: 1000,
      dims: EMPTY_DIMS,
      adapter: { trainableParameters: 100, rank: 8 },
    });
    assert.equal(e.trainableSource, 'adapter');
    const lora = fig(e, 'train-lora');
    assert.equal(lora.label, 'LoRA (this adapter, rank 8)');
    assert.equal(lora.bytes, 1000 * 2 + 100 * 16);
    // Without vocab / hidden size every parameter is counted at 4.127 bit.
    assert.equal(fig(e, 'train-qlora').bytes, Math.ceil((1000 * 2113) / 4096) + 1600);
  });

  it('no adapter and no dims: LoRA / QLoRA null with the reason', () => {
    const e = estimateMemory({ parameterCount: 1000, dims: EMPTY_DIMS });
    assert.equal(e.trainableParameters, null);
    const lora = fig(e, 'train-lora');
    assert.equal(lora.bytes, null);
    assert.match(lora.reason ?? '', /default LoRA size not determined/);
    assert.equal(fig(e, 'train-qlora').bytes, null);
  });

  it('MoE: the default LoRA covers every expert', () => {
    const d: ModelDims = { ...LLAMA_8B, numLayers: 1, numExperts: 8 };
    const attention = 4096 + 4096 + 2 * (4096 + 1024) + (4096 + 4096);
    assert.equal(defaultLoraParameters(d), 16 * (attention + 8 * 3 * (4096 + 14336)));
  });
});
