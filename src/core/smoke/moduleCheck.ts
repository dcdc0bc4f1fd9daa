/**
 * Runs one module through ORT and judges it: role, shape (from headers, before any data is read),
 * load, finite outputs, agreement with the float64 reference, and the size of the adapter's effect.
 * Only this module's tensors are held, and only until the function returns.
 */
import type * as Ort from 'onnxruntime-node';
import type { Checkpoint, TensorInfo } from '../formats/checkpoint.js';
import { sameConv, type GraphSpec, type GraphVariant } from './graphs.js';
import type { ModulePlan } from './modulePlan.js';
import {
  compareToReference,
  randomNormal,
  mulberry32,
  referenceConv,
  referenceEmbedding,
  referenceLinear,
  spacedIndices,
  toleranceFor,
  type Reference,
} from './reference.js';
import type { SessionCache } from './sessions.js';
import { readFloatElements, readFloatTensor, rowLength } from '../formats/quant/readFloat.js';
import {
  sliceColumns,
  toFloat32,
  transpose2d,
  type Float32Scratch,
} from '../formats/floatDecode.js';
import { deltaCheck, deltaRatioOf, finiteCheck, roleCheck, statusOf } from './checkParts.js';
import type { SmokeCheck, SmokeModuleResult } from './types.js';

type OrtModule = typeof import('onnxruntime-node');

export { EXPLOSION_RATIO, NO_EFFECT_RATIO } from './checkParts.js';
/** Output features compared against the float64 reference. */
export const REFERENCE_COLUMNS = 64;

export interface ModuleCheckContext {
  readonly ort: OrtModule;
  readonly sessions: SessionCache;
  readonly adapter: Checkpoint;
  readonly base: Checkpoint;
  /** Rows of the random batch. */
  readonly batch: number;
  /** Where base weights are decoded, module after module. */
  readonly scratch?: Float32Scratch;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Drops trailing 1s past the second axis ([r, in, 1, 1] → [r, in]). */
function squeeze(shape: readonly number[]): number[] {
  const s = [...shape];
  while (s.length > 2 && s[s.length - 1] === 1) s.pop();
  return s;
}

interface LinearLayout {
  readonly kind: 'linear';
  readonly inF: number;
  readonly outF: number;
  readonly r: number;
  /** W is fed [in, out] (as stored by MatMul/Conv1D), not [out, in]. */
  readonly feedTransposed: boolean;
  /** Stored weight dims (2-D) and the part of it that is this module's. */
  readonly wDims: readonly [number, number];
}
interface ConvLayout {
  readonly kind: 'conv';
  readonly inC: number;
  readonly outC: number;
  readonly r: number;
  readonly kh: number;
  readonly kw: number;
}
interface EmbeddingLayout {
  readonly kind: 'embedding';
  readonly vocab: number;
  readonly dim: number;
  readonly r: number;
}
type Layout = LinearLayout | ConvLayout | EmbeddingLayout;

/** A/B as [r, in(, k, k)] and [out, r]: what the adapter's orientation says they are. */
function lowRankDims(
  plan: ModulePlan,
): { r: number; inF: number; outF: number; aRest: number[] } | string {
  const a = plan.down.shape;
  const b = squeeze(plan.up.shape);
  const names = `lora_A ${fmt(a)} and lora_B ${fmt(plan.up.shape)}`;
  if (b.length !== 2 || a.length < 2) return `${names}: expected matrices`;
  const transposed = plan.module.orientation === 'transposed';
  if (transposed && a.length !== 2) return `${names}: a transposed pair must be 2-D`;
  const r = transposed ? (a[1] as number) : (a[0] as number);
  const inF = transposed ? (a[0] as number) : (a[1] as number);
  const rB = transposed ? (b[0] as number) : (b[1] as number);
  const outF = transposed ? (b[1] as number) : (b[0] as number);
  if (r !== rB)
    return `${names} do not share a rank (A gives rank ${r}, B expects ${rB}${transposed ? '; pair stored transposed' : ''})`;
  return { r, inF, outF, aRest: a.slice(2) };
}

/** The shape check: does B·A (oriented, sliced, transposed as mapped) have the weight's shape? */
export function layoutOf(plan: ModulePlan): Layout | string {
  const dims = lowRankDims(plan);
  if (typeof dims === 'string') return dims;
  const { r, inF, outF, aRest } = dims;
  const w = plan.weight.shape;
  const target = `${plan.weight.name} ${fmt(w)}`;
  const ba = `B·A [${outF}, ${inF}${aRest.some((k) => k !== 1) ? `, ${aRest.join(', ')}` : ''}]`;
  if (plan.math === 'embedding') {
    if (w.length === 2 && w[0] === inF && w[1] === outF)
      return { kind: 'embedding', vocab: inF, dim: outF, r };
    return `${ba} does not fit embedding ${target} (expected [${inF}, ${outF}])`;
  }
  if (plan.math === 'conv' && aRest.some((k) => k !== 1)) {
    const [kh, kw] = aRest.length === 2 ? (aRest as [number, number]) : [0, 0];
    if (aRest.length !== 2) return `lora_A ${fmt(plan.down.shape)}: only 2-D convs are tested`;
    if (plan.entry.slice) return `${ba}: a slice of a conv weight is not supported`;
    const asConv = w.length === 4 && w[0] === outF && w[1] === inF && w[2] === kh && w[3] === kw;
    const flat = w.length === 2 && w[0] === outF && w[1] === inF * kh * kw;
    if (asConv || flat) return { kind: 'conv', inC: inF, outC: outF, r, kh, kw };
    return `${ba} does not fit ${target}`;
  }
  if (aRest.some((k) => k !== 1)) return `lora_A ${fmt(plan.down.shape)} is a conv kernel`;
  const w2 = squeeze(w);
  if (w2.length !== 2) return `${ba} does not fit ${target}: not a matrix`;
  const [w0, w1] = w2 as [number, number];
  const slice = plan.entry.slice;
  if (slice) {
    const outAxis = slice.axis;
    const rows = outAxis === 0 ? w0 : w1;
    const cols = outAxis === 0 ? w1 : w0;
    const what = `${outAxis === 0 ? 'rows' : 'columns'} ${slice.start}–${slice.end} of ${target}`;
    if (slice.start < 0 || slice.end > rows || slice.end <= slice.start)
      return `${what}: out of range (axis ${outAxis} has ${rows})`;
    if (slice.end - slice.start !== outF || cols !== inF) return `${ba} does not fit ${what}`;
    return { kind: 'linear', inF, outF, r, feedTransposed: outAxis === 1, wDims: [w0, w1] };
  }
  const feedTransposed = plan.entry.transposed;
  const fits = feedTransposed ? w0 === inF && w1 === outF : w0 === outF && w1 === inF;
  if (!fits)
    return `${ba} does not fit ${target}${feedTransposed ? ' read as [in, out] (mapped transposed)' : ''}`;
  return { kind: 'linear', inF, outF, r, feedTransposed, wDims: [w0, w1] };
}

/** Elements per read of a base weight: small buffers, so no 90 MB allocation per module. */
const READ_CHUNK = 1 << 22;

async function readFloat(cp: Checkpoint, t: TensorInfo): Promise<Float32Array> {
  if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64')
    return toFloat32(await cp.readTensorBytes(t), t.dtype);
  return readFloatTensor(cp, t);
}

/**
 * `count` elements from `start`, read chunk by chunk and decoded (or dequantized) into the scratch
 * buffer. Quantized weights are read in whole rows per chunk.
 */
async function readChunked(
  cp: Checkpoint,
  t: TensorInfo,
  start: number,
  count: number,
  scratch?: Float32Scratch,
): Promise<Float32Array> {
  const out = scratch ? scratch.take(count) : new Float32Array(count);
  const cols = rowLength(t);
  const chunk =
    t.quant && cols > 0 ? Math.max(1, Math.floor(READ_CHUNK / cols)) * cols : READ_CHUNK;
  const bytes = scratch ? (n: number) => scratch.bytes(n) : undefined;
  for (let done = 0; done < count; done += chunk) {
    const n = Math.min(chunk, count - done);
    await readFloatElements(cp, t, start + done, n, out.subarray(done, done + n), bytes);
  }
  return out;
}

/** W as fed: the module's part of the stored weight, in the mapping's orientation. */
async function readWeight(
  cp: Checkpoint,
  plan: ModulePlan,
  l: Layout,
  scratch?: Float32Scratch,
): Promise<Float32Array> {
  const slice = plan.entry.slice;
  const w = plan.weight;
  if (l.kind !== 'linear' || !slice) return readChunked(cp, w, 0, w.parameterCount, scratch);
  const [w0, w1] = l.wDims;
  // Rows are contiguous: read only them.
  if (slice.axis === 0)
    return readChunked(cp, w, slice.start * w1, (slice.end - slice.start) * w1, scratch);
  return sliceColumns(await readFloat(cp, w), w0, w1, slice.start, slice.end);
}

/** A [r, in(, k, k)] and B [out, r] in the standard orientation, whatever the file stores. */
async function readPair(
  cp: Checkpoint,
  plan: ModulePlan,
  r: number,
): Promise<{ a: Float32Array; b: Float32Array }> {
  let a = await readFloat(cp, plan.down);
  let b = await readFloat(cp, plan.up);
  if (plan.module.orientation === 'transposed') {
    a = transpose2d(a, a.length / r, r);
    b = transpose2d(b, r, b.length / r);
  }
  return { a, b };
}

interface Run {
  readonly spec: GraphSpec;
  readonly feeds: Record<string, Ort.Tensor>;
  readonly reference: () => Reference;
  /** Output features and spatial size of `y`. */
  readonly features: number;
  readonly plane: number;
  /** Words about what the reference assumed (orientation, conv attributes). */
  readonly notes: string[];
  /** Set when the mapping's orientation contradicts the base format's. */
  readonly orientationConflict: string | null;
  /**
   * The conflict could not be put to the numbers (a non-square slice): the reference check fails on
   * it alone. Otherwise the reference used the format's orientation and the numbers decide.
   */
  readonly conflictUnchecked: boolean;
}

function linearRun(
  ctx: ModuleCheckContext,
  plan: ModulePlan,
  l: LinearLayout,
  data: { w: Float32Array; a: Float32Array; b: Float32Array; m: Float32Array | null },
): Run {
  const T = ctx.ort.Tensor;
  const x = randomNormal(ctx.batch * l.inF, plan.seed);
  const dora = plan.math === 'dora-linear';
  const variant: GraphVariant = dora
    ? l.feedTransposed
      ? 'dora-linear-wt'
      : 'dora-linear'
    : l.feedTransposed
      ? 'linear-wt'
      : 'linear';
  const feeds: Record<string, Ort.Tensor> = {
    x: new T('float32', x, [ctx.batch, l.inF]),
    w: new T('float32', data.w, l.feedTransposed ? [l.inF, l.outF] : [l.outF, l.inF]),
    a: new T('float32', data.a, [l.r, l.inF]),
    b: new T('float32', data.b, [l.outF, l.r]),
    s: new T('float32', Float32Array.of(plan.scale), [1]),
  };
  if (data.m) feeds.m = new T('float32', data.m, [l.outF]);
  const notes: string[] = [];
  // The reference reads W as the base format stores it, not as the mapping says.
  const truth = plan.orientation.transposed;
  let refTransposed = l.feedTransposed;
  let orientationConflict: string | null = null;
  let conflictUnchecked = false;
  const fused = plan.entry.slice !== null;
  if (truth === null) notes.push(`orientation from the mapping: ${plan.orientation.why}`);
  else if (truth !== l.feedTransposed) {
    const said = (t: boolean): string => (t ? '[in, out]' : '[out, in]');
    orientationConflict =
      `the base stores ${plan.weight.name} as ${said(truth)} (${plan.orientation.why}) ` +
      `but the mapping feeds it as ${said(l.feedTransposed)}: wrong \`transposed\`?`;
    if (l.inF === l.outF && !fused) refTransposed = truth;
    else conflictUnchecked = true;
  }
  return {
    spec: { variant },
    feeds,
    features: l.outF,
    plane: 1,
    notes,
    orientationConflict,
    conflictUnchecked,
    reference: () =>
      referenceLinear(
        {
          x,
          batch: ctx.batch,
          inF: l.inF,
          outF: l.outF,
          w: data.w,
          wStoredTransposed: refTransposed,
          a: data.a,
          b: data.b,
          r: l.r,
          s: plan.scale,
          ...(data.m ? { magnitude: data.m } : {}),
        },
        spacedIndices(l.outF, REFERENCE_COLUMNS),
      ),
  };
}

function convRun(
  ctx: ModuleCheckContext,
  plan: ModulePlan,
  l: ConvLayout,
  data: { w: Float32Array; a: Float32Array; b: Float32Array },
): Run {
  const T = ctx.ort.Tensor;
  const attrs = sameConv(l.kh, l.kw);
  const h = Math.max(l.kh, l.kw) + 3;
  const x = randomNormal(ctx.batch * l.inC * h * h, plan.seed);
  return {
    spec: { variant: 'conv', conv: attrs },
    feeds: {
      x: new T('float32', x, [ctx.batch, l.inC, h, h]),
      w: new T('float32', data.w, [l.outC, l.inC, l.kh, l.kw]),
      a: new T('float32', data.a, [l.r, l.inC, l.kh, l.kw]),
      b: new T('float32', data.b, [l.outC, l.r, 1, 1]),
      s: new T('float32', Float32Array.of(plan.scale), [1]),
    },
    features: l.outC,
    plane: h * h,
    notes: [
      `conv ${l.kh}×${l.kw} assumed stride 1, padding ${attrs.pads[0]}×${attrs.pads[1]}, dilation 1, groups 1 (shapes do not say)`,
    ],
    orientationConflict: null,
    conflictUnchecked: false,
    reference: () =>
      referenceConv(
        {
          x,
          batch: ctx.batch,
          inC: l.inC,
          outC: l.outC,
          h,
          wd: h,
          kh: l.kh,
          kw: l.kw,
          padH: attrs.pads[0],
          padW: attrs.pads[1],
          w: data.w,
          a: data.a,
          b: data.b,
          r: l.r,
          s: plan.scale,
        },
        spacedIndices(l.outC, REFERENCE_COLUMNS),
      ),
  };
}

/** The token ids of an embedding check: seeded per module, so a run can be repeated. */
function embeddingIds(plan: ModulePlan, batch: number, vocab: number): number[] {
  const rand = mulberry32(plan.seed);
  return Array.from({ length: batch }, () => Math.floor(rand() * vocab));
}

/** Only the rows of W the ids pick, in id order: [ids.length, dim]. */
async function readRows(
  cp: Checkpoint,
  t: TensorInfo,
  ids: readonly number[],
  dim: number,
): Promise<Float32Array> {
  const out = new Float32Array(ids.length * dim);
  for (const [n, id] of ids.entries())
    await readFloatElements(cp, t, id * dim, dim, out.subarray(n * dim, (n + 1) * dim));
  return out;
}

function embeddingRun(
  ctx: ModuleCheckContext,
  plan: ModulePlan,
  l: EmbeddingLayout,
  data: { ids: readonly number[]; wRows: Float32Array; a: Float32Array; b: Float32Array },
): Run {
  const T = ctx.ort.Tensor;
  const ids = data.ids;
  const wids = ids.map((_, n) => n);
  return {
    spec: { variant: 'embedding' },
    feeds: {
      ids: new T('int64', BigInt64Array.from(ids.map(BigInt)), [ids.length]),
      wids: new T('int64', BigInt64Array.from(wids.map(BigInt)), [ids.length]),
      w: new T('float32', data.wRows, [ids.length, l.dim]),
      a: new T('float32', data.a, [l.r, l.vocab]),
      b: new T('float32', data.b, [l.dim, l.r]),
      s: new T('float32', Float32Array.of(plan.scale), [1]),
    },
    features: l.dim,
    plane: 1,
    notes: [],
    orientationConflict: null,
    conflictUnchecked: false,
    reference: () =>
      referenceEmbedding(
        {
          ids,
          wids,
          dim: l.dim,
          vocab: l.vocab,
          w: data.wRows,
          a: data.a,
          b: data.b,
          r: l.r,
          s: plan.scale,
        },
        spacedIndices(l.dim, REFERENCE_COLUMNS),
      ),
  };
}

export async function checkModule(
  ctx: ModuleCheckContext,
  plan: ModulePlan,
): Promise<SmokeModuleResult> {
  const t0 = performance.now();
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

  const layout = layoutOf(plan);
  if (typeof layout === 'string') {
    checks.push({ name: 'shape', ok: false, severity: 'error', message: layout });
    return done();
  }
  const slice = plan.entry.slice;
  checks.push({
    name: 'shape',
    ok: true,
    severity: 'info',
    message: `B·A fits ${plan.weight.name} ${fmt(plan.weight.shape)}${slice ? ` (${slice.axis === 0 ? 'rows' : 'columns'} ${slice.start}–${slice.end})` : ''}${layout.kind === 'linear' && layout.feedTransposed ? ', stored [in, out]' : ''}${plan.weight.quant ? ` (${plan.weight.quant.label}, dequantized for the graph and the reference alike)` : ''}`,
  });

  let run: Run;
  let outputs: Record<string, Float32Array>;
  try {
    const r = layout.r;
    const { a, b } = await readPair(ctx.adapter, plan, r);
    const ids = layout.kind === 'embedding' ? embeddingIds(plan, ctx.batch, layout.vocab) : [];
    const w =
      layout.kind === 'embedding'
        ? await readRows(ctx.base, plan.weight, ids, layout.dim)
        : await readWeight(ctx.base, plan, layout, ctx.scratch);
    const m = plan.magnitude ? await readFloat(ctx.adapter, plan.magnitude) : null;
    if (m && layout.kind === 'linear' && m.length !== layout.outF) {
      checks.push({
        name: 'shape',
        ok: false,
        severity: 'error',
        message: `DoRA magnitude ${fmt(plan.magnitude?.shape ?? [])} does not match ${layout.outF} outputs`,
      });
      return done();
    }
    run =
      layout.kind === 'linear'
        ? linearRun(ctx, plan, layout, { w, a, b, m })
        : layout.kind === 'conv'
          ? convRun(ctx, plan, layout, { w, a, b })
          : embeddingRun(ctx, plan, layout, { ids, wRows: w, a, b });
    variant = run.spec.variant;
    outputs = await ctx.sessions.run(run.spec, run.feeds);
  } catch (e) {
    checks.push({
      name: 'load',
      ok: false,
      severity: 'error',
      message: e instanceof Error ? e.message : String(e),
    });
    return done();
  }
  checks.push({
    name: 'load',
    ok: true,
    severity: 'info',
    message: `ran ${variant} on ${ctx.sessions.ep}: W ${plan.weight.dtype}, A ${plan.down.dtype}, B ${plan.up.dtype}, batch ${ctx.batch}`,
  });

  const y = outputs.y;
  const base = outputs.base;
  const delta = outputs.delta;
  if (!y || !base || !delta) {
    checks.push({ name: 'load', ok: false, severity: 'error', message: 'ORT returned no output' });
    return done();
  }
  checks.push(finiteCheck({ y, base, delta }));

  const ref = run.reference();
  const tol = toleranceFor(
    [plan.weight.dtype, plan.down.dtype, plan.up.dtype],
    layout.kind === 'conv',
  );
  const cmp = compareToReference(y, run.features, run.plane, ref, tol);
  maxAbsErr = cmp.maxAbsErr;
  const refOk = cmp.ok && !run.conflictUnchecked;
  const notes = [
    ...run.notes,
    ...(run.orientationConflict && !refOk ? [run.orientationConflict] : []),
  ];
  const where = `${cmp.compared} values on ${ref.cols.length} of ${run.features} outputs`;
  const tolText = `${tol.label} rtol ${tol.rtol} atol ${tol.atol}`;
  checks.push({
    name: 'reference',
    ok: refOk,
    severity: refOk ? 'info' : 'error',
    message:
      `max |ORT − float64| = ${cmp.maxAbsErr.toExponential(2)} over ${where} ` +
      `(${cmp.ok ? 'within' : `${cmp.worst.toPrecision(3)}× over`} ${tolText})` +
      (notes.length ? `; ${notes.join('; ')}` : ''),
  });

  deltaRatio = deltaRatioOf(base, delta);
  checks.push(deltaCheck(plan, deltaRatio));
  if (!Number.isFinite(deltaRatio)) deltaRatio = null;
  return done();
}
