/**
 * LoHa (PEFT and LyCORIS): ΔW = s · (w1_a·w1_b) ⊙ (w2_a·w2_b), s = alpha / r. With a Tucker core
 * (conv, `use_effective_conv2d`) each factor is rebuilt as einsum(t [r, r, k, k], a [r, out], b [r, in]):
 * W[o, i, …] = Σ_{p,q} t[p, q, …]·a[p, o]·b[q, i].
 */
import { CheckpointError } from '../../formats/errors.js';
import { withDora } from './dora.js';
import { at, facts, fmt, hasAll, kernelText, partOf } from './shapeHelpers.js';
import type { AdapterMethod, EffectInputs } from './types.js';
import type { LoraModule } from '../types.js';
import { matmul, tuckerRebuild } from './linalg.js';

const PARTS = ['hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b'];

async function factor(m: LoraModule, io: EffectInputs, n: 1 | 2): Promise<Float64Array> {
  const aName = m.parts[`hada_w${n}_a`] as string;
  const bName = m.parts[`hada_w${n}_b`] as string;
  const a = await io.read(aName);
  const b = await io.read(bName);
  const aShape = io.tensor(aName).shape;
  const bShape = io.tensor(bName).shape;
  const tName = m.parts[`hada_t${n}`];
  const r = bShape[0] ?? 0;
  if (tName) {
    const tShape = io.tensor(tName).shape;
    return tuckerRebuild(await io.read(tName), tShape, a, aShape[1] ?? 0, b, bShape.slice(1));
  }
  const inK = b.length / Math.max(1, r);
  if (aShape[1] !== r || a.length / r !== m.outFeatures)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name}: hada_w${n}_a ${fmt(aShape)} and hada_w${n}_b ${fmt(bShape)} do not share a rank`,
      m.name,
    );
  return matmul(a, b, a.length / r, r, inK);
}

export const loha: AdapterMethod = {
  id: 'loha',
  label: 'LoHa',
  peftType: 'LOHA',
  recognise: (m) => hasAll(m, PARTS),
  describe(m) {
    const part = partOf(m);
    const w1a = part('hada_w1_a')?.shape ?? [];
    const w1b = part('hada_w1_b')?.shape ?? [];
    const w2a = part('hada_w2_a')?.shape ?? [];
    const w2b = part('hada_w2_b')?.shape ?? [];
    const t1 = part('hada_t1')?.shape;
    const problems: string[] = [];
    if (fmt(w1a) !== fmt(w2a) || fmt(w1b) !== fmt(w2b))
      problems.push(`hada_w1 ${fmt(w1a)}·${fmt(w1b)} and hada_w2 ${fmt(w2a)}·${fmt(w2b)} differ`);
    const rank = at(w1b, 0);
    const outFeatures = t1 ? at(w1a, 1) : at(w1a, 0);
    // PEFT keeps a conv's kernel in w1_b [r, in·k·k] when there is no Tucker core: the base decides.
    const kernel = t1 && t1.length >= 3 ? t1.slice(2) : undefined;
    const label = kernel ? `LoHa conv ${kernelText(kernel)}` : 'LoHa';
    return withDora(
      m,
      facts('loha', label, rank, null, at(w1b, 1), outFeatures, {
        problems,
        ...(kernel ? { kernel } : {}),
      }),
    );
  },
  async effect(m, io) {
    const w1 = await factor(m, io, 1);
    const w2 = await factor(m, io, 2);
    if (w1.length !== w2.length)
      throw new CheckpointError(
        'InvalidExport',
        `${m.name}: the two Hadamard factors differ in size`,
        m.name,
      );
    const s = m.scale ?? 1;
    const delta = new Float64Array(w1.length);
    for (let i = 0; i < delta.length; i++) delta[i] = s * (w1[i] as number) * (w2[i] as number);
    return { kind: 'delta', delta };
  },
};
