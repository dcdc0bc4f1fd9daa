/**
 * One module of a method with its own effect (VeRA, OFT, (IA)³, LoHa, …) through ORT: the graph runs
 * the method's forward form (effectGraphs.ts), the float64 reference multiplies by the merged weight
 * W′ that export/merge/effects.ts computes. Agreement checks both at once; then the usual finite and
 * delta checks. W is read as [out, in] whatever the base stores (an ONNX MatMul weight is transposed).
 */
import type * as Ort from 'onnxruntime-node';
import type { TensorInfo } from '../formats/checkpoint.js';
import { readFloatElements } from '../formats/quant/readFloat.js';
import { effectOnWeight, effectProblem } from '../export/merge/effects.js';
import { effectInputs, moduleEffect } from '../lora/methods/effectInputs.js';
import { applyStages } from '../lora/methods/transform.js';
import type { ModuleEffect } from '../lora/methods/types.js';
import { deltaCheck, deltaRatioOf, finiteCheck, roleCheck, statusOf } from './checkParts.js';
import type { GraphVariant } from './graphs.js';
import type { ModuleCheckContext } from './moduleCheck.js';
import type { EffectPlan } from './modulePlan.js';
import { compareToReference, randomNormal, toleranceFor, type Reference } from './reference.js';
import type { SmokeCheck, SmokeModuleResult } from './types.js';

const EPS32 = 2 ** -24;
const ROUNDING_SIGMAS = 8;
/** A dense [in, in] rotation fed to the graph: beyond this width it would cost too much memory. */
const MAX_ROTATION_WIDTH = 8192;

interface Geometry {
  readonly out: number;
  readonly inF: number;
  /** 1-D target (a norm's weight). */
  readonly vector: boolean;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** The module's part of the base weight as [out, in] (or [n] for a vector), in float64. */
async function readWeight(
  ctx: ModuleCheckContext,
  plan: EffectPlan,
): Promise<{ w: Float64Array; g: Geometry } | string> {
  const t = plan.weight;
  const shape = t.shape.filter((d, i) => i < 2 || d !== 1);
  if (shape.length === 1) {
    const w = await readAll(ctx, t);
    return { w, g: { out: shape[0] as number, inF: 1, vector: true } };
  }
  if (shape.length !== 2)
    return `${t.name} ${fmt(t.shape)}: only matrices and vectors are tested for ${plan.module.method?.label ?? plan.module.kind}`;
  const [r0, c0] = shape as [number, number];
  const stored = await readAll(ctx, t);
  // The base format's own orientation wins; where it does not say, the mapping's.
  const transposed = plan.orientation.transposed ?? plan.entry.transposed;
  let rows = r0;
  let cols = c0;
  let w = stored;
  if (transposed) {
    w = new Float64Array(stored.length);
    for (let i = 0; i < r0; i++)
      for (let o = 0; o < c0; o++) w[o * r0 + i] = stored[i * c0 + o] as number;
    rows = c0;
    cols = r0;
  }
  const slice = plan.entry.slice;
  if (slice) {
    // A slice is along the output axis once W is [out, in].
    if (slice.end > rows || slice.start < 0 || slice.end <= slice.start)
      return `rows ${slice.start}–${slice.end} of ${t.name}: out of range (${rows} outputs)`;
    w = w.slice(slice.start * cols, slice.end * cols);
    rows = slice.end - slice.start;
  }
  return { w, g: { out: rows, inF: cols, vector: false } };
}

async function readAll(ctx: ModuleCheckContext, t: TensorInfo): Promise<Float64Array> {
  const f32 = new Float32Array(t.parameterCount);
  await readFloatElements(ctx.base, t, 0, t.parameterCount, f32);
  return Float64Array.from(f32);
}

/** The dense M of a transform (row ← row·M): the stages applied to the identity's rows. */
function denseRotation(e: Extract<ModuleEffect, { kind: 'transform' }>, n: number): Float64Array {
  const m = new Float64Array(n * n);
  const tmp = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const row = m.subarray(i * n, (i + 1) * n);
    row[i] = 1;
    applyStages(row, e.stages, tmp);
  }
  return m;
}

const f32 = (v: Float64Array): Float32Array => Float32Array.from(v);

/** The graph variant and feeds of the effect's own form. */
function feedsOf(
  ort: ModuleCheckContext['ort'],
  e: ModuleEffect,
  g: Geometry,
  x: Float32Array,
  batch: number,
  w: Float64Array,
  wNew: Float64Array,
): { variant: GraphVariant; feeds: Record<string, Ort.Tensor> } | string {
  const T = ort.Tensor;
  if (g.vector)
    return {
      variant: 'effect-vector',
      feeds: {
        x: new T('float32', x, [batch, g.out]),
        w: new T('float32', f32(w), [g.out]),
        w2: new T('float32', f32(wNew), [g.out]),
      },
    };
  const common = {
    x: new T('float32', x, [batch, g.inF]),
    w: new T('float32', f32(w), [g.out, g.inF]),
  };
  switch (e.kind) {
    case 'low-rank':
      return {
        variant: 'linear',
        feeds: {
          ...common,
          a: new T('float32', f32(e.a), [e.rank, g.inF]),
          b: new T('float32', f32(e.b), [g.out, e.rank]),
          s: new T('float32', Float32Array.of(e.scale), [1]),
        },
      };
    case 'delta':
      return {
        variant: 'effect-delta',
        feeds: { ...common, d: new T('float32', f32(e.delta), [g.out, g.inF]) },
      };
    case 'replace':
      return {
        variant: 'effect-replace',
        feeds: { ...common, w2: new T('float32', f32(e.weight), [g.out, g.inF]) },
      };
    case 'scale':
      return {
        variant: e.axis === 'out' ? 'effect-scale-out' : 'effect-scale-in',
        feeds: {
          ...common,
          l: new T('float32', f32(e.vector), [e.axis === 'out' ? g.out : g.inF]),
        },
      };
    case 'transform': {
      if (g.inF > MAX_ROTATION_WIDTH)
        return `a dense ${g.inF}×${g.inF} rotation is too large for the smoke graph (at most ${MAX_ROTATION_WIDTH})`;
      // W′ = W·M, so y = x·W′ᵀ = (x·Mᵀ)·Wᵀ, and Gemm(x, m, transB) = x·mᵀ: feed m = M.
      const m = denseRotation(e, g.inF);
      const so = e.outScale ? f32(e.outScale) : new Float32Array(g.out).fill(1);
      return {
        variant: 'effect-rotate',
        feeds: {
          ...common,
          m: new T('float32', f32(m), [g.inF, g.inF]),
          so: new T('float32', so, [g.out]),
        },
      };
    }
  }
}

/** y_ref = x·W′ᵀ in float64 over every output, with float32 rounding allowances. */
function reference(x: Float32Array, batch: number, g: Geometry, wNew: Float64Array): Reference {
  const cols = Array.from({ length: g.out }, (_, o) => o);
  const values = new Float64Array(batch * g.out);
  const allowance = new Float64Array(batch * g.out);
  const root = Math.sqrt(2 * g.inF + 2);
  for (let n = 0; n < batch; n++)
    for (let o = 0; o < g.out; o++) {
      let acc = 0;
      let sq = 0;
      if (g.vector) {
        acc = (x[n * g.out + o] as number) * (wNew[o] as number);
        sq = acc * acc;
      } else
        for (let i = 0; i < g.inF; i++) {
          const t = (x[n * g.inF + i] as number) * (wNew[o * g.inF + i] as number);
          acc += t;
          sq += t * t;
        }
      values[n * g.out + o] = acc;
      allowance[n * g.out + o] = ROUNDING_SIGMAS * EPS32 * root * Math.sqrt(sq);
    }
  return { cols, values, allowance };
}

export async function checkEffect(
  ctx: ModuleCheckContext,
  plan: EffectPlan,
): Promise<SmokeModuleResult> {
  const t0 = performance.now();
  const label = plan.module.method?.label ?? plan.module.kind;
  const checks: SmokeCheck[] = [roleCheck(plan)];
  let variant: string | null = null;
  let maxAbsErr: number | null = null;
  let deltaRatio: number | null = null;
  const done = (): SmokeModuleResult => {
    const status = statusOf(checks);
    return {
      module: plan.module.name,
      target: plan.entry.target,
      variant,
      ok: status !== 'fail',
      status,
      maxAbsErr,
      deltaRatio,
      ms: performance.now() - t0,
      checks,
    };
  };
  const fail = (name: SmokeCheck['name'], message: string): SmokeModuleResult => {
    checks.push({ name, ok: false, severity: 'error', message });
    return done();
  };

  let outputs: Record<string, Float32Array>;
  let ref: Reference;
  let g: Geometry;
  try {
    const read = await readWeight(ctx, plan);
    if (typeof read === 'string') return fail('shape', read);
    g = read.g;
    const effect = await moduleEffect(plan.module, effectInputs(ctx.adapter, plan.weight.shape));
    const geometry = {
      rows: g.out,
      cols: g.inF,
      out: g.out,
      inK: g.inF,
      transposed: false,
      rowStart: 0,
      colStart: 0,
    };
    const problem = effectProblem(geometry, effect);
    if (problem)
      return fail('shape', `${label}: ${problem} (${plan.weight.name} ${fmt(plan.weight.shape)})`);
    checks.push({
      name: 'shape',
      ok: true,
      severity: 'info',
      message: `${label} (${effect.kind}) fits ${plan.weight.name} ${fmt(plan.weight.shape)}${plan.entry.slice ? ` (rows ${plan.entry.slice.start}–${plan.entry.slice.end})` : ''}${plan.weight.quant ? ` (${plan.weight.quant.label}, dequantized)` : ''}`,
    });
    const wNew = effectOnWeight(effect, read.w, g.out, g.inF);
    const x = randomNormal(ctx.batch * (g.vector ? g.out : g.inF), plan.seed);
    const run = feedsOf(ctx.ort, effect, g, x, ctx.batch, read.w, wNew);
    if (typeof run === 'string') {
      checks.push({ name: 'load', ok: true, severity: 'info', message: `not run: ${run}` });
      return { ...done(), status: 'skipped', ok: true };
    }
    variant = run.variant;
    outputs = await ctx.sessions.run({ variant: run.variant }, run.feeds);
    ref = reference(x, ctx.batch, g, wNew);
  } catch (e) {
    return fail('load', `${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
  checks.push({
    name: 'load',
    ok: true,
    severity: 'info',
    message: `ran ${variant} on ${ctx.sessions.ep}: W ${plan.weight.dtype}, ${label} tensors ${[...new Set(plan.module.tensors.map((n) => ctx.adapter.tensor(n).dtype))].join('/')}, batch ${ctx.batch}`,
  });
  const { y, base, delta } = outputs;
  if (!y || !base || !delta) return fail('load', 'ORT returned no output');
  checks.push(finiteCheck({ y, base, delta }));
  const dtypes = [
    plan.weight.dtype,
    ...plan.module.tensors.map((n) => ctx.adapter.tensor(n).dtype),
  ];
  const tol = toleranceFor(dtypes, false);
  const cmp = compareToReference(y, g.out, 1, ref, tol);
  maxAbsErr = cmp.maxAbsErr;
  checks.push({
    name: 'reference',
    ok: cmp.ok,
    severity: cmp.ok ? 'info' : 'error',
    message:
      `max |ORT − float64 merged| = ${cmp.maxAbsErr.toExponential(2)} over ${cmp.compared} values ` +
      `(${cmp.ok ? 'within' : `${cmp.worst.toPrecision(3)}× over`} ${tol.label} rtol ${tol.rtol} atol ${tol.atol}); ` +
      `the graph runs ${label}'s forward, the reference multiplies by the merged W′`,
  });
  deltaRatio = deltaRatioOf(base, delta);
  checks.push(deltaCheck(plan, deltaRatio));
  if (!Number.isFinite(deltaRatio)) deltaRatio = null;
  return done();
}
