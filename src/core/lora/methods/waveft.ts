/**
 * WaveFT (PEFT `waveft_spectrum` [n]): n trained wavelet coefficients at positions PEFT draws exactly
 * like FourierFT's (torch.randperm seeded by random_loc_seed). With `use_idwt` (the default) the
 * coefficients sit, centred, in a matrix padded by the wavelet's reduction (then to even sizes), whose
 * quadrants are one level of (cA, cH, cV, cD); ΔW is its single-level inverse 2-D DWT (PEFT's
 * waverec2d: conv_transpose2d with stride 2 by the outer products of rec_lo/rec_hi, both sides trimmed
 * by ⌊(2L − 3)/2⌋), cropped centred to [out, in], times scaling. Without it ΔW = spectrum · scaling.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../types.js';
import {
  configField,
  linearShape,
  NO_CONFIG,
  seedProblem,
  spectrumPositions,
} from './fourierft.js';
import { facts, fmt, partOf, peftSuffix } from './shapeHelpers.js';
import type { AdapterMethod, MethodSettings } from './types.js';
import { WAVELET_REC_LO, WAVELET_REDUCTION } from './waveletFilters.js';

const PART = 'waveft_spectrum';
/** PEFT 0.21's WaveFTConfig defaults. */
const DEFAULTS = { scaling: 25, wavelet_family: 'db1', use_idwt: true, random_loc_seed: 777 };

/** PEFT's rec_lo and rec_hi: coiflets are tabulated over √2; rec_hi[i] = (−1)^i · rec_lo[L−1−i]. */
export function reconstructionFilters(
  family: string,
): { lo: number[]; hi: number[]; reduction: number } | null {
  // PEFT's config accepts exactly these names (case-sensitive; no 'haar').
  const base = Object.hasOwn(WAVELET_REC_LO, family) ? WAVELET_REC_LO[family] : undefined;
  const reduction = WAVELET_REDUCTION[family];
  if (!base || reduction === undefined) return null;
  const f = family.startsWith('coif') ? Math.SQRT2 : 1;
  const lo = base.map((c) => c * f);
  const hi = lo.map((_, i) => (i % 2 ? -1 : 1) * (lo[lo.length - 1 - i] as number));
  return { lo, hi, reduction };
}

/**
 * ΔW / scaling for coefficients at (rows, cols) of an [out, in] weight: each coefficient adds one L×L
 * patch (row filter ⊗ column filter of its quadrant) to the reconstruction, so the cost is n·L². Null
 * when the reconstruction is smaller than the weight.
 */
export function inverseDwtDelta(
  out: number,
  inF: number,
  rows: Int32Array,
  cols: Int32Array,
  coeffs: Float64Array,
  filters: { lo: number[]; hi: number[]; reduction: number },
): Float64Array | null {
  const L = filters.lo.length;
  const reduction = filters.reduction;
  const even = (n: number): number => n + (n % 2);
  const padRows = even(out + reduction);
  const padCols = even(inF + reduction);
  const rowOffset = Math.floor((padRows - out) / 2);
  const colOffset = Math.floor((padCols - inF) / 2);
  const h2 = padRows / 2;
  const w2 = padCols / 2;
  const trim = Math.floor((2 * L - 3) / 2);
  const recRows = 2 * h2 - 2 + L - 2 * trim;
  const recCols = 2 * w2 - 2 + L - 2 * trim;
  const startRow = Math.floor((recRows - out) / 2);
  const startCol = Math.floor((recCols - inF) / 2);
  // PEFT's coif5 has 48 taps but pads for 30: its reconstruction is smaller than W, PEFT cannot use it.
  if (startRow < 0 || startCol < 0) return null;
  const delta = new Float64Array(out * inF);
  for (let j = 0; j < coeffs.length; j++) {
    const r = (rows[j] as number) + rowOffset;
    const c = (cols[j] as number) + colOffset;
    // PEFT stacks (cA, cH = top right, cV = bottom left, cD) against the filters (lo⊗lo, hi⊗lo,
    // lo⊗hi, hi⊗hi), rows ⊗ columns: the column half picks the row filter, and the other way round.
    const rowFilter = c < w2 ? filters.lo : filters.hi;
    const colFilter = r < h2 ? filters.lo : filters.hi;
    // Output cell of tap (p, q) in the trimmed, cropped matrix.
    const top = 2 * (r < h2 ? r : r - h2) - trim - startRow;
    const left = 2 * (c < w2 ? c : c - w2) - trim - startCol;
    const v = coeffs[j] as number;
    for (let p = 0; p < L; p++) {
      const a = top + p;
      if (a < 0 || a >= out) continue;
      const vp = v * (rowFilter[p] as number);
      for (let q = 0; q < L; q++) {
        const b = left + q;
        if (b < 0 || b >= inF) continue;
        delta[a * inF + b] = (delta[a * inF + b] as number) + vp * (colFilter[q] as number);
      }
    }
  }
  return delta;
}

function settingsProblem(s: MethodSettings): string | null {
  const family = s['wavelet_family'];
  if (typeof s['scaling'] !== 'number') return 'scaling is not a number';
  if (typeof s['use_idwt'] !== 'boolean') return 'use_idwt is not true or false';
  if (s['use_idwt'] && (typeof family !== 'string' || !reconstructionFilters(family)))
    return `wavelet_family ${JSON.stringify(family)} is not one PEFT's WaveFT can build (db1–db10, sym2–sym10, coif1–coif5)`;
  return seedProblem(s['random_loc_seed']);
}

function refuse(m: LoraModule, why: string): never {
  throw new CheckpointError('InvalidExport', `${m.name}: WaveFT ${why}`, m.name);
}

export const waveft: AdapterMethod = {
  id: 'waveft',
  label: 'WaveFT',
  peftType: 'WAVEFT',
  parts: [{ re: peftSuffix('', [PART]), part: PART }],
  hint: PART,
  recognise: (m) => m.parts.has(PART),
  describe(raw, ctx) {
    const shape = partOf(raw)(PART)?.shape ?? [];
    const n = shape.length === 1 ? (shape[0] ?? 0) : null;
    const field = (k: keyof typeof DEFAULTS): unknown => configField(ctx.config, k, DEFAULTS[k]);
    const plain = (v: unknown): number | string | boolean | null =>
      typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : null;
    const settings: MethodSettings = {
      n_frequency: n,
      scaling: plain(field('scaling')),
      wavelet_family: plain(field('wavelet_family')),
      use_idwt: plain(field('use_idwt')),
      random_loc_seed: plain(field('random_loc_seed')),
    };
    const problems: string[] = [];
    if (n === null) problems.push(`${PART} is ${fmt(shape)}, WaveFT saves a 1-D vector`);
    const bad = settingsProblem(settings);
    if (bad) problems.push(bad);
    if (!ctx.config) problems.push(NO_CONFIG);
    const how = settings['use_idwt'] === false ? 'no IDWT' : String(settings['wavelet_family']);
    return {
      ...facts('waveft', `WaveFT ${how} (${n ?? '?'} coefficients)`, null, null, null, null, {
        problems,
      }),
      settings,
      scale: {
        value: typeof settings['scaling'] === 'number' ? settings['scaling'] : null,
        rule: 'WaveFT scaling (adapter_config.json)',
      },
    };
  },
  async effect(m, io) {
    const name = m.parts[PART];
    const s = m.method?.settings ?? {};
    if (!name) refuse(m, `has no ${PART}`);
    const why = settingsProblem(s);
    if (why) refuse(m, why);
    const [out, inF] = linearShape(m, 'WaveFT', io.weightShape);
    const shape = io.tensor(name).shape;
    if (shape.length !== 1) refuse(m, `${PART} is ${fmt(shape)}`);
    const coeffs = await io.read(name);
    const { rows, cols } = spectrumPositions(
      m,
      coeffs.length,
      out,
      inF,
      s['random_loc_seed'] as number,
    );
    const scaling = s['scaling'] as number;
    let delta: Float64Array;
    if (s['use_idwt']) {
      const filters = reconstructionFilters(s['wavelet_family'] as string);
      if (!filters) refuse(m, 'has no wavelet filters');
      const d = inverseDwtDelta(out, inF, rows, cols, coeffs, filters);
      if (!d)
        refuse(
          m,
          `${String(s['wavelet_family'])} (${filters.lo.length} taps, padded by ${filters.reduction}) reconstructs a matrix smaller than [${out}, ${inF}]; PEFT cannot apply it either`,
        );
      delta = d;
    } else {
      delta = new Float64Array(out * inF);
      for (let j = 0; j < coeffs.length; j++)
        delta[(rows[j] as number) * inF + (cols[j] as number)] = coeffs[j] as number;
    }
    for (let i = 0; i < delta.length; i++) delta[i] = (delta[i] as number) * scaling;
    return { kind: 'delta', delta };
  },
};
