/**
 * `lora-lens inspect` knows the model: architecture, parts and memory for a model; the coverage grid
 * for an adapter, and with --base the base's architecture and memory at the adapter's rank. Every
 * --json object validates against schemas/inspect.schema.json.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import { main } from '../../src/cli/main.js';
import type { InspectModelJson } from '../../src/cli/modelReport.js';

const REPO = join(__dirname, '../..');
const BASE = join(REPO, 'samples/tiny-llama');
const LORA = join(REPO, 'samples/tiny-llama-lora');
const FUSED_BASE = join(REPO, 'test/fixtures/convert/phi3');

const schema = JSON.parse(
  readFileSync(join(REPO, 'schemas/inspect.schema.json'), 'utf8'),
) as object;
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(
  schema,
);

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

async function inspectJson(args: string[]): Promise<InspectModelJson & { parameterCount: number }> {
  const r = await run(['inspect', ...args, '--json']);
  assert.equal(r.code, 0, r.err + r.out);
  const body = JSON.parse(r.out) as InspectModelJson & { parameterCount: number };
  assert.ok(validate(body), JSON.stringify(validate.errors, null, 1));
  return body;
}

const figure = (m: InspectModelJson, id: string) => m.memory?.figures.find((f) => f.id === id);

describe('lora-lens inspect: the model', () => {
  it('a Llama-shaped model: family, every dimension, parts that add up, KV cache by the formula', async () => {
    const j = await inspectJson([BASE]);
    const a = j.architecture;
    assert.ok(a);
    assert.equal(a.family, 'llama');
    assert.equal(a.kind, 'causal-lm');
    assert.deepEqual(
      [a.dims.hiddenSize, a.dims.numLayers, a.dims.numAttentionHeads, a.dims.numKeyValueHeads],
      [64, 2, 4, 2],
    );
    assert.equal(a.dims.intermediateSize, 128);
    assert.equal(a.dims.vocabSize, 256);
    assert.equal(a.dims.numExperts, 0);
    assert.equal(j.coverage, null);
    assert.equal(
      j.parts?.parts.reduce((s, p) => s + p.parameters, 0),
      j.parameterCount,
      'the parts add up to the file',
    );
    // 2 layers × 2 KV heads × 16 head dim × 2 (K, V) × 2 bytes = 256 B per token.
    assert.equal(figure(j, 'kv-cache-per-token')?.bytes, 256);
    assert.equal(figure(j, 'kv-cache-1k')?.bytes, 256_000);
    assert.equal(figure(j, 'weights-bf16')?.bytes, j.parameterCount * 2);
    assert.equal(j.memory?.trainableSource, 'default');
  });

  it('a Phi-3-shaped model is phi3 (fused qkv_proj and gate_up_proj)', async () => {
    const j = await inspectJson([FUSED_BASE]);
    assert.equal(j.architecture?.family, 'phi3');
  });

  it("an adapter alone: the layers × module-types grid, and its base's family by the name it gives", async () => {
    const j = await inspectJson([LORA]);
    // adapter_config.json says base_model_name_or_path "tiny-llama": the family, no dimensions.
    assert.equal(j.architecture?.family, 'llama');
    assert.equal(j.architecture?.dims.hiddenSize, null);
    assert.equal(j.architecture?.evidence[0]?.source, 'config');
    assert.equal(j.parts, null);
    assert.equal(j.memory, null);
    const c = j.coverage;
    assert.ok(c);
    assert.deepEqual(c.columns, ['q', 'k', 'v', 'o']);
    assert.deepEqual(
      c.rows.map((r) => r.label),
      ['model.layers.0', 'model.layers.1'],
    );
    assert.equal(c.rows[0]?.cells['q']?.rank, 8);
    assert.equal(c.trainableParameters, 7168);
    assert.equal(c.percentOfBase, null);
  });

  it("an adapter with --base: the base's architecture, and LoRA memory at this adapter's rank", async () => {
    const j = await inspectJson([LORA, '--base', BASE]);
    assert.equal(j.architecture?.family, 'llama');
    assert.equal(j.memory?.trainableSource, 'adapter');
    assert.equal(j.memory?.trainableParameters, 7168);
    const base = await inspectJson([BASE]);
    const lora = figure(j, 'train-lora');
    // Frozen bf16 base + 16 B per trainable parameter.
    assert.equal(lora?.bytes, base.parameterCount * 2 + 7168 * 16);
    assert.ok(j.coverage && j.coverage.percentOfBase !== null);
    assert.ok(Math.abs(j.coverage.percentOfBase - (100 * 7168) / base.parameterCount) < 1e-9);
  });

  it('text: the model section, and the grid for an adapter', async () => {
    const m = await run(['inspect', BASE]);
    assert.match(m.out, /^model\n {2}family +llama, causal-lm$/m);
    assert.match(m.out, /KV cache per 1,000 tokens \(bf16\): 2 layers × 2 KV heads × 16 head dim/);
    const a = await run(['inspect', LORA]);
    assert.match(a.out, /adapter coverage: 8 modules, 7,168 trainable parameters/);
    assert.match(a.out, /model\.layers\.1 +8 +8 +8 +8/);
    assert.match(a.out, /pass --base <path>/);
  });

  it('a kohya adapter names its base by ss_base_model_version', async () => {
    const j = await inspectJson([join(REPO, 'samples/kohya-style-lora.safetensors')]);
    assert.equal(j.architecture?.family, 'sd1');
    assert.deepEqual(j.architecture?.evidence, [
      { source: 'kohya', claim: 'ss_base_model_version = "sd_v1"' },
    ]);
    assert.equal(j.architecture?.components.length, 0);
  });

  it('--base on a file that is not an adapter is refused by name', async () => {
    const r = await run(['inspect', BASE, '--base', BASE, '--json']);
    assert.equal(r.code, 2);
    assert.match(r.out, /--base is for an adapter/);
  });
});
