import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { CheckpointInfo } from '../../../src/core/formats/checkpoint.js';
import { buildBaseIndex, mapAdapter, type BaseIndex } from '../../../src/core/mapping/index.js';
import { NumberTable } from '../../../src/core/mapping/numberTable.js';
import { baseFrom, baseKeys, MAPPING_FIXTURES, peftAdapter } from './mappingTestKit.js';

/** Names that must leave the template path, or stress it, next to the fixtures' real key lists. */
const EDGE: Record<string, number[]> = {
  'model.layers.0.self_attn.q_proj.weight': [8, 8],
  'model.layers.007.self_attn.q_proj.weight': [8, 8],
  'model.layers.7.self_attn.q_proj.weight': [8, 8],
  'model.layers.#.self_attn.q_proj.weight': [8, 8],
  'model.layers.3.attn.to_out.0.weight': [8, 8],
  'model.layers.3.attn.to_out.1.weight': [8, 8],
  'text_encoder_2.encoder.layers.1.self_attn.k_proj.weight': [8, 8],
  'conditioner.embedders.1.model.layers.2.mlp.fc1.weight': [8, 8],
  'blk.4.attn_q.weight': [8, 8],
  'transformer_blocks.2.ff.net.0.proj.weight': [8, 8],
  'h.5.attn.c_attn.weight': [8, 24],
  'h.5.mlp.c_fc.weight': [8, 32],
  'layers.1.attn.in_proj_weight': [24, 8],
  'layers.2.attn.in_proj_weight.weight': [24, 8],
  'layers.2.conv.weight': [8, 8, 1, 1],
  'layers.2.conv3.weight': [8, 8, 3, 3],
  'layers.2.norm.weight': [8],
  'layers.2..x.weight': [8, 8],
  'layers.123456789012345678.x.weight': [8, 8],
  'experts.1.2.3.4.up_proj.weight': [8, 8],
  'model.layers.9.mlp.experts.0.up_proj.weight': [8, 8],
  'model.layers.9.mlp.experts.1000.up_proj.weight': [8, 8],
  'dup.1.q_proj.weight': [8, 8],
};
// The same name twice: the later tensor wins in byName, both are in byKey.
const withDuplicate = (info: CheckpointInfo): CheckpointInfo => {
  const first = info.tensors.find((t) => t.name === 'dup.1.q_proj.weight');
  return first ? { ...info, tensors: [...info.tensors, { ...first, shape: [4, 4] }] } : info;
};

function bases(): [string, CheckpointInfo][] {
  const out: [string, CheckpointInfo][] = [['edge cases', withDuplicate(baseFrom(EDGE))]];
  for (const f of readdirSync(MAPPING_FIXTURES).filter((x) => x.endsWith('.json')))
    out.push([f, baseFrom(baseKeys(f))]);
  return out;
}

const names = (ps: readonly { name: string }[] | undefined): string[] | undefined =>
  ps?.map((p) => p.name);

/** Every lookup the matcher makes answers the same, param for param, with and without templates. */
function assertSameIndex(fast: BaseIndex, slow: BaseIndex, info: CheckpointInfo): void {
  assert.deepEqual(fast.usualNames(), slow.usualNames());
  assert.deepEqual(fast.params, slow.params);
  for (const t of info.tensors) {
    const p = slow.byName.get(t.name);
    assert.deepEqual(fast.byName.get(t.name), p, t.name);
    if (!p || p.anonymous || p.shape.length < 2) continue;
    for (const key of [p.canon.key, `${p.canon.key}#q`, p.canon.key.replace(/\.\d+\./, '.99.')])
      assert.deepEqual(names(fast.byKey.get(key)), names(slow.byKey.get(key)), key);
    const sig = p.canon.indices.join(',');
    assert.deepEqual(names(fast.byIndices.get(sig)), names(slow.byIndices.get(sig)), sig);
  }
  for (const seg of ['layers', 'q_proj', 'experts', 'proj_in'])
    assert.equal(fast.vocab.has(seg), slow.vocab.has(seg));
}

describe('template path of the base index', () => {
  for (const [name, info] of bases())
    it(`agrees with the slow path: ${name}`, () => {
      assertSameIndex(buildBaseIndex(info), buildBaseIndex(info, { templates: false }), info);
    });

  it('maps an adapter onto a templated base the same as before', () => {
    const base = baseFrom(baseKeys('llama3.1-8b_LlamaForCausalLM.state_dict.json'));
    const adapter = peftAdapter({
      'model.layers.3.self_attn.q_proj': [4096, 4096],
      'model.layers.3.attention.wk': [4096, 1024],
      'model.layers.31.mlp.down_proj': [14336, 4096],
    });
    const r = mapAdapter(adapter, base);
    assert.deepEqual(
      r.mappings.map((m) => [m.target, m.level]),
      [
        ['model.layers.3.self_attn.q_proj.weight', 'high'],
        ['model.layers.3.self_attn.k_proj.weight', 'high'],
        ['model.layers.31.mlp.down_proj.weight', 'high'],
      ],
    );
    assert.equal(r.unusedBase.length, 32 * 7 - 3);
  });

  it('number tables: dense and sparse agree, duplicates stay in order', () => {
    const tensorNames = ['a.1.2.w', 'a.0.5.w', 'a.1.2.w', 'a.900000.1.w'];
    const members = [0, 1, 2, 3];
    const t = new NumberTable(2, members, (i) => tensorNames[i] ?? '');
    assert.deepEqual(t.get([1, 2]), [0, 2]);
    assert.deepEqual(t.get([0, 5]), [1]);
    assert.deepEqual(t.get([900000, 1]), [3]);
    assert.deepEqual(t.get([2, 1]), []);
    assert.deepEqual(t.get([1]), []);
    const dense = new NumberTable(2, [0, 1, 2], (i) => tensorNames[i] ?? '');
    assert.deepEqual(dense.get([1, 2]), [0, 2]);
    assert.deepEqual(dense.get([7, 7]), []);
  });
});
