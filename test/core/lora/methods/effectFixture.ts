/**
 * One PEFT method fixture (test/fixtures/methods/<dir>, written by PEFT 0.21) against a method's
 * effect: per module, effectOnWeight(effect, W) vs merged.safetensors and x·W′ᵀ vs forward.safetensors.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { effectOnWeight } from '../../../../src/core/export/merge/effects.js';
import type { Checkpoint } from '../../../../src/core/formats/checkpoint.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { readFloat64 } from '../../../../src/core/formats/quant/readFloat.js';
import { analyzeLoraSync } from '../../../../src/core/lora/analyze.js';
import { effectInputs, moduleEffect } from '../../../../src/core/lora/methods/effectInputs.js';
import type { LoraAnalysis, LoraModule } from '../../../../src/core/lora/types.js';

export const FIX = 'test/fixtures/methods';
/** Edge cases written by test/fixtures/methods-edge/generate.py, on their own tiny base. */
export const EDGE = 'test/fixtures/methods-edge';

export interface Expected {
  readonly method: string;
  readonly modules: number;
  readonly merged_tensors: readonly string[];
}

export function expectedOf(dir: string): Expected {
  return JSON.parse(readFileSync(join(FIX, dir, 'expected.json'), 'utf8')) as Expected;
}

export interface ModuleErrors {
  readonly module: string;
  /** ‖W′ − merged‖ / ‖merged‖. */
  readonly merged: number;
  /** ‖x·W′ᵀ − y‖ / ‖y‖. */
  readonly forward: number;
}

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    scale += (b[i] as number) ** 2;
  }
  return Math.sqrt(diff) / (Math.sqrt(scale) || 1);
}

/** The adapter's analysis (header only). */
export async function analysisOf(adapterPath: string): Promise<LoraAnalysis> {
  const adapter = await openPath(adapterPath);
  try {
    return analyzeLoraSync(adapter);
  } finally {
    await adapter.close();
  }
}

export async function withOpen<T>(paths: readonly string[], f: (cps: Checkpoint[]) => Promise<T>) {
  const cps: Checkpoint[] = [];
  try {
    for (const p of paths) cps.push(await openPath(p));
    return await f(cps);
  } finally {
    for (const c of cps) await c.close();
  }
}

/** The effect of one module on its base weight, as the merge computes it. */
export async function mergedWeight(
  adapter: Checkpoint,
  base: Checkpoint,
  m: LoraModule,
): Promise<{ w: Float64Array; out: number; inK: number }> {
  const t = base.tensor(`${m.target}.weight`);
  const [out = 0, ...rest] = t.shape;
  const inK = rest.reduce((a, b) => a * b, 1);
  const effect = await moduleEffect(m, effectInputs(adapter, t.shape));
  const w = effectOnWeight(effect, await readFloat64(base, t.name), out, inK);
  return { w, out, inK };
}

/**
 * Per-module errors of the effects against PEFT's merge and forward (NaN where forward.safetensors has
 * no x/y for the module). `dir` is a fixture folder name, or a path with `base` beside it.
 */
export async function fixtureErrors(
  dir: string,
  basePath = join(FIX, 'base'),
): Promise<ModuleErrors[]> {
  const at = dir.includes('/') ? dir : join(FIX, dir);
  const files = [at, basePath, join(at, 'merged.safetensors'), join(at, 'forward.safetensors')];
  return withOpen(files, async ([adapter, base, merged, forward]) => {
    const a = adapter as Checkpoint;
    const analysis = analyzeLoraSync(a);
    const errors: ModuleErrors[] = [];
    for (const m of analysis.modules) {
      const { w, out, inK } = await mergedWeight(a, base as Checkpoint, m);
      const truth = await readFloat64(merged as Checkpoint, `${m.target}.weight`);
      const has = (n: string): boolean => (forward as Checkpoint).tensors.some((t) => t.name === n);
      if (!has(`${m.target}.x`)) {
        errors.push({ module: m.target, merged: relError(w, truth), forward: Number.NaN });
        continue;
      }
      const x = await readFloat64(forward as Checkpoint, `${m.target}.x`);
      const y = await readFloat64(forward as Checkpoint, `${m.target}.y`);
      const rows = x.length / inK;
      const ours = new Float64Array(rows * out);
      for (let r = 0; r < rows; r++)
        for (let o = 0; o < out; o++) {
          let s = 0;
          for (let i = 0; i < inK; i++)
            s += (x[r * inK + i] as number) * (w[o * inK + i] as number);
          ours[r * out + o] = s;
        }
      errors.push({ module: m.target, merged: relError(w, truth), forward: relError(ours, y) });
    }
    return errors;
  });
}

/** A temp copy of a fixture whose adapter_config.json has `patch` applied. */
export function copyWithConfig(dir: string, to: string, patch: Record<string, unknown>): string {
  cpSync(join(FIX, dir), to, { recursive: true });
  const file = join(to, 'adapter_config.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...cfg, ...patch }));
  return to;
}

/** Every module's effect of an adapter folder, against the fixture base; the first error thrown. */
export async function firstEffectError(
  adapterPath: string,
  basePath = join(FIX, 'base'),
): Promise<unknown> {
  return withOpen([adapterPath, basePath], async ([adapter, base]) => {
    for (const m of analyzeLoraSync(adapter as Checkpoint).modules) {
      try {
        await mergedWeight(adapter as Checkpoint, base as Checkpoint, m);
      } catch (e) {
        return e;
      }
    }
    return undefined;
  });
}

const TOLERANCE = 1e-5;

/**
 * The analysis names `method` for every module, counts `modules`, reports no shape problems, and each
 * module's effect equals PEFT's merge (and forward, where the fixture has one) within 1e-5 relative.
 */
export async function assertMatchesPeft(
  adapterPath: string,
  basePath: string,
  method: string,
  modules: number,
): Promise<void> {
  const a = await analysisOf(adapterPath);
  assert.equal(a.modules.length, modules, a.warnings.join('\n'));
  for (const m of a.modules) {
    assert.equal(m.kind, method, m.name);
    assert.equal(m.method?.id, method, m.name);
  }
  assert.ok(!a.warnings.some((w) => w.startsWith('shape inconsistencies')), a.warnings.join('\n'));
  const errors = await fixtureErrors(adapterPath, basePath);
  assert.equal(errors.length, modules);
  for (const e of errors) {
    assert.ok(e.merged <= TOLERANCE, `${e.module}: merged relative error ${e.merged}`);
    assert.ok(
      Number.isNaN(e.forward) || e.forward <= TOLERANCE,
      `${e.module}: forward ${e.forward}`,
    );
  }
}

/** A fixture of ../methods, counted as its expected.json says (forward required). */
export async function assertPeftFixture(dir: string, method: string): Promise<void> {
  const expected = expectedOf(dir);
  await assertMatchesPeft(join(FIX, dir), join(FIX, 'base'), method, expected.modules);
  const errors = await fixtureErrors(dir);
  assert.ok(
    errors.every((e) => !Number.isNaN(e.forward)),
    'every module has a forward check',
  );
}

/** The shape-problem warning of an adapter folder ('' when none). */
export async function shapeWarning(adapterPath: string): Promise<string> {
  const a = await analysisOf(adapterPath);
  return a.warnings.find((w) => w.startsWith('shape inconsistencies')) ?? '';
}
