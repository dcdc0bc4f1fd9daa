/**
 * Does B·A fit the base parameter? B·A is out × in (× k × k for convs). The base may store it as is,
 * transposed ([in, out]: ONNX MatMul, GPT-2 Conv1D), as a 1×1 conv against a linear (or the reverse),
 * or as a fused parameter of which the module patches a row range.
 */
import type { ShapeCheck, TargetSlice } from './types.js';

export interface ModuleShape {
  readonly inFeatures: number | null;
  readonly outFeatures: number | null;
  readonly kernel?: readonly number[];
  readonly kind: string;
}

export interface ShapeFit {
  readonly check: ShapeCheck;
  readonly transposed: boolean;
  readonly slice: TargetSlice | null;
}

export const FITS: ReadonlySet<ShapeCheck> = new Set([
  'exact',
  'transposed',
  'conv-reshape',
  'slice',
]);

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const allOnes = (k: readonly number[] | undefined): boolean => !k || k.every((x) => x === 1);

/**
 * Row range of `part` inside a fused parameter of `rows` rows, for a module of `out` rows.
 * qkv: q first, v last, k before v (right for equal heads and for GQA, where k and v are equal);
 * Flux linear1: q, k, v (hidden each) then the MLP rows; gate_up: gate then up, equal halves.
 */
export function fusedRange(
  fused: string,
  part: string,
  out: number,
  rows: number,
): [number, number] | null {
  let r: [number, number] | null = null;
  if (fused === 'linear1') {
    const at: Record<string, [number, number]> = {
      q: [0, out],
      k: [out, 2 * out],
      v: [2 * out, 3 * out],
      qkv: [0, out],
      mlp: [rows - out, rows],
    };
    r = at[part] ?? null;
  } else if (fused === 'qkv') {
    if (part === 'q') r = [0, out];
    else if (part === 'k') r = rows === 3 * out ? [out, 2 * out] : [rows - 2 * out, rows - out];
    else if (part === 'v') r = [rows - out, rows];
  } else if (fused === 'gate_up' && rows === 2 * out) {
    if (part === 'gate') r = [0, out];
    else if (part === 'up') r = [out, rows];
  }
  return r && r[0] >= 0 && r[1] <= rows && r[1] - r[0] === out && out < rows ? r : null;
}

/** Which fused layout a base leaf has, for slicing. */
export function fusedKindOf(leaf: string, role: string | null): string | null {
  if (leaf === 'linear1') return 'linear1';
  if (role === '@qkv') return 'qkv';
  if (role === '@gate_up') return 'gate_up';
  return null;
}

export function fitShape(
  m: ModuleShape,
  shape: readonly number[],
  storedTransposed: boolean,
  fused: { kind: string; part: string } | null,
): ShapeFit {
  const none = { transposed: false, slice: null };
  const { inFeatures: inF, outFeatures: out } = m;
  if (inF === null || out === null) return { check: 'unknown', ...none };
  const [s0, s1, ...k] = shape;
  // A vector (a norm's scale) fits only a module that replaces one of its length (LNTuning).
  if (shape.length === 1)
    return {
      check: m.kind === 'lntuning' && s0 === out && inF === out && !fused ? 'exact' : 'mismatch',
      ...none,
    };
  if (s0 === undefined || s1 === undefined) return { check: 'mismatch', ...none };
  if (fused) {
    if (shape.length !== 2) return { check: 'mismatch', ...none };
    const axis: 0 | 1 = storedTransposed ? 1 : 0;
    const rows = axis === 0 ? s0 : s1;
    const cols = axis === 0 ? s1 : s0;
    const r = cols === inF ? fusedRange(fused.kind, fused.part, out, rows) : null;
    return r
      ? { check: 'slice', transposed: storedTransposed, slice: { axis, start: r[0], end: r[1] } }
      : { check: 'mismatch', ...none };
  }
  if (m.kind === 'embedding') {
    // PEFT embedding LoRA: A [r, num_embeddings], B [dim, r]; nn.Embedding stores [num, dim].
    if (shape.length === 2 && s0 === inF && s1 === out) return { check: 'exact', ...none };
    return { check: 'mismatch', ...none };
  }
  if (shape.length === 4) {
    if (s0 !== out || s1 !== inF) return { check: 'mismatch', ...none };
    const kb = k;
    if (m.kernel && m.kernel.length === kb.length && m.kernel.every((x, i) => x === kb[i]))
      return { check: 'exact', ...none };
    if (allOnes(m.kernel) && allOnes(kb)) return { check: 'conv-reshape', ...none };
    return { check: 'mismatch', ...none };
  }
  if (shape.length !== 2) return { check: 'mismatch', ...none };
  if (!allOnes(m.kernel)) {
    const kk = (m.kernel ?? []).reduce((a, b) => a * b, 1);
    return s0 === out && s1 === inF * kk
      ? { check: 'conv-reshape', ...none }
      : { check: 'mismatch', ...none };
  }
  const asIs = s0 === out && s1 === inF;
  const flipped = s0 === inF && s1 === out;
  if (asIs && (!flipped || !storedTransposed))
    return { check: m.kernel ? 'conv-reshape' : 'exact', ...none };
  if (flipped) return { check: 'transposed', transposed: true, slice: null };
  return { check: 'mismatch', ...none };
}

export function describeFit(m: ModuleShape, shape: readonly number[], fit: ShapeFit): string {
  const ba =
    m.inFeatures === null || m.outFeatures === null
      ? 'B·A shape unknown'
      : `B·A [${m.outFeatures}, ${m.inFeatures}${m.kernel && m.kernel.some((x) => x !== 1) ? `, ${m.kernel.join(', ')}` : ''}]`;
  switch (fit.check) {
    case 'exact':
      return `${ba} = weight ${fmt(shape)}`;
    case 'transposed':
      return `${ba} = weight ${fmt(shape)} transposed (stored [in, out])`;
    case 'conv-reshape':
      return `${ba} fits weight ${fmt(shape)} by a conv reshape`;
    case 'slice':
      return `${ba} = ${fit.slice?.axis === 1 ? 'columns' : 'rows'} ${fit.slice?.start}–${fit.slice?.end} of fused weight ${fmt(shape)}`;
    case 'mismatch':
      return `${ba} does not fit weight ${fmt(shape)}`;
    case 'unknown':
      return `${ba}; weight ${fmt(shape)}: shape not checked`;
  }
}
