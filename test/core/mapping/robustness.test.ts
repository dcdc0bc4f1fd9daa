import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assignGreedy,
  assignMaxWeight,
  canonicalName,
  mapAdapter,
  unflatten,
} from '../../../src/core/mapping/index.js';
import { baseFrom, kohyaAdapter, peftAdapter, targets } from './mappingTestKit.js';

const LLAMA = baseFrom({
  'model.layers.0.self_attn.q_proj.weight': [64, 64],
  'model.layers.0.self_attn.k_proj.weight': [32, 64],
  'model.layers.0.self_attn.v_proj.weight': [32, 64],
  'model.layers.0.self_attn.o_proj.weight': [64, 64],
  'model.layers.0.mlp.gate_proj.weight': [128, 64],
  'model.layers.0.mlp.up_proj.weight': [128, 64],
  'model.layers.0.mlp.down_proj.weight': [64, 128],
  'model.layers.1.self_attn.q_proj.weight': [64, 64],
});

describe('canonical names', () => {
  it('strips wrappers and applies synonyms', () => {
    const a = canonicalName('base_model.model.model.layers.3.self_attn.q_proj');
    const b = canonicalName('layers.3.attention.wq');
    assert.equal(a.key, b.key);
    assert.deepEqual(a.indices, [3]);
    assert.equal(a.role, '@q');
  });
  it('un-flattens kohya names with a vocabulary', () => {
    const vocab = new Set(['down_blocks', 'attentions', 'proj_in', 'transformer_blocks', 'to_q']);
    assert.equal(
      unflatten('down_blocks_0_attentions_1_proj_in', vocab),
      'down_blocks.0.attentions.1.proj_in',
    );
  });
});

describe('synthetic renamings', () => {
  it('maps Meta/other naming (attention.wq, feed_forward.w1) onto transformers names', () => {
    const r = mapAdapter(
      peftAdapter({
        'layers.0.attention.wq': [64, 64],
        'layers.0.attention.wk': [64, 32],
        'layers.0.attention.wo': [64, 64],
        'layers.0.feed_forward.w1': [64, 128],
        'layers.0.feed_forward.w2': [128, 64],
        'layers.0.feed_forward.w3': [64, 128],
      }),
      LLAMA,
    );
    const got = targets(r);
    assert.equal(
      got.get('base_model.model.layers.0.attention.wq'),
      'model.layers.0.self_attn.q_proj.weight',
    );
    assert.equal(
      got.get('base_model.model.layers.0.feed_forward.w1'),
      'model.layers.0.mlp.gate_proj.weight',
    );
    assert.equal(
      got.get('base_model.model.layers.0.feed_forward.w3'),
      'model.layers.0.mlp.up_proj.weight',
    );
    for (const m of r.mappings) assert.equal(m.level, 'high', m.reason);
  });

  it('maps kohya-flattened LLM names', () => {
    const r = mapAdapter(
      kohyaAdapter({ lora_unet_model_layers_0_self_attn_k_proj: [64, 32] }),
      LLAMA,
    );
    assert.equal(r.mappings[0]?.target, 'model.layers.0.self_attn.k_proj.weight');
    assert.equal(r.mappings[0]?.level, 'high');
  });

  it('q/k/v and gate/up find row slices of fused qkv_proj / gate_up_proj (Phi-3 layout, GQA)', () => {
    const base = baseFrom({
      'model.layers.0.self_attn.qkv_proj.weight': [128, 64],
      'model.layers.0.mlp.gate_up_proj.weight': [256, 64],
    });
    const r = mapAdapter(
      peftAdapter({
        'model.layers.0.self_attn.q_proj': [64, 64],
        'model.layers.0.self_attn.k_proj': [64, 32],
        'model.layers.0.self_attn.v_proj': [64, 32],
        'model.layers.0.mlp.gate_proj': [64, 128],
        'model.layers.0.mlp.up_proj': [64, 128],
      }),
      base,
    );
    const slices = new Map(r.mappings.map((m) => [m.module.split('.').pop(), m.slice]));
    assert.deepEqual(slices.get('q_proj'), { axis: 0, start: 0, end: 64 });
    assert.deepEqual(slices.get('k_proj'), { axis: 0, start: 64, end: 96 });
    assert.deepEqual(slices.get('v_proj'), { axis: 0, start: 96, end: 128 });
    assert.deepEqual(slices.get('gate_proj'), { axis: 0, start: 0, end: 128 });
    assert.deepEqual(slices.get('up_proj'), { axis: 0, start: 128, end: 256 });
    for (const m of r.mappings) assert.equal(m.shapeCheck, 'slice');
  });
});

describe('safety rules', () => {
  it('a shape mismatch is never high, and is reported as a conflict', () => {
    const r = mapAdapter(peftAdapter({ 'model.layers.0.self_attn.q_proj': [64, 48] }), LLAMA);
    const m = r.mappings[0];
    assert.equal(m?.target, 'model.layers.0.self_attn.q_proj.weight');
    assert.equal(m?.shapeCheck, 'mismatch');
    assert.notEqual(m?.level, 'high');
    assert.ok(r.conflicts.some((c) => /shape conflict/.test(c.reason)));
  });

  it('no high mapping whose shapes do not fit, whatever the threshold', () => {
    const r = mapAdapter(
      peftAdapter({
        'model.layers.0.self_attn.q_proj': [64, 48],
        'model.layers.0.mlp.up_proj': [64, 128],
      }),
      LLAMA,
      { highConfidence: 0.1 },
    );
    for (const m of r.mappings)
      if (m.level === 'high')
        assert.ok(['exact', 'transposed', 'conv-reshape', 'slice'].includes(m.shapeCheck));
  });

  it('user overrides win over the matcher, and the matcher stays off the claimed parameter', () => {
    const adapter = peftAdapter({
      'model.layers.0.self_attn.q_proj': [64, 64],
      'model.layers.0.self_attn.o_proj': [64, 64],
    });
    const r = mapAdapter(adapter, LLAMA, {
      overrides: [
        {
          module: 'base_model.model.model.layers.0.self_attn.q_proj',
          target: 'model.layers.0.self_attn.o_proj.weight',
        },
      ],
    });
    const q = r.mappings.find((m) => m.module.endsWith('q_proj'));
    assert.equal(q?.source, 'user');
    assert.equal(q?.target, 'model.layers.0.self_attn.o_proj.weight');
    assert.equal(q?.level, 'high');
    const o = r.mappings.find((m) => m.module.endsWith('o_proj'));
    assert.notEqual(o?.target, 'model.layers.0.self_attn.o_proj.weight');
  });

  it('an override with a null target rejects the module', () => {
    const r = mapAdapter(peftAdapter({ 'model.layers.0.self_attn.q_proj': [64, 64] }), LLAMA, {
      overrides: [{ module: 'base_model.model.model.layers.0.self_attn.q_proj', target: null }],
    });
    assert.deepEqual(r.mappings, []);
    assert.deepEqual(r.unmatchedAdapter, ['base_model.model.model.layers.0.self_attn.q_proj']);
  });

  it('modules with no counterpart are reported, and so are untouched usual targets', () => {
    const r = mapAdapter(peftAdapter({ 'model.layers.7.self_attn.q_proj': [64, 64] }), LLAMA);
    assert.ok(r.unmatchedAdapter.includes('base_model.model.model.layers.7.self_attn.q_proj'));
    assert.ok(r.unusedBase.includes('model.layers.0.mlp.down_proj.weight'));
  });
});

describe('one-to-one assignment', () => {
  // Module A's best is P1 but it has a good P2; B can only use P1. First-come greedy gives A→P1
  // and leaves B unmatched (total 0.9); the global optimum gives A→P2, B→P1 (total 1.73).
  const rows = [
    [
      { column: 'P1', weight: 0.9 },
      { column: 'P2', weight: 0.85 },
    ],
    [{ column: 'P1', weight: 0.88 }],
  ];
  it('beats first-come greedy', () => {
    assert.deepEqual(assignGreedy(rows), [0, -1]);
    assert.deepEqual(assignMaxWeight(rows), [1, 0]);
  });
  it('is optimal on a chain of contested columns', () => {
    const chain = [
      [
        { column: 'a', weight: 0.9 },
        { column: 'b', weight: 0.8 },
      ],
      [
        { column: 'b', weight: 0.9 },
        { column: 'c', weight: 0.8 },
      ],
      [
        { column: 'c', weight: 0.9 },
        { column: 'a', weight: 0.85 },
      ],
      [{ column: 'a', weight: 0.95 }],
    ];
    const pick = assignMaxWeight(chain);
    const total = pick.reduce((s, k, i) => s + (k >= 0 ? (chain[i]?.[k]?.weight ?? 0) : 0), 0);
    // Brute force over every one-to-one choice.
    const best = (i: number, used: Set<string>): number => {
      const row = chain[i];
      if (!row) return 0;
      let b = best(i + 1, used);
      for (const e of row)
        if (!used.has(e.column))
          b = Math.max(b, e.weight + best(i + 1, new Set([...used, e.column])));
      return b;
    };
    assert.ok(Math.abs(total - best(0, new Set())) < 1e-9, `${total}`);
    const cols = pick.map((k, i) => chain[i]?.[k]?.column).filter(Boolean);
    assert.equal(new Set(cols).size, cols.length);
  });
  it('through mapAdapter: an ambiguous module yields its best to the module that needs it', () => {
    // `blocks.0.proj` (renamed) is similar to both q_proj and o_proj; the exact o_proj module must keep o_proj.
    const r = mapAdapter(
      peftAdapter({
        'model.layers.0.self_attn.o_proj': [64, 64],
        'model.layers.0.self_attn.query': [64, 64],
      }),
      LLAMA,
    );
    const got = targets(r);
    assert.equal(
      got.get('base_model.model.model.layers.0.self_attn.o_proj'),
      'model.layers.0.self_attn.o_proj.weight',
    );
    assert.equal(
      got.get('base_model.model.model.layers.0.self_attn.query'),
      'model.layers.0.self_attn.q_proj.weight',
    );
  });
});

describe('vector (norm) weights', () => {
  const WITH_NORMS = baseFrom({
    'model.layers.0.self_attn.q_proj.weight': [64, 64],
    'model.layers.0.input_layernorm.weight': [64],
    'model.norm.weight': [64],
  });

  it('are targets of LNTuning only: a LoRA on a norm path never maps onto the vector', () => {
    const r = mapAdapter(peftAdapter({ 'model.layers.0.input_layernorm': [64, 64] }), WITH_NORMS);
    assert.notEqual(r.mappings[0]?.target, 'model.layers.0.input_layernorm.weight');
  });

  it('are not listed as unused base targets', () => {
    const r = mapAdapter(peftAdapter({ 'model.layers.0.self_attn.q_proj': [64, 64] }), WITH_NORMS);
    assert.deepEqual(r.unusedBase, []);
  });
});
