/**
 * AdaLoRA (PEFT `lora_A` [k, in], `lora_B` [out, k], `lora_E` [k, 1]: an SVD-shaped triplet whose E
 * entries the rank allocator zeroes to prune): ΔW = B·(A ⊙ E)·c / (ranknum + 1e-5), c = lora_alpha
 * (NOT alpha / r). PEFT 0.21 never saves `ranknum`: it is init_r, also after save_pretrained kept only
 * the ranks `rank_pattern` marks (k = Σ pattern), because loading restores the old ranknum.
 */
import type { PlainObject } from '../checkpointFacts.js';
import type { RawModule } from '../moduleGrouping.js';
import { lowRankFacts } from './lora.js';
import { invalid, numberSetting, partName } from './peftSettings.js';
import { fmt } from './shapeHelpers.js';
import type { AdapterMethod, MethodFacts, MethodSettings } from './types.js';

/** PEFT 0.21's AdaLoraConfig defaults (lora_alpha from LoraConfig). */
const DEFAULTS = { init_r: 12, target_r: 8, lora_alpha: 8 };
const EPS = 1e-5;

/** The module's rank_pattern entry (`model.layers.0.q_proj.lora_E`, maybe with the adapter name). */
function patternOf(raw: RawModule, cfg: PlainObject | null): boolean[] | null | 'bad' {
  const rp = cfg?.['rank_pattern'];
  if (rp === undefined || rp === null) return null;
  if (typeof rp !== 'object' || Array.isArray(rp)) return 'bad';
  const path = raw.name.replace(/^base_model\.model\./, '');
  const keys = [`${path}.lora_E`, `${path}.lora_E.${raw.adapter ?? 'default'}`];
  const v = keys.map((k) => (rp as PlainObject)[k]).find((x) => x !== undefined);
  if (v === undefined) return null;
  if (!Array.isArray(v) || !v.every((b) => typeof b === 'boolean')) return 'bad';
  return v as boolean[];
}

export const adalora: AdapterMethod = {
  id: 'adalora',
  label: 'AdaLoRA',
  peftType: 'ADALORA',
  recognise: (m) => m.parts.has('down') && m.parts.has('up') && m.parts.has('lora_E'),
  describe(raw, ctx): MethodFacts {
    const shape = lowRankFacts(raw, ctx.family);
    const problems = [...shape.problems];
    const cfg = ctx.config;
    const k = shape.rank;
    const e = raw.parts.get('lora_E')?.shape ?? [];
    if (k !== null && (e.length !== 2 || e[0] !== k || e[1] !== 1))
      problems.push(`lora_E ${fmt(e)} is not [${k}, 1]`);
    const alpha = numberSetting(cfg, 'lora_alpha', DEFAULTS.lora_alpha, problems);
    const initR = numberSetting(cfg, 'init_r', cfg ? DEFAULTS.init_r : (k ?? 0), problems, true);
    const targetR = numberSetting(cfg, 'target_r', DEFAULTS.target_r, problems, true);
    const pattern = patternOf(raw, cfg);
    if (pattern === 'bad')
      problems.push(`rank_pattern for this module is not a list of true/false`);
    const kept = Array.isArray(pattern) ? pattern.filter(Boolean).length : null;
    if (Array.isArray(pattern) && initR !== null && pattern.length !== initR)
      problems.push(`rank_pattern has ${pattern.length} entries, init_r is ${initR}`);
    if (kept !== null && k !== null && kept !== k)
      problems.push(`rank_pattern keeps ${kept} ranks but lora_A / lora_E hold ${k}`);
    if (pattern === null && cfg && initR !== null && k !== null && k !== initR)
      problems.push(
        `lora_E holds ${k} ranks, init_r is ${initR} and rank_pattern does not cover this module`,
      );
    // PEFT 0.21 restores ranknum = init_r. A saved `ranknum` (older exports) wins, read by the effect.
    const ranknum = initR;
    // PEFT: scaling = lora_alpha if > 0, else the layer's r (the kept rank after a rank_pattern resize).
    const c = alpha !== null && alpha > 0 ? alpha : (kept ?? initR);
    const scale =
      c !== null && ranknum !== null && !raw.parts.has('ranknum') ? c / (ranknum + EPS) : null;
    const settings: MethodSettings = {
      lora_alpha: alpha,
      init_r: initR,
      target_r: targetR,
      ranknum: raw.parts.has('ranknum') ? null : ranknum,
      kept_ranks: kept ?? k,
    };
    const label =
      kept !== null && initR !== null && kept < initR
        ? `AdaLoRA linear (${kept} of ${initR} ranks kept)`
        : shape.label;
    return {
      ...shape,
      label,
      problems,
      settings,
      scale: raw.parts.has('ranknum')
        ? { value: null, rule: 'lora_alpha / (ranknum + 1e-5), ranknum read from the file' }
        : {
            value: scale,
            rule: `lora_alpha / (ranknum + 1e-5), ranknum = init_r = ${ranknum ?? '?'} (AdaLoRA)`,
          },
    };
  },
  async effect(m, io) {
    const aName = partName(m, 'down');
    const bName = partName(m, 'up');
    const a = await io.read(aName);
    const b = await io.read(bName);
    const e = await io.read(partName(m, 'lora_E'));
    let scale = m.scale;
    const rankNumName = m.parts['ranknum'];
    if (rankNumName) {
      const [rn] = await io.read(rankNumName);
      const alpha = m.method?.settings?.['lora_alpha'];
      if (typeof alpha !== 'number' || rn === undefined)
        throw invalid(m, 'AdaLoRA needs lora_alpha and ranknum');
      scale = (alpha > 0 ? alpha : e.length) / (rn + EPS);
    }
    if (scale === null) throw invalid(m, 'AdaLoRA needs lora_alpha and init_r for its scale');
    const k = e.length;
    const [, inF = 0] = io.tensor(aName).shape;
    const out = b.length / Math.max(1, k);
    if (a.length !== k * inF || !Number.isInteger(out))
      throw invalid(
        m,
        `lora_A ${fmt(io.tensor(aName).shape)} / lora_B ${fmt(io.tensor(bName).shape)} do not match lora_E's ${k} ranks`,
      );
    // Every rank pruned away (rank_pattern all false): ΔW = 0, as one zero rank for the smoke graph.
    if (k === 0) {
      const [rows = 0] = io.weightShape.length ? io.weightShape : [m.outFeatures ?? 0];
      return {
        kind: 'low-rank',
        a: new Float64Array(inF),
        b: new Float64Array(rows),
        rank: 1,
        scale,
      };
    }
    // E scales A's rows. Pruned triplets (E = 0) stay: 0·NaN is NaN in PEFT's merge too.
    const ea = new Float64Array(k * inF);
    for (let r = 0; r < k; r++) {
      const s = e[r] as number;
      for (let i = 0; i < inF; i++) ea[r * inF + i] = s * (a[r * inF + i] as number);
    }
    return { kind: 'low-rank', a: ea, b, rank: k, scale };
  },
};
