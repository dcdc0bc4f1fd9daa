/**
 * Every adapter method PEFT 0.21 wrote into test/fixtures/methods/ (scripts/fixtures/methods/generate.py),
 * end to end: inspect names the method and counts its modules, the smoke test passes on CPU (and
 * WebGPU where it runs), the merge equals PEFT's merge_and_unload() within 1e-5 relative, and a copy
 * with one NaN fails the smoke test naming its module.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { mergeAdapter } from '../../../../src/core/export/merge/index.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { readFloatTensor } from '../../../../src/core/formats/quant/readFloat.js';
import { openMappedPair } from '../../../../src/core/mapping/mappedPair.js';
import { runSmoke } from '../../../../src/core/smoke/run.js';
import { skipWithoutWebgpu } from '../../../helpers/webgpu.js';
import { corruptFirstValue } from './corrupt.js';

const FIX = 'test/fixtures/methods';
const BASE = `${FIX}/base`;

interface Expected {
  readonly method: string;
  readonly peft_type: string;
  readonly modules: number;
  readonly merged_tensors: readonly string[];
}

/** Fixture folder → the registry method that owns its modules. */
const METHOD_OF: Readonly<Record<string, string>> = {
  rslora: 'lora',
  dora: 'lora',
  'lora-mts': 'lora',
};
const ONLY = process.env['LORA_LENS_METHODS']?.split(',');
/** Fixtures PEFT writes that LoRA Lens refuses on purpose, with the reason it must give. */
const REFUSED: Readonly<Record<string, RegExp>> = {
  'vera-noproj': /projection_prng_key/,
  'miss-bat': /MiSS 'bat' mode/,
};

const folders = existsSync(FIX)
  ? readdirSync(FIX)
      .filter((d) => existsSync(join(FIX, d, 'expected.json')))
      .filter((d) => !ONLY || ONLY.includes(d))
  : [];

function expectedOf(dir: string): Expected {
  return JSON.parse(readFileSync(join(FIX, dir, 'expected.json'), 'utf8')) as Expected;
}

function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    scale += (b[i] as number) ** 2;
  }
  return Math.sqrt(diff) / (Math.sqrt(scale) || 1);
}

describe('PEFT 0.21 adapter methods, end to end', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'lora-lens-methods-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('has fixtures for the methods', () => {
    if (!ONLY) assert.ok(folders.length >= 10, `only ${folders.length} method fixtures`);
  });

  for (const dir of folders) {
    const adapter = join(FIX, dir);
    describe(dir, () => {
      const expected = expectedOf(dir);
      const method = METHOD_OF[dir] ?? dir.split('-')[0] ?? '';
      const refused = REFUSED[dir];

      it(`inspect names ${method} and counts ${expected.modules} modules`, async () => {
        const pair = await openMappedPair({ adapterPath: adapter, basePath: BASE });
        try {
          const mods = pair.analysis.modules;
          assert.equal(pair.analysis.family, 'peft');
          assert.equal(mods.length, expected.modules, pair.analysis.warnings.join('\n'));
          for (const m of mods) assert.equal(m.method?.id, method, m.name);
          if (!refused)
            assert.ok(
              !pair.analysis.warnings.some((w) => w.startsWith('shape inconsistencies')),
              pair.analysis.warnings.join('\n'),
            );
          assert.equal(pair.mapping.mappings.length, expected.modules);
        } finally {
          await pair.close();
        }
      });

      for (const ep of ['cpu', 'webgpu'] as const)
        it(`smoke on ${ep}${refused ? ' refuses by name' : ' passes'}`, async (t) => {
          const run = runSmoke({ adapterPath: adapter, basePath: BASE, eps: [ep] }, ort, {
            tempDir: tmp,
          });
          // Without a Vulkan driver, asking for WebGPU alone is NoExecutionProvider: a skip here.
          const report = await run.catch((e: unknown) => {
            if (ep === 'webgpu' && (e as { code?: unknown }).code === 'NoExecutionProvider') {
              skipWithoutWebgpu(t, String((e as Error).message));
              return undefined;
            }
            throw e;
          });
          if (!report) return;
          if (ep === 'webgpu' && report.ep !== 'webgpu') {
            skipWithoutWebgpu(t, report.verdict);
            return;
          }
          if (refused) {
            assert.equal(report.ok, false);
            for (const m of report.modules) assert.match(JSON.stringify(m.checks), refused);
            return;
          }
          const bad = report.modules.filter((m) => m.status !== 'pass');
          assert.equal(report.ok, true, report.verdict);
          assert.deepEqual(
            bad.map((m) => `${m.module}: ${JSON.stringify(m.checks)}`),
            [],
          );
          assert.equal(report.modules.length, expected.modules);
        });

      it(`merge ${refused ? 'is refused by name' : 'equals merge_and_unload() within 1e-5'}`, async () => {
        const out = join(tmp, `${dir}.safetensors`);
        const req = { adapterPath: adapter, basePath: BASE, outPath: out };
        if (refused) {
          await assert.rejects(mergeAdapter(req), refused);
          return;
        }
        await mergeAdapter(req);
        const ours = await openPath(out);
        const truth = await openPath(join(adapter, 'merged.safetensors'));
        const base = await openPath(BASE);
        try {
          const changed = new Set(truth.tensors.map((t) => t.name));
          assert.ok(changed.size > 0);
          for (const t of truth.tensors) {
            const err = relError(
              await readFloatTensor(ours, ours.tensor(t.name)),
              await readFloatTensor(truth, t),
            );
            assert.ok(err <= 1e-5, `${t.name}: relative error ${err}`);
          }
          for (const t of base.tensors) {
            if (changed.has(t.name)) continue;
            const err = relError(
              await readFloatTensor(ours, ours.tensor(t.name)),
              await readFloatTensor(base, t),
            );
            assert.equal(err, 0, `${t.name} changed but PEFT leaves it as is`);
          }
        } finally {
          await ours.close();
          await truth.close();
          await base.close();
        }
      });

      if (!refused)
        it('a copy with one NaN fails the smoke test naming its module', async () => {
          const copy = join(tmp, `${dir}-nan`);
          cpSync(adapter, copy, { recursive: true });
          const file = join(copy, 'adapter_model.safetensors');
          const hit = corruptFirstValue(file);
          writeFileSync(join(copy, 'corrupted.txt'), hit);
          const report = await runSmoke({ adapterPath: copy, basePath: BASE, eps: ['cpu'] }, ort, {
            tempDir: tmp,
          });
          assert.equal(report.ok, false, report.verdict);
          const failed = report.modules.filter((m) => !m.ok);
          assert.ok(failed.length > 0);
          assert.ok(
            failed.some(
              (m) => hit.includes(m.module) || m.module.includes(hit.replace(/\.[^.]*$/, '')),
            ),
            `${hit} vs ${failed.map((m) => m.module).join(', ')}`,
          );
        });
    });
  }
});
