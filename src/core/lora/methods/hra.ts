/**
 * HRA (PEFT): a chain of Householder reflections of the layer's input. `hra_u` [in(·k·k), r] holds the
 * (unnormalised) reflection vectors as columns; PEFT builds H = H₀·H₁···H_{r−1} with
 * Hₖ = I − 2·ûₖûₖᵀ and merges W′ = W·H (tuners/hra/layer.py get_delta_weight). With `apply_GS` the
 * columns are first orthonormalised (Gram–Schmidt) and H = I − 2·U·Uᵀ, which is the same product of
 * reflections by the orthonormal columns, so both are one 'householder' stage.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../types.js';
import { configBool, configNumber, settingBool } from './rotations.js';
import { at, facts, fmt, partOf, peftSuffix, product } from './shapeHelpers.js';
import type { AdapterMethod } from './types.js';

const bad = (m: LoraModule, why: string): CheckpointError =>
  new CheckpointError('InvalidExport', `${m.name}: ${why}`, m.name);

/** The columns of u [n, r] as rows [r, n]. */
function columns(u: Float64Array, n: number, r: number): Float64Array {
  const rows = new Float64Array(r * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < r; k++) rows[k * n + i] = u[i * r + k] as number;
  return rows;
}

const norm = (v: Float64Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** PEFT's Gram–Schmidt, in its order (each projection uses the already-updated vector). */
function gramSchmidt(m: LoraModule, rows: Float64Array, n: number, r: number): Float64Array {
  const out = new Float64Array(r * n);
  for (let k = 0; k < r; k++) {
    const v = rows.slice(k * n, (k + 1) * n);
    for (let j = 0; j < k; j++) {
      const w = out.subarray(j * n, (j + 1) * n);
      let dot = 0;
      for (let i = 0; i < n; i++) dot += (w[i] as number) * (v[i] as number);
      for (let i = 0; i < n; i++) v[i] = (v[i] as number) - dot * (w[i] as number);
    }
    const len = norm(v);
    if (!(len > 0) || !Number.isFinite(len))
      throw bad(
        m,
        `hra_u column ${k} is zero after Gram–Schmidt (its vectors are linearly dependent)`,
      );
    for (let i = 0; i < n; i++) out[k * n + i] = (v[i] as number) / len;
  }
  return out;
}

export const hra: AdapterMethod = {
  id: 'hra',
  label: 'HRA',
  peftType: 'HRA',
  parts: [{ re: peftSuffix('hra_', ['u']), part: 'hra_u' }],
  hint: String.raw`\.hra_u`,
  recognise: (m) => m.parts.has('hra_u'),
  describe(m, ctx) {
    const shape = partOf(m)('hra_u')?.shape ?? [];
    const cfg = ctx.config;
    const settings = {
      r: cfg ? configNumber(cfg, 'r', 8) : null,
      apply_GS: configBool(cfg, 'apply_GS', false),
    };
    const problems: string[] = [];
    const r = at(shape, 1);
    if (shape.length !== 2) problems.push(`hra_u ${fmt(shape)} is not [in, r]`);
    else if (settings.r !== null && settings.r !== r)
      problems.push(
        `adapter_config r = ${settings.r} but hra_u ${fmt(shape)} holds ${r ?? '?'} vectors`,
      );
    const label = `HRA${settings.apply_GS ? ' Gram–Schmidt' : ''} (${r ?? '?'} reflections)`;
    return {
      ...facts('hra', label, r, null, shape.length === 2 ? at(shape, 0) : null, null, { problems }),
      settings,
      scale: { value: null, rule: 'none (HRA reflects the input; it has no scale)' },
    };
  },
  async effect(m, io) {
    const name = m.parts['hra_u'] as string;
    const shape = io.tensor(name).shape;
    const inK = product(io.weightShape.slice(1)) ?? 0;
    const [n = 0, r = 0] = shape;
    if (shape.length !== 2 || n !== inK)
      throw bad(m, `hra_u ${fmt(shape)} does not fit the layer's ${inK} inputs (want [${inK}, r])`);
    const configR = m.method?.settings?.['r'];
    if (typeof configR === 'number' && configR !== r)
      throw bad(m, `adapter_config r = ${configR} but hra_u ${fmt(shape)} holds ${r} vectors`);
    const rows = columns(await io.read(name), n, r);
    if (settingBool(m.method?.settings, 'apply_GS', false)) {
      return {
        kind: 'transform',
        stages: [{ kind: 'householder', u: gramSchmidt(m, rows, n, r), rank: r }],
        outScale: null,
      };
    }
    for (let k = 0; k < r; k++) {
      const len = norm(rows.subarray(k * n, (k + 1) * n));
      // PEFT divides by the norm: a zero vector gives NaN there, so it is refused here.
      if (!(len > 0) || !Number.isFinite(len))
        throw bad(m, `hra_u column ${k} has norm ${len}; its reflection is undefined`);
    }
    return {
      kind: 'transform',
      stages: [{ kind: 'householder', u: rows, rank: r }],
      outScale: null,
    };
  },
};
