import { noNorm, type DeltaFn } from './delta.js';
import { fullNorm } from './lycoris.js';

/** LyCORIS full / diff: the delta is stored as is, so its norm is the tensor's. */
export const fullDelta: DeltaFn = async (reader) => {
  if (reader.has('set_weight'))
    return noNorm('set_weight replaces the base weight: its delta needs the base weight');
  if (!reader.has('diff')) return noNorm('only a bias diff (see parts.diff_b)');
  return {
    normUnscaled: await fullNorm(reader, 'diff'),
    ...(reader.has('diff_b') ? { note: 'weight diff only; the bias diff is parts.diff_b' } : {}),
  };
};

/** LyCORIS norm module: w_norm is added to the norm layer's weight (b_norm to its bias). */
export const normDelta: DeltaFn = async (reader) => {
  if (!reader.has('w_norm')) return noNorm('only a bias diff (see parts.b_norm)');
  return {
    normUnscaled: await fullNorm(reader, 'w_norm'),
    ...(reader.has('b_norm') ? { note: 'weight diff only; the bias diff is parts.b_norm' } : {}),
  };
};

/** (IA)³ and OFT/BOFT multiply the base weight: ΔW = W·(diag(l) − I) or W·(R − I). */
export const multiplicativeDelta: DeltaFn = async (_reader, m) =>
  noNorm(
    m.kind === 'ia3'
      ? '(IA)³ rescales the base weight (W·diag(l)): its delta needs the base weight; see parts for l'
      : `${m.kind === 'boft' ? 'BOFT' : 'OFT'} rotates the base weight (W·R): its delta needs the base weight`,
  );
