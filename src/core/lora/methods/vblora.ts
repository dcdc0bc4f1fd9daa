/**
 * VB-LoRA (PEFT `vblora_logits_A` [r, in/L, N], `vblora_logits_B` [out/L, r, N]): every length-L piece
 * of A and B is a mix of the global `base_model.vblora_vector_bank` [N, L] rows, weighted by the
 * softmax of the top-k logits. A [r, in] = pieces [r, in/L, L] reshaped; B [out, r] = pieces
 * [out/L, r, L] transposed to [out/L, L, r]; ΔW = B·A (no scale). With `save_only_topk_weights` PEFT
 * saves `<logits>_topk_indices` [.., k] and `<logits>_topk_weights` [.., k−1] (the last is 1 − Σ).
 */
import type { TensorInfo } from '../../formats/checkpoint.js';
import type { LoraModule } from '../types.js';
import { facts, fmt, partOf, peftSuffix } from './shapeHelpers.js';
import {
  boolSetting,
  globalTensor,
  invalid,
  numberSetting,
  partName,
  sharedName,
} from './peftSettings.js';
import type { AdapterMethod, EffectInputs, MethodSettings } from './types.js';

const P = {
  logitsA: 'vblora_logits_A',
  logitsB: 'vblora_logits_B',
  idxA: 'vblora_logits_A_topk_indices',
  wA: 'vblora_logits_A_topk_weights',
  idxB: 'vblora_logits_B_topk_indices',
  wB: 'vblora_logits_B_topk_weights',
} as const;
const TOPK_PARTS = [P.idxA, P.wA, P.idxB, P.wB];
/** PEFT 0.21's VBLoRAConfig defaults. */
const DEFAULTS = { topk: 2, num_vectors: 256, vector_length: 256, save_only_topk_weights: false };

const isTopkLayout = (parts: ReadonlyMap<string, unknown> | Readonly<Record<string, unknown>>) =>
  TOPK_PARTS.every((p) => (parts instanceof Map ? parts.has(p) : p in parts));

/** Shape facts of one side: [rows, cols, k] of the pieces grid, from logits or from top-k tensors. */
function sideShape(
  part: (p: string) => TensorInfo | undefined,
  side: 'A' | 'B',
  topk: boolean,
  problems: string[],
): { grid: [number, number]; k: number | null; n: number | null } | null {
  if (!topk) {
    const s = part(side === 'A' ? P.logitsA : P.logitsB)?.shape ?? [];
    if (s.length !== 3) {
      problems.push(`vblora_logits_${side} is ${fmt(s)}, VB-LoRA saves [rows, cols, num_vectors]`);
      return null;
    }
    return { grid: [s[0] ?? 0, s[1] ?? 0], k: null, n: s[2] ?? 0 };
  }
  const idx = part(side === 'A' ? P.idxA : P.idxB)?.shape ?? [];
  const w = part(side === 'A' ? P.wA : P.wB)?.shape ?? [];
  const k = idx[2] ?? 0;
  if (idx.length !== 3 || w.length !== 3 || idx[0] !== w[0] || idx[1] !== w[1] || w[2] !== k - 1) {
    problems.push(
      `vblora_logits_${side}_topk_indices ${fmt(idx)} and _topk_weights ${fmt(w)} are not [.., k] and [.., k − 1]`,
    );
    return null;
  }
  return { grid: [idx[0] ?? 0, idx[1] ?? 0], k, n: null };
}

/** Top-k of `n` logits from `at`, descending, with their softmax weights (PEFT: topk, softmax). */
function topkSoftmax(
  logits: Float64Array,
  at: number,
  n: number,
  k: number,
  idx: Int32Array,
  w: Float64Array,
): void {
  for (let t = 0; t < k; t++) {
    let best = -1;
    for (let j = 0; j < n; j++) {
      if (idx.subarray(0, t).includes(j)) continue;
      if (best < 0 || (logits[at + j] as number) > (logits[at + best] as number)) best = j;
    }
    idx[t] = best;
  }
  const top = logits[at + (idx[0] as number)] as number;
  let sum = 0;
  for (let t = 0; t < k; t++) {
    w[t] = Math.exp((logits[at + (idx[t] as number)] as number) - top);
    sum += w[t] as number;
  }
  for (let t = 0; t < k; t++) w[t] = (w[t] as number) / sum;
}

/** The pieces [count, L] of one side: Σₜ wₜ·bank[idxₜ] for every logits row. */
async function pieces(
  m: LoraModule,
  io: EffectInputs,
  side: 'A' | 'B',
  count: number,
  k: number,
  bank: Float64Array,
  n: number,
  l: number,
): Promise<Float64Array> {
  const out = new Float64Array(count * l);
  const idx = new Int32Array(k);
  const w = new Float64Array(k);
  const mix = (row: number): void => {
    for (let t = 0; t < k; t++) {
      const v = idx[t] as number;
      if (!Number.isInteger(v) || v < 0 || v >= n)
        throw invalid(m, `VB-LoRA index ${v} is outside the ${n}-vector bank`);
      const wt = w[t] as number;
      for (let e = 0; e < l; e++)
        out[row * l + e] = (out[row * l + e] as number) + wt * (bank[v * l + e] as number);
    }
  };
  if (!isTopkLayout(m.parts)) {
    const logits = await io.read(partName(m, side === 'A' ? P.logitsA : P.logitsB));
    if (logits.length !== count * n)
      throw invalid(m, `vblora_logits_${side} does not hold ${count}×${n} logits`);
    for (let row = 0; row < count; row++) {
      topkSoftmax(logits, row * n, n, k, idx, w);
      mix(row);
    }
    return out;
  }
  const idxName = partName(m, side === 'A' ? P.idxA : P.idxB);
  const weights = await io.read(partName(m, side === 'A' ? P.wA : P.wB));
  const indices = await io.readIndices(idxName);
  if (indices.length !== count * k || weights.length !== count * (k - 1))
    throw invalid(
      m,
      `the top-k tensors of vblora_logits_${side} do not hold ${count} rows of ${k}`,
    );
  for (let row = 0; row < count; row++) {
    let sum = 0;
    for (let t = 0; t < k; t++) {
      idx[t] = indices[row * k + t] as number;
      w[t] = t < k - 1 ? (weights[row * (k - 1) + t] as number) : 1 - sum;
      sum += w[t] as number;
    }
    mix(row);
  }
  return out;
}

export const vblora: AdapterMethod = {
  id: 'vblora',
  label: 'VB-LoRA',
  peftType: 'VBLORA',
  parts: [
    {
      re: peftSuffix('vblora_', [
        'logits_A_topk_indices',
        'logits_A_topk_weights',
        'logits_B_topk_indices',
        'logits_B_topk_weights',
        'logits_A',
        'logits_B',
      ]),
      part: (m) => `vblora_${m[2] ?? ''}`,
    },
  ],
  hint: 'vblora_logits_',
  indexParts: [P.idxA, P.idxB],
  recognise: (m) => (m.parts.has(P.logitsA) && m.parts.has(P.logitsB)) || isTopkLayout(m.parts),
  describe(raw, ctx) {
    const part = partOf(raw);
    const problems: string[] = [];
    const cfg = ctx.config;
    const topkLayout = !(raw.parts.has(P.logitsA) && raw.parts.has(P.logitsB));
    const topk = numberSetting(cfg, 'topk', DEFAULTS.topk, problems, true);
    const saveTopk = boolSetting(
      cfg,
      'save_only_topk_weights',
      DEFAULTS.save_only_topk_weights,
      problems,
    );
    const a = sideShape(part, 'A', topkLayout, problems);
    const b = sideShape(part, 'B', topkLayout, problems);
    const bankName = globalTensor(ctx, 'vblora_vector_bank', raw.adapter);
    const bank = bankName ? (ctx.tensors.get(bankName)?.shape ?? []) : null;
    if (!bank) problems.push('the global vblora_vector_bank is not in the file');
    else if (bank.length !== 2) problems.push(`vblora_vector_bank is ${fmt(bank)}, not [N, L]`);
    const n = bank?.length === 2 ? (bank[0] ?? null) : null;
    const l = bank?.length === 2 ? (bank[1] ?? null) : null;
    if (cfg && n !== null && l !== null) {
      const cfgN = numberSetting(cfg, 'num_vectors', DEFAULTS.num_vectors, problems, true);
      const cfgL = numberSetting(cfg, 'vector_length', DEFAULTS.vector_length, problems, true);
      if (cfgN !== null && cfgL !== null && (cfgN !== n || cfgL !== l))
        problems.push(
          `num_vectors ${cfgN} / vector_length ${cfgL} do not match vblora_vector_bank ${fmt(bank ?? [])}`,
        );
    }
    const rank = a ? a.grid[0] : null;
    if (a && b && b.grid[1] !== rank)
      problems.push(`logits A has rank ${rank} but logits B ${b.grid[1]}`);
    for (const s of [a, b])
      if (s?.n != null && n !== null && s.n !== n)
        problems.push(`logits over ${s.n} vectors, the bank holds ${n}`);
    const k = a?.k ?? topk;
    if (topkLayout && a?.k != null && topk !== null && a.k !== topk)
      problems.push(`adapter_config topk = ${topk} but the saved top-k tensors keep ${a.k}`);
    if (topkLayout && saveTopk === false)
      problems.push('the file has the top-k layout but save_only_topk_weights is false');
    if (k !== null && n !== null && (k < 1 || k > n))
      problems.push(`topk ${k} does not fit a ${n}-vector bank`);
    const settings: MethodSettings = {
      topk: k,
      num_vectors: n,
      vector_length: l,
      save_only_topk_weights: topkLayout,
    };
    const label = `VB-LoRA (top-${k ?? '?'} of ${n ?? '?'} vectors)`;
    return {
      ...facts(
        'vblora',
        label,
        rank,
        null,
        a && l ? a.grid[1] * l : null,
        b && l ? b.grid[0] * l : null,
        {
          problems,
        },
      ),
      settings,
      ...(bankName ? { shared: { vector_bank: bankName } } : {}),
      scale: { value: 1, rule: '1 (VB-LoRA has no scale)' },
    };
  },
  async effect(m, io) {
    const bankName = sharedName(m, 'vector_bank', 'vblora_vector_bank');
    const [n = 0, l = 0] = io.tensor(bankName).shape;
    const k = m.method?.settings?.['topk'];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > n)
      throw invalid(m, `VB-LoRA topk ${JSON.stringify(k)} does not fit a ${n}-vector bank`);
    const r = m.rank ?? 0;
    const inF = m.inFeatures ?? 0;
    const out = m.outFeatures ?? 0;
    const [wOut = out, wIn = inF] = io.weightShape;
    if (!r || !l || wOut !== out || wIn !== inF || io.weightShape.length > 2)
      throw invalid(
        m,
        `VB-LoRA A [${r}, ${inF}] / B [${out}, ${r}] do not fit the layer [${io.weightShape.join(', ')}]`,
      );
    const bank = await io.read(bankName);
    // A's pieces [r, in/L, L] already are A [r, in] in row-major order.
    const a = await pieces(m, io, 'A', (r * inF) / l, k, bank, n, l);
    const pb = await pieces(m, io, 'B', (out / l) * r, k, bank, n, l);
    const b = new Float64Array(out * r);
    for (let t = 0; t < out / l; t++)
      for (let i = 0; i < r; i++)
        for (let e = 0; e < l; e++) b[(t * l + e) * r + i] = pb[(t * r + i) * l + e] as number;
    return { kind: 'low-rank', a, b, rank: r, scale: 1 };
  },
};
