/**
 * Shared steps of the per-method tests on PEFT's fixtures (test/fixtures/methods/<id>/): analyse the
 * adapter, compute every module's effect on its base weight, and compare with merge_and_unload()
 * (merged.safetensors) and with the unmerged layer's forward (forward.safetensors).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { effectOnWeight } from '../../../../src/core/export/merge/effects.js';
import type { Checkpoint } from '../../../../src/core/formats/checkpoint.js';
import { openPath } from '../../../../src/core/formats/index.js';
import { readFloat64 } from '../../../../src/core/formats/quant/readFloat.js';
import { analyzeLoraSync } from '../../../../src/core/lora/analyze.js';
import { effectInputs, moduleEffect } from '../../../../src/core/lora/methods/effectInputs.js';
import type { ModuleEffect } from '../../../../src/core/lora/methods/types.js';
import type { LoraAnalysis, LoraModule } from '../../../../src/core/lora/types.js';

export const METHODS_FIX = 'test/fixtures/methods';
export const BASE = `${METHODS_FIX}/base`;

export interface Expected {
  readonly method: string;
  readonly modules: number;
  readonly targets: readonly string[];
  readonly merged_tensors: readonly string[];
}

export function expectedOf(dir: string): Expected {
  return JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
}

/** ‖a − b‖ / ‖b‖. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    scale += (b[i] as number) ** 2;
  }
  return Math.sqrt(diff) / (Math.sqrt(scale) || 1);
}

export interface ModuleRun {
  readonly module: LoraModule;
  readonly effect: ModuleEffect;
  /** W′ [out, inK] from our effect. */
  readonly merged: Float64Array;
  readonly out: number;
  readonly inK: number;
}

/** Opens adapter and base, analyses, and yields each module's effect applied to its base weight. */
export async function withFixture<T>(
  dir: string,
  body: (
    analysis: LoraAnalysis,
    runModule: (m: LoraModule) => Promise<ModuleRun>,
    adapter: Checkpoint,
  ) => Promise<T>,
): Promise<T> {
  const adapter = await openPath(dir);
  const base = await openPath(BASE);
  try {
    const analysis = analyzeLoraSync(adapter);
    const runModule = async (m: LoraModule): Promise<ModuleRun> => {
      const weight = base.tensor(`${m.target}.weight`);
      const shape = weight.shape;
      const out = shape[0] ?? 0;
      const inK = shape.slice(1).reduce((p, d) => p * d, 1);
      const effect = await moduleEffect(m, effectInputs(adapter, shape));
      const merged = effectOnWeight(effect, await readFloat64(base, weight.name), out, inK);
      return { module: m, effect, merged, out, inK };
    };
    return await body(analysis, runModule, adapter);
  } finally {
    await adapter.close();
    await base.close();
  }
}

/** The truth files of a fixture: merged weights and the forward pairs, by tensor name. */
export async function readTruth(dir: string): Promise<{
  merged: (name: string) => Promise<Float64Array>;
  forward: (name: string) => Promise<Float64Array>;
  close: () => Promise<void>;
}> {
  const merged = await openPath(join(dir, 'merged.safetensors'));
  const forward = await openPath(join(dir, 'forward.safetensors'));
  return {
    merged: (name) => readFloat64(merged, name),
    forward: (name) => readFloat64(forward, name),
    close: async () => {
      await merged.close();
      await forward.close();
    },
  };
}

/** y = x·W′ᵀ for x [rows, inK]. */
export function linearForward(
  x: Float64Array,
  w: Float64Array,
  out: number,
  inK: number,
): Float64Array {
  const rows = x.length / inK;
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inK; i++) s += (x[r * inK + i] as number) * (w[o * inK + i] as number);
      y[r * out + o] = s;
    }
  return y;
}

/**
 * Checks every module against PEFT: W′ against merged.safetensors and the layer forward against
 * forward.safetensors, within `tol` relative. Returns the failures as sentences (empty when all fit).
 */
export async function compareWithPeft(
  dir: string,
  forwardOf: (x: Float64Array, run: ModuleRun) => Float64Array = (x, r) =>
    linearForward(x, r.merged, r.out, r.inK),
  tol = 1e-5,
): Promise<{ failures: string[]; checked: number }> {
  const truth = await readTruth(dir);
  try {
    return await withFixture(dir, async (analysis, runModule) => {
      const failures: string[] = [];
      let checked = 0;
      for (const m of analysis.modules) {
        const run = await runModule(m);
        const mergedErr = relError(run.merged, await truth.merged(`${m.target}.weight`));
        if (!(mergedErr <= tol)) failures.push(`${m.target}: merged relative error ${mergedErr}`);
        const x = await truth.forward(`${m.target}.x`);
        const y = forwardOf(x, run);
        const forwardErr = relError(y, await truth.forward(`${m.target}.y`));
        if (!(forwardErr <= tol))
          failures.push(`${m.target}: forward relative error ${forwardErr}`);
        checked++;
      }
      return { failures, checked };
    });
  } finally {
    await truth.close();
  }
}
