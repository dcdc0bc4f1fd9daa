/**
 * Which base weight each mapped module patches, and where inside it: the checks that can refuse a
 * merge all run here, before a byte is written. Shared by the ONNX merge (in place, stored float
 * bytes only) and the float merge into safetensors (any weight readFloat reads: floats, FP8 and
 * quantized weights, dequantized).
 */
import type { Checkpoint, TensorInfo } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import { floatReadable } from '../../formats/quant/readFloat.js';
import type { LoraAnalysis, LoraModule } from '../../lora/types.js';
import type { MappingEntry, MappingResult } from '../../mapping/types.js';
import { hasEffect } from '../../lora/methods/effectInputs.js';

export type PatchDtype = 'F32' | 'F16' | 'BF16';
const PATCH_DTYPES: ReadonlySet<string> = new Set<PatchDtype>(['F32', 'F16', 'BF16']);

/** Non-LoRA content a PEFT load would apply to the base; a LoRA merge leaves it out, so it is named. */
const APPLIED_CONTENT: ReadonlySet<string> = new Set([
  'modules-to-save',
  'trainable-tokens',
  'embedding',
  'full-weight',
  'norm',
]);

/** Parts a plain LoRA module may have; anything else (Tucker mid, split, bias) is not merged. */
const PLAIN_PARTS: ReadonlySet<string> = new Set([
  'down',
  'up',
  'alpha',
  'magnitude',
  'dora_scale',
]);

/**
 * One module's patch. The initializer is seen as a 2-D [rows, cols] matrix (a conv kernel's trailing
 * dims flattened into cols). ΔW = s·B·A is [out, inK]; the initializer holds it as is at rows
 * [rowStart, rowStart + out), or transposed (stored [in, out]: ONNX MatMul weights, embeddings) at
 * cols [colStart, colStart + out).
 */
export interface MergePatch {
  readonly module: LoraModule;
  readonly entry: MappingEntry;
  readonly target: TensorInfo;
  /** The stored dtype of the target (a PatchDtype for in-place merges). */
  readonly dtype: string;
  readonly rows: number;
  readonly cols: number;
  readonly out: number;
  /** in × kernel elements. */
  readonly inK: number;
  readonly rank: number;
  readonly scale: number;
  readonly transposed: boolean;
  readonly rowStart: number;
  readonly colStart: number;
  /** DoRA magnitude tensor (one value per output row). */
  readonly magnitude: string | null;
  /**
   * Heads of the RoPE row permutation llama.cpp's converter applied to this target (GGUF Llama
   * attn_q / attn_k): ΔW's rows are permuted the same way before they are added.
   */
  readonly permuteHeads?: number;
}

export interface PlanOptions {
  /**
   * The ONNX merge rewrites stored bytes in place: only F32/F16/BF16 weights with one byte range. The
   * float merge writes new tensors and reads any weight readFloat can (dequantizing).
   */
  readonly inPlace: boolean;
  /** For GGUF Llama bases: the head counts of llama.cpp's q/k row permutation. */
  readonly rope?: { readonly nHead: number; readonly nHeadKv: number } | null;
}

export interface MergePlan {
  readonly patches: readonly MergePatch[];
  /** Mapped modules that are not merged, each with the reason. */
  readonly warnings: readonly string[];
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

function describe(m: LoraModule): string {
  return `${m.name} (${m.label})`;
}

/** Why a module with an effect of its own (methods/*.ts) cannot be merged, or null. */
function unsupportedEffect(m: LoraModule, e: MappingEntry): string | null {
  if (m.dora) return `DoRA on ${m.method?.label ?? m.kind} is not merged`;
  if (m.kernel && m.kernel.some((k) => k !== 1) && (m.kind === 'ia3' || m.kind === 'oft'))
    return `${m.method?.label ?? m.kind} on a conv kernel is not merged`;
  if (e.shapeCheck === 'mismatch') return `its shape does not fit ${e.target} (${e.shapeCheck})`;
  return null;
}

/** Why this module cannot be merged, or null. */
function unsupported(m: LoraModule, e: MappingEntry): string | null {
  if (hasEffect(m)) return unsupportedEffect(m, e);
  if (m.kind !== 'linear' && m.kind !== 'conv' && m.kind !== 'embedding')
    return `only LoRA linear, conv and embedding modules can be merged, not ${m.kind}`;
  const extra = Object.keys(m.parts).filter((p) => !PLAIN_PARTS.has(p));
  if (extra.length > 0)
    return `its ${extra.join(', ')} part${extra.length > 1 ? 's are' : ' is'} not merged`;
  if (!m.parts['down'] || !m.parts['up']) return 'it has no down/up pair';
  if (m.orientation === null || m.rank === null || m.inFeatures === null || m.outFeatures === null)
    return 'its down and up factors do not fit together';
  if (m.scale === null || !Number.isFinite(m.scale)) return `its scale is unknown (${m.scaleRule})`;
  if (m.dora && m.dora.axis !== 'out')
    return `its DoRA magnitude is per ${m.dora.axis === 'in' ? 'input column' : 'unknown axis'}; only per-output-row magnitudes are merged`;
  if (e.shapeCheck === 'mismatch' || e.shapeCheck === 'unknown')
    return `its shape does not fit ${e.target} (${e.shapeCheck})`;
  if (m.dora && e.slice) return 'DoRA on a slice of a fused weight is not merged';
  return null;
}

function placement(
  m: LoraModule,
  e: MappingEntry,
  t: TensorInfo,
): Omit<MergePatch, 'module' | 'entry' | 'target' | 'dtype' | 'scale' | 'magnitude'> | string {
  const rows = t.shape[0] ?? 1;
  const cols = t.shape.length === 0 ? 1 : product(t.shape.slice(1));
  // A method's effect has the target's size: where the module's own dims are unknown, the target's stand.
  const effect = hasEffect(m);
  const targetOut = e.slice ? e.slice.end - e.slice.start : e.transposed ? cols : rows;
  const targetIn = e.transposed ? rows : cols;
  // A vector target (a norm's scale, replaced by LNTuning) is an [n, 1] matrix.
  const vector = effect && t.shape.length === 1;
  const out = effect ? (vector ? rows : (m.outFeatures ?? targetOut)) : (m.outFeatures as number);
  const inK = effect
    ? vector
      ? 1
      : m.inFeatures === null
        ? targetIn
        : m.inFeatures * product(m.kernel ?? [])
    : (m.inFeatures as number) * product(m.kernel ?? []);
  const rank = m.rank ?? 0;
  // PEFT embeddings: A [r, vocab], B [dim, r]; the table is stored [vocab, dim], i.e. (B·A)ᵀ.
  const transposed = m.kind === 'embedding' ? !e.transposed : e.transposed;
  const base = { rows, cols, out, inK, rank, transposed };
  if (e.slice) {
    if ((e.slice.axis === 1) !== transposed || e.slice.end - e.slice.start !== out)
      return `slice [${e.slice.start}, ${e.slice.end}) on axis ${e.slice.axis} does not fit ${out} outputs`;
  }
  const start = e.slice?.start ?? 0;
  const fits = transposed
    ? rows === inK && start + out <= cols
    : cols === inK && start + out <= rows;
  if (!fits || (!e.slice && (transposed ? cols : rows) !== out))
    return `ΔW [${out}, ${inK}]${transposed ? 'ᵀ' : ''} does not fit ${t.name} [${t.shape.join(', ')}]`;
  return transposed
    ? { ...base, rowStart: 0, colStart: start }
    : { ...base, rowStart: start, colStart: 0 };
}

/** GGUF Llama q/k targets hold rows in llama.cpp's RoPE order; an adapter in HF order needs it too. */
function ropeHeads(
  rope: PlanOptions['rope'] | null,
  analysis: LoraAnalysis,
  target: string,
): number | undefined {
  if (!rope || analysis.family === 'gguf') return undefined;
  if (/(^|\.)attn_q\.weight$/.test(target)) return rope.nHead;
  if (/(^|\.)attn_k\.weight$/.test(target)) return rope.nHeadKv;
  return undefined;
}

function overlaps(a: MergePatch, b: MergePatch): boolean {
  const ra: [number, number] = a.transposed
    ? [a.colStart, a.colStart + a.out]
    : [a.rowStart, a.rowStart + a.out];
  const rb: [number, number] = b.transposed
    ? [b.colStart, b.colStart + b.out]
    : [b.rowStart, b.rowStart + b.out];
  // Different orientations on one tensor cover all of it from either side.
  if (a.transposed !== b.transposed) return true;
  return ra[0] < rb[1] && rb[0] < ra[1];
}

/**
 * The patches for every mapped module. Unsupported modules become warnings that name them; a target
 * whose storage or dtype cannot be patched in place is refused with `InvalidExport`.
 */
export function planMerge(
  analysis: LoraAnalysis,
  mapping: MappingResult,
  base: Checkpoint,
  options: PlanOptions = { inPlace: true },
): MergePlan {
  if (options.inPlace && base.format !== 'onnx')
    throw new CheckpointError('InvalidExport', `the base is ${base.format}, not an ONNX model`);
  const modules = new Map(analysis.modules.map((m) => [m.name, m]));
  const patches: MergePatch[] = [];
  const warnings: string[] = [];
  for (const e of mapping.mappings) {
    const m = modules.get(e.module);
    if (!m) {
      warnings.push(`${e.module} is mapped but is not an adapter module; skipped`);
      continue;
    }
    const why = unsupported(m, e);
    if (why) {
      warnings.push(`${describe(m)} is not merged: ${why}`);
      continue;
    }
    const t = base.tensor(e.target);
    if (!options.inPlace) {
      const readable = floatReadable(base, t);
      if (readable !== true)
        throw new CheckpointError('InvalidExport', `${readable} (module ${m.name})`, t.name);
    } else if (!PATCH_DTYPES.has(t.dtype))
      throw new CheckpointError(
        'InvalidExport',
        `${t.name} is ${t.dtype}; only F32, F16 and BF16 weights can be merged into (module ${m.name})`,
        t.name,
      );
    if (options.inPlace && t.offset < 0)
      throw new CheckpointError(
        'InvalidExport',
        `${t.name} keeps its values in a typed field (float_data) rather than raw_data or external data, so it cannot be patched in place (module ${m.name})`,
        t.name,
      );
    const where = placement(m, e, t);
    if (typeof where === 'string') {
      warnings.push(`${describe(m)} is not merged: ${where}`);
      continue;
    }
    const permuteHeads = ropeHeads(options.rope ?? null, analysis, t.name);
    const patch: MergePatch = {
      module: m,
      entry: e,
      target: t,
      dtype: t.dtype,
      scale: m.scale ?? 1,
      magnitude: m.dora?.tensor ?? null,
      ...where,
      ...(permuteHeads !== undefined ? { permuteHeads } : {}),
    };
    if (permuteHeads !== undefined && (where.transposed || where.out % (permuteHeads * 2) !== 0)) {
      warnings.push(
        `${describe(m)} is not merged: ${t.name} is RoPE-permuted over ${permuteHeads} heads, which ΔW's ${where.out} rows do not divide into`,
      );
      continue;
    }
    const clash = patches.find(
      (p) => p.target.name === t.name && (p.magnitude || patch.magnitude || overlaps(p, patch)),
    );
    if (clash) {
      warnings.push(
        `${describe(m)} is not merged: ${clash.module.name} already patches the same part of ${t.name}`,
      );
      continue;
    }
    patches.push(patch);
    const bias = lnTuningBiasPatch(patch, base, options);
    if (typeof bias === 'string')
      warnings.push(`${describe(m)}: its bias copy is not merged (${bias})`);
    else if (bias) patches.push(bias);
  }
  for (const u of mapping.unmatchedAdapter)
    warnings.push(`${u} is not merged: it has no target in the base`);
  for (const n of analysis.nonLora) {
    if (n.source !== 'tensor' || !APPLIED_CONTENT.has(n.category)) continue;
    const saved = n.category === 'modules-to-save' ? savedCopyPatch(n.name, base, options) : null;
    if (typeof saved === 'string' || saved === null) {
      const why =
        saved ?? `${n.reason}: only adapter modules and modules_to_save copies are baked in`;
      warnings.push(`${n.name} is not merged (${why})`);
    } else if (patches.some((p) => p.target.name === saved.target.name))
      warnings.push(
        `${n.name} is not merged: an adapter module already patches ${saved.target.name}`,
      );
    else patches.push(saved);
  }
  return { patches, warnings };
}

/** PEFT saves a modules_to_save copy as `base_model.model.<path>` (older files: `.modules_to_save.<name>.`). */
export function savedCopyTarget(name: string): string {
  return name.replace(/^base_model\.model\./, '').replace(/\.modules_to_save\.[^.]+\./, '.');
}

/**
 * A modules_to_save copy replaces its base tensor, as PEFT's merge_and_unload() keeps the trained
 * copy: a patch whose module is a `set_weight` (methods/full.ts) over the whole tensor.
 */
function savedCopyPatch(name: string, base: Checkpoint, options: PlanOptions): MergePatch | string {
  return copyPatch(name, savedCopyTarget(name), base, options, {
    label: 'modules_to_save copy',
    method: 'modules_to_save',
    reason: 'modules_to_save: the same name as the base tensor',
  });
}

/**
 * LNTuning copies the whole norm, bias included; merge_and_unload() swaps the copy in, so the bias
 * is replaced beside the weight (the module's own patch replaces the weight).
 */
function lnTuningBiasPatch(
  p: MergePatch,
  base: Checkpoint,
  options: PlanOptions,
): MergePatch | string | null {
  const bias = p.module.method?.id === 'lntuning' ? p.module.parts['ln_tuning_bias'] : undefined;
  if (!bias) return null;
  return copyPatch(bias, p.target.name.replace(/weight$/, 'bias'), base, options, {
    label: 'LNTuning bias copy',
    method: 'LNTuning',
    reason: `the bias of ${p.entry.target.replace(/\.weight$/, '')}, whose weight ${p.module.name} replaces`,
  });
}

/** A patch that replaces a whole base tensor with an adapter tensor of the same size. */
function copyPatch(
  name: string,
  targetName: string,
  base: Checkpoint,
  options: PlanOptions,
  how: { readonly label: string; readonly method: string; readonly reason: string },
): MergePatch | string {
  const t = base.tensors.find((x) => x.name === targetName);
  if (!t) return `the base has no ${targetName}`;
  if (options.inPlace && !PATCH_DTYPES.has(t.dtype)) return `${t.name} is ${t.dtype}`;
  if (!options.inPlace && floatReadable(base, t) !== true)
    return `${t.name} cannot be read as floats`;
  const rows = t.shape[0] ?? 1;
  const cols = t.shape.length <= 1 ? 1 : product(t.shape.slice(1));
  const module: LoraModule = {
    name,
    target: targetName,
    kind: 'full',
    label: how.label,
    rank: null,
    alpha: null,
    scale: 1,
    scaleRule: '1 (a trained copy replaces the weight)',
    alphaOrigin: 'scale-1',
    alphaSources: [],
    tensors: [name],
    parts: { set_weight: name },
    orientation: null,
    inFeatures: cols,
    outFeatures: rows,
    method: { id: 'full', label: how.method },
  };
  const entry: MappingEntry = {
    module: name,
    target: t.name,
    confidence: 1,
    reason: how.reason,
    shapeCheck: 'exact',
    transposed: false,
    slice: null,
    level: 'high',
    source: 'matcher',
    alternatives: [],
  };
  return {
    module,
    entry,
    target: t,
    dtype: t.dtype,
    rows,
    cols,
    out: rows,
    inK: cols,
    rank: 0,
    scale: 1,
    transposed: false,
    rowStart: 0,
    colStart: 0,
    magnitude: null,
  };
}
