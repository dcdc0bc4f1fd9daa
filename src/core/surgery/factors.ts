/**
 * Every module of an opened adapter as float64 low-rank factors (lowRank.ts): plain, DoRA and conv
 * LoRA pairs read directly (a Tucker `lora_mid` folded into A), methods with a low-rank effect
 * (AdaLoRA) taken from it, and methods whose effect is a dense ΔW (LoHa, LoKr, full diffs)
 * converted through a dense SVD with the conversion error kept. Rotations and scalings (OFT, BOFT,
 * IA3, …) are not low rank: they are listed by name and refused.
 */
import type { Checkpoint, TensorInfo } from '../formats/checkpoint.js';
import { readFloat64 } from '../formats/quant/readFloat.js';
import { decodeFloats } from './floatBytes.js';
import { scalarReader } from '../lora/checkpointScalars.js';
import { analyzeLora } from '../lora/index.js';
import { effectInputs, hasEffect, moduleEffect } from '../lora/methods/effectInputs.js';
import type { LoraAnalysis, LoraModule } from '../lora/types.js';
import { denseToLowRank } from './denseSvd.js';
import { SurgeryError } from './errors.js';
import { transpose, type LowRank } from './lowRank.js';

export interface ModuleFactors {
  readonly module: LoraModule;
  readonly factors: LowRank;
  /** Conv kernel (k×k), null for linear and embedding modules. */
  readonly kernel: readonly number[] | null;
  /** Set when the module was not a LoRA pair: its method and the conversion's relative error. */
  readonly conversion?: { readonly from: string; readonly relativeError: number };
  /** DoRA magnitude, copied unchanged into the output. */
  readonly magnitude?: TensorInfo;
}

export interface AdapterFactors {
  readonly checkpoint: Checkpoint;
  readonly analysis: LoraAnalysis;
  readonly modules: readonly ModuleFactors[];
}

export async function analyseAdapter(ckpt: Checkpoint): Promise<LoraAnalysis> {
  return analyzeLora(ckpt, { readScalar: scalarReader(ckpt) });
}

/** Refuses what has no low-rank form before anything is read. */
export function assertLowRankable(analysis: LoraAnalysis, label: string): void {
  if (analysis.modules.length === 0)
    throw new SurgeryError(
      'NoLoraModules',
      `${label}: no LoRA modules found (family: ${analysis.familyLabel}); nothing to do`,
      label,
    );
  const refused = analysis.modules.filter((m) => !maybeLowRank(m));
  if (refused.length > 0) {
    const kinds = [...new Set(refused.map((m) => m.method?.label ?? m.kind))].join(', ');
    const names = refused.slice(0, 5).map((m) => m.name);
    throw new SurgeryError(
      'NotLowRank',
      `${label}: ${refused.length} module(s) are ${kinds}, which change W by a rotation or a scaling, not by a low-rank ΔW: ${names.join(', ')}${refused.length > 5 ? ', …' : ''}. Extract the LoRA part first or leave them out.`,
      refused[0]?.name,
    );
  }
  const unknown = analysis.modules.filter((m) => m.scale === null && m.method?.id === 'lora');
  if (unknown.length > 0)
    throw new SurgeryError(
      'InvalidModule',
      `${label}: the scale of ${unknown.length} module(s) is unknown (${unknown[0]?.name}: ${unknown[0]?.scaleRule}); put the adapter_config.json beside the weights`,
      unknown[0]?.name,
    );
}

/** Methods whose effect is W + ΔW (pairs, AdaLoRA, LoHa, LoKr, full diffs and the like). */
const NOT_LOW_RANK: ReadonlySet<string> = new Set([
  'ia3',
  'oft',
  'boft',
  'hra',
  'norm',
  'lntuning',
]);

function maybeLowRank(m: LoraModule): boolean {
  return !NOT_LOW_RANK.has(m.method?.id ?? m.kind) && !NOT_LOW_RANK.has(m.kind);
}

function weightShape(m: LoraModule): number[] {
  return [m.outFeatures ?? 0, m.inFeatures ?? 0, ...(m.kernel ?? [])];
}

const PLAIN_FLOATS: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16']);

/** A factor as float64: plain floats through the table decoder, anything else (FP8, quantized) the shared path. */
async function readValues(ckpt: Checkpoint, name: string): Promise<Float64Array> {
  const t = ckpt.tensor(name);
  if (t.quant || !PLAIN_FLOATS.has(t.dtype)) return readFloat64(ckpt, name);
  return decodeFloats(await ckpt.readTensorBytes(t), t.dtype);
}

function invalid(m: LoraModule, why: string): SurgeryError {
  return new SurgeryError('InvalidModule', `${m.name}: ${why}`, m.name);
}

/** A plain pair: A [r, in(, k, k)] / B [out, r(, 1, 1)], or the transposed layout, with an optional Tucker mid. */
async function readPair(
  ckpt: Checkpoint,
  m: LoraModule,
): Promise<{ f: LowRank; kernel: number[] | null }> {
  const downName = m.parts['down'];
  const upName = m.parts['up'];
  if (!downName || !upName)
    throw invalid(m, 'split LoRA pairs (down.0, down.1, …) are not supported by resize/combine');
  const r = m.rank;
  const out = m.outFeatures;
  const inF = m.inFeatures;
  if (r === null || out === null || inF === null || m.orientation === null)
    throw invalid(m, 'the pair has no consistent rank / shapes');
  const kernel =
    m.kernel && m.kernel.some((k) => k !== 1) ? [...m.kernel] : m.kernel ? [...m.kernel] : null;
  const plane = (m.kernel ?? []).reduce((a, b) => a * b, 1);
  const inK = inF * plane;
  const down = await readValues(ckpt, downName);
  const up = await readValues(ckpt, upName);
  if (up.length !== out * r) throw invalid(m, `up has ${up.length} values, expected ${out}×${r}`);
  const b = m.orientation === 'transposed' ? transpose(up, r, out) : up;
  const midName = m.parts['mid'];
  let a: Float64Array;
  if (midName) {
    // ΔW[o, i, k] = Σ_p,q up[o, p]·mid[p, q, k]·down[q, i]: fold mid into A [r, in·k].
    const mid = await readValues(ckpt, midName);
    if (down.length !== r * inF || mid.length !== r * r * plane)
      throw invalid(m, 'lora_mid does not join lora_down and lora_up');
    a = new Float64Array(r * inK);
    for (let p = 0; p < r; p++)
      for (let q = 0; q < r; q++)
        for (let i = 0; i < inF; i++) {
          const d = down[q * inF + i] as number;
          if (d === 0) continue;
          for (let k = 0; k < plane; k++) {
            const at = p * inK + i * plane + k;
            a[at] = (a[at] as number) + (mid[(p * r + q) * plane + k] as number) * d;
          }
        }
  } else {
    if (down.length !== r * inK)
      throw invalid(m, `down has ${down.length} values, expected ${r}×${inK}`);
    a = m.orientation === 'transposed' ? transpose(down, inK, r) : down;
  }
  return { f: { out, inK, rank: r, b, a, scale: m.scale ?? 1 }, kernel };
}

export async function readModule(ckpt: Checkpoint, m: LoraModule): Promise<ModuleFactors> {
  const magnitude = m.dora ? ckpt.tensor(m.dora.tensor) : undefined;
  const extra = magnitude ? { magnitude } : {};
  if (!hasEffect(m)) {
    const { f, kernel } = await readPair(ckpt, m);
    return { module: m, factors: f, kernel, ...extra };
  }
  const out = m.outFeatures ?? 0;
  const plane = (m.kernel ?? []).reduce((a, b) => a * b, 1);
  const inK = (m.inFeatures ?? 0) * plane;
  const kernel = m.kernel ? [...m.kernel] : null;
  const effect = await moduleEffect(m, effectInputs(ckpt, weightShape(m)));
  const from = m.method?.label ?? m.kind;
  if (effect.kind === 'low-rank') {
    const f: LowRank = {
      out,
      inK,
      rank: effect.rank,
      b: effect.b,
      a: effect.a,
      scale: effect.scale,
    };
    return { module: m, factors: f, kernel, conversion: { from, relativeError: 0 }, ...extra };
  }
  if (effect.kind === 'delta') {
    if (effect.delta.length !== out * inK)
      throw invalid(m, `its ΔW has ${effect.delta.length} values, expected ${out}×${inK}`);
    const c = denseToLowRank(effect.delta, out, inK, m.name);
    return {
      module: m,
      factors: c.factors,
      kernel,
      conversion: { from, relativeError: c.relativeError },
      ...extra,
    };
  }
  throw new SurgeryError(
    'NotLowRank',
    `${m.name}: ${from} is a ${effect.kind}, not a low-rank ΔW`,
    m.name,
  );
}

/** Reads every module's factors (after assertLowRankable). */
export async function readFactors(
  ckpt: Checkpoint,
  analysis: LoraAnalysis,
  label: string,
): Promise<AdapterFactors> {
  assertLowRankable(analysis, label);
  const modules: ModuleFactors[] = [];
  for (const m of analysis.modules) modules.push(await readModule(ckpt, m));
  return { checkpoint: ckpt, analysis, modules };
}
