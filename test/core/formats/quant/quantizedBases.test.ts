/**
 * The whole path on quantized bases: the PEFT adapter of test/fixtures/quant/adapter onto the same tiny
 * Llama quantized by each scheme's real layout (generators in scripts/fixtures/quant/). For every base:
 * map 7/7 `high` naming the scheme, the smoke test passes on CPU (and WebGPU where it runs), and the
 * merge equals the generator's independent dequantization + s·B@A within 1e-4 relative.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { mergeAdapter } from '../../../../src/core/export/merge/index.js';
import { openMappedPair } from '../../../../src/core/mapping/mappedPair.js';
import { runSmoke } from '../../../../src/core/smoke/run.js';
import type { SmokeReport } from '../../../../src/core/smoke/types.js';
import { skipWithoutWebgpu } from '../../../helpers/webgpu.js';
import { assertMergedEquals } from '../../../helpers/mergedEquals.js';

const FIX = 'test/fixtures/quant';

interface Case {
  readonly name: string;
  readonly adapter: string;
  readonly base: string;
  /** The merged model in F32, from the generator. */
  readonly truth: string;
  /** What the mapping says the targets are (null: a float base). */
  readonly scheme: RegExp | null;
}

/** [fixture folder, base file in it, what the mapping names as the target's scheme]. */
const QUANTIZED: readonly [string, string, RegExp][] = [
  ['gptq-v1-g128', 'model.safetensors', /^GPTQ int4 g128/],
  ['gptq-v1-descact-g64', 'model.safetensors', /^GPTQ int4 g64 .*desc_act/],
  ['gptq-v2-8bit', 'model.safetensors', /^GPTQ int8/],
  ['awq-gemm-g128', 'model.safetensors', /^AWQ/],
  ['ct-int4-group128', 'model.safetensors', /int4/i],
  ['ct-int8-channel', 'model.safetensors', /int8/i],
  ['bnb-int8', 'model.safetensors', /LLM\.int8/],
  ['bnb-nf4', 'model.safetensors', /^NF4/],
  ['bnb-nf4-double', 'model.safetensors', /^NF4 .*double quant/],
  ['bnb-fp4', 'model.safetensors', /^FP4/],
  ['fp8-tensor', 'model.safetensors', /F8_E4M3 per-tensor/],
  ['fp8-channel', 'model.safetensors', /F8_E4M3 per-channel/],
  ['fp8-block128', 'model.safetensors', /F8_E4M3 blocks of 128/],
  ['gguf-q4_0', 'model.gguf', /^Q4_0$/],
  ['gguf-q8_0', 'model.gguf', /^Q8_0$/],
  ['gguf-q4_k', 'model.gguf', /^Q4_K$/],
  ['gguf-mixed', 'model.gguf', /^Q[2-6]_[01K]$/],
];

const CASES: readonly Case[] = [
  {
    name: 'FP8 adapter on the float base',
    adapter: `${FIX}/adapter-fp8`,
    base: `${FIX}/base`,
    truth: `${FIX}/adapter-fp8/merged.safetensors`,
    scheme: null,
  },
  ...QUANTIZED.map(([dir, file, scheme]) => ({
    name: dir,
    adapter: `${FIX}/adapter`,
    base: `${FIX}/${dir}/${file}`,
    truth: `${FIX}/${dir}/merged.safetensors`,
    scheme,
  })),
];

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lora-lens-quant-'));
});
after(() => rm(work, { recursive: true, force: true }));

function assertAllPass(r: SmokeReport): void {
  const failed = r.modules.filter((m) => m.status !== 'pass');
  assert.deepEqual(
    failed.map((m) => `${m.module}: ${m.status} ${m.checks.map((c) => c.message).join('; ')}`),
    [],
  );
  assert.equal(r.modules.length, 7);
  assert.equal(r.ok, true);
}

for (const c of CASES) {
  describe(c.name, () => {
    it('fixtures exist', () => {
      for (const p of [c.adapter, c.base, c.truth]) assert.ok(existsSync(p), `missing ${p}`);
    });

    it('maps 7/7 modules high by logical shape, naming the scheme', async () => {
      const pair = await openMappedPair({ adapterPath: c.adapter, basePath: c.base });
      try {
        assert.equal(pair.mapping.mappings.length, 7);
        for (const e of pair.mapping.mappings) {
          assert.equal(e.level, 'high', `${e.module} → ${e.target}: ${e.reason}`);
          if (c.scheme) assert.match(e.targetQuant ?? '', c.scheme, e.target);
          else assert.equal(e.targetQuant, undefined);
        }
        if (!c.scheme) assert.ok(pair.analysis.warnings.some((w) => /quantized adapter/.test(w)));
      } finally {
        await pair.close();
      }
    });

    it('passes the smoke test on CPU', async () => {
      const r = await runSmoke({ adapterPath: c.adapter, basePath: c.base, eps: ['cpu'] }, ort, {
        tempDir: work,
      });
      assertAllPass(r);
      if (c.scheme)
        for (const m of r.modules)
          assert.match(m.checks.find((x) => x.name === 'shape')?.message ?? '', /dequantized/);
    });

    it('passes the smoke test on WebGPU', async (t) => {
      const r = await runSmoke({ adapterPath: c.adapter, basePath: c.base, eps: ['webgpu'] }, ort, {
        tempDir: work,
      }).catch((e: unknown) => e as Error);
      if (r instanceof Error) return skipWithoutWebgpu(t, r.message);
      if (r.ep !== 'webgpu') return skipWithoutWebgpu(t, `ran on ${r.ep}`);
      assertAllPass(r);
    });

    it('merges to the reference dequantization + s·B@A within 1e-4', async () => {
      const out = join(work, `${c.name.replace(/\W+/g, '-')}.safetensors`);
      const report = await mergeAdapter(
        { adapterPath: c.adapter, basePath: c.base, outPath: out },
        { dtype: 'F32' },
      );
      assert.equal(report.patched.length, 7);
      if (c.scheme) assert.match((report.notes ?? []).join(' '), /re-quantizing .* out of scope/);
      await assertMergedEquals(out, c.truth, 1e-4);
    });
  });
}
