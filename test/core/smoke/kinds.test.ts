import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { writeSafetensors } from '../../../src/core/export/safetensorsWriter.js';
import {
  summarizeDtypes,
  type Checkpoint,
  type TensorInfo,
} from '../../../src/core/formats/checkpoint.js';
import { randomNormal } from '../../../src/core/smoke/reference.js';
import { runSmoke } from '../../../src/core/smoke/run.js';
import type { SmokeModuleResult, SmokeReport } from '../../../src/core/smoke/types.js';

/** Writes seeded random F32 tensors (magnitudes ≥ 1, as DoRA's are) as a safetensors file. */
async function writeRandom(path: string, shapes: Record<string, number[]>): Promise<void> {
  const infos: TensorInfo[] = Object.entries(shapes).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, dtype: 'F32', shape, offset: -1, byteLength: 4 * n, parameterCount: n };
  });
  const byName = new Map(infos.map((t) => [t.name, t]));
  const cp: Checkpoint = {
    format: 'safetensors',
    name: path,
    fileSize: 0,
    headerByteLength: 0,
    tensors: infos,
    metadata: {},
    parameterCount: 0,
    dataBytes: 0,
    dtypes: summarizeDtypes(infos),
    tensor: (n) => byName.get(n) as TensorInfo,
    close: () => Promise.resolve(),
    readTensorBytes: (t) => {
      const v = randomNormal(t.parameterCount, infos.indexOf(t) + 1);
      const magnitude = t.name.includes('magnitude');
      for (let i = 0; i < v.length; i++)
        v[i] = magnitude ? 1 + Math.abs(v[i] as number) : (v[i] as number) * 0.1;
      return Promise.resolve(new Uint8Array(v.buffer));
    },
  };
  await writeSafetensors(
    path,
    infos.map((t) => ({ name: t.name, from: t, checkpoint: cp })),
    {},
  );
}

const P = 'base_model.model.';
let dir: string;
let report: SmokeReport;
const result = (suffix: string): SmokeModuleResult => {
  const m = report.modules.find((x) => x.module.endsWith(suffix));
  assert.ok(m, suffix);
  return m;
};

// A PEFT DoRA adapter with an embedding, a 3×3 conv, a DoRA linear and a LoHa module.
describe('runSmoke on every module kind the engine knows', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lora-lens-kinds-'));
    mkdirSync(join(dir, 'base'));
    mkdirSync(join(dir, 'adapter'));
    await writeRandom(join(dir, 'base', 'model.safetensors'), {
      'model.embed_tokens.weight': [50, 16],
      'model.layers.0.self_attn.q_proj.weight': [16, 16],
      'model.layers.0.mlp.down_proj.weight': [16, 24],
      'conv_in.weight': [8, 4, 3, 3],
    });
    await writeRandom(join(dir, 'adapter', 'adapter_model.safetensors'), {
      [`${P}model.embed_tokens.lora_embedding_A`]: [4, 50],
      [`${P}model.embed_tokens.lora_embedding_B`]: [16, 4],
      [`${P}model.layers.0.self_attn.q_proj.lora_A.weight`]: [4, 16],
      [`${P}model.layers.0.self_attn.q_proj.lora_B.weight`]: [16, 4],
      [`${P}model.layers.0.self_attn.q_proj.lora_magnitude_vector`]: [16],
      [`${P}conv_in.lora_A.weight`]: [4, 4, 3, 3],
      [`${P}conv_in.lora_B.weight`]: [8, 4, 1, 1],
      [`${P}model.layers.0.mlp.down_proj.hada_w1_a`]: [16, 4],
      [`${P}model.layers.0.mlp.down_proj.hada_w1_b`]: [4, 24],
      [`${P}model.layers.0.mlp.down_proj.hada_w2_a`]: [16, 4],
      [`${P}model.layers.0.mlp.down_proj.hada_w2_b`]: [4, 24],
    });
    writeFileSync(
      join(dir, 'adapter', 'adapter_config.json'),
      JSON.stringify({
        peft_type: 'LORA',
        r: 4,
        lora_alpha: 8,
        use_dora: true,
        target_modules: ['q_proj', 'embed_tokens', 'conv_in'],
      }),
    );
    report = await runSmoke(
      { adapterPath: join(dir, 'adapter'), basePath: join(dir, 'base'), eps: ['cpu'] },
      ort,
      { tempDir: dir },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs conv, embedding, DoRA and LoHa (its own ΔW graph) graphs', () => {
    assert.equal(report.ok, true, report.verdict);
    assert.equal(report.verdict, '4/4 modules pass on cpu');
    const conv = result('conv_in');
    assert.equal(conv.variant, 'conv');
    assert.match(
      conv.checks.find((c) => c.name === 'reference')?.message ?? '',
      /conv 3×3 assumed stride 1, padding 1×1, dilation 1, groups 1/,
    );
    assert.equal(result('embed_tokens').variant, 'embedding');
    assert.equal(result('q_proj').variant, 'dora-linear');
    for (const m of [conv, result('embed_tokens'), result('q_proj')]) {
      assert.equal(m.status, 'pass', JSON.stringify(m.checks));
      assert.ok((m.maxAbsErr ?? 1) < 1e-5);
      assert.ok((m.deltaRatio ?? 0) > 0.01);
    }
    const loha = result('down_proj');
    assert.equal(loha.variant, 'effect-delta');
    assert.equal(loha.status, 'pass', JSON.stringify(loha.checks));
    assert.ok((loha.maxAbsErr ?? 1) < 1e-4);
  });
});
