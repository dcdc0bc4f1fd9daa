import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  decodeValues,
  openPath,
  READERS,
  type Checkpoint,
  type DType,
  type PlainValue,
  type TensorRole,
} from '../../../src/core/formats/index.js';
import { analyzeLora, type LoraAnalysis } from '../../../src/core/lora/index.js';
import { infoFrom, LORA_FIXTURES, readJson, REPO } from './loraTestInfo.js';

/** What PEFT itself computed, written by scripts/fixtures/lora/generate.py. */
interface PeftExpected {
  modules: Record<
    string,
    { r: number; lora_alpha: number; scaling: number; kind: string; dora: boolean }
  >;
  tensors: Record<string, { dtype: string; shape: number[] }>;
}

interface CheckpointExpected extends Omit<PeftExpected, 'tensors'> {
  tensors: { name: string; dtype: string; shape: number[]; role: TensorRole }[];
  values: Record<string, PlainValue>;
}

async function analyzePath(path: string): Promise<LoraAnalysis> {
  const ckpt: Checkpoint = await openPath(path);
  try {
    return await analyzeLora(ckpt, {
      readScalar: async (name) => {
        const t = ckpt.tensor(name);
        return decodeValues(await ckpt.readTensorBytes(t), t.dtype as DType)[0] ?? NaN;
      },
    });
  } finally {
    await ckpt.close();
  }
}

/** Every module PEFT adapted is found with PEFT's r, lora_alpha and scaling, and nothing else is. */
function assertMatchesPeft(a: LoraAnalysis, expected: PeftExpected['modules']): void {
  assert.equal(a.family, 'peft');
  assert.deepEqual(a.modules.map((m) => m.target).sort(), Object.keys(expected).sort());
  for (const m of a.modules) {
    const e = expected[m.target];
    assert.ok(e, m.target);
    assert.equal(m.rank, e.r, `${m.target} rank`);
    assert.equal(m.alpha, e.lora_alpha, `${m.target} alpha`);
    assert.equal(m.scale, e.scaling, `${m.target} scale`);
    assert.equal(m.kind, e.kind, `${m.target} kind`);
    assert.equal(m.dora !== undefined, e.dora, `${m.target} dora`);
  }
}

describe('LoRA analysis: PEFT adapters written by peft 0.21', () => {
  for (const name of ['peft-plain', 'peft-rslora-patterns', 'peft-dora', 'peft-embedding']) {
    it(`${name}: rank, alpha and scale per module equal PEFT's`, async () => {
      const expected = readJson<PeftExpected>(join(LORA_FIXTURES, `${name}.expected.json`));
      const a = await analyzePath(join(LORA_FIXTURES, name));
      assertMatchesPeft(a, expected.modules);
      const covered = [
        ...a.modules.flatMap((m) => m.tensors),
        ...a.nonLora.filter((e) => e.source === 'tensor').map((e) => e.name),
      ];
      assert.deepEqual(covered.sort(), Object.keys(expected.tensors).sort());
    });
  }

  it('plain: targets drop base_model.model., A [r, in] / B [out, r] give in/out features', async () => {
    const a = await analyzePath(join(LORA_FIXTURES, 'peft-plain'));
    const v = a.modules.find((m) => m.target === 'model.layers.0.self_attn.v_proj');
    assert.deepEqual(
      [
        v?.name,
        v?.orientation,
        v?.inFeatures,
        v?.outFeatures,
        v?.scaleRule,
        v?.alphaOrigin,
        v?.layer,
      ],
      [
        'base_model.model.model.layers.0.self_attn.v_proj',
        'standard',
        64,
        32,
        'alpha/r',
        'adapter_config',
        { stack: 'model.layers', index: 0 },
      ],
    );
    assert.deepEqual(a.summary.targets, [
      { value: 'down_proj', count: 2 },
      { value: 'q_proj', count: 2 },
      { value: 'v_proj', count: 2 },
    ]);
    assert.deepEqual(a.summary.layers, [{ stack: 'model.layers', indices: [0, 1] }]);
    assert.deepEqual(a.summary.dtypes, [{ value: 'F32', count: 12 }]);
    assert.deepEqual(a.warnings, []);
  });

  it('rsLoRA + patterns: the first matching pattern wins, scale is alpha/sqrt(r)', async () => {
    const a = await analyzePath(join(LORA_FIXTURES, 'peft-rslora-patterns'));
    const q1 = a.modules.find((m) => m.target === 'model.layers.1.self_attn.q_proj');
    // Both "model.layers.1.self_attn.q_proj" and "q_proj" match; PEFT takes the first key.
    assert.deepEqual([q1?.rank, q1?.scaleRule], [2, 'alpha/sqrt(r)']);
    assert.equal(
      q1?.alphaSources[0]?.note,
      'r from rank_pattern[model.layers.1.self_attn.q_proj] = 2, use_rslora',
    );
    const k1 = a.modules.find((m) => m.target === 'model.layers.1.self_attn.k_proj');
    assert.deepEqual(
      [k1?.alpha, k1?.alphaOrigin, k1?.alphaSources[0]?.key],
      [4, 'alpha_pattern', 'adapter_config.json: alpha_pattern[layers\\.1\\..*k_proj]'],
    );
    assert.deepEqual(a.warnings, ['rank varies: 2 ×1, 4 ×1, 8 ×4 (rank_pattern)']);
  });

  it('DoRA: lora_magnitude_vector [out] is part of its module', async () => {
    const a = await analyzePath(join(LORA_FIXTURES, 'peft-dora'));
    const v = a.modules.find((m) => m.target === 'model.layers.0.self_attn.v_proj');
    assert.deepEqual(v?.dora, {
      tensor: 'base_model.model.model.layers.0.self_attn.v_proj.lora_magnitude_vector',
      axis: 'out',
    });
    assert.deepEqual([v?.label, v?.outFeatures, v?.tensors.length], ['DoRA linear', 32, 3]);
    assert.deepEqual(a.nonLora, []);
  });

  it('embedding LoRA: lora_embedding_A [r, vocab] / B [dim, r]; lm_head copy and full embedding classified', async () => {
    const a = await analyzePath(join(LORA_FIXTURES, 'peft-embedding'));
    const e = a.modules.find((m) => m.target === 'model.embed_tokens');
    assert.deepEqual([e?.kind, e?.rank, e?.inFeatures, e?.outFeatures], ['embedding', 4, 256, 64]);
    assert.deepEqual(e?.parts, {
      down: 'base_model.model.model.embed_tokens.lora_embedding_A',
      up: 'base_model.model.model.embed_tokens.lora_embedding_B',
    });
    assert.deepEqual(a.nonLora, [
      {
        name: 'base_model.model.lm_head.weight',
        reason: 'full copy of lm_head (adapter_config modules_to_save)',
        category: 'modules-to-save',
        source: 'tensor',
      },
      {
        name: 'base_model.model.model.embed_tokens.base_layer.weight',
        reason:
          'full embedding / output weights saved beside the adapter (embedding layer targeted or vocabulary resized)',
        category: 'embedding',
        source: 'tensor',
      },
    ]);
  });

  it('the committed samples/tiny-llama-lora: r=8, alpha=16, scale 2 on 8 modules', async () => {
    const a = await analyzePath(join(REPO, 'samples/tiny-llama-lora'));
    assert.equal(a.family, 'peft');
    assert.deepEqual(a.summary.scales, [{ value: 2, count: 8 }]);
    assert.deepEqual(a.summary.targets, [
      { value: 'k_proj', count: 2 },
      { value: 'o_proj', count: 2 },
      { value: 'q_proj', count: 2 },
      { value: 'v_proj', count: 2 },
    ]);
  });

  it('a base model is not an adapter: family none, its weights one non-LoRA entry', async () => {
    const a = await analyzePath(join(REPO, 'samples/tiny-llama'));
    assert.deepEqual([a.family, a.modules.length, a.warnings], ['none', 0, []]);
    assert.deepEqual(a.evidence, ['no adapter tensor names among 21 tensors']);
    assert.deepEqual(a.nonLora, [
      {
        name: '*',
        reason: 'model weights: this file holds no adapter',
        category: 'full-weight',
        source: 'tensor',
        count: 21,
      },
    ]);
  });
});

describe('LoRA analysis: a torch.save training checkpoint with AdamW state', () => {
  const expected = readJson<CheckpointExpected>(
    join(LORA_FIXTURES, 'training-checkpoint.ckpt.expected.json'),
  );
  const torchRegistered = READERS.some((r) => r.format === 'torch');

  async function analyzeCheckpoint(): Promise<LoraAnalysis> {
    if (torchRegistered) return analyzePath(join(LORA_FIXTURES, 'training-checkpoint.ckpt'));
    // No torch reader registered yet: the same header facts, as generate.py recorded them from torch.load.
    const shapes = Object.fromEntries(expected.tensors.map((t) => [t.name, t.shape]));
    const dtypes = Object.fromEntries(expected.tensors.map((t) => [t.name, t.dtype]));
    const roles = Object.fromEntries(expected.tensors.map((t) => [t.name, t.role]));
    return analyzeLora(
      infoFrom(shapes, { dtypes, roles, values: expected.values, format: 'torch' }),
    );
  }

  it(`PEFT modules under the "model." wrapper, optimizer state classified (${torchRegistered ? 'torch reader' : 'header built from the expected facts'})`, async () => {
    const a = await analyzeCheckpoint();
    assert.equal(a.family, 'peft');
    assert.ok(
      a.evidence.includes('keys wrapped in "model." (a training checkpoint\'s state dict)'),
    );
    assert.deepEqual(
      a.modules.map((m) => [m.target, m.rank]),
      Object.entries(expected.modules).map(([k, v]) => [k, v.r]),
    );
    // No adapter_config.json beside a .ckpt: the scale is unknown, and said so.
    assert.deepEqual(
      [a.modules[0]?.alpha, a.modules[0]?.scale, a.modules[0]?.alphaOrigin],
      [null, null, 'unknown'],
    );

    const tensorEntries = a.nonLora.filter((e) => e.source === 'tensor');
    assert.equal(tensorEntries.length, 25);
    assert.deepEqual(
      tensorEntries.slice(0, 3).map((e) => [e.name, e.category, e.reason]),
      [
        ['optimizer.state.0.step', 'optimizer', 'optimizer step counter (per-parameter state)'],
        ['optimizer.state.0.exp_avg', 'optimizer', 'optimizer state (exp_avg)'],
        ['optimizer.state.0.exp_avg_sq', 'optimizer', 'optimizer state (exp_avg_sq)'],
      ],
    );
    assert.deepEqual(tensorEntries.at(-1), {
      name: 'global_step',
      reason: 'training global_step counter',
      category: 'step-counter',
      source: 'tensor',
    });
    assert.deepEqual(
      a.nonLora.filter((e) => e.source === 'value').map((e) => [e.name, e.category, e.count]),
      [
        ['optimizer.*', 'optimizer', 13],
        ['lr_scheduler.*', 'scheduler', 8],
        ['step', 'step-counter', 1],
        ['epoch', 'step-counter', 1],
      ],
    );
  });
});
