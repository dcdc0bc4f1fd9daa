/**
 * VeRA (PEFT `vera_lambda_b` [out], `vera_lambda_d` [r]): one pair of frozen random projections shared
 * by every module, `base_model.vera_A` [r, in_max] and `base_model.vera_B` [out_max, r], each module
 * slicing the part it needs. ΔW = diag(λb)·B[:out]·diag(λd)·A[:, :in]: a low-rank pair with the λ
 * vectors folded into its factors, so no separate scale.
 */
import { fmt, facts, partOf, peftSuffix } from './shapeHelpers.js';
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

const LAMBDA_B = 'vera_lambda_b';
const LAMBDA_D = 'vera_lambda_d';
/** PEFT 0.21's VeraConfig defaults. */
const DEFAULTS = { r: 256, projection_prng_key: 0, save_projection: true, d_initial: 0.1 };

export const vera: AdapterMethod = {
  id: 'vera',
  label: 'VeRA',
  peftType: 'VERA',
  parts: [{ re: peftSuffix('', [LAMBDA_B, LAMBDA_D]), part: (m) => m[2] ?? '' }],
  hint: 'vera_lambda_',
  recognise: (m) => m.parts.has(LAMBDA_B) && m.parts.has(LAMBDA_D),
  describe(raw, ctx) {
    const part = partOf(raw);
    const b = part(LAMBDA_B)?.shape ?? [];
    const d = part(LAMBDA_D)?.shape ?? [];
    const problems: string[] = [];
    const cfg = ctx.config;
    const r = numberSetting(cfg, 'r', DEFAULTS.r, problems, true);
    const key = numberSetting(
      cfg,
      'projection_prng_key',
      DEFAULTS.projection_prng_key,
      problems,
      true,
    );
    const save = boolSetting(cfg, 'save_projection', DEFAULTS.save_projection, problems);
    const dInitial = numberSetting(cfg, 'd_initial', DEFAULTS.d_initial, problems);
    if (b.length !== 1) problems.push(`${LAMBDA_B} is ${fmt(b)}, VeRA saves a vector [out]`);
    if (d.length !== 1) problems.push(`${LAMBDA_D} is ${fmt(d)}, VeRA saves a vector [r]`);
    const rank = d.length === 1 ? (d[0] ?? null) : null;
    const outFeatures = b.length === 1 ? (b[0] ?? null) : null;
    if (cfg && r !== null && rank !== null && r !== rank)
      problems.push(`adapter_config r = ${r} but ${LAMBDA_D} ${fmt(d)} holds ${rank}`);

    const aName = globalTensor(ctx, 'vera_A', raw.adapter);
    const bName = globalTensor(ctx, 'vera_B', raw.adapter);
    if (!aName || !bName) {
      problems.push(projectionsMissing('vera_A / vera_B', 'projection_prng_key', key, save));
    } else {
      const a = ctx.tensors.get(aName)?.shape ?? [];
      const bb = ctx.tensors.get(bName)?.shape ?? [];
      if (a.length !== 2 || (rank !== null && a[0] !== rank))
        problems.push(`vera_A ${fmt(a)} is not [${rank ?? 'r'}, in_max]`);
      if (bb.length !== 2 || (rank !== null && bb[1] !== rank))
        problems.push(`vera_B ${fmt(bb)} is not [out_max, ${rank ?? 'r'}]`);
      else if (outFeatures !== null && (bb[0] ?? 0) < outFeatures)
        problems.push(`vera_B ${fmt(bb)} has fewer than the module's ${outFeatures} outputs`);
    }
    const settings: MethodSettings = {
      r,
      save_projection: save,
      projection_prng_key: key,
      d_initial: dInitial,
    };
    return {
      // in_features is not in the module's tensors: vera_A is as wide as the widest module.
      ...facts('vera', 'VeRA', rank, null, null, outFeatures, { problems }),
      settings,
      ...(aName && bName ? { shared: { vera_A: aName, vera_B: bName } } : {}),
      scale: { value: 1, rule: "1 (VeRA's λ vectors carry the scale)" },
    };
  },
  async effect(m, io) {
    const aName = m.method?.shared?.['vera_A'];
    const bName = m.method?.shared?.['vera_B'];
    if (!aName || !bName) {
      throw projectionsMissingError(m, 'VeRA needs vera_A / vera_B', 'projection_prng_key');
    }
    const [out, inF] = linearDims(m, io.weightShape, 'VeRA');
    const lb = await io.read(partName(m, LAMBDA_B));
    const ld = await io.read(partName(m, LAMBDA_D));
    const r = ld.length;
    const [aRows = 0, inMax = 0] = io.tensor(aName).shape;
    const [outMax = 0, bCols = 0] = io.tensor(bName).shape;
    if (lb.length !== out)
      throw invalid(m, `${LAMBDA_B} has ${lb.length} values for ${out} outputs`);
    if (aRows !== r || bCols !== r)
      throw invalid(
        m,
        `vera_A [${aRows}, ${inMax}] / vera_B [${outMax}, ${bCols}] do not have rank ${r}`,
      );
    if (inMax < inF || outMax < out)
      throw invalid(
        m,
        `vera_A [${aRows}, ${inMax}] / vera_B [${outMax}, ${bCols}] are smaller than the layer [${out}, ${inF}]`,
      );
    const va = await io.read(aName);
    const vb = await io.read(bName);
    // PEFT slices A[:, :in] and B[:out, :]; the λ vectors scale A's rows and B's rows.
    const a = new Float64Array(r * inF);
    for (let k = 0; k < r; k++)
      for (let i = 0; i < inF; i++)
        a[k * inF + i] = (ld[k] as number) * (va[k * inMax + i] as number);
    const b = new Float64Array(out * r);
    for (let o = 0; o < out; o++)
      for (let k = 0; k < r; k++) b[o * r + k] = (lb[o] as number) * (vb[o * r + k] as number);
    return { kind: 'low-rank', a, b, rank: r, scale: 1 };
  },
};
