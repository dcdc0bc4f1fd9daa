/**
 * Module pairing across namings (name, target, kohya-flattened, the mapping engine), settings
 * changes, tensor renames by module part, and the bound on the mapping engine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffCheckpoints, diffHeaders, pairModules } from '../../../src/core/compare/index.js';
import { MemoryByteSource } from '../../../src/core/formats/byteSource.js';
import type { Checkpoint } from '../../../src/core/formats/checkpoint.js';
import { openSafetensors } from '../../../src/core/formats/safetensors.js';
import { analyzeLora, type LoraAnalysis, type LoraModule } from '../../../src/core/lora/index.js';
import { buildSafetensors, f32Bytes, type TensorSpec } from '../../helpers/safetensorsBuilder.js';

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function pair(
  down: string,
  up: string,
  r: number,
  out: number,
  inF: number,
  seed: number,
  transposed = false,
): TensorSpec[] {
  return [
    {
      name: down,
      dtype: 'F32',
      shape: transposed ? [inF, r] : [r, inF],
      data: f32Bytes(values(r * inF, seed)),
    },
    {
      name: up,
      dtype: 'F32',
      shape: transposed ? [r, out] : [out, r],
      data: f32Bytes(values(out * r, seed + 1)),
    },
  ];
}

async function open(tensors: TensorSpec[], metadata?: Record<string, string>): Promise<Checkpoint> {
  return openSafetensors(new MemoryByteSource(buildSafetensors(tensors, metadata)));
}

const peft = (path: string): [string, string] => [
  `base_model.model.${path}.lora_A.weight`,
  `base_model.model.${path}.lora_B.weight`,
];

describe('module pairing', () => {
  it('GPT-2 names against Llama names: only the mapping engine pairs them, shape-exact', async () => {
    const a = await open([
      ...pair(...peft('model.layers.0.self_attn.q_proj'), 4, 16, 16, 1),
      ...pair(...peft('model.layers.0.mlp.down_proj'), 4, 16, 32, 3),
    ]);
    const b = await open([
      ...pair(...peft('transformer.h.0.attn.q_proj'), 4, 16, 16, 5),
      ...pair(...peft('transformer.h.0.mlp.down_proj'), 4, 16, 32, 7),
    ]);
    const r = await diffCheckpoints({ path: 'a', checkpoint: a }, { path: 'b', checkpoint: b });
    const ad = r.adapters;
    assert.ok(ad);
    assert.deepEqual(
      ad.pairs.map((p) => [p.target, p.via]),
      [
        ['model.layers.0.self_attn.q_proj', 'mapping'],
        ['model.layers.0.mlp.down_proj', 'mapping'],
      ],
    );
    assert.ok(ad.pairs.every((p) => (p.confidence ?? 0) > 0 && typeof p.reason === 'string'));
    assert.equal(r.keys.renamed.length, 4);
    assert.equal(r.keys.onlyA.length + r.keys.onlyB.length, 0);
  });

  it('a mismatched shape is never paired by the mapping engine', async () => {
    const a = await open([...pair(...peft('model.layers.0.self_attn.q_proj'), 4, 16, 16, 1)]);
    const b = await open([...pair(...peft('transformer.h.0.attn.q_proj'), 4, 24, 16, 5)]);
    const r = await diffCheckpoints({ path: 'a', checkpoint: a }, { path: 'b', checkpoint: b });
    assert.equal(r.adapters?.pairs.length, 0);
    assert.equal(r.keys.onlyA.length, 2);
    assert.deepEqual(r.differences, ['keys-only-in-a', 'keys-only-in-b']);
  });

  it('MLX (transposed) against PEFT: same target, renamed parts stored transposed, no shape change', async () => {
    const a = await open([...pair(...peft('model.layers.0.self_attn.q_proj'), 4, 16, 24, 1)]);
    const b = await open([
      ...pair(
        'model.layers.0.self_attn.q_proj.lora_a',
        'model.layers.0.self_attn.q_proj.lora_b',
        4,
        16,
        24,
        1,
        true,
      ),
    ]);
    const r = await diffCheckpoints(
      { path: 'a', checkpoint: a },
      { path: 'b', checkpoint: b },
      { norms: true },
    );
    assert.equal(r.adapters?.familyB, 'mlx');
    assert.equal(r.adapters?.pairs.length, 1);
    assert.equal(r.keys.changed.length, 0);
    assert.ok(r.keys.renamed.every((k) => k.transposed === true && k.via === 'module'));
  });

  it('settings: rank, alpha and scale per module (kohya alpha scalars read)', async () => {
    const name = 'lora_unet_model_layers_0_self_attn_q_proj';
    const mk = (alpha: number): Promise<Checkpoint> =>
      open([
        ...pair(`${name}.lora_down.weight`, `${name}.lora_up.weight`, 4, 16, 16, 1),
        { name: `${name}.alpha`, dtype: 'F32', shape: [], data: f32Bytes([alpha]) },
      ]);
    const r = await diffCheckpoints(
      { path: 'a', checkpoint: await mk(4) },
      { path: 'b', checkpoint: await mk(8) },
    );
    assert.deepEqual(r.adapters?.changes[0]?.changes, [
      { field: 'alpha', a: 4, b: 8 },
      { field: 'scale', a: 1, b: 2 },
    ]);
    assert.deepEqual(r.differences, ['module-settings']);
  });

  it('more unpaired modules than the mapping engine is given: a note, no mapping run', async () => {
    const a = await open([...pair(...peft('model.layers.0.self_attn.q_proj'), 4, 16, 16, 1)]);
    const b = await open([...pair(...peft('transformer.h.0.attn.q_proj'), 4, 16, 16, 5)]);
    const [la, lb] = [await analyzeLora(a), await analyzeLora(b)];
    const p = pairModules(la, lb, { a, b }, 0);
    assert.equal(p.pairs.length, 0);
    assert.match(p.notes[0] ?? '', /mapping engine is not run/);
  });
});

describe('module pairing of large adapters', () => {
  it('200k modules a side, kohya against PEFT names: hash passes only', () => {
    const N = 200_000;
    const mod = (name: string, target: string, i: number): LoraModule =>
      ({
        name,
        target,
        kind: 'linear',
        label: 'linear',
        rank: 4,
        alpha: 4,
        scale: 1,
        scaleRule: 'alpha/rank',
        alphaOrigin: 'tensor',
        alphaSources: [],
        tensors: [],
        parts: { down: `${name}.d${i}`, up: `${name}.u${i}` },
        orientation: 'standard',
        inFeatures: 8,
        outFeatures: 8,
      }) as LoraModule;
    const analysis = (family: LoraAnalysis['family'], modules: LoraModule[]): LoraAnalysis =>
      ({ family, modules }) as unknown as LoraAnalysis;
    const a: LoraModule[] = [];
    const b: LoraModule[] = [];
    for (let i = 0; i < N; i++) {
      const path = `model.layers.${i}.self_attn.q_proj`;
      a.push(mod(`base_model.model.${path}`, path, i));
      const flat = `lora_unet_${path.replace(/\./g, '_')}`;
      b.push(mod(flat, flat, i));
    }
    const started = performance.now();
    const p = pairModules(analysis('peft', a), analysis('kohya', b), {
      a: { tensors: [] } as never,
      b: { tensors: [] } as never,
    });
    assert.equal(p.pairs.length, N);
    assert.ok(p.pairs.every((x) => x.pair.via === 'flattened-name'));
    console.log(`# 200k-module pairing: ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('diffHeaders without analyses is a key diff only', () => {
    const h = diffHeaders(
      { info: { tensors: [] } as never, analysis: null },
      { info: { tensors: [] } as never, analysis: null },
    );
    assert.equal(h.adapters, null);
  });
});
