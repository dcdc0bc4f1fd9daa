import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { CheckpointInfo } from '../../../src/core/formats/checkpoint.js';
import type { LoraAnalysis } from '../../../src/core/lora/index.js';
import { mapAdapter } from '../../../src/core/mapping/index.js';
import { REPO, adapterOf, assertAllHigh, baseFrom, headerOf } from './mappingTestKit.js';

// The PEFT adapter of samples/ onto every form of its tiny-llama base that the fixtures hold.
describe('tiny-llama PEFT adapter onto its base in every format', () => {
  let adapter: { analysis: LoraAnalysis; info: CheckpointInfo };
  let expected: Map<string, string>;
  before(async () => {
    adapter = await adapterOf('samples/tiny-llama-lora/adapter_model.safetensors');
    expected = new Map(adapter.analysis.modules.map((m) => [m.name, `${m.target}.weight`]));
    assert.equal(adapter.analysis.modules.length, 8);
  });

  for (const rel of [
    'samples/tiny-llama/model.safetensors',
    'test/fixtures/sharded/safetensors/model.safetensors.index.json',
    'test/fixtures/torch/tiny-llama/pytorch_model.bin',
  ]) {
    it(`maps all 8 modules exactly onto ${rel}`, async () => {
      const base = await headerOf(rel);
      const r = mapAdapter(adapter, base);
      assertAllHigh(r, expected);
      for (const m of r.mappings) {
        assert.equal(m.shapeCheck, 'exact');
        assert.equal(m.transposed, false);
        assert.equal(m.source, 'matcher');
        assert.match(m.reason, /same module path/);
      }
      // gate/up/down of both layers are usual LoRA targets that nothing patches.
      assert.deepEqual(
        [...r.unusedBase].sort(),
        [0, 1].flatMap((l) =>
          ['down', 'gate', 'up'].map((p) => `model.layers.${l}.mlp.${p}_proj.weight`),
        ),
      );
      assert.deepEqual(r.conflicts, []);
    });
  }

  it('resolves legacy ONNX anonymous MatMul weights through their consumer nodes (transposed)', async () => {
    const base = await headerOf('test/fixtures/onnx/tiny-llama-legacy.onnx');
    const byPath = new Map<string, string>();
    for (const t of base.tensors) {
      const node = t.consumers?.find((c) => c.op === 'MatMul')?.node;
      if (node) byPath.set(node.split('/').filter(Boolean).slice(0, -1).join('.'), t.name);
    }
    const exp = new Map(
      [...expected].map(([mod, w]) => [mod, byPath.get(w.replace(/\.weight$/, '')) ?? '?']),
    );
    const r = mapAdapter(adapter, base);
    assertAllHigh(r, exp);
    for (const m of r.mappings) {
      assert.match(m.target, /^onnx::MatMul_/);
      assert.equal(m.shapeCheck, 'transposed');
      assert.equal(m.transposed, true);
      assert.match(
        m.reason,
        /ONNX initializer resolved through node \/model\/layers\.\d\/self_attn\//,
      );
    }
  });

  it("resolves dynamo ONNX val_N weights through the exporter's name scopes (transposed)", async () => {
    const rel = 'tiny-llama-dynamo/model.onnx';
    const base = await headerOf(`test/fixtures/onnx/${rel}`);
    const facts = (
      JSON.parse(readFileSync(join(REPO, 'test/fixtures/onnx/expected.json'), 'utf8')) as Record<
        string,
        { initializers: { name: string; transposeOf?: string }[] }
      >
    )[rel];
    // expected.json: which anonymous val_N is which checkpoint weight, transposed.
    const byWeight = new Map(
      (facts?.initializers ?? []).flatMap((i) => (i.transposeOf ? [[i.transposeOf, i.name]] : [])),
    );
    const exp = new Map([...expected].map(([mod, w]) => [mod, byWeight.get(w) ?? '?']));
    const r = mapAdapter(adapter, base);
    assertAllHigh(r, exp);
    for (const m of r.mappings) {
      assert.match(m.target, /^val_\d+$/);
      assert.equal(m.shapeCheck, 'transposed');
      assert.equal(m.transposed, true);
      assert.match(
        m.reason,
        /ONNX initializer resolved through the exporter's name scope of node node_linear(_\d+)?/,
      );
    }
    assert.deepEqual(r.conflicts, []);
  });

  it('maps onto llama.cpp (GGUF) names built from the same shapes', async () => {
    const hf = await headerOf('samples/tiny-llama/model.safetensors');
    const GGUF: Record<string, string> = {
      'self_attn.q_proj': 'attn_q',
      'self_attn.k_proj': 'attn_k',
      'self_attn.v_proj': 'attn_v',
      'self_attn.o_proj': 'attn_output',
      'mlp.gate_proj': 'ffn_gate',
      'mlp.up_proj': 'ffn_up',
      'mlp.down_proj': 'ffn_down',
      input_layernorm: 'attn_norm',
      post_attention_layernorm: 'ffn_norm',
    };
    const rename = (n: string): string => {
      if (n === 'model.embed_tokens.weight') return 'token_embd.weight';
      if (n === 'model.norm.weight') return 'output_norm.weight';
      if (n === 'lm_head.weight') return 'output.weight';
      const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(n);
      return m ? `blk.${m[1]}.${GGUF[m[2] ?? ''] ?? '?'}.weight` : n;
    };
    // Our GGUF reader reports shapes in PyTorch order already.
    const base = baseFrom(Object.fromEntries(hf.tensors.map((t) => [rename(t.name), t.shape])));
    const exp = new Map([...expected].map(([mod, w]) => [mod, rename(w)]));
    const r = mapAdapter(adapter, base);
    assertAllHigh(r, exp);
    for (const m of r.mappings) assert.match(m.reason, /llama\.cpp tensor name/);
  });
});
