/**
 * Differential test of the base index's template path (templateIndex.ts, paramStore.ts): on generated
 * bases (Llama-like, MoE, GPT-2, diffusion UNet / DiT, odd names, duplicates, shuffled order) and
 * adapters in several namings, the index and the whole mapping must equal those of a reference that
 * does what the matcher did before templates: describe every tensor, fill eager Maps.
 */
import assert from 'node:assert/strict';
import { describe as suite, it } from 'node:test';
import type { CheckpointInfo, TensorInfo } from '../../../src/core/formats/checkpoint.js';
import { analyzeLoraSync, type LoraAnalysis } from '../../../src/core/lora/index.js';
import {
  buildBaseIndex,
  describe,
  describeVector,
  type BaseIndex,
  type BaseParam,
} from '../../../src/core/mapping/baseIndex.js';
import { findCandidates, moduleName } from '../../../src/core/mapping/candidates.js';
import { mapAdapter, mapAdapterOnIndex } from '../../../src/core/mapping/map.js';
import { modulePathOf, stripWrappers } from '../../../src/core/mapping/normalize.js';
import { KNOWN_SEGMENTS } from '../../../src/core/mapping/synonyms.js';
import { SD_UNET_LAYOUT, unetLayoutOf } from '../../../src/core/mapping/unetLayout.js';
import { infoFrom } from '../lora/loraTestInfo.js';

type Trie = BaseIndex['trie'];
type Spec = [string, number[]];

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The index as it was built before templates: every tensor described, every table eager. */
function referenceIndex(base: CheckpointInfo): BaseIndex {
  const onnx = base.format === 'onnx';
  const unet =
    unetLayoutOf(
      base.tensors
        .filter((t) => t.name.endsWith('.weight') || t.name.endsWith('.in_proj_weight'))
        .map((t) => stripWrappers(modulePathOf(t.name))),
    ) ?? SD_UNET_LAYOUT;
  const params: BaseParam[] = [];
  const byName = new Map<string, BaseParam>();
  const byKey = new Map<string, BaseParam[]>();
  const byIndices = new Map<string, BaseParam[]>();
  const anonymous: BaseParam[] = [];
  const vectors = new Map<string, BaseParam[]>();
  const vocab = new Set<string>(KNOWN_SEGMENTS);
  const trie: Trie = { children: new Map(), param: null };
  for (const t of base.tensors) {
    const p = describe(t, onnx, unet);
    if (!p) {
      const v = onnx ? null : describeVector(t, unet);
      if (v) {
        byName.set(v.name, v);
        push(vectors, v.canon.key, v);
      }
      continue;
    }
    params.push(p);
    byName.set(p.name, p);
    if (p.anonymous) {
      anonymous.push(p);
      continue;
    }
    push(byKey, p.canon.key, p);
    push(byIndices, p.canon.indices.join(','), p);
    let node = trie;
    for (const seg of p.path.split('.')) {
      vocab.add(seg);
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map(), param: null };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.param ??= p;
  }
  return {
    params,
    byName,
    byKey,
    byIndices,
    anonymous,
    vectors,
    vocab,
    trie,
    unet,
    usualNames: () => params.filter((p) => p.usual).map((p) => p.name),
  };
}

/** mulberry32: the same cases on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function llama(layers: number, wrapper: string, hidden = 64): Spec[] {
  const out: Spec[] = [[`${wrapper}embed_tokens.weight`, [500, hidden]]];
  for (let l = 0; l < layers; l++) {
    const p = `${wrapper}layers.${l}.`;
    out.push(
      [`${p}self_attn.q_proj.weight`, [hidden, hidden]],
      [`${p}self_attn.k_proj.weight`, [hidden / 4, hidden]],
      [`${p}self_attn.v_proj.weight`, [hidden / 4, hidden]],
      [`${p}self_attn.o_proj.weight`, [hidden, hidden]],
      [`${p}mlp.gate_proj.weight`, [hidden * 2, hidden]],
      [`${p}mlp.up_proj.weight`, [hidden * 2, hidden]],
      [`${p}mlp.down_proj.weight`, [hidden, hidden * 2]],
      [`${p}input_layernorm.weight`, [hidden]],
      [`${p}post_attention_layernorm.weight`, [hidden]],
    );
  }
  out.push([`${wrapper}norm.weight`, [hidden]], ['lm_head.weight', [500, hidden]]);
  return out;
}

function moe(layers: number, experts: number): Spec[] {
  const out: Spec[] = [];
  for (let l = 0; l < layers; l++) {
    out.push([`model.layers.${l}.self_attn.q_proj.weight`, [32, 32]]);
    out.push([`model.layers.${l}.mlp.gate.weight`, [experts, 32]]);
    for (let e = 0; e < experts; e++)
      for (const [k, s] of [
        ['gate_proj', [16, 32]],
        ['up_proj', [16, 32]],
        ['down_proj', [32, 16]],
      ] as const)
        out.push([`model.layers.${l}.mlp.experts.${e}.${k}.weight`, [...s]]);
  }
  return out;
}

function gpt2(layers: number): Spec[] {
  const out: Spec[] = [['transformer.wte.weight', [100, 48]]];
  for (let l = 0; l < layers; l++) {
    const p = `transformer.h.${l}.`;
    out.push(
      [`${p}ln_1.weight`, [48]],
      [`${p}attn.c_attn.weight`, [48, 144]],
      [`${p}attn.c_proj.weight`, [48, 48]],
      [`${p}mlp.c_fc.weight`, [48, 192]],
      [`${p}mlp.c_proj.weight`, [192, 48]],
    );
  }
  return out;
}

/** A diffusers UNet and DiT next to plain numbered names (some heads take the slow way, some not). */
function diffusion(levels: number): Spec[] {
  const out: Spec[] = [['conv_in.weight', [32, 4, 3, 3]]];
  for (const side of ['down_blocks', 'up_blocks'])
    for (let b = 0; b < levels; b++) {
      for (let r = 0; r < 2; r++) {
        const p = `${side}.${b}.resnets.${r}.`;
        out.push(
          [`${p}conv1.weight`, [32, 32, 3, 3]],
          [`${p}time_emb_proj.weight`, [32, 128]],
          [`${p}norm1.weight`, [32]],
        );
        const a = `${side}.${b}.attentions.${r}.`;
        out.push(
          [`${a}proj_in.weight`, [32, 32, 1, 1]],
          [`${a}transformer_blocks.0.attn1.to_q.weight`, [32, 32]],
          [`${a}transformer_blocks.0.attn1.to_k.weight`, [32, 32]],
          [`${a}transformer_blocks.0.attn1.to_out.0.weight`, [32, 32]],
          [`${a}transformer_blocks.0.ff.net.0.proj.weight`, [256, 32]],
        );
      }
      out.push([
        `${side}.${b}.${side === 'down_blocks' ? 'down' : 'up'}samplers.0.conv.weight`,
        [32, 32, 3, 3],
      ]);
    }
  out.push(['mid_block.attentions.0.proj_in.weight', [32, 32, 1, 1]]);
  for (let l = 0; l < levels + 1; l++) {
    out.push(
      [`transformer_blocks.${l}.attn.to_q.weight`, [32, 32]],
      [`transformer_blocks.${l}.attn.to_out.0.weight`, [32, 32]],
      [`single_transformer_blocks.${l}.proj_mlp.weight`, [128, 32]],
      [`blocks.${l}.attn.to_q.weight`, [32, 32]],
      [`blocks.${l}.attn.to_out.0.weight`, [32, 32]],
      [`blocks.${l}.ff.net.2.weight`, [32, 128]],
      [`input_blocks.${l + 1}.1.transformer_blocks.0.attn2.to_k.weight`, [32, 64]],
      [`input_blocks.${l + 1}.0.in_layers.2.weight`, [32, 32, 3, 3]],
    );
  }
  return out;
}

/** Names that must leave the template path, or stress it. */
function odd(): Spec[] {
  return [
    ['model.layers.007.self_attn.q_proj.weight', [8, 8]],
    ['model.layers.7.self_attn.q_proj.weight', [8, 8]],
    ['model.layers.#.self_attn.q_proj.weight', [8, 8]],
    ['model.layers.3.attn.to_out.0.weight', [8, 8]],
    ['model.layers.3.attn.to_out.1.weight', [8, 8]],
    ['text_encoder_2.encoder.layers.1.self_attn.k_proj.weight', [8, 8]],
    ['text_encoder.encoder.layers.1.self_attn.k_proj.weight', [8, 8]],
    ['conditioner.embedders.1.model.layers.2.mlp.fc1.weight', [8, 8]],
    ['blk.4.attn_q.weight', [8, 8]],
    ['blk.4.ffn_up.weight', [16, 8]],
    ['resblocks.3.attn.in_proj_weight', [24, 8]],
    ['layers.1.attn.in_proj_weight', [24, 8]],
    ['layers.2.attn.in_proj_weight.weight', [24, 8]],
    ['layers.2.conv.weight', [8, 8, 1, 1]],
    ['layers.2.conv3.weight', [8, 8, 3, 3]],
    ['layers.3.mlp.down_proj.weight', [8, 8, 3, 3]],
    ['layers.4.mlp.down_proj.weight', [8, 8, 1, 1]],
    ['model.layers.9.mlp.experts.0.up_proj.weight', [8, 8]],
    ['model.layers.9.mlp.experts.1000.up_proj.weight', [8, 8]],
    ['model.layers.9.mlp.experts.70000.up_proj.weight', [8, 8]],
    ['model.layers.10.mlp.experts.1000.up_proj.weight', [8, 8]],
    ['layers.2.norm.weight', [8]],
    ['layers.2..x.weight', [8, 8]],
    ['layers.123456789012345678.x.weight', [8, 8]],
    ['layers.999999999999999.x.weight', [8, 8]],
    ['experts.1.2.3.4.up_proj.weight', [8, 8]],
    ['0.weight', [8, 8]],
    ['0.1.weight', [8, 8]],
    ['seq.0.weight', [8, 8]],
    ['seq.2.weight', [8, 8]],
    ['layer1.0.conv2.weight', [8, 8, 3, 3]],
    ['model.module.layers.4.mlp.w1.weight', [16, 8]],
    ['layers.4.mlp.w1.weight', [16, 8]],
    ['_orig_mod.layers.4.mlp.w2.weight', [8, 16]],
    ['layers.5.attention.wq.weight', [8, 8]],
    ['layers.5.attention.wq.bias', [8]],
    ['layers.5.attention.wq.weight_scale', [1]],
    ['h.5.attn.c_attn.weight', [8, 24]],
    ['joint_blocks.1.x_block.attn.qkv.weight', [24, 8]],
    ['double_blocks.1.img_attn.qkv.weight', [24, 8]],
    ['x_embedder.proj.weight', [8, 8]],
    ['norm_out.linear.weight', [16, 8]],
    ['transformer_blocks.2.norm1_context.linear.weight', [16, 8]],
    ['dup.1.q_proj.weight', [8, 8]],
    ['vision_model.encoder.layers.0.self_attn.q_proj.weight', [8, 8]],
    ['encoder.layers.0.self_attn.q_proj.weight', [8, 8]],
    ['unet.layers.0.self_attn.q_proj.weight', [8, 8]],
  ];
}

function info(specs: readonly Spec[], duplicates: readonly Spec[] = []): CheckpointInfo {
  const base = infoFrom(Object.fromEntries(specs));
  if (duplicates.length === 0) return base;
  const extra: TensorInfo[] = duplicates.map(([name, shape]) => {
    const parameterCount = shape.reduce((a, b) => a * b, 1);
    return { name, dtype: 'F32', shape, offset: 0, byteLength: parameterCount * 4, parameterCount };
  });
  return { ...base, tensors: [...base.tensors, ...extra] };
}

function shuffled<T>(xs: readonly T[], r: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

const RENAMES: [RegExp, string][] = [
  [/self_attn\.q_proj/, 'attention.wq'],
  [/self_attn\.k_proj/, 'attention.wk'],
  [/mlp\.up_proj/, 'feed_forward.w3'],
  [/attn1\.to_q/, 'attn1.q_proj'],
  [/attn\.to_q/, 'attn.q'],
];

/**
 * An adapter on a random share of the base's named tensors, each module in one naming: PEFT, kohya
 * flattened, renamed, another layer number (the fuzzy index), transposed shapes, LNTuning on norms.
 */
function adapterFor(
  base: CheckpointInfo,
  r: () => number,
): { analysis: LoraAnalysis; info: CheckpointInfo } {
  const shapes: Record<string, number[]> = {};
  for (const t of base.tensors) {
    if (!t.name.endsWith('.weight') || t.shape.length === 0 || r() > 0.35) continue;
    let path = t.name.slice(0, -'.weight'.length);
    if (t.shape.length === 1) {
      const n = t.shape[0] ?? 1;
      shapes[`base_model.model.${path}.ln_tuning_layers.weight`] = [n];
      shapes[`base_model.model.${path}.ln_tuning_layers.bias`] = [n];
      continue;
    }
    const [out0 = 1, in0 = 1, ...kernel] = t.shape;
    let [out, inF] = [out0, in0];
    const how = r();
    if (how < 0.15) {
      for (const [re, to] of RENAMES) path = path.replace(re, to);
    } else if (how < 0.25) {
      path = path.replace(
        /\.(\d+)\./,
        (_, d: string) => `.${Number(d) + 1 + Math.floor(r() * 3)}.`,
      );
    } else if (how < 0.3) {
      [out, inF] = [inF, out];
    }
    if (how >= 0.3 && how < 0.55 && !path.includes('..')) {
      const flat = stripWrappers(path).replace(/\./g, '_');
      const group = /^(down_blocks|up_blocks|mid_block|input_blocks|conv_in)/.test(flat)
        ? 'lora_unet'
        : 'lora_te';
      shapes[`${group}_${flat}.lora_down.weight`] = [4, inF, ...kernel];
      shapes[`${group}_${flat}.lora_up.weight`] = [out, 4, ...kernel.map(() => 1)];
      shapes[`${group}_${flat}.alpha`] = [];
    } else if (kernel.length === 0) {
      shapes[`base_model.model.${path}.lora_A.weight`] = [4, inF];
      shapes[`base_model.model.${path}.lora_B.weight`] = [out, 4];
    }
  }
  const adapter = infoFrom(shapes);
  return { analysis: analyzeLoraSync(adapter), info: adapter };
}

const names = (ps: readonly BaseParam[] | undefined): string[] | undefined =>
  ps?.map((p) => p.name);

/** Every table the matcher reads answers the same, param for param. */
function assertSameIndex(
  fast: BaseIndex,
  ref: BaseIndex,
  base: CheckpointInfo,
  extraKeys: Iterable<string>,
): void {
  assert.deepEqual(fast.unet, ref.unet);
  assert.deepEqual(fast.usualNames(), ref.usualNames());
  assert.deepEqual(fast.params, ref.params);
  assert.deepEqual(fast.anonymous, ref.anonymous);
  assert.deepEqual(fast.vectors, ref.vectors);
  const keys = new Set<string>(extraKeys);
  const sigs = new Set<string>(['', '0', '1', '1,2', '99', '0,0']);
  for (const t of base.tensors) {
    const p = ref.byName.get(t.name);
    assert.deepEqual(fast.byName.get(t.name), p, t.name);
    if (!p) continue;
    keys.add(p.canon.key);
    keys.add(`${p.canon.key}#q`);
    keys.add(p.canon.key.replace(/\.\d+(\.|$)/, '.99$1'));
    keys.add(p.canon.key.replace(/\.(\d+)(\.|$)/, '.0$1$2'));
    sigs.add(p.canon.indices.join(','));
    sigs.add([...p.canon.indices, 0].join(','));
  }
  for (const key of keys)
    assert.deepEqual(names(fast.byKey.get(key)), names(ref.byKey.get(key)), `byKey ${key}`);
  for (const sig of sigs)
    assert.deepEqual(
      names(fast.byIndices.get(sig)),
      names(ref.byIndices.get(sig)),
      `byIndices ${sig}`,
    );
  assert.deepEqual([...fast.vocab].sort(), [...ref.vocab].sort());
  assert.deepEqual(fast.trie, ref.trie);
}

/** A module's candidates, with the (lazy) reason spelled out. */
const candidates = (m: LoraAnalysis['modules'][number], index: BaseIndex): unknown[] =>
  findCandidates(m, moduleName(m, index), index, 50).map((c) => ({ ...c, reason: c.reason() }));

interface Case {
  readonly name: string;
  readonly base: CheckpointInfo;
}

function cases(): Case[] {
  const r = rng(15);
  const out: Case[] = [
    { name: 'Llama-like, model. wrapper, 12 layers', base: info(llama(12, 'model.')) },
    { name: 'Llama-like, no wrapper, 1 layer', base: info(llama(1, '')) },
    {
      name: 'Llama-like, base_model.model.model.',
      base: info(llama(3, 'base_model.model.model.')),
    },
    { name: 'MoE, 3 layers × 9 experts', base: info(moe(3, 9)) },
    { name: 'GPT-2 Conv1D', base: info(gpt2(4)) },
    { name: 'diffusion UNet + DiT', base: info(diffusion(3)) },
    { name: 'odd names', base: info(odd()) },
    {
      name: 'duplicates (later wins in byName, both in byKey)',
      base: info(llama(2, 'model.'), [
        ['model.layers.1.self_attn.q_proj.weight', [4, 4]],
        ['model.layers.0.input_layernorm.weight', [4]],
        ['dup.1.q_proj.weight', [8, 8]],
        ['model.layers.1.self_attn.q_proj.weight', [64, 64]],
      ]),
    },
  ];
  const mixed = [...llama(5, 'model.'), ...moe(2, 4), ...gpt2(2), ...diffusion(2), ...odd()];
  for (let i = 0; i < 3; i++)
    out.push({ name: `mixed, shuffled (seed ${i})`, base: info(shuffled(mixed, r)) });
  return out;
}

suite('template path vs the reference index', () => {
  const r = rng(4);
  for (const c of cases())
    it(c.name, () => {
      const adapter = adapterFor(c.base, r);
      const fast = buildBaseIndex(c.base);
      const slow = buildBaseIndex(c.base, { templates: false });
      const ref = referenceIndex(c.base);
      const adapterKeys = adapter.analysis.modules.flatMap((m) => {
        const { canon } = moduleName(m, ref);
        return [canon.key, canon.wholeKey];
      });
      assertSameIndex(fast, ref, c.base, adapterKeys);
      assertSameIndex(slow, ref, c.base, adapterKeys);
      assert.ok(adapter.analysis.modules.length > 0);
      // Candidates, module by module, with a long list so that order and ties count too.
      for (const m of adapter.analysis.modules)
        assert.deepEqual(candidates(m, fast), candidates(m, ref), m.name);
      // The whole result: assignment, levels, alternatives, conflicts, unmatched, unused.
      const opts = { alternatives: 8 };
      const got = mapAdapter(adapter, c.base, opts);
      const want = mapAdapterOnIndex(adapter, c.base, referenceIndex(c.base), opts);
      assert.deepEqual(got, want);
      assert.ok(got.mappings.some((e) => e.target !== null));
    });
});
