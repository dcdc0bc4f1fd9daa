import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openPath, type Checkpoint } from '../../../../src/core/formats/index.js';
import { analyzeLora, type LoraAnalysis } from '../../../../src/core/lora/index.js';
import {
  exportRemapped,
  ggufName,
  kohyaName,
  permuteRows,
  ropeFromConfig,
  transpose2d,
  type ExportNaming,
} from '../../../../src/core/mapping/export/remap.js';
import { loaderSnippet } from '../../../../src/core/mapping/export/snippet.js';
import { ADAPTER, ADAPTER_FILE, BASE, f32, handMapping } from './helpers.js';

const Q0 = 'base_model.model.model.layers.0.self_attn.q_proj';
const K1 = 'base_model.model.model.layers.1.self_attn.k_proj';

describe('remapped adapter export', () => {
  let dir = '';
  let adapter: Checkpoint;
  let base: Checkpoint;
  let analysis: LoraAnalysis;
  const sourcePaths = [resolve(ADAPTER_FILE), resolve(BASE)];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-remap-'));
    adapter = await openPath(ADAPTER);
    base = await openPath(BASE);
    analysis = await analyzeLora(adapter);
  });
  after(async () => {
    await adapter.close();
    await base.close();
    await rm(dir, { recursive: true, force: true });
  });

  const src = (module: string, part: 'lora_A' | 'lora_B') =>
    adapter.readTensorBytes(adapter.tensor(`${module}.${part}.weight`));

  async function exportAs(naming: ExportNaming, extra: object = {}) {
    const out = join(dir, `${naming}.safetensors`);
    const result = await exportRemapped(adapter, analysis, handMapping(analysis, base), {
      out,
      naming,
      sourcePaths,
      ...extra,
    });
    const written = await openPath(out);
    return { result, written };
  }

  /** Every source pair is in the output under `names(module)`, bit-identical. */
  async function assertCopied(
    written: Checkpoint,
    names: (target: string) => [string, string],
  ): Promise<void> {
    for (const m of analysis.modules) {
      const [a, b] = names(m.target);
      assert.deepEqual(
        await written.readTensorBytes(written.tensor(a)),
        await src(m.name, 'lora_A'),
      );
      assert.deepEqual(
        await written.readTensorBytes(written.tensor(b)),
        await src(m.name, 'lora_B'),
      );
      assert.deepEqual(written.tensor(a).shape, adapter.tensor(`${m.name}.lora_A.weight`).shape);
    }
  }

  it('base naming: <param without .weight>.lora_A/B.weight, bytes copied', async () => {
    const { result, written } = await exportAs('base');
    try {
      assert.equal(result.tensors, 16);
      assert.equal(written.tensors.length, 16);
      assert.equal(written.metadata['lora_lens.naming'], 'base');
      assert.equal(written.metadata['lora_lens.scale'], '2');
      await assertCopied(written, (t) => [`${t}.lora_A.weight`, `${t}.lora_B.weight`]);
      assert.ok(result.modules.every((m) => !m.rewritten));
    } finally {
      await written.close();
    }
  });

  it('peft naming: base_model.model. keys and an adapter_config that PEFT reads', async () => {
    const { result, written } = await exportAs('peft');
    try {
      await assertCopied(written, (t) => [
        `base_model.model.${t}.lora_A.weight`,
        `base_model.model.${t}.lora_B.weight`,
      ]);
      const cfg = result.adapterConfig;
      assert.ok(cfg);
      assert.equal(cfg.r, 8);
      assert.equal(cfg.lora_alpha, 16);
      assert.equal(cfg.peft_type, 'LORA');
      assert.deepEqual(cfg.rank_pattern, {});
      assert.equal((cfg.target_modules as string[]).length, 8);
      assert.ok((cfg.target_modules as string[]).includes('model.layers.0.self_attn.q_proj'));
      // The analyser reads the output back as PEFT.
      const again = await analyzeLora(written);
      assert.equal(again.family, 'peft');
      assert.equal(again.modules.length, 8);
    } finally {
      await written.close();
    }
  });

  it('kohya naming: lora_unet_ flattened names, lora_down/up and a 0-d F32 alpha = scale × rank', async () => {
    const { written } = await exportAs('kohya');
    try {
      const k = (t: string) => `lora_unet_${t.replace(/\./g, '_')}`;
      await assertCopied(written, (t) => [`${k(t)}.lora_down.weight`, `${k(t)}.lora_up.weight`]);
      const alpha = written.tensor(`${k('model.layers.0.self_attn.q_proj')}.alpha`);
      assert.equal(alpha.dtype, 'F32');
      assert.deepEqual(alpha.shape, []);
      assert.deepEqual([...f32(await written.readTensorBytes(alpha))], [16]);
      assert.equal(written.tensors.length, 24);
      const again = await analyzeLora(written, {
        readScalar: async (n) => f32(await written.readTensorBytes(written.tensor(n)))[0] ?? 0,
      });
      assert.equal(again.family, 'kohya');
      assert.ok(again.modules.every((m) => m.scale === 2));
    } finally {
      await written.close();
    }
  });

  it('kohya prefixes follow the component', () => {
    assert.equal(
      kohyaName('unet.down_blocks.0.attentions.0.proj_in', false),
      'lora_unet_down_blocks_0_attentions_0_proj_in',
    );
    assert.equal(
      kohyaName('text_encoder.text_model.encoder.layers.0.self_attn.k_proj', false),
      'lora_te_text_model_encoder_layers_0_self_attn_k_proj',
    );
    assert.equal(
      kohyaName('text_encoder.text_model.encoder.layers.0.mlp.fc1', true),
      'lora_te1_text_model_encoder_layers_0_mlp_fc1',
    );
    assert.equal(
      kohyaName('text_encoder_2.text_model.encoder.layers.0.mlp.fc1', true),
      'lora_te2_text_model_encoder_layers_0_mlp_fc1',
    );
    assert.equal(
      kohyaName('model.diffusion_model.input_blocks.4.1.proj_in', false),
      'lora_unet_input_blocks_4_1_proj_in',
    );
  });

  it('diffusers naming: <component>.<module>.lora_A/B.weight with lora_adapter_metadata', async () => {
    const { written } = await exportAs('diffusers', { component: 'transformer' });
    try {
      await assertCopied(written, (t) => [
        `transformer.${t}.lora_A.weight`,
        `transformer.${t}.lora_B.weight`,
      ]);
      const meta = JSON.parse(written.metadata.lora_adapter_metadata ?? '{}') as Record<
        string,
        unknown
      >;
      assert.equal(meta['transformer.r'], 8);
      assert.equal(meta['transformer.lora_alpha'], 16);
      assert.equal((meta['transformer.target_modules'] as string[]).length, 8);
    } finally {
      await written.close();
    }
  });

  it('gguf naming: blk.N.<name>.weight.lora_a/b; q/k B rows RoPE-permuted for Llama', async () => {
    const rope = ropeFromConfig(base);
    assert.deepEqual(rope, { nHead: 4, nHeadKv: 2 });
    const { result, written } = await exportAs('gguf', { ropePermute: rope });
    try {
      assert.equal(written.metadata['adapter.lora.alpha'], '16');
      // v/o and every A: copied.
      for (const [n, g] of [
        ['v_proj', 'attn_v'],
        ['o_proj', 'attn_output'],
      ] as const) {
        const m = `base_model.model.model.layers.0.self_attn.${n}`;
        assert.deepEqual(
          await written.readTensorBytes(written.tensor(`blk.0.${g}.weight.lora_b`)),
          await src(m, 'lora_B'),
        );
      }
      assert.deepEqual(
        await written.readTensorBytes(written.tensor('blk.0.attn_q.weight.lora_a')),
        await src(Q0, 'lora_A'),
      );
      // q: 64 rows, 4 heads of 16 rows: row (h, j, half) of the output = row (h, half, j) of B.
      const qB = f32(await src(Q0, 'lora_B'));
      const qOut = f32(await written.readTensorBytes(written.tensor('blk.0.attn_q.weight.lora_b')));
      const r = 8;
      const row = (a: Float32Array, i: number) => [...a.subarray(i * r, (i + 1) * r)];
      for (let h = 0; h < 4; h++)
        for (let j = 0; j < 8; j++)
          for (let half = 0; half < 2; half++)
            assert.deepEqual(row(qOut, h * 16 + j * 2 + half), row(qB, h * 16 + half * 8 + j));
      // k: 32 rows, 2 KV heads.
      const kB = f32(await src(K1, 'lora_B'));
      const kOut = f32(await written.readTensorBytes(written.tensor('blk.1.attn_k.weight.lora_b')));
      assert.deepEqual(row(kOut, 1), row(kB, 8));
      assert.deepEqual(row(kOut, 16 + 2), row(kB, 16 + 1));
      assert.equal(result.modules.filter((m) => m.rewritten).length, 4);
    } finally {
      await written.close();
    }
    assert.equal(ggufName('model.layers.7.self_attn.q_proj.weight'), 'blk.7.attn_q.weight');
    assert.equal(ggufName('model.layers.3.mlp.down_proj.weight'), 'blk.3.ffn_down.weight');
    assert.equal(ggufName('blk.2.attn_k.weight'), 'blk.2.attn_k.weight');
    assert.equal(ggufName('model.norm.weight'), null);
    assert.deepEqual([...permuteRows(new Uint8Array([0, 1, 2, 3]), 4, 1, 1)], [0, 2, 1, 3]);
  });

  it('base naming on transposed targets writes A [in,r] / B [r,out] with the values transposed', async () => {
    const out = join(dir, 'transposed.safetensors');
    const result = handMapping(analysis, base, (e) =>
      e.module === Q0 ? { ...e, transposed: true, shapeCheck: 'transposed' } : e,
    );
    const r = await exportRemapped(adapter, analysis, result, { out, naming: 'base', sourcePaths });
    const written = await openPath(out);
    try {
      const a = written.tensor('model.layers.0.self_attn.q_proj.lora_A.weight');
      const b = written.tensor('model.layers.0.self_attn.q_proj.lora_B.weight');
      assert.deepEqual(a.shape, [64, 8]);
      assert.deepEqual(b.shape, [8, 64]);
      const A = f32(await src(Q0, 'lora_A'));
      const At = f32(await written.readTensorBytes(a));
      const B = f32(await src(Q0, 'lora_B'));
      const Bt = f32(await written.readTensorBytes(b));
      for (let i = 0; i < 8; i++)
        for (let j = 0; j < 64; j++) {
          assert.equal(At[j * 8 + i], A[i * 64 + j]);
          assert.equal(Bt[i * 64 + j], B[j * 8 + i]);
        }
      assert.deepEqual(
        r.modules.filter((m) => m.rewritten).map((m) => m.module),
        [Q0],
      );
    } finally {
      await written.close();
    }
    assert.deepEqual(
      [...transpose2d(new Uint8Array([1, 2, 3, 4, 5, 6]), 2, 3, 1)],
      [1, 4, 2, 5, 3, 6],
    );
  });

  it('leaves out unmatched and mismatched modules, lists them, and refuses slices by name', async () => {
    const mapped = handMapping(analysis, base);
    const partial = {
      ...mapped,
      mappings: mapped.mappings
        .filter((e) => e.module !== K1)
        .map((e) => (e.module === Q0 ? { ...e, shapeCheck: 'mismatch' as const } : e)),
      unmatchedAdapter: [K1],
    };
    const out = join(dir, 'partial.safetensors');
    const r = await exportRemapped(adapter, analysis, partial, {
      out,
      naming: 'peft',
      sourcePaths,
    });
    assert.equal(r.tensors, 12);
    assert.deepEqual(r.skipped.map((s) => s.module).sort(), [K1, Q0].sort());
    const sliced = {
      ...mapped,
      mappings: mapped.mappings.map((e) =>
        e.module === Q0
          ? { ...e, slice: { axis: 0 as const, start: 0, end: 64 }, shapeCheck: 'slice' as const }
          : e,
      ),
    };
    await assert.rejects(
      exportRemapped(adapter, analysis, sliced, { out, naming: 'peft', sourcePaths }),
      (e: Error & { code?: string }) => e.code === 'InvalidExport' && e.message.includes(Q0),
    );
    await assert.rejects(
      exportRemapped(adapter, analysis, mapped, { out: ADAPTER_FILE, naming: 'base', sourcePaths }),
      { code: 'WouldOverwriteSource' },
    );
  });

  it('writes a Python snippet with every mapped module once, and valid syntax', () => {
    const result = handMapping(analysis, base);
    const code = loaderSnippet(result, analysis, { adapterPath: ADAPTER_FILE, basePath: BASE });
    for (const m of result.mappings)
      assert.equal(code.split(JSON.stringify(m.module)).length - 1, 1, m.module);
    assert.ok(code.includes('safe_open(ADAPTER, framework="pt")'));
    assert.ok(
      code.includes(
        '"model.layers.0.self_attn.q_proj.weight", False, None, 2.0, ".lora_A.weight", ".lora_B.weight"',
      ),
    );
    const py = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(sys.stdin.read())'], {
      input: code,
      encoding: 'utf8',
    });
    if (py.error) return; // no python3 here; CI has it
    assert.equal(py.status, 0, py.stderr);
  });
});
