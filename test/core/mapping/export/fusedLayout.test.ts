import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  Checkpoint,
  CheckpointInfo,
  PlainValue,
} from '../../../../src/core/formats/checkpoint.js';
import { withComputed } from '../../../../src/core/mapping/export/computedTensors.js';
import { convertFused } from '../../../../src/core/mapping/export/convert.js';
import { exportRemapped } from '../../../../src/core/mapping/export/remap.js';
import {
  fusedKindOfPath,
  groupedLayout,
  memberRows,
} from '../../../../src/core/mapping/export/fusedLayout.js';
import { analyzeLoraSync } from '../../../../src/core/lora/index.js';
import { mapAdapter } from '../../../../src/core/mapping/index.js';
import { infoFrom } from '../../lora/loraTestInfo.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeValues } from '../../../../src/core/formats/decode.js';

function must<T>(x: T | undefined): T {
  assert.ok(x !== undefined);
  return x;
}
const num = (x: number | bigint | undefined): number => Number(must(x));

/** A checkpoint of F32 matrices held in memory (values given, or i/10 for element i). */
function memory(
  tensors: Readonly<Record<string, readonly [number, number]>>,
  configs: Record<string, PlainValue> = {},
): Checkpoint {
  const empty = infoFrom({}, { configs });
  const source: Checkpoint = {
    ...(empty as CheckpointInfo),
    tensor: (n: string) => {
      throw new Error(`no ${n}`);
    },
    readTensorBytes: () => Promise.reject(new Error('no bytes')),
    close: () => Promise.resolve(),
  };
  let seed = 1;
  return withComputed(
    source,
    Object.entries(tensors).map(([name, shape]) => {
      const values = Float64Array.from(
        { length: shape[0] * shape[1] },
        () => (seed++ % 17) / 8 - 1,
      );
      return {
        name,
        dtype: 'F32',
        shape,
        compute: () => Promise.resolve({ rows: shape[0], cols: shape[1], values }),
      };
    }),
  );
}

const LLAMA_CFG = {
  'adapter_config.json': {
    peft_type: 'LORA',
    r: 2,
    lora_alpha: 4,
    target_modules: ['q_proj', 'k_proj', 'v_proj'],
  },
};

describe('fused layouts', () => {
  it('knows which names are fused and how', () => {
    assert.deepEqual(fusedKindOfPath('model.layers.0.self_attn.qkv_proj'), {
      kind: 'qkv',
      grouped: false,
    });
    assert.deepEqual(fusedKindOfPath('transformer.h.0.attn.c_attn'), {
      kind: 'qkv',
      grouped: false,
    });
    assert.deepEqual(fusedKindOfPath('gpt_neox.layers.0.attention.query_key_value'), {
      kind: 'qkv',
      grouped: true,
    });
    assert.deepEqual(fusedKindOfPath('model.layers.0.mlp.gate_up_proj'), {
      kind: 'gate_up',
      grouped: false,
    });
    assert.deepEqual(fusedKindOfPath('single_blocks.3.linear1'), {
      kind: 'linear1',
      grouped: false,
    });
    assert.equal(fusedKindOfPath('model.layers.0.self_attn.q_proj'), null);
  });

  it('GPT-NeoX query_key_value: rows [heads, 3, head_dim]; Falcon new_decoder_architecture: [kv, q/kv + 2, head_dim]', () => {
    const neox = groupedLayout(
      'qkv',
      12,
      { model_type: 'gpt_neox', num_attention_heads: 2, hidden_size: 4 },
      '--base',
    );
    assert.ok(neox);
    assert.deepEqual(memberRows(neox), [
      [0, 1, 6, 7],
      [2, 3, 8, 9],
      [4, 5, 10, 11],
    ]);
    const falcon = groupedLayout(
      'qkv',
      8,
      {
        model_type: 'falcon',
        new_decoder_architecture: true,
        num_attention_heads: 2,
        num_kv_heads: 1,
        hidden_size: 4,
      },
      '--base',
    );
    assert.ok(falcon);
    assert.deepEqual(memberRows(falcon), [
      [0, 1, 2, 3],
      [4, 5],
      [6, 7],
    ]);
    // Falcon multi_query without the new architecture keeps [q; k; v] contiguous.
    assert.equal(
      groupedLayout(
        'qkv',
        8,
        { model_type: 'falcon', multi_query: true, num_attention_heads: 2, hidden_size: 4 },
        '--base',
      ),
      null,
    );
  });

  it('refuses a grouped layout without heads, or with heads that do not give the rows, by name', () => {
    assert.throws(
      () => groupedLayout('gpt_neox.layers.0.attention.query_key_value.weight', 12, null, '--base'),
      {
        code: 'InvalidExport',
        message: /not determined without num_attention_heads.*config\.json/,
      },
    );
    assert.throws(
      () => groupedLayout('x', 12, { num_attention_heads: 3, hidden_size: 6 }, '--base'),
      {
        code: 'InvalidExport',
        message: /x has 12 rows, but 3 heads/,
      },
    );
  });
});

describe('fuse and split on GPT-NeoX and GPT-2 layouts', () => {
  const Q = 'base_model.model.gpt_neox.layers.0.attention.q_proj';
  it('fuses q/k/v onto a NeoX query_key_value with the head permutation (exact B·A per member rows)', async () => {
    const adapter = memory(
      Object.fromEntries(
        ['q_proj', 'k_proj', 'v_proj'].flatMap((p) => [
          [`${Q.replace('q_proj', p)}.lora_A.weight`, [2, 4] as const],
          [`${Q.replace('q_proj', p)}.lora_B.weight`, [4, 2] as const],
        ]),
      ),
      LLAMA_CFG,
    );
    const analysis = analyzeLoraSync(adapter);
    const baseInfo = infoFrom(
      { 'gpt_neox.layers.0.attention.query_key_value.weight': [12, 4] },
      {
        configs: {
          'config.json': { model_type: 'gpt_neox', num_attention_heads: 2, hidden_size: 4 },
        },
      },
    );
    const base = {
      ...baseInfo,
      tensor: (n: string) => must(baseInfo.tensors.find((t) => t.name === n)),
      readTensorBytes: () => Promise.reject(new Error('x')),
      close: () => Promise.resolve(),
    } as Checkpoint;
    const slice = (start: number) => ({ axis: 0 as const, start, end: start + 4 });
    const mapping = {
      mappings: ['q_proj', 'k_proj', 'v_proj'].map((p, i) => ({
        module: Q.replace('q_proj', p),
        target: 'gpt_neox.layers.0.attention.query_key_value.weight',
        confidence: 1,
        level: 'high' as const,
        reason: 'test',
        shapeCheck: 'slice' as const,
        transposed: false,
        slice: slice(4 * i),
        source: 'matcher' as const,
        alternatives: [],
      })),
      unmatchedAdapter: [],
      unusedBase: [],
      conflicts: [],
    };
    const dir = await mkdtemp(join(tmpdir(), 'lora-lens-neox-'));
    try {
      const out = join(dir, 'a.safetensors');
      const r = await exportRemapped(adapter, analysis, mapping, {
        out,
        naming: 'base',
        sourcePaths: [],
        base,
      });
      assert.equal(
        r.conversions[0]?.layout,
        'q 4 + k 4 + v 4, grouped per KV head (2 groups × head_dim 2)',
      );
      const w = await openPath(out);
      const A = decodeValues(
        await w.readTensorBytes(
          w.tensor('gpt_neox.layers.0.attention.query_key_value.lora_A.weight'),
        ),
        'F32',
      );
      const B = decodeValues(
        await w.readTensorBytes(
          w.tensor('gpt_neox.layers.0.attention.query_key_value.lora_B.weight'),
        ),
        'F32',
      );
      await w.close();
      const rows = [
        [0, 1, 6, 7],
        [2, 3, 8, 9],
        [4, 5, 10, 11],
      ];
      for (const [i, p] of ['q_proj', 'k_proj', 'v_proj'].entries()) {
        const a = decodeValues(
          await adapter.readTensorBytes(adapter.tensor(`${Q.replace('q_proj', p)}.lora_A.weight`)),
          'F32',
        );
        const b = decodeValues(
          await adapter.readTensorBytes(adapter.tensor(`${Q.replace('q_proj', p)}.lora_B.weight`)),
          'F32',
        );
        for (let j = 0; j < 4; j++)
          for (let c = 0; c < 4; c++) {
            let want = 0;
            for (let k = 0; k < 2; k++) want += num(b[j * 2 + k]) * num(a[k * 4 + c]);
            let got = 0;
            const row = num(rows[i]?.[j]);
            for (let k = 0; k < 6; k++) got += num(B[row * 6 + k]) * num(A[k * 4 + c]);
            assert.ok(Math.abs(got - want) < 1e-6, `${p} row ${j} col ${c}: ${got} vs ${want}`);
          }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('maps q/k/v onto GPT-2 c_attn (Conv1D, stored [in, 3·out]) and fuses them with fan_in_fan_out', async () => {
    const adapter = memory(
      Object.fromEntries(
        ['q_proj', 'k_proj', 'v_proj'].flatMap((p) => [
          [`base_model.model.h.0.attn.${p}.lora_A.weight`, [2, 4] as const],
          [`base_model.model.h.0.attn.${p}.lora_B.weight`, [4, 2] as const],
        ]),
      ),
      LLAMA_CFG,
    );
    const analysis = analyzeLoraSync(adapter);
    const baseInfo = infoFrom({ 'h.0.attn.c_attn.weight': [4, 12] });
    const base = {
      ...baseInfo,
      tensor: (n: string) => must(baseInfo.tensors.find((t) => t.name === n)),
      readTensorBytes: () => Promise.reject(new Error('x')),
      close: () => Promise.resolve(),
    } as Checkpoint;
    const mapping = mapAdapter({ analysis, info: adapter }, baseInfo);
    assert.deepEqual(
      mapping.mappings
        .map((e) => [e.module.split('.').pop(), e.slice?.axis, e.slice?.start, e.transposed])
        .sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        ['k_proj', 1, 4, true],
        ['q_proj', 1, 0, true],
        ['v_proj', 1, 8, true],
      ],
    );
    const c = convertFused(adapter, analysis, mapping, base);
    assert.equal(c.conversions.length, 1);
    assert.equal(c.mapping.mappings[0]?.transposed, true);
    assert.equal(c.mapping.mappings[0]?.target, 'h.0.attn.c_attn.weight');
    assert.equal(c.analysis.modules[0]?.rank, 6);
  });
});
