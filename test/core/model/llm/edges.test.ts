import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { factsOf, fixtures, recognizeAll, type Fixture } from './kit.js';

const byFile = new Map(fixtures().map((f) => [f.file, f]));
function fixture(file: string): Fixture {
  const fx = byFile.get(file);
  assert.ok(fx, file);
  return fx;
}
const renamed = (
  tensors: Record<string, number[]>,
  f: (k: string) => string | null,
): Record<string, number[]> => {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(tensors)) {
    const n = f(k);
    if (n !== null) out[n] = v;
  }
  return out;
};

describe('LLM recognisers: prefixes and export variants', () => {
  it('a Llama under language_model. (multimodal wrapper) keeps the prefix and ignores the rest', () => {
    const fx = fixture('llama-3.1-8b.json');
    const tensors = {
      ...renamed(fx.tensors, (k) => `language_model.${k}`),
      'vision_tower.blocks.0.attn.qkv.weight': [3, 3],
    };
    const parts = recognizeAll(factsOf(tensors));
    assert.equal(parts.length, 1);
    const [c] = parts;
    assert.equal(c?.prefix, 'language_model.');
    assert.equal(c?.family, 'llama');
    assert.equal(c?.variant, 'Llama 3');
    assert.equal(c?.tensorCount, fx.expected.tensorCount);
    assert.equal(c?.parameterCount, fx.expected.parameterCount);
  });

  it('a base model saved without model. (layers.N, embed_tokens, no lm_head)', () => {
    const fx = fixture('qwen2.5-7b.json');
    const tensors = renamed(fx.tensors, (k) =>
      k === 'lm_head.weight' ? null : k.replace(/^model\./, ''),
    );
    const [c] = recognizeAll(factsOf(tensors));
    assert.equal(c?.family, 'qwen2');
    assert.equal(c?.prefix, '');
    assert.equal(c?.dims.hiddenSize, 3584);
    assert.equal(c?.dims.tiedEmbeddings, true);
  });

  it('an old Llama with saved rotary inv_freq gives the heads from shapes', () => {
    const fx = fixture('llama-2-7b.json');
    const tensors = { ...fx.tensors };
    for (let i = 0; i < 32; i++) tensors[`model.layers.${i}.self_attn.rotary_emb.inv_freq`] = [64];
    const [c] = recognizeAll(factsOf(tensors));
    assert.equal(c?.dims.headDim, 128);
    assert.equal(c?.dims.numAttentionHeads, 32);
    assert.equal(c?.dims.numKeyValueHeads, 32);
    assert.equal(c?.tensorCount, fx.expected.tensorCount + 32);
    assert.equal(c?.parameterCount, fx.expected.parameterCount + 32 * 64);
  });

  it('config Llama 1 (2048 context) and a shard with missing layers', () => {
    const fx = fixture('llama-2-7b.json');
    const shard = renamed(fx.tensors, (k) => (/layers\.(1[0-9])\./.test(k) ? null : k));
    const [c] = recognizeAll(factsOf(shard, { ...fx.config, max_position_embeddings: 2048 }));
    assert.equal(c?.variant, 'Llama 1');
    assert.equal(c?.dims.numLayers, 32);
    assert.ok(c?.evidence.some((e) => e.claim.includes('10 missing')));
  });

  it('a config that disagrees with the shapes says so', () => {
    const fx = fixture('mistral-7b-v0.1.json');
    const [c] = recognizeAll(
      factsOf(fx.tensors, { ...fx.config, intermediate_size: 11008, num_key_value_heads: 32 }),
    );
    assert.equal(c?.dims.intermediateSize, 11008);
    assert.ok(
      c?.evidence.some(
        (e) => e.claim === 'config intermediate_size = 11008 but the shapes give 14336',
      ),
    );
    assert.ok(c?.evidence.some((e) => e.claim.startsWith('k_proj has 1024 rows, not 32 heads')));
  });

  it('GPT-2 as on the hub: no transformer. prefix, attn.bias buffers, a copied lm_head', () => {
    const fx = fixture('gpt2.json');
    const tensors = renamed(fx.tensors, (k) => k.replace(/^transformer\./, ''));
    for (let i = 0; i < 12; i++) tensors[`h.${i}.attn.bias`] = [1, 1, 1024, 1024];
    tensors['lm_head.weight'] = [50257, 768];
    const [c] = recognizeAll(factsOf(tensors));
    assert.equal(c?.family, 'gpt2');
    assert.equal(c?.tensorCount, fx.expected.tensorCount + 13);
    assert.equal(c?.parameterCount, fx.expected.parameterCount + 12 * 1024 * 1024 + 50257 * 768);
    assert.equal(c?.dims.tiedEmbeddings, null);
    assert.ok(c?.undetermined.tiedEmbeddings);
  });

  it('T5 as on the hub: encoder/decoder.embed_tokens saved beside shared.weight', () => {
    const fx = fixture('t5-small.json');
    const tensors = {
      ...fx.tensors,
      'encoder.embed_tokens.weight': [32128, 512],
      'decoder.embed_tokens.weight': [32128, 512],
    };
    const [c] = recognizeAll(factsOf(tensors));
    assert.equal(c?.family, 't5');
    assert.equal(c?.tensorCount, fx.expected.tensorCount + 2);
    assert.equal(c?.dims.numAttentionHeads, 8);
  });

  it('an encoder-only T5 is left to the text-encoder recogniser', () => {
    const fx = fixture('t5-base.json');
    const enc = renamed(fx.tensors, (k) =>
      k.startsWith('decoder.') || k === 'lm_head.weight' ? null : k,
    );
    assert.deepEqual(recognizeAll(factsOf(enc)), []);
  });

  it('RoBERTa without the roberta. prefix: one token type', () => {
    const fx = fixture('roberta-base.json');
    const tensors = renamed(fx.tensors, (k) => (k.startsWith('roberta.') ? k.slice(8) : null));
    const [c] = recognizeAll(factsOf(tensors));
    assert.equal(c?.family, 'roberta');
    assert.equal(c?.dims.tiedEmbeddings, null);
    assert.ok(c?.evidence.some((e) => e.claim.includes('one token type')));
  });

  it('GGUF llama.cpp names with KV metadata', () => {
    const t: Record<string, number[]> = {
      'token_embd.weight': [128256, 4096],
      'output_norm.weight': [4096],
      'output.weight': [128256, 4096],
    };
    for (let i = 0; i < 32; i++) {
      t[`blk.${i}.attn_q.weight`] = [4096, 4096];
      t[`blk.${i}.attn_k.weight`] = [1024, 4096];
      t[`blk.${i}.ffn_gate.weight`] = [14336, 4096];
    }
    const meta = {
      'general.architecture': 'llama',
      'llama.block_count': '32',
      'llama.embedding_length': '4096',
      'llama.feed_forward_length': '14336',
      'llama.attention.head_count': '32',
      'llama.attention.head_count_kv': '8',
    };
    const parts = recognizeAll(factsOf(t, null, meta, 'gguf'));
    assert.equal(parts.length, 1);
    const [c] = parts;
    assert.equal(c?.family, 'llama');
    assert.equal(c?.tensorCount, 99);
    assert.deepEqual(c?.dims, {
      hiddenSize: 4096,
      numLayers: 32,
      numAttentionHeads: 32,
      numKeyValueHeads: 8,
      headDim: 128,
      intermediateSize: 14336,
      vocabSize: 128256,
      numExperts: 0,
      tiedEmbeddings: false,
    });
  });

  it('odd shapes do not throw and give null dims', () => {
    const fx = fixture('qwen3-8b.json');
    const odd = renamed(fx.tensors, (k) => k);
    for (const k of Object.keys(odd))
      if (k.includes('embed') || k.includes('lm_head') || k.includes('q_norm')) odd[k] = [-1, 2.5];
    const [c] = recognizeAll(factsOf(odd));
    assert.equal(c?.family, 'qwen3');
    assert.equal(c?.dims.vocabSize, null);
    assert.equal(c?.dims.headDim, null);
  });

  it('claims nothing in the diffusion fixtures (CLIP, T5 encoder, UNets, VAEs, DiTs)', () => {
    const dir = 'test/fixtures/model/diffusion';
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      const body = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as {
        tensors: Record<string, number[]>;
      };
      assert.deepEqual(recognizeAll(factsOf(body.tensors)), [], f);
    }
  });
});
