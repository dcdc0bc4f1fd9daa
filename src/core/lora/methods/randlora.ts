/**
 * RandLoRA (PEFT `randlora_lambda` [r, nb], `randlora_gamma` [nb, lo]): nb frozen random bases of rank r
 * shared by every module, `randlora_A` [r, 1, Lmin] and `randlora_B` [Lmax, NB, r] (saved once under
 * `base_model.` and, by PEFT 0.21, again under every module), scaled per module. With lo = min(out, in),
 * hi = max(out, in): Ah [r·nb, lo], Ah[i·nb + j, k] = λ[i, j]·A[i, 0, k]·γ[j, k]; Bh [hi, nb·r],
 * Bh[h, j·r + i] = B[h, j, i] (the two flatten orders differ, and PEFT multiplies them as flattened).
 * ΔW = Bh·Ah when in ≤ out, else Ahᵀ·Bhᵀ; times randlora_alpha / r. A pair of rank r·nb.
 */
import type { TensorInfo } from '../../formats/checkpoint.js';
import { ADAPTER_NAME, facts, fmt, partOf } from './shapeHelpers.js';
import {
  boolSetting,
  globalTensor,
  invalid,
  linearDims,
  numberSetting,
  partName,
  projectionsMissing,
  projectionsMissingError,
} from './peftSettings.js';
import type { AdapterMethod, MethodSettings } from './types.js';
import type { LoraModule } from '../types.js';

const LAMBDA = 'randlora_lambda';
const GAMMA = 'randlora_gamma';
/** PEFT 0.21's RandLoraConfig defaults. */
const DEFAULTS = {
  r: 32,
  randlora_alpha: 640,
  projection_prng_key: 0,
  save_projection: true,
  sparse: false,
  very_sparse: false,
};

/** The bases the module reads: its own copy first (what a NaN check must see), else the global one. */
function basisName(m: LoraModule, which: 'randlora_A' | 'randlora_B'): string | undefined {
  return m.parts[which] ?? m.method?.shared?.[which];
}

function basesProblems(
  a: TensorInfo | undefined,
  b: TensorInfo | undefined,
  r: number,
  nb: number,
  lo: number,
): string[] {
  const out: string[] = [];
  const as = a?.shape ?? [];
  const bs = b?.shape ?? [];
  const a1 = as[1] ?? 0;
  if (as.length !== 3 || as[0] !== r || (a1 !== 1 && a1 < nb) || (as[2] ?? 0) < lo)
    out.push(`randlora_A ${fmt(as)} does not cover [${r}, 1, ${lo}]`);
  if (bs.length !== 3 || bs[2] !== r || (bs[1] ?? 0) < nb || (bs[0] ?? 0) < lo)
    out.push(`randlora_B ${fmt(bs)} does not cover [≥ ${lo}, ${nb}, ${r}]`);
  return out;
}

export const randlora: AdapterMethod = {
  id: 'randlora',
  label: 'RandLoRA',
  peftType: 'RANDLORA',
  parts: [
    {
      // The global bases sit at base_model.randlora_A: they are shared tensors, not a module's part.
      re: new RegExp(
        String.raw`^(?!base_model\.randlora_)(.*)\.(randlora_(?:lambda|gamma|A|B))${ADAPTER_NAME}$`,
      ),
      part: (m) => m[2] ?? '',
    },
  ],
  hint: 'randlora_',
  recognise: (m) => m.parts.has(LAMBDA) && m.parts.has(GAMMA),
  describe(raw, ctx) {
    const part = partOf(raw);
    const lambda = part(LAMBDA)?.shape ?? [];
    const gamma = part(GAMMA)?.shape ?? [];
    const problems: string[] = [];
    const cfg = ctx.config;
    const r = numberSetting(cfg, 'r', DEFAULTS.r, problems, true);
    const alpha = numberSetting(cfg, 'randlora_alpha', DEFAULTS.randlora_alpha, problems);
    const key = numberSetting(
      cfg,
      'projection_prng_key',
      DEFAULTS.projection_prng_key,
      problems,
      true,
    );
    const save = boolSetting(cfg, 'save_projection', DEFAULTS.save_projection, problems);
    const sparse = boolSetting(cfg, 'sparse', DEFAULTS.sparse, problems);
    const verySparse = boolSetting(cfg, 'very_sparse', DEFAULTS.very_sparse, problems);

    const ok = lambda.length === 2 && gamma.length === 2 && lambda[1] === gamma[0];
    if (!ok)
      problems.push(
        `${LAMBDA} ${fmt(lambda)} and ${GAMMA} ${fmt(gamma)} are not [r, nb] and [nb, min(in, out)]`,
      );
    const rank = ok ? (lambda[0] ?? 0) : null;
    const nb = ok ? (lambda[1] ?? 0) : null;
    const lo = ok ? (gamma[1] ?? 0) : null;
    if (rank !== null && nb !== null && lo !== null && nb !== Math.ceil(lo / rank))
      problems.push(
        `${nb} bases for min(in, out) = ${lo} at rank ${rank}; PEFT makes ⌈${lo}/${rank}⌉`,
      );
    if (cfg && r !== null && rank !== null && r !== rank)
      problems.push(`adapter_config r = ${r} but ${LAMBDA} ${fmt(lambda)} has rank ${rank}`);

    const globalA = globalTensor(ctx, 'randlora_A', raw.adapter);
    const globalB = globalTensor(ctx, 'randlora_B', raw.adapter);
    const a = part('randlora_A') ?? (globalA ? ctx.tensors.get(globalA) : undefined);
    const b = part('randlora_B') ?? (globalB ? ctx.tensors.get(globalB) : undefined);
    if (!a || !b)
      problems.push(
        projectionsMissing('randlora_A / randlora_B', 'projection_prng_key', key, save),
      );
    else if (rank !== null && nb !== null && lo !== null)
      problems.push(...basesProblems(a, b, rank, nb, lo));
    for (const [own, global] of [
      [part('randlora_A'), globalA],
      [part('randlora_B'), globalB],
    ] as const) {
      const g = global ? ctx.tensors.get(global) : undefined;
      if (own && g && fmt(own.shape) !== fmt(g.shape))
        problems.push(
          `the module's ${own.name} ${fmt(own.shape)} differs from ${g.name} ${fmt(g.shape)}`,
        );
    }

    const settings: MethodSettings = {
      r,
      randlora_alpha: alpha,
      num_bases: nb,
      sparse,
      very_sparse: verySparse,
      save_projection: save,
      projection_prng_key: key,
    };
    const shared: Record<string, string> = {};
    if (globalA) shared['randlora_A'] = globalA;
    if (globalB) shared['randlora_B'] = globalB;
    const scaleR = cfg ? r : rank;
    const scale = alpha !== null && scaleR ? alpha / scaleR : null;
    return {
      ...facts(
        'randlora',
        `RandLoRA (${nb ?? '?'} bases of rank ${rank ?? '?'})`,
        rank,
        null,
        null,
        null,
        {
          problems,
        },
      ),
      settings,
      ...(Object.keys(shared).length ? { shared } : {}),
      scale: { value: scale, rule: 'randlora_alpha / r (RandLoRA)' },
    };
  },
  async effect(m, io) {
    const aName = basisName(m, 'randlora_A');
    const bName = basisName(m, 'randlora_B');
    if (!aName || !bName) {
      throw projectionsMissingError(
        m,
        'RandLoRA needs randlora_A / randlora_B',
        'projection_prng_key',
      );
    }
    if (m.scale === null) throw invalid(m, 'RandLoRA needs randlora_alpha and r for its scale');
    const [out, inF] = linearDims(m, io.weightShape, 'RandLoRA');
    const lo = Math.min(out, inF);
    const hi = Math.max(out, inF);
    const [r = 0, nb = 0] = io.tensor(partName(m, LAMBDA)).shape;
    const gammaShape = io.tensor(partName(m, GAMMA)).shape;
    if (gammaShape[0] !== nb || gammaShape[1] !== lo || !r)
      throw invalid(
        m,
        `${GAMMA} ${fmt(gammaShape)} is not [${nb}, ${lo}] for a [${out}, ${inF}] layer`,
      );
    const aShape = io.tensor(aName).shape;
    const bShape = io.tensor(bName).shape;
    const why = basesProblems(io.tensor(aName), io.tensor(bName), r, nb, lo);
    if ((bShape[0] ?? 0) < hi) why.push(`randlora_B ${fmt(bShape)} has fewer than ${hi} rows`);
    if (why.length) throw invalid(m, why.join('; '));
    const [, a1 = 1, aw = 0] = aShape;
    const [, bnb = 0] = bShape;
    const lambda = await io.read(partName(m, LAMBDA));
    const gamma = await io.read(partName(m, GAMMA));
    const baseA = await io.read(aName);
    const baseB = await io.read(bName);
    const rank = r * nb;
    // Ah [r·nb, lo], rows (i, j); Bh [hi, nb·r], columns (j, i): PEFT's two flatten orders.
    const ah = new Float64Array(rank * lo);
    for (let i = 0; i < r; i++)
      for (let j = 0; j < nb; j++) {
        const l = lambda[i * nb + j] as number;
        const src = (i * a1 + (a1 === 1 ? 0 : j)) * aw;
        const row = (i * nb + j) * lo;
        for (let k = 0; k < lo; k++)
          ah[row + k] = l * (baseA[src + k] as number) * (gamma[j * lo + k] as number);
      }
    const bh = new Float64Array(hi * rank);
    for (let h = 0; h < hi; h++)
      for (let j = 0; j < nb; j++)
        for (let i = 0; i < r; i++)
          bh[h * rank + j * r + i] = baseB[(h * bnb + j) * r + i] as number;
    if (inF <= out) return { kind: 'low-rank', a: ah, b: bh, rank, scale: m.scale };
    const a = new Float64Array(rank * inF);
    const b = new Float64Array(out * rank);
    for (let c = 0; c < rank; c++) {
      for (let h = 0; h < hi; h++) a[c * inF + h] = bh[h * rank + c] as number;
      for (let k = 0; k < lo; k++) b[k * rank + c] = ah[c * lo + k] as number;
    }
    return { kind: 'low-rank', a, b, rank, scale: m.scale };
  },
};
