/**
 * LoKr (PEFT and LyCORIS): ΔW = s · kron(w1, w2), each factor full or a low-rank pair (w1_a·w1_b),
 * w2 optionally a Tucker core (`lokr_t2`); s = alpha / r. The rank (LyCORIS "dim") is that of the
 * factorised factor, w2 first, as ComfyUI reads it; both full ⇒ no rank.
 */
import { CheckpointError } from '../../formats/errors.js';
import type { LoraModule } from '../types.js';
import { withDora } from './dora.js';
import { kron, matmul, tuckerRebuild } from './linalg.js';
import { at, facts, kernelText, partOf, product } from './shapeHelpers.js';
import type { AdapterMethod, EffectInputs } from './types.js';

/** One Kronecker factor as a dense [rows, cols(·k·k)] matrix, with its dims. */
async function factor(
  m: LoraModule,
  io: EffectInputs,
  n: 1 | 2,
): Promise<{ v: Float64Array; shape: number[] }> {
  const full = m.parts[`lokr_w${n}`];
  if (full) return { v: await io.read(full), shape: [...io.tensor(full).shape] };
  const aName = m.parts[`lokr_w${n}_a`];
  const bName = m.parts[`lokr_w${n}_b`];
  if (!aName || !bName)
    throw new CheckpointError('InvalidExport', `${m.name}: lokr_w${n} is missing`, m.name);
  const a = await io.read(aName);
  const b = await io.read(bName);
  const aShape = io.tensor(aName).shape;
  const bShape = io.tensor(bName).shape;
  const tName = m.parts[`lokr_t${n}`];
  if (tName) {
    const tShape = io.tensor(tName).shape;
    const out = aShape[1] ?? 0;
    const inF = bShape[1] ?? 0;
    return {
      v: tuckerRebuild(await io.read(tName), tShape, a, out, b, bShape.slice(1)),
      shape: [out, inF, ...tShape.slice(2)],
    };
  }
  const r = aShape[1] ?? 0;
  const rows = aShape[0] ?? 0;
  const cols = b.length / Math.max(1, r);
  if ((bShape[0] ?? -1) !== r)
    throw new CheckpointError(
      'InvalidExport',
      `${m.name}: lokr_w${n}_a [${aShape.join(', ')}] and lokr_w${n}_b [${bShape.join(', ')}] do not share a rank`,
      m.name,
    );
  return { v: matmul(a, b, rows, r, cols), shape: [rows, ...bShape.slice(1)] };
}

export const lokr: AdapterMethod = {
  id: 'lokr',
  label: 'LoKr',
  peftType: 'LOKR',
  recognise(m) {
    const has = (p: string): boolean => m.parts.has(p);
    const w1 = has('lokr_w1') || (has('lokr_w1_a') && has('lokr_w1_b'));
    const w2 = has('lokr_w2') || (has('lokr_w2_a') && has('lokr_w2_b'));
    return w1 && w2;
  },
  describe(m) {
    const part = partOf(m);
    const w1 = part('lokr_w1')?.shape;
    const w1a = part('lokr_w1_a')?.shape;
    const w1b = part('lokr_w1_b')?.shape;
    const w2 = part('lokr_w2')?.shape;
    const w2a = part('lokr_w2_a')?.shape;
    const w2b = part('lokr_w2_b')?.shape;
    const t2 = part('lokr_t2')?.shape;
    const out1 = w1 ? at(w1, 0) : at(w1a, 0);
    const in1 = w1 ? at(w1, 1) : at(w1b, 1);
    const out2 = w2 ? at(w2, 0) : t2 ? at(w2a, 1) : at(w2a, 0);
    const in2 = w2 ? at(w2, 1) : at(w2b, 1);
    const rank = !w2 ? at(w2b, 0) : !w1 ? at(w1b, 0) : null;
    const kernelSource = t2 ?? w2 ?? w2b;
    const kernel = kernelSource && kernelSource.length >= 3 ? kernelSource.slice(2) : undefined;
    const label = kernel ? `LoKr conv ${kernelText(kernel)}` : 'LoKr';
    return withDora(
      m,
      facts('lokr', label, rank, null, product([in1, in2]), product([out1, out2]), {
        ...(kernel ? { kernel } : {}),
      }),
    );
  },
  async effect(m, io) {
    const w1 = await factor(m, io, 1);
    const w2 = await factor(m, io, 2);
    const [p = 0, q = 0] = w1.shape;
    const r = w2.shape[0] ?? 0;
    const s = w2.v.length / Math.max(1, r);
    // torch.kron(w1[p, q, 1, 1], w2[r, in2, k, k]) flattened to [out, in·k·k] is kron(w1, w2 as [r, in2·k·k]).
    const delta = kron(w1.v, p, q, w2.v, r, s);
    const scale = m.scale ?? 1;
    for (let i = 0; i < delta.length; i++) delta[i] = (delta[i] as number) * scale;
    return { kind: 'delta', delta };
  },
};
