/**
 * MiSS (PEFT, Bone's successor): one shared block `miss_block` added to every r-wide column block of
 * W. Default mode: miss_block [r, out], ΔW[o, c] = block[c mod r, o] (tuners/miss/layer.py
 * get_delta_weight_miss; its forward sums x's r-wide chunks and multiplies by the block), i.e. the
 * low-rank ΔW = blockᵀ·E with E [r, in] the 0/1 chunk-sum matrix. 'mini' stores [r, mini_r] and tiles
 * it out/mini_r times along the outputs first. 'bat' ([out/r, r, r]) adds W_blk·B + B, a ΔW that
 * depends on W itself: no effect form expresses it yet, so it is refused by name.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../types.js';
import { configNumber } from './rotations.js';
import { at, facts, fmt, partOf, peftSuffix } from './shapeHelpers.js';
import type { AdapterMethod, MethodSettings } from './types.js';

type MissMode = 'default' | 'bat' | 'mini';

const bad = (m: LoraModule, why: string): CheckpointError =>
  new CheckpointError('InvalidExport', `${m.name}: ${why}`, m.name);

function modeOf(v: unknown): MissMode {
  return v === 'bat' ? 'bat' : v === 'mini' ? 'mini' : 'default';
}

export const miss: AdapterMethod = {
  id: 'miss',
  label: 'MiSS',
  peftType: 'MISS',
  parts: [{ re: peftSuffix('miss_', ['block']), part: 'miss_block' }],
  hint: String.raw`\.miss_block`,
  recognise: (m) => m.parts.has('miss_block'),
  describe(m, ctx) {
    const shape = partOf(m)('miss_block')?.shape ?? [];
    const cfg = ctx.config;
    const mode = modeOf(cfg?.['init_weights']);
    const settings: MethodSettings = {
      mode,
      r: cfg ? configNumber(cfg, 'r', 64) : null,
      mini_r: cfg ? configNumber(cfg, 'mini_r', 1) : null,
    };
    const problems: string[] = [];
    const bat = shape.length === 3;
    const r = bat ? at(shape, 2) : at(shape, 0);
    if (bat ? shape[1] !== shape[2] : shape.length !== 2)
      problems.push(`miss_block ${fmt(shape)} is not [r, out], [r, mini_r] or [out/r, r, r]`);
    else if (bat !== (mode === 'bat'))
      problems.push(
        `adapter_config init_weights is ${JSON.stringify(cfg?.['init_weights'] ?? true)} but miss_block ${fmt(shape)} is ${bat ? "'bat'" : 'not'} shaped`,
      );
    if (settings['r'] !== null && r !== null && settings['r'] !== r)
      problems.push(
        `adapter_config r = ${String(settings['r'])} but miss_block ${fmt(shape)} has r = ${r}`,
      );
    if (mode === 'mini' && settings['mini_r'] !== null && settings['mini_r'] !== at(shape, 1))
      problems.push(
        `adapter_config mini_r = ${String(settings['mini_r'])} but miss_block ${fmt(shape)} is [r, ${at(shape, 1) ?? '?'}]`,
      );
    const out = bat
      ? (at(shape, 0) ?? 0) * (r ?? 0) || null
      : mode === 'mini'
        ? null
        : at(shape, 1);
    const label = mode === 'default' ? 'MiSS' : `MiSS ${mode}`;
    return {
      ...facts('miss', label, r, null, null, out, { problems }),
      settings,
      scale: { value: 1, rule: '1 (MiSS adds its block as is)' },
    };
  },
  async effect(m, io) {
    const name = m.parts['miss_block'] as string;
    const shape = io.tensor(name).shape;
    const mode = modeOf(m.method?.settings?.['mode']);
    if (mode === 'bat' || shape.length === 3)
      throw bad(
        m,
        "MiSS 'bat' mode (init_weights='bat') adds W_blk·B + B, a change that depends on the base weight itself; LoRA Lens cannot apply it yet",
      );
    const out = io.weightShape[0] ?? 0;
    const inK = io.weightShape.slice(1).reduce((a, b) => a * b, 1);
    const [r = 0, width = 0] = shape;
    if (shape.length !== 2 || r < 1) throw bad(m, `miss_block ${fmt(shape)} is not [r, out]`);
    if (mode === 'mini' ? width < 1 || out % width !== 0 : width !== out)
      throw bad(
        m,
        mode === 'mini'
          ? `miss_block ${fmt(shape)}: mini_r = ${width} does not divide the layer's ${out} outputs`
          : `miss_block ${fmt(shape)} does not fit the layer's ${out} outputs`,
      );
    const block = await io.read(name);
    // b = (tiled block)ᵀ [out, r]; a = E [r, in] with E[j, c] = 1 where c mod r = j.
    const b = new Float64Array(out * r);
    for (let o = 0; o < out; o++)
      for (let j = 0; j < r; j++) b[o * r + j] = block[j * width + (o % width)] as number;
    const a = new Float64Array(r * inK);
    for (let c = 0; c < inK; c++) a[(c % r) * inK + c] = 1;
    return { kind: 'low-rank', a, b, rank: r, scale: 1 };
  },
};
